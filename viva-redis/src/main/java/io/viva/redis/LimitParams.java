package io.viva.redis;

import io.viva.core.Limit;

/**
 * The integer parameters the Lua script needs for one limit: the algorithm code and the values the
 * engine derives in its constructors. Each derivation replicates its Java twin in
 * {@code io.viva.core.internal} (kept package-private there on purpose), so a change to one must
 * be made to the other; the differential test catches a mismatch.
 */
final class LimitParams {

  static final int TOKEN_BUCKET = 1;
  static final int GCRA = 2;
  static final int LEAKY_BUCKET = 3;
  static final int FIXED_WINDOW = 4;
  static final int SLIDING_WINDOW = 5;
  static final int SLIDING_LOG = 6;

  private LimitParams() {}

  /** Six ARGV values: the algorithm code and five parameters (unused ones are 0). */
  static long[] of(Limit limit) {
    long l = limit.limit();
    long window = limit.windowMicros();
    long burst = limit.burst();
    return switch (limit.algorithm()) {
      case TOKEN_BUCKET -> scaled(TOKEN_BUCKET, l, window, burst, false);
      case GCRA -> scaled(GCRA, l, window, burst, true);
      case LEAKY_BUCKET -> scaled(LEAKY_BUCKET, l, window, burst, false);
      case FIXED_WINDOW -> new long[] {FIXED_WINDOW, l, window, 0, 0, 0};
      case SLIDING_WINDOW -> slidingWindow(l, window);
      case SLIDING_LOG -> new long[] {SLIDING_LOG, l, window, 0, 0, 0};
    };
  }

  /** Twin of RateScale (unit, rate, capacity) and, for GCRA, of Gcra's maxLag. */
  private static long[] scaled(int code, long limit, long window, long burst, boolean gcra) {
    long g = gcd(limit, window);
    long unit = window / g;
    long rate = limit / g;
    long capacity = burst * unit;
    long maxLag = gcra ? capacity / rate + 2 : 0;
    return new long[] {code, unit, rate, capacity, maxLag, 0};
  }

  /** Twin of SlidingWindow's constructor: the tick, ticks per window and the scaled limit. */
  private static long[] slidingWindow(long limit, long window) {
    long max = 1L << 53;
    long tick = 0;
    for (long t = 1; t <= 1_000_000L; t *= 10) {
      if (window % t == 0 && limit <= max / (window / t)) {
        tick = t;
        break;
      }
    }
    if (tick == 0) {
      // Unreachable: Limit's constructor has already rejected such a limit.
      throw new IllegalArgumentException("sliding_window: no tick for " + limit + " per " + window + "us");
    }
    long ticks = window / tick;
    return new long[] {SLIDING_WINDOW, limit, window, tick, ticks, limit * ticks};
  }

  /** Twin of LimitAlgorithm.gcd. */
  private static long gcd(long a, long b) {
    while (b != 0) {
      long t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
}
