package io.viva.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.viva.core.Clock;
import io.viva.platform.ApiKey;
import io.viva.platform.Invoice;
import io.viva.platform.StorageUnavailableException;
import io.viva.platform.WebhookStore;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns what happens in full mode into webhook events: builds the JSON envelope ({@code id},
 * {@code type}, {@code created_at}, {@code data}) and enqueues it on {@code blocking} (never on an
 * event loop). {@code rate_limit.exceeded} is debounced per key: at most one per {@code debounce}
 * per instance. Quota and invoice events have deterministic ids, so each is delivered once however
 * many instances notice it.
 */
final class WebhookEvents {

  private static final Logger LOG = LoggerFactory.getLogger(WebhookEvents.class);

  private final WebhookStore store;
  private final Executor blocking;
  private final Clock clock;
  private final long debounceNanos;
  private final ConcurrentHashMap<String, Long> lastRateLimited = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Boolean> expiredSeen = new ConcurrentHashMap<>();

  WebhookEvents(WebhookStore store, Executor blocking, Clock clock, Duration debounce) {
    this.store = store;
    this.blocking = blocking;
    this.clock = clock;
    this.debounceNanos = debounce.toNanos();
  }

  /** A key lifecycle event: {@code key.created}, {@code key.rotated}, {@code key.revoked}, {@code key.expired}. */
  void key(String type, ApiKey k) {
    ObjectNode data = ConfigTree.json().createObjectNode();
    data.put("key_id", k.id());
    data.put("owner_id", k.ownerId());
    data.put("tier", k.tier());
    data.put("key_start", k.visibleStart());
    // An expiry is one event however it is noticed (the expire call, or a request after expires_at).
    String id = type.equals("key.expired") && k.expiresAt() != null ? type + ":" + k.id() + ":" + k.expiresAt()
        : type + ":" + k.id() + ":" + k.version();
    if (type.equals("key.expired")) {
      data.put("expires_at", k.expiresAt() == null ? null : k.expiresAt().toString());
      expiredSeen.put(id, Boolean.TRUE);
    }
    emit(type, id, data);
  }

  /** A request with a key past its expiry: {@code key.expired} once per key and expiry. Does not block. */
  void expiredSeen(ApiKey k) {
    if (k.expiresAt() == null || expiredSeen.containsKey("key.expired:" + k.id() + ":" + k.expiresAt())) {
      return;
    }
    if (expiredSeen.size() > 100_000) {
      expiredSeen.clear();
    }
    key("key.expired", k);
  }

  /** A rate limited request of {@code k}: debounced per key. Called on the hot path; does not block. */
  void rateLimited(ApiKey k, String tier) {
    long now = System.nanoTime();
    Long last = lastRateLimited.get(k.id());
    if (last != null && now - last < debounceNanos) {
      return;
    }
    if (lastRateLimited.size() > 1_000_000) {
      lastRateLimited.clear();
    }
    // Only the thread that moves the time on emits.
    if (last == null ? lastRateLimited.putIfAbsent(k.id(), now) != null
        : !lastRateLimited.replace(k.id(), last, now)) {
      return;
    }
    ObjectNode data = ConfigTree.json().createObjectNode();
    data.put("key_id", k.id());
    data.put("owner_id", k.ownerId());
    data.put("tier", tier);
    emit("rate_limit.exceeded", "rate_limit.exceeded:" + k.id() + ":" + clock.micros(), data);
  }

  /** The key's month crossed 80 % ({@code quota.warning}) or 100 % ({@code quota.exceeded}) of its quota. */
  void quota(String keyId, int level, long used, long quota, long monthStart) {
    String type = level >= 100 ? "quota.exceeded" : "quota.warning";
    String month = Instant.ofEpochSecond(monthStart * 60).atZone(ZoneOffset.UTC).toLocalDate().toString()
        .substring(0, 7);
    ObjectNode data = ConfigTree.json().createObjectNode();
    data.put("key_id", keyId);
    data.put("period", month);
    data.put("threshold_percent", level);
    data.put("used", used);
    data.put("monthly_quota", quota);
    emit(type, type + ":" + keyId + ":" + month, data);
  }

  /** An invoice was issued. */
  void invoice(Invoice i) {
    ObjectNode data = ConfigTree.json().createObjectNode();
    data.put("invoice_id", i.id());
    data.put("owner_id", i.ownerId());
    data.put("period", i.period());
    data.put("currency", i.currency());
    data.put("total", i.total());
    emit("invoice.issued", "invoice.issued:" + i.id(), data);
  }

  private void emit(String type, String eventId, ObjectNode data) {
    ObjectNode env = ConfigTree.json().createObjectNode();
    env.put("id", "evt_" + java.util.HexFormat.of().formatHex(FullMode.sha256(eventId), 0, 12));
    env.put("type", type);
    long m = clock.micros();
    env.put("created_at", Instant.ofEpochSecond(Math.floorDiv(m, 1_000_000L), Math.floorMod(m, 1_000_000L) * 1000)
        .toString());
    env.set("data", data);
    String body;
    try {
      body = ConfigTree.json().writeValueAsString(env);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    try {
      blocking.execute(() -> {
        try {
          store.enqueue(eventId, type, body);
        } catch (StorageUnavailableException e) {
          LOG.warn("webhook event {} not enqueued: database unavailable", type);
        }
      });
    } catch (RejectedExecutionException e) {
      LOG.warn("webhook event {} dropped: shutting down or overloaded", type);
    }
  }
}
