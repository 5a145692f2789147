package io.viva.platform;

import io.viva.core.Clock;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * Full mode's repository on JDBC: keys, admin tokens, the audit log and the change log, in the
 * portable SQL of {@code db/viva} (PostgreSQL and H2 alike).
 *
 * <p>Every change of a key or token runs in one transaction with its audit entry and its change
 * log row, so the audit log and the other instances' caches never miss a change that happened.
 * Secrets never reach this class: only their hashes and visible starts.
 *
 * <p>Every method throws {@link StorageUnavailableException} when the database fails.
 */
public final class PlatformStore {

  /** The most rows one page of a listing returns. */
  public static final int MAX_PAGE = 1000;

  private static final String KEY_COLUMNS = "id, name, owner_id, tier, environment, limits, monthly_quota, metadata,"
      + " enabled, visible_start, created_at, updated_at, expires_at, revoked_at, last_used_at, rotated_at,"
      + " previous_valid_until, version";

  private final DataSource dataSource;
  private final Clock clock;

  /** A store over {@code dataSource}, taking "now" from {@code clock}. */
  public PlatformStore(DataSource dataSource, Clock clock) {
    this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  /** The fields of a new key. */
  public record NewKey(String name, String ownerId, String tier, String environment, String limits,
      Long monthlyQuota, String metadata, Instant expiresAt) {}

  /**
   * A change to a key: a null field is left as it is; for the nullable ones an empty {@link
   * Optional} clears the value.
   */
  public record KeyUpdate(String name, String tier, Optional<String> limits, Optional<Long> monthlyQuota,
      Optional<String> metadata, Boolean enabled, Optional<Instant> expiresAt) {

    /** Whether nothing would change. */
    public boolean isEmpty() {
      return name == null && tier == null && limits == null && monthlyQuota == null && metadata == null
          && enabled == null && expiresAt == null;
    }
  }

  /** Which keys a listing returns; null fields do not filter. */
  public record KeyFilter(String ownerId, String tier, KeyState state) {}

  /** A key found by one of its secrets' hashes. */
  record Found(ApiKey key, boolean previousSecret) {}

  /** One row of the change log. */
  record Change(long seq, String kind, String targetId) {}

  // ---- keys -------------------------------------------------------------------------------------

  /** Stores a new key whose secret hashes to {@code hash}. */
  public ApiKey createKey(NewKey k, String hash, String visibleStart, Actor actor) {
    String id = KeyFormat.id("key_", 20);
    long now = clock.micros();
    return tx(c -> changeKey(c, "INSERT INTO api_keys (id, name, owner_id, tier, environment, limits,"
        + " monthly_quota, metadata, enabled, hash, visible_start, created_at, updated_at, expires_at, version)"
        + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, 1)", ps -> {
          ps.setString(1, id);
          ps.setString(2, k.name());
          ps.setString(3, k.ownerId());
          ps.setString(4, k.tier());
          ps.setString(5, k.environment());
          ps.setString(6, k.limits());
          setLong(ps, 7, k.monthlyQuota());
          ps.setString(8, k.metadata());
          ps.setString(9, hash);
          ps.setString(10, visibleStart);
          ps.setLong(11, now);
          ps.setLong(12, now);
          setLong(ps, 13, micros(k.expiresAt()));
        }, id, actor, "key.create", "tier=" + k.tier(), now).orElseThrow());
  }

  /** The key with {@code id}. */
  public Optional<ApiKey> getKey(String id) {
    return tx(c -> getKey(c, id));
  }

  /** The key one of whose secrets hashes to {@code hash} (the current one, or the previous one in its grace period). */
  Optional<Found> findByHash(String hash) {
    return tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT " + KEY_COLUMNS + ", hash FROM api_keys"
          + " WHERE hash = ? OR previous_hash = ?")) {
        ps.setString(1, hash);
        ps.setString(2, hash);
        try (ResultSet rs = ps.executeQuery()) {
          if (!rs.next()) {
            return Optional.empty();
          }
          ApiKey key = key(rs);
          return Optional.of(new Found(key, !hash.equals(rs.getString("hash"))));
        }
      }
    });
  }

  /** One page of keys, newest first. */
  public List<ApiKey> listKeys(KeyFilter filter, int limit, int offset) {
    long now = clock.micros();
    StringBuilder sql = new StringBuilder("SELECT " + KEY_COLUMNS + " FROM api_keys WHERE 1 = 1");
    List<Object> args = new ArrayList<>();
    if (filter.ownerId() != null) {
      sql.append(" AND owner_id = ?");
      args.add(filter.ownerId());
    }
    if (filter.tier() != null) {
      sql.append(" AND tier = ?");
      args.add(filter.tier());
    }
    if (filter.state() != null) {
      switch (filter.state()) {
        case REVOKED -> sql.append(" AND revoked_at IS NOT NULL");
        case DISABLED -> sql.append(" AND revoked_at IS NULL AND enabled = FALSE");
        case EXPIRED -> {
          sql.append(" AND revoked_at IS NULL AND enabled = TRUE AND expires_at IS NOT NULL AND expires_at <= ?");
          args.add(now);
        }
        case ACTIVE -> {
          sql.append(" AND revoked_at IS NULL AND enabled = TRUE AND (expires_at IS NULL OR expires_at > ?)");
          args.add(now);
        }
      }
    }
    sql.append(" ORDER BY created_at DESC, id LIMIT ? OFFSET ?");
    args.add(Math.max(1, Math.min(limit, MAX_PAGE)));
    args.add(Math.max(0, offset));
    return tx(c -> {
      try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
        for (int i = 0; i < args.size(); i++) {
          Object a = args.get(i);
          if (a instanceof String s) {
            ps.setString(i + 1, s);
          } else if (a instanceof Long l) {
            ps.setLong(i + 1, l);
          } else {
            ps.setInt(i + 1, (Integer) a);
          }
        }
        List<ApiKey> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(key(rs));
          }
        }
        return out;
      }
    });
  }

  /** Applies {@code u} to key {@code id}; empty if there is no such key. A revoked key cannot change. */
  public Optional<ApiKey> updateKey(String id, KeyUpdate u, Actor actor) {
    long now = clock.micros();
    return tx(c -> {
      Optional<ApiKey> before = getKey(c, id);
      if (before.isEmpty()) {
        return Optional.empty();
      }
      if (before.get().revokedAt() != null) {
        throw new IllegalStateException("key " + id + " is revoked (expected: an unrevoked key; revocation is final)");
      }
      StringBuilder sql = new StringBuilder("UPDATE api_keys SET updated_at = ?, version = version + 1");
      List<Object[]> sets = new ArrayList<>();
      StringBuilder detail = new StringBuilder();
      if (u.name() != null) {
        sql.append(", name = ?");
        sets.add(new Object[] {Types.VARCHAR, u.name()});
        detail.append("name ");
      }
      if (u.tier() != null) {
        sql.append(", tier = ?");
        sets.add(new Object[] {Types.VARCHAR, u.tier()});
        detail.append("tier=").append(u.tier()).append(' ');
      }
      if (u.limits() != null) {
        sql.append(", limits = ?");
        sets.add(new Object[] {Types.VARCHAR, u.limits().orElse(null)});
        detail.append("limits ");
      }
      if (u.monthlyQuota() != null) {
        sql.append(", monthly_quota = ?");
        sets.add(new Object[] {Types.BIGINT, u.monthlyQuota().orElse(null)});
        detail.append("monthly_quota ");
      }
      if (u.metadata() != null) {
        sql.append(", metadata = ?");
        sets.add(new Object[] {Types.VARCHAR, u.metadata().orElse(null)});
        detail.append("metadata ");
      }
      if (u.enabled() != null) {
        sql.append(", enabled = ?");
        sets.add(new Object[] {Types.BOOLEAN, u.enabled()});
        detail.append("enabled=").append(u.enabled()).append(' ');
      }
      if (u.expiresAt() != null) {
        sql.append(", expires_at = ?");
        sets.add(new Object[] {Types.BIGINT, micros(u.expiresAt().orElse(null))});
        detail.append("expires_at ");
      }
      sql.append(" WHERE id = ?");
      return changeKey(c, sql.toString(), ps -> {
        ps.setLong(1, now);
        int i = 2;
        for (Object[] s : sets) {
          int type = (Integer) s[0];
          if (s[1] == null) {
            ps.setNull(i++, type);
          } else if (type == Types.BIGINT) {
            ps.setLong(i++, (Long) s[1]);
          } else if (type == Types.BOOLEAN) {
            ps.setBoolean(i++, (Boolean) s[1]);
          } else {
            ps.setString(i++, (String) s[1]);
          }
        }
        ps.setString(i, id);
      }, id, actor, "key.update", detail.toString().trim(), now);
    });
  }

  /** Revokes key {@code id} for good (its grace secret too); idempotent. Empty if there is no such key. */
  public Optional<ApiKey> revokeKey(String id, Actor actor) {
    long now = clock.micros();
    return tx(c -> changeKey(c, "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?), previous_hash = NULL,"
        + " previous_valid_until = NULL, updated_at = ?, version = version + 1 WHERE id = ?", ps -> {
          ps.setLong(1, now);
          ps.setLong(2, now);
          ps.setString(3, id);
        }, id, actor, "key.revoke", null, now));
  }

  /**
   * Gives key {@code id} a new secret (hashing to {@code newHash}); the old one keeps verifying until
   * {@code previousValidUntil} (null or not after now: not at all). A secret replaced by an earlier
   * rotation stops at once. Empty if there is no such key.
   *
   * @throws IllegalStateException if the key is revoked
   */
  public Optional<ApiKey> rotateKey(String id, String newHash, String visibleStart, Instant previousValidUntil,
      Actor actor) {
    long now = clock.micros();
    Long until = previousValidUntil == null || micros(previousValidUntil) <= now ? null : micros(previousValidUntil);
    return tx(c -> {
      Optional<ApiKey> before = getKey(c, id);
      if (before.isEmpty()) {
        return Optional.empty();
      }
      if (before.get().revokedAt() != null) {
        throw new IllegalStateException("key " + id + " is revoked (expected: an unrevoked key; create a new one)");
      }
      return changeKey(c, "UPDATE api_keys SET previous_hash = " + (until == null ? "NULL" : "hash")
          + ", previous_valid_until = ?, hash = ?, visible_start = ?, rotated_at = ?, updated_at = ?,"
          + " version = version + 1 WHERE id = ?", ps -> {
            setLong(ps, 1, until);
            ps.setString(2, newHash);
            ps.setString(3, visibleStart);
            ps.setLong(4, now);
            ps.setLong(5, now);
            ps.setString(6, id);
          }, id, actor, "key.rotate", until == null ? "no grace" : "grace until " + instantOf(until), now);
    });
  }

  /** Sets key {@code id} to expire at {@code at} (now when null). Empty if there is no such key. */
  public Optional<ApiKey> expireKey(String id, Instant at, Actor actor) {
    long now = clock.micros();
    long when = at == null ? now : micros(at);
    return tx(c -> changeKey(c, "UPDATE api_keys SET expires_at = ?, updated_at = ?, version = version + 1"
        + " WHERE id = ?", ps -> {
          ps.setLong(1, when);
          ps.setLong(2, now);
          ps.setString(3, id);
        }, id, actor, "key.expire", "at " + instantOf(when), now));
  }

  /** Raises {@code last_used_at} of each key to the given time (microseconds); one batch, no change log. */
  void touchLastUsed(Map<String, Long> lastUsed) {
    if (lastUsed.isEmpty()) {
      return;
    }
    tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("UPDATE api_keys SET last_used_at = ? WHERE id = ?"
          + " AND (last_used_at IS NULL OR last_used_at < ?)")) {
        for (Map.Entry<String, Long> e : lastUsed.entrySet()) {
          ps.setLong(1, e.getValue());
          ps.setString(2, e.getKey());
          ps.setLong(3, e.getValue());
          ps.addBatch();
        }
        ps.executeBatch();
      }
      return null;
    });
  }

  /** {@link #change} of key {@code id}: the key as it is now, or empty when the statement matched no key. */
  private Optional<ApiKey> changeKey(Connection c, String sql, Binder binder, String id, Actor actor, String action,
      String detail, long now) throws SQLException {
    return change(c, sql, binder, "key", id, actor, action, detail, now) ? getKey(c, id) : Optional.empty();
  }

  private Optional<ApiKey> getKey(Connection c, String id) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT " + KEY_COLUMNS + " FROM api_keys WHERE id = ?")) {
      ps.setString(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(key(rs)) : Optional.empty();
      }
    }
  }

  private static ApiKey key(ResultSet rs) throws SQLException {
    return new ApiKey(rs.getString("id"), rs.getString("name"), rs.getString("owner_id"), rs.getString("tier"),
        rs.getString("environment"), rs.getString("limits"), getLong(rs, "monthly_quota"), rs.getString("metadata"),
        rs.getBoolean("enabled"), rs.getString("visible_start"), instant(rs, "created_at"),
        instant(rs, "updated_at"), instant(rs, "expires_at"), instant(rs, "revoked_at"), instant(rs, "last_used_at"),
        instant(rs, "rotated_at"), instant(rs, "previous_valid_until"), rs.getLong("version"));
  }

  // ---- admin tokens -----------------------------------------------------------------------------

  /** Stores a new admin token whose secret hashes to {@code hash}. */
  public AdminToken createToken(String name, Role role, String hash, String visibleStart, Actor actor) {
    String id = KeyFormat.id("tok_", 16);
    long now = clock.micros();
    return tx(c -> {
      change(c, "INSERT INTO admin_tokens (id, name, role, hash, visible_start, created_at, created_by)"
          + " VALUES (?, ?, ?, ?, ?, ?, ?)", ps -> {
            ps.setString(1, id);
            ps.setString(2, name);
            ps.setString(3, role.label());
            ps.setString(4, hash);
            ps.setString(5, visibleStart);
            ps.setLong(6, now);
            ps.setString(7, actor.name());
          }, "token", id, actor, "token.create", "role=" + role.label(), now);
      return new AdminToken(id, name, role, visibleStart, instantOf(now), actor.name(), null);
    });
  }

  /** The unrevoked admin token whose secret hashes to {@code hash}. */
  public Optional<AdminToken> findToken(String hash) {
    return tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT * FROM admin_tokens WHERE hash = ?"
          + " AND revoked_at IS NULL")) {
        ps.setString(1, hash);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(token(rs)) : Optional.empty();
        }
      }
    });
  }

  /** Every admin token, newest first. */
  public List<AdminToken> listTokens() {
    return tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT * FROM admin_tokens ORDER BY created_at DESC, id");
           ResultSet rs = ps.executeQuery()) {
        List<AdminToken> out = new ArrayList<>();
        while (rs.next()) {
          out.add(token(rs));
        }
        return out;
      }
    });
  }

  /** Revokes admin token {@code id}; idempotent. Empty if there is no such token. */
  public Optional<AdminToken> revokeToken(String id, Actor actor) {
    long now = clock.micros();
    return tx(c -> {
      if (!change(c, "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", ps -> {
        ps.setLong(1, now);
        ps.setString(2, id);
      }, "token", id, actor, "token.revoke", null, now)) {
        return Optional.empty();
      }
      try (PreparedStatement ps = c.prepareStatement("SELECT * FROM admin_tokens WHERE id = ?")) {
        ps.setString(1, id);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          return Optional.of(token(rs));
        }
      }
    });
  }

  private static AdminToken token(ResultSet rs) throws SQLException {
    return new AdminToken(rs.getString("id"), rs.getString("name"), Role.fromLabel(rs.getString("role")),
        rs.getString("visible_start"), instant(rs, "created_at"), rs.getString("created_by"),
        instant(rs, "revoked_at"));
  }

  // ---- audit ------------------------------------------------------------------------------------

  /** Appends an audit entry on its own (for refused or failed operations; changes write theirs in their transaction). */
  public void audit(Actor actor, String action, String target, String result, String detail) {
    long now = clock.micros();
    tx(c -> {
      audit(c, actor, action, target, result, detail, now);
      return null;
    });
  }

  /**
   * One page of the audit log, newest first: entries with an id below {@code beforeId} (all when
   * null), optionally only those about {@code target} or of {@code action}.
   */
  public List<AuditEntry> listAudit(Long beforeId, String target, String action, int limit) {
    StringBuilder sql = new StringBuilder("SELECT * FROM audit_log WHERE 1 = 1");
    List<Object> args = new ArrayList<>();
    if (beforeId != null) {
      sql.append(" AND id < ?");
      args.add(beforeId);
    }
    if (target != null) {
      sql.append(" AND target = ?");
      args.add(target);
    }
    if (action != null) {
      sql.append(" AND action = ?");
      args.add(action);
    }
    sql.append(" ORDER BY id DESC LIMIT ?");
    args.add((long) Math.max(1, Math.min(limit, MAX_PAGE)));
    return tx(c -> {
      try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
        for (int i = 0; i < args.size(); i++) {
          if (args.get(i) instanceof Long l) {
            ps.setLong(i + 1, l);
          } else {
            ps.setString(i + 1, (String) args.get(i));
          }
        }
        List<AuditEntry> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new AuditEntry(rs.getLong("id"), instant(rs, "at"), rs.getString("actor"), rs.getString("action"),
                rs.getString("target"), rs.getString("source_ip"), rs.getString("result"), rs.getString("detail")));
          }
        }
        return out;
      }
    });
  }

  private static void audit(Connection c, Actor actor, String action, String target, String result, String detail,
      long now) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO audit_log (at, actor, action, target, source_ip,"
        + " result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
      ps.setLong(1, now);
      ps.setString(2, clip(actor.name(), 200));
      ps.setString(3, clip(action, 64));
      ps.setString(4, clip(target, 200));
      ps.setString(5, clip(actor.sourceIp(), 64));
      ps.setString(6, clip(result, 16));
      ps.setString(7, clip(detail, 500));
      ps.executeUpdate();
    }
  }

  // ---- change log -------------------------------------------------------------------------------

  /** Change log rows after {@code seq}, oldest first, at most {@code limit}. */
  List<Change> changesSince(long seq, int limit) {
    return tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT seq, kind, target_id FROM change_log WHERE seq > ?"
          + " ORDER BY seq LIMIT ?")) {
        ps.setLong(1, seq);
        ps.setInt(2, limit);
        List<Change> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new Change(rs.getLong(1), rs.getString(2), rs.getString(3)));
          }
        }
        return out;
      }
    });
  }

  /** The highest change log sequence number, 0 when empty. */
  long lastChange() {
    return tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT COALESCE(MAX(seq), 0) FROM change_log");
           ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    });
  }

  /** Deletes change log rows older than {@code before} (microseconds); returns how many. */
  int pruneChanges(long before) {
    return tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM change_log WHERE at < ?")) {
        ps.setLong(1, before);
        return ps.executeUpdate();
      }
    });
  }

  private static void changed(Connection c, String kind, String id, long now) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO change_log (kind, target_id, at) VALUES (?, ?, ?)")) {
      ps.setString(1, kind);
      ps.setString(2, id);
      ps.setLong(3, now);
      ps.executeUpdate();
    }
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  interface Work<T> {
    T run(Connection c) throws SQLException;
  }

  /** Sets the parameters of one statement. */
  interface Binder {
    void bind(PreparedStatement ps) throws SQLException;
  }

  /**
   * Runs the change {@code sql} (its parameters set by {@code binder}) in transaction {@code c}
   * and, when it matched a row, writes beside it the change log row (unless {@code kind} is null:
   * nothing caches it) and the successful audit entry of {@code action} on {@code id}, so that
   * neither can miss a change that happened. Returns whether it matched a row (shared by the
   * webhook store).
   */
  static boolean change(Connection c, String sql, Binder binder, String kind, String id, Actor actor, String action,
      String detail, long now) throws SQLException {
    int n;
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      binder.bind(ps);
      n = ps.executeUpdate();
    }
    if (n == 0) {
      return false;
    }
    if (kind != null) {
      changed(c, kind, id, now);
    }
    audit(c, actor, action, id, "success", detail, now);
    return true;
  }

  /** Runs {@code work} in one transaction (shared by the usage and billing stores). */
  <T> T tx(Work<T> work) {
    try (Connection c = dataSource.getConnection()) {
      c.setAutoCommit(false);
      try {
        T result = work.run(c);
        c.commit();
        return result;
      } catch (SQLException | RuntimeException e) {
        try {
          c.rollback();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
        throw e;
      }
    } catch (SQLException e) {
      throw new StorageUnavailableException("database: " + PlatformDatabase.rootMessage(e), e);
    }
  }

  private static void setLong(PreparedStatement ps, int i, Long v) throws SQLException {
    if (v == null) {
      ps.setNull(i, Types.BIGINT);
    } else {
      ps.setLong(i, v);
    }
  }

  private static Long getLong(ResultSet rs, String column) throws SQLException {
    long v = rs.getLong(column);
    return rs.wasNull() ? null : v;
  }

  private static Instant instant(ResultSet rs, String column) throws SQLException {
    long v = rs.getLong(column);
    return rs.wasNull() ? null : instantOf(v);
  }

  static Instant instantOf(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }

  static Long micros(Instant t) {
    if (t == null) {
      return null;
    }
    return Math.addExact(Math.multiplyExact(t.getEpochSecond(), 1_000_000L), t.getNano() / 1_000L);
  }

  private static String clip(String s, int max) {
    return s == null || s.length() <= max ? s : s.substring(0, max);
  }
}
