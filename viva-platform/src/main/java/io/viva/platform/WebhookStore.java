package io.viva.platform;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Webhook subscriptions and their durable delivery queue, over {@link PlatformStore}'s database.
 * An event is enqueued once per subscribed webhook in one transaction; the dispatcher takes due
 * deliveries, and records each attempt. Secrets are stored (they sign the bodies) and never returned
 * after creation nor logged.
 */
public final class WebhookStore {

  /** Every event type a webhook may subscribe to. */
  public static final Set<String> EVENTS = Set.of("key.created", "key.rotated", "key.revoked", "key.expired",
      "quota.warning", "quota.exceeded", "rate_limit.exceeded", "invoice.issued");

  private final PlatformStore store;
  private final io.viva.core.Clock clock;

  /** Webhooks over {@code store}'s database. */
  public WebhookStore(PlatformStore store, io.viva.core.Clock clock) {
    this.store = store;
    this.clock = clock;
  }

  /**
   * A subscription.
   *
   * @param id {@code wh_...}
   * @param url where events are POSTed
   * @param events the event types it receives
   * @param createdAt when created
   * @param createdBy the actor
   */
  public record Webhook(String id, String url, List<String> events, Instant createdAt, String createdBy) {}

  /**
   * One event for one webhook, and how its delivery went.
   *
   * @param id delivery id
   * @param webhookId the webhook
   * @param eventId the event's id (the same for every webhook)
   * @param eventType e.g. {@code key.created}
   * @param payload the JSON body
   * @param state {@code pending}, {@code delivered} or {@code failed}
   * @param attempts attempts so far
   * @param nextAttemptAt when the next attempt is due
   * @param lastStatus HTTP status of the last attempt, or null
   * @param lastError what went wrong last, or null
   * @param createdAt when enqueued
   * @param deliveredAt when a 2xx came back, or null
   */
  public record Delivery(long id, String webhookId, String eventId, String eventType, String payload, String state,
      int attempts, Instant nextAttemptAt, Integer lastStatus, String lastError, Instant createdAt,
      Instant deliveredAt) {}

  /** A due delivery with what is needed to send it. */
  public record Due(Delivery delivery, String url, String secret) {}

  /** Creates a webhook. */
  public Webhook create(String url, List<String> events, String secret, Actor actor) {
    String id = KeyFormat.id("wh_", 16);
    long now = clock.micros();
    return store.tx(c -> {
      // No change log row: no instance caches webhooks.
      PlatformStore.change(c, "INSERT INTO webhooks (id, url, events, secret, created_at, created_by)"
          + " VALUES (?, ?, ?, ?, ?, ?)", ps -> {
            ps.setString(1, id);
            ps.setString(2, url);
            ps.setString(3, String.join(",", events));
            ps.setString(4, secret);
            ps.setLong(5, now);
            ps.setString(6, actor.name());
          }, null, id, actor, "webhook.create", "events=" + String.join(",", events), now);
      return new Webhook(id, url, List.copyOf(events), PlatformStore.instantOf(now), actor.name());
    });
  }

