package io.viva.bench.load;

/**
 * An open loop's schedule, as wrk2 paces: request {@code i} is due at {@code start + i / rate},
 * whatever the system under test does, and its latency counts from then. A pacer thread wakes every
 * so often, calls {@link #advance} and sends requests {@link #from()} (inclusive) to {@link #to()}
 * (exclusive), each with its {@link #due(long) due time}.
 *
 * <p>When the measured window starts, a backlog left from the warm-up (a cold JVM on either side
 * answers slowly at first) is dropped: the measurement starts on schedule, not paying off the
 * warm-up's debt. With {@code measureStart == start} nothing is ever dropped.
 *
 * <p>One pacer thread owns it; {@link #due} alone, which reads only the fixed schedule, may be
 * called from any thread.
 */
public final class OpenLoopSchedule {
  private final long start;
  private final double interval;
  private final long measureStart;
  private boolean rebased;
  private long from;
  private long to;

  /** A schedule of {@code rate} requests a second from {@code start} (both in {@link System#nanoTime()} terms). */
  public OpenLoopSchedule(long start, long rate, long measureStart) {
    if (rate <= 0) {
      throw new IllegalArgumentException("rate must be positive: " + rate);
    }
    this.start = start;
    this.interval = 1e9 / rate;
    this.measureStart = measureStart;
  }

  /** Takes the requests due by {@code now} and not yet taken: {@link #from()} to {@link #to()}. */
  public void advance(long now) {
    from = to;
    if (!rebased && now >= measureStart) {
      rebased = true;
      from = Math.max(from, (long) ((measureStart - start) / interval));
    }
    to = Math.max(from, now < start ? 0 : (long) ((now - start) / interval) + 1);
  }

  /** The first request taken by the last {@link #advance}. */
  public long from() {
    return from;
  }

  /** One past the last request taken by the last {@link #advance}. */
  public long to() {
    return to;
  }

  /** When request {@code i} is due. */
  public long due(long i) {
    return start + (long) (i * interval);
  }

  /**
   * How long a pacer should park between two {@link #advance}s: about one request's interval,
   * between 10 and 100 µs. Shorter would cost the system under test, on the same cores, a wake-up
   * per request; longer would send in bursts.
   */
  public long parkNanos() {
    return Math.max(10_000L, Math.min(100_000L, (long) interval));
  }
}
