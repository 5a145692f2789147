package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.ManualClock;
import io.viva.core.Policy;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Failure modes against a real outage: the test kills redis-server and restarts it, empty, on the
 * same port. No timing is asserted beyond "completes" (a generous {@code orTimeout}).
 */
class RedisFailureModeIT {

  @RegisterExtension
  static final RedisServerProcess REDIS = new RedisServerProcess();

  private final ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
  private final Policy policy = Policy.of("fm", Limit.fixedWindow(3, Duration.ofMinutes(1)));

  private Decision acquire(RedisLimitStore store, String key) {
    return store.acquireAsync(policy, key, 1, null).toCompletableFuture().orTimeout(10, TimeUnit.SECONDS).join();
  }

  private static void unpause() throws Exception {
    Process p = new ProcessBuilder("redis-cli", "-h", "127.0.0.1", "-p", Integer.toString(REDIS.port()),
        "client", "unpause").redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    p.waitFor(10, TimeUnit.SECONDS);
  }

  @Test
  void withoutAFailureModeErrorsReachTheCaller() {
    RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("strict:")
        .clock(clock).timeSource(TimeSource.LOCAL).build();
    assertThat(store.failureMode()).isNull();
    store.close(); // closes the store's own connection: every call now fails
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> store.acquire(policy, "k", 1, null))
        .isInstanceOf(RuntimeException.class);
  }

  @ParameterizedTest
  @EnumSource(FailureMode.class)
  void answersPerModeDuringAnOutageAndRecoversAfterIt(FailureMode mode) throws Exception {
    String prefix = "fm-" + mode + ":";
    // A timeout above the default, so that a slow first call (script load, cold JIT) on a busy
    // machine does not fall back where the test expects Redis.
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix(prefix)
        .clock(clock).timeSource(TimeSource.LOCAL)
        .failureMode(mode).decisionTimeout(Duration.ofMillis(500)).build()) {
      assertThat(acquire(store, "k").remaining()).isEqualTo(2);
      assertThat(store.isHealthy()).isTrue();
      assertThat(store.fallbackCount()).isZero();

      REDIS.kill();
      try {
        for (int i = 0; i < 10; i++) {
          Decision d = i % 2 == 0 ? acquire(store, "k")
              : store.acquire(policy, "k", 1, null); // the blocking call must not throw either
          switch (mode) {
            case FAIL_OPEN -> {
              assertThat(d.allowed()).isTrue();
              assertThat(d.remaining()).isEqualTo(3);
              assertThat(d.retryAfterMicros()).isZero();
            }
            case FAIL_CLOSED -> {
              assertThat(d.allowed()).isFalse();
              assertThat(d.remaining()).isZero();
              assertThat(d.retryAfter()).isEqualTo(Duration.ofSeconds(1));
            }
            case LOCAL -> {
              // A fresh local count: three admitted, then denied.
              assertThat(d.allowed()).as("call %d", i).isEqualTo(i < 3);
              assertThat(d.remaining()).isEqualTo(Math.max(0, 2 - i));
            }
          }
        }
        store.reset(policy, "other"); // does not throw
        assertThat(store.failureCount()).isGreaterThanOrEqualTo(RedisLimitStore.DEFAULT_FAILURE_THRESHOLD);
        assertThat(store.fallbackCount()).isEqualTo(10);
        assertThat(store.isHealthy()).isFalse();
        assertThat(store.isDegraded()).isTrue();
      } finally {
        REDIS.restart();
      }

      // Back from Redis (empty after the restart): a fresh key, counted in Redis, no fallback.
      AtomicInteger attempt = new AtomicInteger();
      await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
        String key = "after" + attempt.incrementAndGet();
        long fallbacks = store.fallbackCount();
        Decision d = acquire(store, key);
        assertThat(store.fallbackCount()).isEqualTo(fallbacks);
        assertThat(d.remaining()).isEqualTo(2);
        assertThat(acquire(store, key).remaining()).isEqualTo(1);
        assertThat(store.fallbackCount()).isEqualTo(fallbacks);
      });
      assertThat(store.isHealthy()).isTrue();
      String key = "after" + attempt.get();
      assertThat(REDIS.connection().sync().keys(prefix + "*")).anyMatch(k -> k.contains(":" + key + "}"));
      // State from before the outage is gone with the restarted server; LOCAL's count is not reused.
      assertThat(acquire(store, "k").remaining()).isEqualTo(2);
    }
  }

  @Test
  void answersWithinTheTimeoutWhenRedisDoesNotReply() throws Exception {
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("slow:")
        .clock(clock).timeSource(TimeSource.LOCAL)
        .failureMode(FailureMode.FAIL_CLOSED).build()) {
      // Warm up (script load, JIT) until a decision comes from Redis within the default 50 ms.
      AtomicInteger attempt = new AtomicInteger();
      await().atMost(Duration.ofSeconds(30)).until(() -> acquire(store, "warm" + attempt.incrementAndGet()).allowed());
      long failures = store.failureCount();
      REDIS.connection().sync().clientPause(1_000);
      Decision d = acquire(store, "k");
      assertThat(d.allowed()).isFalse();
      assertThat(d.remaining()).isZero();
      assertThat(d.retryAfter()).isEqualTo(Duration.ofSeconds(1));
      assertThat(store.failureCount()).isEqualTo(failures + 1);
    } finally {
      unpause();
    }
  }

  /** The breaker opens after the threshold and skips Redis; a probe after the cool-down closes it. */
  @Test
  void opensTheBreakerThenProbes() throws Exception {
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("probe:")
        .clock(clock).timeSource(TimeSource.LOCAL)
        .failureMode(FailureMode.FAIL_OPEN).failureThreshold(2).coolDown(Duration.ofMillis(200)).build()) {
      REDIS.connection().sync().clientPause(600);
      acquire(store, "k");
      acquire(store, "k");
      assertThat(store.isHealthy()).isFalse();
      acquire(store, "k");
      assertThat(store.failureCount()).isEqualTo(2);
      assertThat(store.fallbackCount()).isEqualTo(3);
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50)).untilAsserted(() -> {
        acquire(store, "k");
        assertThat(store.isHealthy()).isTrue();
      });
    } finally {
      unpause();
    }
  }
}