  /** Active webhooks, newest first. */
  public List<Webhook> list() {
    return store.tx(c -> {
      List<Webhook> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT * FROM webhooks WHERE deleted_at IS NULL"
          + " ORDER BY created_at DESC, id"); ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(webhook(rs));
        }
      }
      return out;
    });
  }

  /** The active webhook {@code id}. */
  public Optional<Webhook> get(String id) {
    return store.tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT * FROM webhooks WHERE id = ? AND deleted_at IS NULL")) {
        ps.setString(1, id);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(webhook(rs)) : Optional.empty();
        }
      }
    });
  }

  /** Deletes webhook {@code id} (its pending deliveries are dropped); false if there is none. */
  public boolean delete(String id, Actor actor) {
    long now = clock.micros();
    return store.tx(c -> {
      if (!PlatformStore.change(c, "UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", ps -> {
        ps.setLong(1, now);
        ps.setString(2, id);
      }, null, id, actor, "webhook.delete", null, now)) {
        return false;
      }
      try (PreparedStatement ps = c.prepareStatement("UPDATE webhook_deliveries SET state = 'failed',"
          + " last_error = 'webhook deleted' WHERE webhook_id = ? AND state = 'pending'")) {
        ps.setString(1, id);
        ps.executeUpdate();
      }
      return true;
    });
  }

  private static Webhook webhook(ResultSet rs) throws SQLException {
    return new Webhook(rs.getString("id"), rs.getString("url"), Arrays.asList(rs.getString("events").split(",")),
        PlatformStore.instantOf(rs.getLong("created_at")), rs.getString("created_by"));
  }

  /**
   * Enqueues event {@code eventId} of {@code type} for every active webhook subscribed to it; an
   * event id already enqueued for a webhook is skipped. Returns how many deliveries were added.
   */
  public int enqueue(String eventId, String type, String payload) {
    long now = clock.micros();
    return store.tx(c -> {
      List<String> hooks = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT id, events FROM webhooks WHERE deleted_at IS NULL");
           ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          List<String> ev = Arrays.asList(rs.getString(2).split(","));
          if (ev.contains(type) || ev.contains("*")) {
            hooks.add(rs.getString(1));
          }
        }
      }
      int added = 0;
      for (String h : hooks) {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO webhook_deliveries (webhook_id, event_id,"
            + " event_type, payload, state, attempts, next_attempt_at, created_at) SELECT ?, ?, ?, ?, 'pending', 0, ?, ?"
            + " WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE webhook_id = ? AND event_id = ?)")) {
          ps.setString(1, h);
          ps.setString(2, eventId);
          ps.setString(3, type);
          ps.setString(4, payload);
          ps.setLong(5, now);
          ps.setLong(6, now);
          ps.setString(7, h);
          ps.setString(8, eventId);
          added += ps.executeUpdate();
        }
      }
      return added;
    });
  }

  /**
   * Takes up to {@code limit} due deliveries and leases them for {@code leaseMicros} (their next
   * attempt moves that far out, so another instance does not send them meanwhile).
   */
  public List<Due> takeDue(int limit, long leaseMicros) {
    long now = clock.micros();
    return store.tx(c -> {
      List<Due> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT d.*, w.url, w.secret FROM webhook_deliveries d"
          + " JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 'pending' AND d.next_attempt_at <= ?"
          + " ORDER BY d.next_attempt_at, d.id LIMIT ?")) {
        ps.setLong(1, now);
        ps.setInt(2, limit);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new Due(delivery(rs), rs.getString("url"), rs.getString("secret")));
          }
        }
      }
      // Only the rows this transaction leased: another instance that read the same rows finds the
      // lease taken (its update matches nothing once ours committed) and leaves them to us.
      List<Due> leased = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?"
          + " AND next_attempt_at <= ? AND state = 'pending'")) {
        for (Due d : out) {
          ps.setLong(1, now + leaseMicros);
          ps.setLong(2, d.delivery().id());
          ps.setLong(3, now);
          if (ps.executeUpdate() == 1) {
            leased.add(d);
          }
        }
      }
      return leased;
    });
  }

  /**
   * Records an attempt: delivered when {@code status} is 2xx; otherwise pending again at {@code
   * retryAt}, or failed for good when {@code retryAt} is null.
   */
  public void recordAttempt(long id, Integer status, String error, Long retryAt) {
    long now = clock.micros();
    boolean ok = status != null && status >= 200 && status < 300;
    store.tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("UPDATE webhook_deliveries SET attempts = attempts + 1,"
          + " last_status = ?, last_error = ?, state = ?, next_attempt_at = ?, delivered_at = ? WHERE id = ?")) {
        if (status == null) {
          ps.setNull(1, java.sql.Types.INTEGER);
        } else {
          ps.setInt(1, status);
        }
        ps.setString(2, error == null ? null : error.length() > 500 ? error.substring(0, 500) : error);
        ps.setString(3, ok ? "delivered" : retryAt == null ? "failed" : "pending");
        ps.setLong(4, ok || retryAt == null ? now : retryAt);
        if (ok) {
          ps.setLong(5, now);
        } else {
          ps.setNull(5, java.sql.Types.BIGINT);
        }
        ps.setLong(6, id);
        ps.executeUpdate();
      }
      return null;
    });
  }

  /** The deliveries of webhook {@code id}, newest first. */
  public List<Delivery> deliveries(String webhookId, int limit) {
    return store.tx(c -> {
      List<Delivery> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT * FROM webhook_deliveries WHERE webhook_id = ?"
          + " ORDER BY id DESC LIMIT ?")) {
        ps.setString(1, webhookId);
        ps.setInt(2, Math.max(1, Math.min(limit, PlatformStore.MAX_PAGE)));
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(delivery(rs));
          }
        }
      }
      return out;
    });
  }

  /** Deliveries waiting (for metrics). */
  public long pending() {
    return store.tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'");
           ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    });
  }

  private static Delivery delivery(ResultSet rs) throws SQLException {
    int st = rs.getInt("last_status");
    Integer lastStatus = rs.wasNull() ? null : st;
    long del = rs.getLong("delivered_at");
    Instant deliveredAt = rs.wasNull() ? null : PlatformStore.instantOf(del);
    return new Delivery(rs.getLong("id"), rs.getString("webhook_id"), rs.getString("event_id"),
        rs.getString("event_type"), rs.getString("payload"), rs.getString("state"), rs.getInt("attempts"),
        PlatformStore.instantOf(rs.getLong("next_attempt_at")), lastStatus, rs.getString("last_error"),
        PlatformStore.instantOf(rs.getLong("created_at")), deliveredAt);
  }
}
