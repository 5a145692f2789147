package io.viva.core.internal;

import io.viva.core.Algorithm;

/**
 * One algorithm with its parameters fixed: a pure function of (state, cost, now).
 *
 * <p>The contract every implementation keeps, so that the in-memory store, the Redis Lua twins
 * and the differential tests agree:
 * <ul>
 *   <li>All arithmetic is on integers of at most 2^53 (exact in a Lua double); the parameters
 *       are checked against that bound when the limit is built.</li>
 *   <li>{@link #evaluate} never mutates the state; {@link #commit} is called only for an
 *       admitted request with a positive cost. A denied request and a cost of 0 leave no trace.</li>
 *   <li>A clock that goes backwards never grants more than the latest state allows.</li>
 *   <li>{@code state == null} means a key never seen (or expired): full allowance.</li>
 * </ul>
 */
public abstract sealed class LimitAlgorithm
    permits TokenBucket, Gcra, LeakyBucket, FixedWindow, SlidingWindow, SlidingLog {

  /** The largest integer every intermediate value must stay within: 2^53, exact in a double. */
  public static final long MAX_EXACT = 1L << 53;

  private final Algorithm algorithm;
  private final long capacity;

  LimitAlgorithm(Algorithm algorithm, long capacity) {
    this.algorithm = algorithm;
    this.capacity = capacity;
  }

  /** Evaluates a request of {@code cost} at {@code now} against {@code state}, writing {@code out}. */
  public abstract void evaluate(long[] state, long cost, long now, Outcome out);

  /**
   * Applies an admitted evaluation; returns the state to store, which may be {@code state}
   * updated in place or a new array.
   */
  public abstract long[] commit(long[] state, long cost, long now, Outcome out);

  /**
   * The five integers the algorithm derives from its limit, window and burst, in the order the
   * Redis store's Lua twin takes them (unused trailing values are 0). Derived here, once, so that
   * no store repeats the derivation.
   */
  public abstract long[] parameters();

  /** The most a single request may cost: the burst for buckets, the limit for windows. */
  public final long capacity() {
    return capacity;
  }

  /** Which algorithm this is. */
  public final Algorithm algorithm() {
    return algorithm;
  }

  /** Commits a state of {@code size} longs (at most 3) pending in {@code out.s0..s2}. */
  static long[] commitFixed(long[] state, int size, Outcome out) {
    long[] s = state == null ? new long[size] : state;
    s[0] = out.s0;
    s[1] = out.s1;
    if (size > 2) {
      s[2] = out.s2;
    }
    return s;
  }

  /** Creates the implementation for the given parameters, checking them. */
  public static LimitAlgorithm create(Algorithm algorithm, long limit, long windowMicros, long burst) {
    return switch (algorithm) {
      case TOKEN_BUCKET -> new TokenBucket(limit, windowMicros, burst);
      case GCRA -> new Gcra(limit, windowMicros, burst);
      case LEAKY_BUCKET -> new LeakyBucket(limit, windowMicros, burst);
      case FIXED_WINDOW -> new FixedWindow(limit, windowMicros);
      case SLIDING_WINDOW -> new SlidingWindow(limit, windowMicros);
      case SLIDING_LOG -> new SlidingLog(limit, windowMicros);
    };
  }

  static long gcd(long a, long b) {
    while (b != 0) {
      long t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
}
