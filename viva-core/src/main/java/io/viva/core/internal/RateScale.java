package io.viva.core.internal;

/**
 * Exact integer scaling shared by the three bucket algorithms.
 *
 * <p>A rate of {@code limit} permits per {@code window} microseconds is rarely a whole number of
 * microseconds per permit (3 per second is 333,333.3...). Rather than round, one permit is worth
 * {@code unit = window / g} scaled units and time adds {@code rate = limit / g} scaled units per
 * microsecond, where {@code g = gcd(limit, window)}. Every quantity is then an exact integer, and
 * the bucket's capacity {@code burst * unit} bounds every intermediate value.
 */
final class RateScale {
  final long unit;
  final long rate;
  final long capacity;

  RateScale(long limit, long windowMicros, long burst, String algorithm) {
    long g = LimitAlgorithm.gcd(limit, windowMicros);
    this.unit = windowMicros / g;
    this.rate = limit / g;
    if (burst > (LimitAlgorithm.MAX_EXACT - rate) / unit) {
      throw new IllegalArgumentException(algorithm + ": burst " + burst + " with a rate of " + limit
          + " per " + windowMicros + "us needs " + burst + " x " + unit
          + " scaled units (expected: at most 2^53; lower the burst or use a window that is a multiple of the limit)");
    }
    this.capacity = burst * unit;
  }
}
