package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.ManualClock;
import io.viva.core.Policy;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** One clock for all clients: Redis TIME by default, so clients with skewed clocks agree. */
class RedisTimeIT {

  @RegisterExtension
  static final RedisServerProcess REDIS = new RedisServerProcess();

  private static final Policy POLICY = Policy.of("skew", Limit.fixedWindow(2, Duration.ofMinutes(1)));

  /** Redis TIME in microseconds, as the script computes it. */
  private static long redisMicros() {
    List<String> t = REDIS.connection().sync().time();
    return Long.parseLong(t.get(0)) * 1_000_000L + Long.parseLong(t.get(1));
  }

  @Test
  void clientsWithSkewedClocksAgreeOnRedisTime() {
    Instant real = Instant.now();
    ManualClock behind = ManualClock.at(real.minus(Duration.ofHours(1)));
    ManualClock ahead = ManualClock.at(real.plus(Duration.ofMinutes(7)));
    try (RedisLimitStore a = RedisLimitStore.builder(REDIS.client()).keyPrefix("redistime:").clock(behind).build();
        RedisLimitStore b = RedisLimitStore.builder(REDIS.client()).keyPrefix("redistime:").clock(ahead).build()) {
      assertThat(a.timeSource()).isEqualTo(TimeSource.REDIS);
      long before = redisMicros();
      Decision first = a.acquire(POLICY, "k", 1, null);
      Decision second = b.acquire(POLICY, "k", 1, null);
      long after = redisMicros();
      assertThat(first.allowed()).isTrue();
      assertThat(second.allowed()).isTrue();
      assertThat(second.remaining()).isZero();
      // Both decided by Redis's clock, not by their own.
      assertThat(first.nowMicros()).isBetween(before, after);
      assertThat(second.nowMicros()).isBetween(first.nowMicros(), after);
      // Every client now sees the window full, and the same reset.
      Decision deniedA = a.acquire(POLICY, "k", 1, null);
      Decision deniedB = b.acquire(POLICY, "k", 1, null);
      assertThat(deniedA.allowed()).isFalse();
      assertThat(deniedB.allowed()).isFalse();
      assertThat(deniedA.resetAtMicros()).isEqualTo(deniedB.resetAtMicros()).isEqualTo(second.resetAtMicros());
      // The stores' clocks estimate Redis time, whatever their local clocks say.
      assertThat(a.clock().micros()).isBetween(before, redisMicros() + 60_000_000L);
      assertThat(b.clock().micros()).isBetween(before - 60_000_000L, redisMicros() + 60_000_000L);
    }
  }

  @Test
  void withLocalClocksSkewedClientsDisagree() {
    // The contrast, and why REDIS is the default: an hour ahead, b starts a new window and forgets
    // what a charged in its own (stale) one, so together they admit more than the limit.
    Instant real = Instant.parse("2026-01-15T10:00:30Z");
    ManualClock behind = ManualClock.at(real.minus(Duration.ofHours(1)));
    ManualClock ahead = ManualClock.at(real);
    try (RedisLimitStore a = RedisLimitStore.builder(REDIS.client()).keyPrefix("localtime:").clock(behind)
            .timeSource(TimeSource.LOCAL).build();
        RedisLimitStore b = RedisLimitStore.builder(REDIS.client()).keyPrefix("localtime:").clock(ahead)
            .timeSource(TimeSource.LOCAL).build()) {
      int admitted = 0;
      for (int i = 0; i < 3; i++) {
        admitted += a.acquire(POLICY, "k", 1, null).allowed() ? 1 : 0;
        admitted += b.acquire(POLICY, "k", 1, null).allowed() ? 1 : 0;
      }
      assertThat(admitted).isEqualTo(3);
      assertThat(a.acquire(POLICY, "k", 0, null).nowMicros()).isEqualTo(behind.micros());
    }
  }

  @Test
  void theFailureModeAnswersOnTheEstimatedRedisTime() throws Exception {
    ManualClock behind = ManualClock.at(Instant.now().minus(Duration.ofDays(1)));
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("fallbacktime:").clock(behind)
        .failureMode(FailureMode.FAIL_CLOSED).build()) {
      Decision fromRedis = store.acquire(POLICY, "k", 1, null);
      // Make the next call fail: a key of the wrong type is a script error.
      REDIS.connection().sync().set("fallbacktime:{4:skew:k}:v1:fixed_window:2:60000000:2", "not a hash");
      Decision fallback = store.acquire(POLICY, "k", 1, null);
      assertThat(store.failureCount()).isEqualTo(1);
      assertThat(fallback.allowed()).isFalse();
      // The day of skew is gone: the fallback's time is Redis time as estimated from the last reply.
      assertThat(fallback.nowMicros()).isBetween(fromRedis.nowMicros(), redisMicros() + 60_000_000L);
      assertThat(fallback.resetAtMicros()).isEqualTo(fallback.nowMicros() + RedisLimitStore.FAIL_CLOSED_RETRY_MICROS);
    }
  }
}
