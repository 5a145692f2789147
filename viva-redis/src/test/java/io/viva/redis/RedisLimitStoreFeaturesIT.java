package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.cluster.SlotHash;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.ManualClock;
import io.viva.core.Policy;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What the contract does not cover: script cache loss, key layout and expiry, async use. */
class RedisLimitStoreFeaturesIT {

  @RegisterExtension
  static final RedisServerProcess REDIS = new RedisServerProcess();

  private final ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));

  private RedisLimitStore store(String prefix) {
    return RedisLimitStore.builder(REDIS.connection()).keyPrefix(prefix)
        .clock(clock).timeSource(TimeSource.LOCAL).build();
  }

  @Test
  void recoversFromAFlushedScriptCache() {
    RedisLimitStore store = store("noscript:");
    Policy policy = Policy.of("p", Limit.fixedWindow(2, Duration.ofMinutes(1)));
    assertThat(store.acquire(policy, "k", 1, null).remaining()).isEqualTo(1);
    REDIS.connection().sync().scriptFlush();
    assertThat(REDIS.connection().sync().scriptExists(RedisLimitStore.SHA)).containsExactly(false);
    assertThat(store.acquire(policy, "k", 1, null).remaining()).isZero();
    assertThat(REDIS.connection().sync().scriptExists(RedisLimitStore.SHA)).containsExactly(true);
  }

  @Test
  void keepsEveryKeyOfADecisionInOneSlotWithAnExpiry() {
    RedisLimitStore store = store("layout:");
    Policy policy = Policy.builder("api")
        .limit(Limit.tokenBucket(10, Duration.ofSeconds(1)))
        .limit(Limit.slidingLog(100, Duration.ofMinutes(1)))
        .limit(Limit.slidingLog(100, Duration.ofMinutes(1)))
        .build();
    store.acquire(policy, "user:7", 1, "op-1");
    RedisCommands<String, String> redis = REDIS.connection().sync();
    List<String> keys = redis.keys("layout:*");
    assertThat(keys).containsExactlyInAnyOrder(
        "layout:{3:api:user:7}:v1:token_bucket:10:1000000:10",
        "layout:{3:api:user:7}:v1:sliding_log:100:60000000:100",
        "layout:{3:api:user:7}:v1:sliding_log:100:60000000:100#2",
        "layout:{3:api:user:7}:v1:idem");
    assertThat(keys.stream().map(SlotHash::getSlot).distinct()).hasSize(1);
    // Token bucket: 1 of 10 tokens refills in 100 ms; plus the store's grace second.
    assertThat(redis.pttl("layout:{3:api:user:7}:v1:token_bucket:10:1000000:10")).isBetween(1_000L, 1_100L);
    assertThat(redis.pttl("layout:{3:api:user:7}:v1:sliding_log:100:60000000:100")).isBetween(60_000L, 61_000L);
    store.reset(policy, "user:7");
    assertThat(redis.keys("layout:*")).isEmpty();
  }

  @Test
  void acquiresAsynchronously() throws Exception {
    RedisLimitStore store = store("async:");
    Policy policy = Policy.of("p", Limit.gcra(5, Duration.ofSeconds(1), 5));
    Decision d = store.acquireAsync(policy, "k", 5, null).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(d.allowed()).isTrue();
    assertThat(d.remaining()).isZero();
    Decision denied = store.acquireAsync(policy, "k", 1, null).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(denied.allowed()).isFalse();
    assertThat(denied.retryAfterMicros()).isEqualTo(200_000L);
  }

  @Test
  void replaysAnIdempotentDecisionWithItsOriginalTime() {
    RedisLimitStore store = store("idem:");
    Policy policy = Policy.builder("p").limit(Limit.leakyBucket(3, 1, Duration.ofSeconds(1)))
        .idempotencyTtl(Duration.ofSeconds(5)).build();
    Decision first = store.acquire(policy, "k", 2, "op");
    clock.advance(Duration.ofSeconds(1));
    assertThat(store.acquire(policy, "k", 2, "op")).isEqualTo(first);
    clock.advance(Duration.ofSeconds(4));
    Decision after = store.acquire(policy, "k", 2, "op");
    assertThat(after.nowMicros()).isEqualTo(clock.micros());
    assertThat(after.allowed()).isTrue();
  }
}
