package io.viva.server.admin;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * Decisions counted per policy and per minute, and the identifiers denied most often, over
 * rolling windows of a minute, an hour and a day, in bounded memory.
 *
 * <p>Time is cut into epoch minutes. The minute buckets live in a ring of 64; when the first
 * decision of a new hour arrives, the minutes of the hour that ended are merged into one hour
 * bucket (a ring of 24). A window is the merge of the buckets it covers:
 * <ul>
 *   <li>{@code minute}: the previous and the current minute (60 to 120 seconds);</li>
 *   <li>{@code hour}: the last 60 minutes;</li>
 *   <li>{@code day}: the last 23 whole hours and the current hour so far.</li>
 * </ul>
 *
 * <p>Cost on the decision path: an allowed decision is a clock read, a volatile read, one hash
 * lookup and two {@link LongAdder} increments, with no lock. A denial also updates the minute's
 * {@link HeavyHitters} summary under its lock (O(log capacity)), so only denials ever wait for
 * each other. (Striping the summary by key would spread that lock, but the stripes' minima would
 * then have to be tracked separately to keep the merge's error bound; one lock measured cheap
 * enough, see docs/admin.md.)
 *
 * <p>Memory: at most 64 minute buckets and 24 hour buckets of {@code capacity} keys each, plus
 * two counters per policy per bucket.
 */
public final class TrafficRecorder {

  /** The windows {@code top_offenders} and {@code stats} report. */
  public enum Window {
    MINUTE, HOUR, DAY;

    /** The window named {@code name} ({@code minute|hour|day}), or null. */
    public static Window parse(String name) {
      return switch (name) {
        case "minute" -> MINUTE;
        case "hour" -> HOUR;
        case "day" -> DAY;
        default -> null;
      };
    }

    /** The lower-case name. */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Allowed and denied decisions. */
  public record Traffic(long allowed, long denied) {
    Traffic plus(long a, long d) {
      return new Traffic(allowed + a, denied + d);
    }
  }

  /**
   * What a window saw: when it starts and ends (epoch microseconds), decisions by namespace, and
   * the denied {@code namespace, identifier} pairs as a summary (keys joined by {@link #SEPARATOR}).
   */
  public record View(Window window, long fromMicros, long toMicros, Map<String, Traffic> byNamespace,
      HeavyHitters offenders) {

    /** Every namespace's decisions added up. */
    public Traffic total() {
      long a = 0;
      long d = 0;
      for (Traffic t : byNamespace.values()) {
        a += t.allowed;
        d += t.denied;
      }
      return new Traffic(a, d);
    }
  }

  /** One bucket (a minute or an hour) of one instance: decisions by namespace and its denials summary. */
  public record Part(Map<String, Traffic> traffic, HeavyHitters offenders) {}

  /** Where a view reads its buckets from: one instance's, or every instance's. */
  public interface Parts {
    /** The parts (one per instance that saw anything) of epoch minute {@code minute}. */
    List<Part> minute(long minute);

    /** The parts of epoch hour {@code hour}. */
    List<Part> hour(long hour);
  }

  /** Joins namespace and identifier in a summary key; neither a namespace nor a policy name holds it. */
  public static final char SEPARATOR = '\u0000';

  static final long MINUTE_MICROS = 60_000_000L;
  private static final int MINUTES = 64;
  private static final int HOURS = 24;

  private final LongSupplier clock;
  private final int capacity;
  private final AtomicReferenceArray<Minute> minutes = new AtomicReferenceArray<>(MINUTES);
  private final AtomicReferenceArray<Hour> hours = new AtomicReferenceArray<>(HOURS);
  private final LongAdder allowedTotal = new LongAdder();
  private final LongAdder deniedTotal = new LongAdder();
  private volatile Minute current;

  /**
   * @param clockMicros the time in epoch microseconds (the store's clock)
   * @param capacity the keys each summary keeps (1 to 100000)
   */
  public TrafficRecorder(LongSupplier clockMicros, int capacity) {
    if (capacity < 1 || capacity > 100_000) {
      throw new IllegalArgumentException("capacity: " + capacity + " (expected: 1 to 100000)");
    }
    this.clock = clockMicros;
    this.capacity = capacity;
    this.current = new Minute(Math.floorDiv(clockMicros.getAsLong(), MINUTE_MICROS), capacity);
    minutes.set(index(current.minute, MINUTES), current);
  }

  /** The keys each window's summary keeps. */
  public int capacity() {
    return capacity;
  }

  /**
   * Counts one decision of {@code policy} for {@code identifier}. An override's policy is named
   * {@code namespace#identifier}; it counts for its namespace.
   */
  public void record(String policy, String identifier, boolean allowed) {
    long m = Math.floorDiv(clock.getAsLong(), MINUTE_MICROS);
    Minute b = current;
    if (b.minute != m) {
      b = rotate(m);
    }
    Counts c = b.byPolicy.get(policy);
    if (c == null) {
      c = b.byPolicy.computeIfAbsent(policy, p -> new Counts());
    }
    if (allowed) {
      c.allowed.increment();
      allowedTotal.increment();
      return;
    }
    c.denied.increment();
    deniedTotal.increment();
    String key = namespaceOf(policy) + SEPARATOR + identifier;
    HeavyHitters sketch = b.sketch;
    synchronized (sketch) {
      sketch.add(key, 1);
    }
  }

  /** Allowed and denied decisions since this recorder was created. */
  public Traffic totals() {
    return new Traffic(allowedTotal.sum(), deniedTotal.sum());
  }

  /** What {@code window} saw, up to now, on this instance. */
  public View view(Window window) {
    return view(window, localParts());
  }

