package io.viva.platform;

import io.viva.core.Clock;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counts verifications per key, minute, outcome and tier in memory, on the hot path without a lock
 * (a concurrent map lookup and {@link LongAdder} increments), and hands them out in batches with
 * {@link #drain}. Also the {@link QuotaGuard}: a key's month so far is its database total
 * (refreshed in the background by {@link #refreshQuotas}) plus what this instance counted and has
 * not yet drained.
 *
 * <p><b>Quota bound.</b> The month so far = the database's total at the last refresh + what was
 * drained since (shipped) + what this process holds in its disk spool + what is not drained yet. With the in-process pipeline that is exact for
 * this instance's own traffic; what other instances counted and what sits in the RabbitMQ queue
 * shows up at the next refresh, so a key may overshoot its quota by at most the requests the other
 * instances allowed in one flush interval + one refresh interval (+ the queue's delay with RabbitMQ).
 *
 * <p><b>Exactness.</b> {@link #drain} takes each counter with {@link LongAdder#sumThenReset}, which
 * moves every increment to exactly one batch: a request counted during a drain lands in this batch
 * or the next, never both, never neither. Buckets of past minutes stay drainable for {@link
 * #RETIRE_AFTER_MINUTES} minutes after they close, for a thread that read the bucket just before the
 * minute turned.
 */
public final class UsageMeter implements QuotaGuard {

  /** How long a closed minute's counters stay in memory (drained at every flush) before they are dropped. */
  static final int RETIRE_AFTER_MINUTES = 2;
  private static final UsageOutcome[] OUTCOMES = UsageOutcome.values();

  private final Clock clock;
  private final String source;
  private final ConcurrentHashMap<Long, Minute> minutes = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, KeyMonth> keys = new ConcurrentHashMap<>();
  private final LongAdder pending = new LongAdder();
  private volatile Minute current;
  /** The month of the current minute, recomputed once a minute (java.time is too slow for every request). */
  private volatile MonthOf monthOf = new MonthOf(-1, 0);

  private record MonthOf(long minute, long monthStart) {}
  private volatile QuotaListener quotaListener = (k, level, used, quota, month) -> { };

  /** Hears when a key's month crosses 80 % or 100 % of its quota (once per key, month and level; at a refresh). */
  @FunctionalInterface
  public interface QuotaListener {
    /**
     * @param keyId the key
     * @param level 80 or 100
     * @param used requests this month so far
     * @param quota the key's monthly quota
     * @param monthStart the month's first minute since the epoch
     */
    void crossed(String keyId, int level, long used, long quota, long monthStart);
  }

  /** Sets the quota threshold listener (called on the usage shipper's thread). */
  public void onQuota(QuotaListener listener) {
    this.quotaListener = Objects.requireNonNull(listener, "listener");
  }
  private long batchSeq;

  private static final class Minute {
    final long minute;
    final ConcurrentHashMap<String, Cell> cells = new ConcurrentHashMap<>();

    Minute(long minute) {
      this.minute = minute;
    }
  }

  private static final class Cell {
    final String keyId;
    final String tier;
    final KeyMonth month;
    final LongAdder[] byOutcome = new LongAdder[OUTCOMES.length];

    Cell(String keyId, String tier, KeyMonth month) {
      this.keyId = keyId;
      this.tier = tier;
      this.month = month;
      for (int i = 0; i < byOutcome.length; i++) {
        byOutcome[i] = new LongAdder();
      }
    }
  }

  /** A key's month: the database's total (as of the last refresh) and what is counted here but not yet drained. */
  private static final class KeyMonth {
    final LongAdder undrained = new LongAdder();
    /** Drained since the last refresh: in the pipeline, or already in the database but not in {@link #database}. */
    final LongAdder shipped = new LongAdder();
    /** In this instance's disk spool: known not to be in the database until replayed. */
    final LongAdder spooled = new LongAdder();
    volatile long month = -1;
    volatile long database;
    volatile long quota = Long.MAX_VALUE;
    long notifiedMonth = -1;
    int notifiedLevel;
    volatile long lastSeenMinute;
  }

  /** A meter on {@code clock}; {@code source} names this instance in the batches. */
  public UsageMeter(Clock clock, String source) {
    this.clock = Objects.requireNonNull(clock, "clock");
    this.source = Objects.requireNonNull(source, "source");
    this.current = new Minute(minuteOf(clock.micros()));
    minutes.put(current.minute, current);
  }

  /** The minute (since the epoch) of a time in microseconds. */
  public static long minuteOf(long micros) {
    return Math.floorDiv(micros, 60_000_000L);
  }

  /** The first minute of the calendar month (UTC) containing {@code minute}. */
  public static long monthStart(long minute) {
    YearMonth ym = YearMonth.from(java.time.Instant.ofEpochSecond(minute * 60).atZone(ZoneOffset.UTC));
    return ym.atDay(1).atStartOfDay(ZoneOffset.UTC).toEpochSecond() / 60;
  }

  private long currentMonthStart(long minute) {
    MonthOf m = monthOf;
    if (m.minute() != minute) {
      m = new MonthOf(minute, monthStart(minute));
      monthOf = m;
    }
    return m.monthStart();
  }

  /** Counts one verification of {@code key} that ended with {@code outcome} under {@code tier}. Never blocks. */
  public void record(String keyId, String tier, UsageOutcome outcome) {
    long minute = minuteOf(clock.micros());
    Minute m = current;
    if (m.minute != minute) {
      m = minutes.computeIfAbsent(minute, Minute::new);
      if (minute > current.minute) {
        current = m;
      }
    }
    Cell cell = m.cells.get(keyId);
    if (cell == null || !cell.tier.equals(tier)) {
      String k = cell == null ? keyId : keyId + ' ' + tier;
      cell = m.cells.get(k);
      if (cell == null) {
        long mm = minute;
        cell = m.cells.computeIfAbsent(k, x -> new Cell(keyId, tier, keyMonth(keyId, mm)));
      }
    }
    if (outcome == UsageOutcome.ALLOWED) {
      // Before the outcome's counter, so a concurrent drain never subtracts more than was added here.
      cell.month.undrained.increment();
    }
    cell.byOutcome[outcome.ordinal()].increment();
    pending.increment();
  }

  private KeyMonth keyMonth(String keyId, long minute) {
    KeyMonth km = keys.get(keyId);
    if (km == null) {
      km = keys.computeIfAbsent(keyId, k -> {
        KeyMonth fresh = new KeyMonth();
        // Nothing known from the database until the first refresh (the documented overshoot for a key new here).
        fresh.month = currentMonthStart(minute);
        return fresh;
      });
    }
    if (km.lastSeenMinute != minute) {
      km.lastSeenMinute = minute;
    }
    return km;
  }

  /** Counted requests not yet drained (approximate while counting goes on). */
  public long pending() {
    return pending.sum();
  }

  @Override
  public boolean withinQuota(ApiKey key, long quota) {
    if (quota == Long.MAX_VALUE) {
      return true;
    }
    long minute = minuteOf(clock.micros());
    KeyMonth km = keyMonth(key.id(), minute);
    if (km.quota != quota) {
      km.quota = quota;
    }
    // Until the first refresh of a new month, last month's database total and shipped counts do not apply.
    long known = km.month == currentMonthStart(minute) ? km.database + km.shipped.sum() + km.spooled.sum() : 0;
    return known + Math.max(0, km.undrained.sum()) < quota;
  }

  /**
   * Moves minute {@code m}'s counts into {@code counts} (and its allowed ones into {@code allowed}, by
   * key and month), resetting them; returns how many requests that was.
   */
  private static long take(Minute m, List<UsageBatch.Count> counts, Map<KeyMonth, Long> allowed) {
    long taken = 0;
    for (Cell c : m.cells.values()) {
      for (UsageOutcome o : OUTCOMES) {
        long n = c.byOutcome[o.ordinal()].sumThenReset();
        if (n != 0) {
          counts.add(new UsageBatch.Count(c.keyId, m.minute, o, c.tier, n));
          taken += n;
          if (o == UsageOutcome.ALLOWED) {
            allowed.merge(c.month, n, Long::sum);
          }
        }
      }
    }
    return taken;
  }

  /** Takes every count so far and returns it as batches of at most {@link UsageBatch#MAX_COUNTS} counts. */
  public synchronized List<UsageBatch> drain() {
    long now = minuteOf(clock.micros());
    List<UsageBatch.Count> counts = new ArrayList<>();
    Map<KeyMonth, Long> allowed = new HashMap<>();
    long taken = 0;
    for (Iterator<Minute> it = minutes.values().iterator(); it.hasNext(); ) {
      Minute m = it.next();
      taken += take(m, counts, allowed);
      if (m.minute < now - RETIRE_AFTER_MINUTES) {
        it.remove();
        // A last look after removal: nothing should have arrived this late, but if it did it is not lost.
        taken += take(m, counts, allowed);
      }
    }
    // Undrained first: a concurrent quota check may briefly miss these requests (the documented
    // overshoot side), never count them twice (which would deny a request too early).
    allowed.forEach((km, n) -> {
      km.undrained.add(-n);
      km.shipped.add(n);
    });
    pending.add(-taken);
    List<UsageBatch> out = new ArrayList<>();
    for (int i = 0; i < counts.size(); i += UsageBatch.MAX_COUNTS) {
      out.add(new UsageBatch(nextBatchId(), source, counts.subList(i, Math.min(counts.size(), i + UsageBatch.MAX_COUNTS))));
    }
    return out;
  }

  private String nextBatchId() {
    // Unique across instances and restarts: the instance id is random per process.
    return source + "-" + Long.toString(clock.micros(), 36) + "-" + (++batchSeq);
  }

  /**
   * Reloads the month-to-date totals of the keys seen in the last hour from {@code store}; forgets
   * keys idle longer (nothing undrained).
   */
  public synchronized void refreshQuotas(UsageStore store) {
    long minute = minuteOf(clock.micros());
    long month = monthStart(minute);
    List<String> ids = new ArrayList<>();
    for (Iterator<Map.Entry<String, KeyMonth>> it = keys.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, KeyMonth> e = it.next();
      if (e.getValue().lastSeenMinute < minute - 60 && e.getValue().undrained.sum() == 0
          && e.getValue().spooled.sum() <= 0) {
        it.remove();
      } else {
        ids.add(e.getKey());
      }
    }
    if (ids.isEmpty()) {
      return;
    }
    // Drains wait (same lock), so what was shipped before this query is either in its answer (the
    // in-process pipeline applies before returning) or still in the queue (RabbitMQ: the overshoot bound).
    Map<String, Long> totals = store.allowedSince(ids, month);
    for (String id : ids) {
      KeyMonth km = keys.get(id);
      if (km != null) {
        km.shipped.reset(); // first, for the same reason as in drain
        km.database = totals.getOrDefault(id, 0L);
        km.month = month;
        notifyQuota(id, km, month);
      }
    }
  }

  private void notifyQuota(String id, KeyMonth km, long month) {
    long quota = km.quota;
    if (quota == Long.MAX_VALUE || quota == 0) {
      return;
    }
    long used = km.database + Math.max(0, km.undrained.sum());
    int level = used >= quota ? 100 : used >= quota - quota / 5 ? 80 : 0;
    if (km.notifiedMonth != month) {
      km.notifiedMonth = month;
      km.notifiedLevel = 0;
    }
    if (level > km.notifiedLevel) {
      km.notifiedLevel = level;
      try {
        quotaListener.crossed(id, level, used, quota, month);
      } catch (RuntimeException e) {
        // a listener's failure must not stop the refresh
      }
    }
  }

  /**
   * Tells the quota that {@code batch} (drained here) went to the disk spool ({@code true}) or was
   * replayed from it ({@code false}): a refresh does not forget spooled requests, which the database
   * does not have yet. Called under the shipper's lock, like drain and refresh.
   */
  void spooled(UsageBatch batch, boolean intoSpool) {
    for (UsageBatch.Count c : batch.counts()) {
      if (c.outcome() != UsageOutcome.ALLOWED) {
        continue;
      }
      KeyMonth km = keys.get(c.keyId());
      if (km == null) {
        continue;
      }
      if (intoSpool) {
        km.spooled.add(c.requests());
        km.shipped.add(-c.requests());
      } else {
        km.shipped.add(c.requests());
        km.spooled.add(-c.requests());
      }
    }
  }

  /** This instance's name in batch ids. */
  public String source() {
    return source;
  }
}
