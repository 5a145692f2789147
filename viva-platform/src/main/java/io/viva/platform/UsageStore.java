package io.viva.platform;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Usage counts in the database, next to the keys ({@link PlatformStore}'s connection pool and
 * transactions): applies batches idempotently and answers the usage, quota and billing queries.
 *
 * <p>Every method throws {@link StorageUnavailableException} when the database fails.
 */
public final class UsageStore {

  /** The most buckets one usage query returns. */
  public static final int MAX_BUCKETS = 10_000;

  private final PlatformStore store;
  private final boolean postgres;
  private final io.viva.core.Clock clock;

  /** Usage over the same database as {@code store}; {@code postgres} selects the upsert dialect. */
  public UsageStore(PlatformStore store, boolean postgres, io.viva.core.Clock clock) {
    this.store = Objects.requireNonNull(store, "store");
    this.postgres = postgres;
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  /**
   * Adds {@code batch}'s counts unless a batch with its id was applied before; the batch id and the
   * counts commit in one transaction. Concurrent writers of the same rows are retried.
   *
   * @return true if applied now, false if it had been applied already (a redelivery)
   */
  public boolean apply(UsageBatch batch) {
    for (int attempt = 1; ; attempt++) {
      try {
        return store.tx(c -> applyIn(c, batch));
      } catch (StorageUnavailableException e) {
        if (attempt >= 5 || !retryable(e)) {
          throw e;
        }
      }
    }
  }

  private boolean applyIn(Connection c, UsageBatch batch) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(postgres
        ? "INSERT INTO usage_batches (batch_id, source, events, applied_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        : "INSERT INTO usage_batches (batch_id, source, events, applied_at) SELECT ?, ?, ?, ? WHERE NOT EXISTS"
            + " (SELECT 1 FROM usage_batches WHERE batch_id = ?)")) {
      ps.setString(1, batch.id());
      ps.setString(2, batch.source());
      ps.setLong(3, batch.events());
      ps.setLong(4, clock.micros());
      if (!postgres) {
        ps.setString(5, batch.id());
      }
      if (ps.executeUpdate() == 0) {
        return false;
      }
    }
    String upsert = postgres
        ? "INSERT INTO usage_counts (key_id, at_minute, outcome, tier, requests) VALUES (?, ?, ?, ?, ?)"
            + " ON CONFLICT (key_id, at_minute, outcome, tier) DO UPDATE SET requests = usage_counts.requests"
            + " + EXCLUDED.requests"
        : "MERGE INTO usage_counts u USING (VALUES (CAST(? AS VARCHAR(40)), CAST(? AS BIGINT), CAST(? AS VARCHAR(16)),"
            + " CAST(? AS VARCHAR(64)), CAST(? AS BIGINT))) AS v (key_id, at_minute, outcome, tier, requests)"
            + " ON u.key_id = v.key_id AND u.at_minute = v.at_minute AND u.outcome = v.outcome AND u.tier = v.tier"
            + " WHEN MATCHED THEN UPDATE SET requests = u.requests + v.requests"
            + " WHEN NOT MATCHED THEN INSERT (key_id, at_minute, outcome, tier, requests)"
            + " VALUES (v.key_id, v.at_minute, v.outcome, v.tier, v.requests)";
    // One order for every writer, so two workers upserting the same rows cannot deadlock each other.
    List<UsageBatch.Count> sorted = new ArrayList<>(batch.counts());
    sorted.sort(java.util.Comparator.comparing(UsageBatch.Count::keyId).thenComparingLong(UsageBatch.Count::minute)
        .thenComparing(n -> n.outcome().label()).thenComparing(UsageBatch.Count::tier));
    try (PreparedStatement ps = c.prepareStatement(upsert)) {
      for (UsageBatch.Count n : sorted) {
        ps.setString(1, n.keyId());
        ps.setLong(2, n.minute());
        ps.setString(3, n.outcome().label());
        ps.setString(4, n.tier());
        ps.setLong(5, n.requests());
        ps.addBatch();
      }
      ps.executeBatch();
    }
    return true;
  }

  private static boolean retryable(StorageUnavailableException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLException s && s.getSQLState() != null
          && (s.getSQLState().equals("23505") || s.getSQLState().startsWith("40") || s.getSQLState().equals("HYT00"))) {
        return true;
      }
    }
    return false;
  }

  /** Whether batch {@code id} has been applied. */
  public boolean applied(String id) {
    return store.tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM usage_batches WHERE batch_id = ?")) {
        ps.setString(1, id);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next();
        }
      }
    });
  }

  /** Allowed requests of each of {@code keyIds} from minute {@code fromMinute} on (keys without any: absent). */
  public Map<String, Long> allowedSince(Collection<String> keyIds, long fromMinute) {
    Map<String, Long> out = new HashMap<>();
    List<String> ids = new ArrayList<>(keyIds);
    for (int i = 0; i < ids.size(); i += 500) {
      List<String> part = ids.subList(i, Math.min(ids.size(), i + 500));
      String in = String.join(",", java.util.Collections.nCopies(part.size(), "?"));
      store.tx(c -> {
        try (PreparedStatement ps = c.prepareStatement("SELECT key_id, SUM(requests) FROM usage_counts WHERE at_minute >= ?"
            + " AND outcome = 'allowed' AND key_id IN (" + in + ") GROUP BY key_id")) {
          ps.setLong(1, fromMinute);
          for (int j = 0; j < part.size(); j++) {
            ps.setString(j + 2, part.get(j));
          }
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              out.put(rs.getString(1), rs.getLong(2));
            }
          }
        }
        return null;
      });
    }
    return out;
  }

  /**
   * One bucket of a usage series.
   *
   * @param startMinute the bucket's first minute since the epoch
   * @param requests requests by outcome (outcomes without any are absent)
   */
  public record Bucket(long startMinute, Map<UsageOutcome, Long> requests) {}

  /**
   * Key {@code keyId}'s requests in {@code [fromMinute, toMinute)}, in buckets of {@code
   * bucketMinutes} (1, 60 or 1440) aligned to the epoch (UTC days); empty buckets are absent.
   */
  public List<Bucket> series(String keyId, long fromMinute, long toMinute, int bucketMinutes) {
    return store.tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT (at_minute / " + bucketMinutes + ") * " + bucketMinutes
          + " AS b, outcome, SUM(requests) FROM usage_counts WHERE key_id = ? AND at_minute >= ? AND at_minute < ?"
          + " GROUP BY b, outcome ORDER BY b")) {
        ps.setString(1, keyId);
        ps.setLong(2, fromMinute);
        ps.setLong(3, toMinute);
        Map<Long, Map<UsageOutcome, Long>> buckets = new LinkedHashMap<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            UsageOutcome o = UsageOutcome.fromLabel(rs.getString(2));
            if (o != null) {
              buckets.computeIfAbsent(rs.getLong(1), k -> new EnumMap<>(UsageOutcome.class)).merge(o, rs.getLong(3),
                  Long::sum);
            }
          }
        }
        List<Bucket> out = new ArrayList<>();
        buckets.forEach((b, m) -> out.add(new Bucket(b, m)));
        return out;
      }
    });
  }

  /**
   * A key's requests in a range, by outcome, and the tier that served its last request in it.
   *
   * @param keyId the key
   * @param ownerId its owner, or null
   * @param requests by outcome
   * @param lastTier the tier of the latest minute with requests
   */
  public record KeyTotal(String keyId, String ownerId, Map<UsageOutcome, Long> requests, String lastTier) {

    /** Allowed requests. */
    public long allowed() {
      return requests.getOrDefault(UsageOutcome.ALLOWED, 0L);
    }
  }

  /**
   * Per key totals in {@code [fromMinute, toMinute)} of the keys of {@code ownerId} (every key when
   * null), ordered by key id.
   */
  public List<KeyTotal> totals(String ownerId, long fromMinute, long toMinute) {
    return store.tx(c -> {
      String sql = "SELECT u.key_id, k.owner_id, u.outcome, u.tier, SUM(u.requests), MAX(u.at_minute)"
          + " FROM usage_counts u LEFT JOIN api_keys k ON k.id = u.key_id WHERE u.at_minute >= ? AND u.at_minute < ?"
          + (ownerId != null ? " AND k.owner_id = ?" : "") + " GROUP BY u.key_id, k.owner_id, u.outcome, u.tier"
          + " ORDER BY u.key_id";
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        ps.setLong(1, fromMinute);
        ps.setLong(2, toMinute);
        if (ownerId != null) {
          ps.setString(3, ownerId);
        }
        Map<String, String[]> owners = new LinkedHashMap<>();
        Map<String, Map<UsageOutcome, Long>> counts = new HashMap<>();
        Map<String, long[]> lastMinute = new HashMap<>();
        Map<String, String> lastTier = new HashMap<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            String key = rs.getString(1);
            owners.putIfAbsent(key, new String[] {rs.getString(2)});
            UsageOutcome o = UsageOutcome.fromLabel(rs.getString(3));
            String tier = rs.getString(4);
            long n = rs.getLong(5);
            long max = rs.getLong(6);
            if (o != null) {
              counts.computeIfAbsent(key, k -> new EnumMap<>(UsageOutcome.class)).merge(o, n, Long::sum);
            }
            long[] lm = lastMinute.computeIfAbsent(key, k -> new long[] {Long.MIN_VALUE});
            // Latest minute wins; within one minute the greater tier name, so the answer is deterministic.
            if (max > lm[0] || (max == lm[0] && tier.compareTo(lastTier.get(key)) > 0)) {
              lm[0] = max;
              lastTier.put(key, tier);
            }
          }
        }
        List<KeyTotal> out = new ArrayList<>();
        owners.forEach((k, o) -> out.add(new KeyTotal(k, o[0], counts.getOrDefault(k, Map.of()), lastTier.get(k))));
        return out;
      }
    });
  }

  /** Owners (null for keys without one) with any usage in {@code [fromMinute, toMinute)}. */
  public List<String> ownersWithUsage(long fromMinute, long toMinute) {
    return store.tx(c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT DISTINCT k.owner_id FROM usage_counts u"
          + " LEFT JOIN api_keys k ON k.id = u.key_id WHERE u.at_minute >= ? AND u.at_minute < ? ORDER BY 1")) {
        ps.setLong(1, fromMinute);
        ps.setLong(2, toMinute);
        List<String> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(rs.getString(1));
          }
        }
        return out;
      }
    });
  }
}
