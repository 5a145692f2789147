package io.viva.bench;

import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import io.viva.core.Algorithm;
import io.viva.core.InMemoryLimitStore;
import io.viva.core.Limit;
import io.viva.core.Policy;
import io.viva.core.RateLimiter;
import java.time.Duration;

/**
 * The limits every benchmark and {@link MemoryPerKey} use, in one place so that the subjects are
 * configured alike. Not a benchmark itself.
 *
 * <p>Two requirements shape the numbers chosen:
 * <ol>
 *   <li><b>Nothing is denied</b> during a run, so that the benchmarks time the check path rather
 *       than the denial path: the allowance of a single hot key must outlast a run at tens of
 *       millions of checks per second.</li>
 *   <li><b>Every key's state stays live</b> between two visits. Viva's {@link InMemoryLimitStore}
 *       drops a key as soon as its state is back to a full allowance (that state is the same as no
 *       state). With a limit such as "a billion per second", a key spends one token and is full
 *       again a microsecond later, so with 100,000 keys visited about every 10 ms the store would
 *       keep deleting and re-creating keys and the benchmark would time that churn rather than a
 *       lookup; Bucket4j, Guava and Resilience4j never drop anything. A large burst with a slow
 *       refill keeps every key partly spent, which is also what a real key under a real limit looks
 *       like.</li>
 * </ol>
 * Hence the token buckets (Viva and Bucket4j alike) hold {@value #BURST} tokens and refill one per
 * second. Guava cannot separate burst from rate, and Resilience4j counts permits per refresh
 * period, so those get a billion per second; neither ever forgets a limiter, so requirement 2 does
 * not apply to them.
 */
final class Subjects {

  /** The burst of the token buckets: 4 billion, far more than a run can spend on one key. */
  static final long BURST = 4_000_000_000L;

  /** The limit of the window algorithms, per {@link #WINDOW}. */
  static final long WINDOW_LIMIT = 4_000_000_000L;

  /** The window of the window algorithms. A key's state lives until its window ends. */
  static final Duration WINDOW = Duration.ofDays(1);

  /** The sliding log's limit: the largest it accepts, as it logs every request. */
  static final long SLIDING_LOG_LIMIT = 100_000;

  /** The Guava and Resilience4j rate: a billion per second. */
  static final int PEER_RATE_PER_SECOND = 1_000_000_000;

  /** Viva's token bucket: {@link #BURST} tokens, refilled 1 per second. */
  static final Limit VIVA_TOKEN_BUCKET = Limit.tokenBucket(BURST, 1, Duration.ofSeconds(1));

  /** Bucket4j's equivalent of {@link #VIVA_TOKEN_BUCKET}, shared by every bucket. */
  static final Bandwidth BUCKET4J_BANDWIDTH =
      Bandwidth.builder().capacity(BURST).refillGreedy(1, Duration.ofSeconds(1)).build();

  /** Resilience4j: a billion permits per second, and never wait for one. */
  static final RateLimiterConfig RESILIENCE4J_CONFIG = RateLimiterConfig.custom()
      .limitForPeriod(PEER_RATE_PER_SECOND)
      .limitRefreshPeriod(Duration.ofSeconds(1))
      .timeoutDuration(Duration.ZERO)
      .build();

  private Subjects() {}

  /**
   * Viva's limit for {@code algorithm} under the two requirements above.
   *
   * <p>The bucket algorithms (token bucket, GCRA, leaky bucket) hold {@link #BURST} and refill one
   * per second; the fixed and sliding windows allow {@link #WINDOW_LIMIT} per {@link #WINDOW}. The
   * sliding log cannot meet both requirements with one window, since it keeps one entry per
   * request (merged per microsecond) and accepts at most {@value #SLIDING_LOG_LIMIT}: with one key
   * the window must be short (1 ms) or the key is denied; with many keys it must be longer than the
   * interval between two visits of a key (100 ms) or every key lapses and is re-created.
   *
   * @param algorithm a configuration name, e.g. {@code token_bucket}
   * @param keys how many keys the benchmark cycles through
   */
  static Limit vivaLimit(String algorithm, int keys) {
    Algorithm a = Algorithm.fromConfigName(algorithm);
    if (a.hasBurst()) {
      return Limit.builder(a, 1, Duration.ofSeconds(1)).burst(BURST).build();
    }
    if (a == Algorithm.SLIDING_LOG) {
      return Limit.of(a, SLIDING_LOG_LIMIT, keys == 1 ? Duration.ofMillis(1) : Duration.ofMillis(100));
    }
    return Limit.of(a, WINDOW_LIMIT, WINDOW);
  }

  /** A Viva limiter over its own default {@link InMemoryLimitStore}, on the system clock. */
  static RateLimiter vivaLimiter(Limit limit) {
    return RateLimiter.builder(Policy.of("bench", limit))
        .store(InMemoryLimitStore.builder().build())
        .build();
  }

  /** A Bucket4j local (lock-free) bucket as an application would create one per key. */
  static Bucket bucket4j() {
    return Bucket.builder().addLimit(BUCKET4J_BANDWIDTH).build();
  }

  /** A Guava limiter as an application would create one per key. */
  static com.google.common.util.concurrent.RateLimiter guava() {
    return com.google.common.util.concurrent.RateLimiter.create(PEER_RATE_PER_SECOND);
  }

  /** A Resilience4j limiter as an application would create one per key. */
  static io.github.resilience4j.ratelimiter.RateLimiter resilience4j(String key) {
    return io.github.resilience4j.ratelimiter.RateLimiter.of(key, RESILIENCE4J_CONFIG);
  }
}