  /**
   * What {@code window} saw, up to now, with the minutes and hours read from {@code source}: this
   * instance's own buckets ({@link #localParts()}), or those of every instance (read from Redis,
   * the parts being summaries of disjoint streams, so their merge keeps the error bound).
   */
  public View view(Window window, Parts source) {
    long now = clock.getAsLong();
    long m = Math.floorDiv(now, MINUTE_MICROS);
    long h = Math.floorDiv(m, 60);
    List<Part> parts = new ArrayList<>();
    long from = switch (window) {
      case MINUTE -> {
        for (long i = m - 1; i <= m; i++) {
          parts.addAll(source.minute(i));
        }
        yield (m - 1) * MINUTE_MICROS;
      }
      case HOUR -> {
        for (long i = m - 59; i <= m; i++) {
          parts.addAll(source.minute(i));
        }
        yield (m - 59) * MINUTE_MICROS;
      }
      case DAY -> {
        for (long i = h - 23; i <= h; i++) {
          parts.addAll(source.hour(i));
        }
        yield (h - 23) * 60 * MINUTE_MICROS;
      }
    };
    Map<String, Traffic> traffic = new HashMap<>();
    List<HeavyHitters> summaries = new ArrayList<>(parts.size());
    for (Part p : parts) {
      p.traffic().forEach((ns, t) -> traffic.merge(ns, t, (x, y) -> x.plus(y.allowed, y.denied)));
      summaries.add(p.offenders());
    }
    return new View(window, from, now, traffic, HeavyHitters.merge(summaries, capacity));
  }

  /** The current epoch minute by this recorder's clock. */
  public long currentMinute() {
    return Math.floorDiv(clock.getAsLong(), MINUTE_MICROS);
  }

  /** This instance's buckets. */
  public Parts localParts() {
    return new Parts() {
      @Override
      public List<Part> minute(long minute) {
        Part p = localMinute(minute);
        return p == null ? List.of() : List.of(p);
      }

      @Override
      public List<Part> hour(long hour) {
        Part p = localHour(hour);
        return p == null ? List.of() : List.of(p);
      }
    };
  }

  /** This instance's epoch minute {@code minute}, or null if it saw nothing then (or it left the ring). */
  public Part localMinute(long minute) {
    Minute b = minutes.get(index(minute, MINUTES));
    if (b == null || b.minute != minute) {
      return null;
    }
    Map<String, Traffic> traffic = new HashMap<>();
    b.addTo(traffic);
    return new Part(traffic, b.offenders());
  }

  /**
   * This instance's epoch hour {@code hour}: its hour bucket once closed, else the merge of its
   * minutes still in the ring (the current hour, or one that ended with no decision since); null
   * if nothing.
   */
  public Part localHour(long hour) {
    Hour hb = hours.get(index(hour, HOURS));
    if (hb != null && hb.hour == hour) {
      return new Part(hb.traffic, hb.offenders);
    }
    Map<String, Traffic> traffic = new HashMap<>();
    List<HeavyHitters> parts = new ArrayList<>();
    collectMinutes(hour * 60, hour * 60 + 59, traffic, parts);
    return parts.isEmpty() ? null : new Part(traffic, HeavyHitters.merge(parts, capacity));
  }

  private void collectMinutes(long first, long last, Map<String, Traffic> traffic, List<HeavyHitters> parts) {
    for (long i = Math.max(first, last - MINUTES + 1); i <= last; i++) {
      Minute b = minutes.get(index(i, MINUTES));
      if (b != null && b.minute == i) {
        b.addTo(traffic);
        parts.add(b.offenders());
      }
    }
  }

  private synchronized Minute rotate(long m) {
    Minute old = current;
    if (old.minute >= m) {
      // Another thread rotated first, or this thread read the clock just before a rotation.
      return old;
    }
    long oldHour = Math.floorDiv(old.minute, 60);
    if (Math.floorDiv(m, 60) != oldHour) {
      closeHour(oldHour);
    }
    Minute next = new Minute(m, capacity);
    minutes.set(index(m, MINUTES), next);
    current = next;
    return next;
  }

  /** Merges the minutes of {@code hour} (all still in the ring) into its hour bucket. */
  private void closeHour(long hour) {
    Map<String, Traffic> traffic = new HashMap<>();
    List<HeavyHitters> parts = new ArrayList<>();
    collectMinutes(hour * 60, hour * 60 + 59, traffic, parts);
    hours.set(index(hour, HOURS), new Hour(hour, Map.copyOf(traffic), HeavyHitters.merge(parts, capacity)));
  }

  /** The namespace a policy name counts for: the part before {@code #} of an override's name. */
  static String namespaceOf(String policy) {
    int hash = policy.indexOf('#');
    return hash < 0 ? policy : policy.substring(0, hash);
  }

  private static int index(long unit, int ring) {
    return (int) Math.floorMod(unit, (long) ring);
  }

  private static final class Counts {
    final LongAdder allowed = new LongAdder();
    final LongAdder denied = new LongAdder();
  }

  private static final class Minute {
    final long minute;
    final ConcurrentHashMap<String, Counts> byPolicy = new ConcurrentHashMap<>();
    final HeavyHitters sketch;

    Minute(long minute, int capacity) {
      this.minute = minute;
      this.sketch = new HeavyHitters(capacity);
    }

    void addTo(Map<String, Traffic> traffic) {
      byPolicy.forEach((policy, c) -> {
        long a = c.allowed.sum();
        long d = c.denied.sum();
        traffic.merge(namespaceOf(policy), new Traffic(a, d), (x, y) -> x.plus(y.allowed, y.denied));
      });
    }

    /** A copy of the minute's summary, taken under its lock. */
    HeavyHitters offenders() {
      synchronized (sketch) {
        return sketch.copy();
      }
    }
  }

  private record Hour(long hour, Map<String, Traffic> traffic, HeavyHitters offenders) {}
}
