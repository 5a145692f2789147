package io.viva.core;

import io.viva.core.internal.LimitAlgorithm;
import java.time.Duration;
import java.util.Objects;

/**
 * One limit: an algorithm, how many permits per window, and for the bucket algorithms a burst.
 *
 * <pre>{@code
 * Limit.tokenBucket(100, Duration.ofSeconds(1))            // 100/s, bursts of 100
 * Limit.builder(Algorithm.GCRA, 10, Duration.ofSeconds(1)).burst(20).build()
 * Limit.slidingWindow(1_000, Duration.ofHours(1))
 * }</pre>
 *
 * <p>Arguments are checked when the limit is built, and the message names the value and what was
 * expected. Besides the obvious ({@code limit > 0}, a positive window), every limit must keep its
 * arithmetic within 2^53 so that the Redis store's Lua twin computes the very same numbers; the
 * bounds are generous (a token bucket of a billion per day is fine) and documented per algorithm.
 *
 * <p>Immutable and thread-safe. Two limits are equal when algorithm, limit, window and burst are
 * equal; the optional name is a label for metrics and headers and does not affect equality.
 */
public final class Limit {

  /** The longest window accepted: 400 days (a yearly quota fits; 2^53 microseconds is ~285 years). */
  public static final Duration MAX_WINDOW = Duration.ofDays(400);

  private final Algorithm algorithm;
  private final long limit;
  private final long windowMicros;
  private final long burst;
  private final String name;
  private final LimitAlgorithm impl;

  private Limit(Builder b) {
    this.algorithm = b.algorithm;
    this.limit = b.limit;
    this.windowMicros = b.windowMicros;
    this.burst = b.burst;
    this.name = b.name;
    this.impl = LimitAlgorithm.create(algorithm, limit, windowMicros, burst);
  }

  /** Starts a limit of {@code limit} permits per {@code window} with the given algorithm. */
  public static Builder builder(Algorithm algorithm, long limit, Duration window) {
    return new Builder(algorithm, limit, window);
  }

  /** {@code limit} per {@code window} with the given algorithm and, for buckets, a burst of {@code limit}. */
  public static Limit of(Algorithm algorithm, long limit, Duration window) {
    return builder(algorithm, limit, window).build();
  }

  /** A token bucket holding {@code capacity} tokens that refills {@code capacity} per {@code period}. */
  public static Limit tokenBucket(long capacity, Duration period) {
    return of(Algorithm.TOKEN_BUCKET, capacity, period);
  }

  /** A token bucket holding {@code capacity} tokens that refills {@code refill} per {@code period}. */
  public static Limit tokenBucket(long capacity, long refill, Duration period) {
    return builder(Algorithm.TOKEN_BUCKET, refill, period).burst(capacity).build();
  }

  /** GCRA at {@code rate} per {@code period}, allowing bursts of {@code burst}. */
  public static Limit gcra(long rate, Duration period, long burst) {
    return builder(Algorithm.GCRA, rate, period).burst(burst).build();
  }

  /** A leaky bucket (as a meter) of {@code capacity} that drains {@code leak} per {@code period}. */
  public static Limit leakyBucket(long capacity, long leak, Duration period) {
    return builder(Algorithm.LEAKY_BUCKET, leak, period).burst(capacity).build();
  }

  /** At most {@code limit} per epoch-aligned {@code window}. */
  public static Limit fixedWindow(long limit, Duration window) {
    return of(Algorithm.FIXED_WINDOW, limit, window);
  }

  /** About {@code limit} per trailing {@code window}, estimated from two counters. */
  public static Limit slidingWindow(long limit, Duration window) {
    return of(Algorithm.SLIDING_WINDOW, limit, window);
  }

  /** Exactly at most {@code limit} per trailing {@code window}; {@code limit} at most 100,000. */
  public static Limit slidingLog(long limit, Duration window) {
    return of(Algorithm.SLIDING_LOG, limit, window);
  }

  /** The algorithm. */
  public Algorithm algorithm() {
    return algorithm;
  }

  /** Permits per window: the refill (buckets) or the count (windows). */
  public long limit() {
    return limit;
  }

  /** The window (or refill period). */
  public Duration window() {
    return Times.toDuration(windowMicros);
  }

  /** The window in microseconds. */
  public long windowMicros() {
    return windowMicros;
  }

  /** The most permits available at once: the burst for buckets (default {@link #limit()}), the limit for windows. */
  public long burst() {
    return burst;
  }

  /** The label given with {@link Builder#name}, or {@code null}. */
  public String name() {
    return name;
  }

  /** The engine's implementation; for store implementations, not applications. */
  public LimitAlgorithm algorithmImpl() {
    return impl;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Limit other
        && algorithm == other.algorithm
        && limit == other.limit
        && windowMicros == other.windowMicros
        && burst == other.burst;
  }

  @Override
  public int hashCode() {
    return Objects.hash(algorithm, limit, windowMicros, burst);
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder();
    if (name != null) {
      sb.append(name).append('=');
    }
    sb.append(algorithm.configName()).append('(').append(limit).append('/').append(window());
    if (algorithm.hasBurst() && burst != limit) {
      sb.append(", burst ").append(burst);
    }
    return sb.append(')').toString();
  }

  /** Builds a {@link Limit}; every setter checks its argument. */
  public static final class Builder {
    private final Algorithm algorithm;
    private final long limit;
    private final long windowMicros;
    private long burst;
    private boolean burstSet;
    private String name;

    private Builder(Algorithm algorithm, long limit, Duration window) {
      this.algorithm = Objects.requireNonNull(algorithm, "algorithm");
      if (limit <= 0) {
        throw new IllegalArgumentException("limit: " + limit + " (expected: > 0)");
      }
      Objects.requireNonNull(window, "window");
      if (window.isNegative() || window.isZero()) {
        throw new IllegalArgumentException("window: " + window + " (expected: > 0)");
      }
      if (window.compareTo(MAX_WINDOW) > 0) {
        throw new IllegalArgumentException("window: " + window + " (expected: <= " + MAX_WINDOW + ")");
      }
      this.limit = limit;
      this.windowMicros = Times.toMicros(window, "window");
      this.burst = limit;
    }

    /** The most permits available at once (bucket algorithms only); default: the limit. */
    public Builder burst(long burst) {
      if (!algorithm.hasBurst()) {
        throw new IllegalArgumentException("burst: " + burst + " (expected: unset; only token_bucket, gcra"
            + " and leaky_bucket take a burst, " + algorithm.configName() + " allows exactly its limit per window)");
      }
      if (burst <= 0) {
        throw new IllegalArgumentException("burst: " + burst + " (expected: > 0)");
      }
      this.burst = burst;
      this.burstSet = true;
      return this;
    }

    /** A label shown in headers and metrics, e.g. {@code "per_second"}. */
    public Builder name(String name) {
      this.name = Objects.requireNonNull(name, "name");
      return this;
    }

    /** Checks the combination and builds the limit. */
    public Limit build() {
      assert burstSet || burst == limit;
      return new Limit(this);
    }
  }
}
