package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.ManualClock;
import io.viva.core.Policy;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The local short-circuit: denials answered without Redis change no decision, and save the
 * round trips.
 */
class RedisShortCircuitIT {

  @RegisterExtension
  static final RedisServerProcess REDIS = new RedisServerProcess();

  private static final List<Policy> POLICIES = List.of(
      Policy.of("tb", Limit.tokenBucket(4, 1, Duration.ofMillis(300))),
      Policy.of("gcra", Limit.gcra(5, Duration.ofSeconds(1), 3)),
      Policy.of("leaky", Limit.leakyBucket(4, 2, Duration.ofSeconds(1))),
      Policy.of("fixed", Limit.fixedWindow(5, Duration.ofSeconds(2))),
      Policy.of("sliding", Limit.slidingWindow(6, Duration.ofSeconds(2))),
      Policy.of("log", Limit.slidingLog(4, Duration.ofSeconds(1))),
      Policy.builder("multi")
          .limit(Limit.tokenBucket(5, Duration.ofSeconds(1)))
          .limit(Limit.slidingLog(8, Duration.ofSeconds(3)))
          .limit(Limit.fixedWindow(6, Duration.ofSeconds(2)))
          .build());

  @Test
  void changesNoDecision() {
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    try (RedisLimitStore plain = RedisLimitStore.builder(REDIS.client()).keyPrefix("plain:").clock(clock)
            .timeSource(TimeSource.LOCAL).build();
        RedisLimitStore shortCircuit = RedisLimitStore.builder(REDIS.client()).keyPrefix("short:").clock(clock)
            .timeSource(TimeSource.LOCAL).shortCircuitKeys(1_000).build()) {
      for (int seed = 0; seed < 2 * POLICIES.size(); seed++) {
        Random random = new Random(seed);
        Policy policy = POLICIES.get(seed / 2);
        // Even seeds: every key always asks the same cost (or looks); odd seeds: mixed costs.
        boolean mixed = seed % 2 == 1;
        for (int step = 0; step < 400; step++) {
          // Mostly bursts (so keys go over their limits), sometimes a long pause.
          clock.advanceMicros(random.nextInt(20) == 0 ? random.nextInt(3_000_000) : random.nextInt(15_000));
          String key = "s" + seed + "-k" + random.nextInt(2);
          long cost = random.nextInt(8) == 0 ? 0 : mixed ? 1 + random.nextInt((int) Math.min(3, policy.maxCost())) : 1;
          String idem = random.nextInt(20) == 0 ? "op" + random.nextInt(4) : null;
          Decision expected = plain.acquire(policy, key, cost, idem);
          Decision actual = shortCircuit.acquire(policy, key, cost, idem);
          String where = "seed " + seed + " step " + step + " " + policy.name() + " " + key + " cost " + cost;
          assertThat(actual.allowed()).as(where).isEqualTo(expected.allowed());
          if (mixed) {
            // A denial of cost c answers a larger cost too: denied rightly, but its retry-after
            // is c's, a lower bound (the caller retries early and is told again).
            assertThat(actual.retryAfterMicros()).as(where).isLessThanOrEqualTo(expected.retryAfterMicros());
          } else {
            assertThat(actual.retryAfterMicros()).as(where).isEqualTo(expected.retryAfterMicros());
          }
          assertThat(actual.nowMicros()).as(where).isEqualTo(expected.nowMicros());
          if (expected.allowed()) {
            // Allowed decisions always come from Redis: identical in every number.
            assertThat(actual).as(where).isEqualTo(expected);
          }
        }
      }
      assertThat(shortCircuit.shortCircuitCount()).isGreaterThan(1_000);
      assertThat(plain.shortCircuitCount()).isZero();
    }
  }

  private static long evalshaCalls() {
    Matcher m = Pattern.compile("cmdstat_evalsha:calls=(\\d+)").matcher(REDIS.connection().sync().info("commandstats"));
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }

  @Test
  void savesRoundTripsUntilTheDenialEnds() {
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    Policy policy = Policy.of("hot", Limit.fixedWindow(5, Duration.ofMinutes(1)));
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("saves:").clock(clock)
        .timeSource(TimeSource.LOCAL).shortCircuitKeys(100).build()) {
      store.acquire(policy, "warm-up", 1, null);
      long before = evalshaCalls();
      int allowed = 0;
      for (int i = 0; i < 100; i++) {
        allowed += store.acquire(policy, "k", 1, null).allowed() ? 1 : 0;
      }
      assertThat(allowed).isEqualTo(5);
      // Five admissions and the first denial went to Redis; the other 94 did not.
      assertThat(evalshaCalls() - before).isEqualTo(6);
      assertThat(store.shortCircuitCount()).isEqualTo(94);
      // A smaller cost than the denied one, a look, or an idempotency key still ask Redis.
      store.acquire(policy, "k", 0, null);
      store.acquire(policy, "k", 1, "op");
      assertThat(evalshaCalls() - before).isEqualTo(8);
      // At the end of the window the short-circuit ends, and the key is admitted again.
      clock.advance(Duration.ofMinutes(1));
      assertThat(store.acquire(policy, "k", 1, null).allowed()).isTrue();
      // A reset forgets the denial too.
      for (int i = 0; i < 5; i++) {
        store.acquire(policy, "k", 1, null);
      }
      assertThat(store.acquire(policy, "k", 1, null).allowed()).isFalse();
      store.reset(policy, "k");
      assertThat(store.acquire(policy, "k", 1, null).allowed()).isTrue();
    }
  }

  @Test
  void onRedisTimeEndsNoLaterThanRedisWould() {
    // The store's estimate of Redis time errs ahead (local time at sending plus the offset seen),
    // so a short-circuit ends early, never late: no decision differs, some round trips are spent.
    Policy policy = Policy.of("hot-redis-time", Limit.slidingLog(5, Duration.ofHours(1)));
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("saves-rt:")
        .shortCircuitKeys(100).build()) {
      store.acquire(policy, "warm-up", 1, null);
      long before = evalshaCalls();
      int allowed = 0;
      for (int i = 0; i < 100; i++) {
        allowed += store.acquire(policy, "k", 1, null).allowed() ? 1 : 0;
      }
      assertThat(allowed).isEqualTo(5);
      assertThat(store.shortCircuitCount()).isPositive();
      assertThat(evalshaCalls() - before).isEqualTo(100 - store.shortCircuitCount());
      Decision denied = store.acquire(policy, "k", 1, null);
      assertThat(denied.allowed()).isFalse();
      assertThat(denied.retryAfterMicros()).isPositive().isLessThanOrEqualTo(3_600_000_000L);
    }
  }
}
