package io.viva.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every {@link LimitStore} must share. A store implementation's test extends this
 * class and says how to make a store on a given clock; the suite then checks the store's decisions
 * against the in-memory engine's, decision for decision, over random timelines.
 *
 * <p>Published in viva-core's test jar so that other modules' stores (Redis, Redis Cluster) run
 * the very same suite.
 */
public abstract class LimitStoreContract {

  /** A store deciding by {@code clock}, empty of state for the policies this suite uses. */
  protected abstract LimitStore newStore(ManualClock clock);

  /** A namespace prefix unique to this run, so that stores shared between tests do not collide. */
  protected String namespace(String name) {
    return name + "-" + Long.toHexString(System.nanoTime());
  }

  private static ManualClock clock() {
    return ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
  }

  @Test
  void admitsTheLimitThenDenies() throws Exception {
    ManualClock clock = clock();
    try (LimitStore store = newStore(clock)) {
      Policy policy = Policy.of(namespace("basic"), Limit.fixedWindow(3, Duration.ofMinutes(1)));
      RateLimiter limiter = RateLimiter.builder(policy).store(store).build();
      assertThat(limiter.tryAcquire("k").remaining()).isEqualTo(2);
      assertThat(limiter.tryAcquire("k", 2).remaining()).isZero();
      Decision denied = limiter.tryAcquire("k");
      assertThat(denied.allowed()).isFalse();
      assertThat(denied.retryAfter()).isEqualTo(Duration.ofMinutes(1));
      assertThat(limiter.tryAcquire("other").allowed()).isTrue();
    }
  }

  @Test
  void chargesEveryLimitOrNone() throws Exception {
    ManualClock clock = clock();
    try (LimitStore store = newStore(clock)) {
      Policy policy = Policy.builder(namespace("multi"))
          .limit(Limit.tokenBucket(5, Duration.ofSeconds(1)))
          .limit(Limit.slidingLog(7, Duration.ofMinutes(1)))
          .build();
      RateLimiter limiter = RateLimiter.builder(policy).store(store).build();
      assertThat(limiter.tryAcquire("k", 5).allowed()).isTrue();
      assertThat(limiter.tryAcquire("k", 1).allowed()).isFalse();
      clock.advance(Duration.ofSeconds(1));
      assertThat(limiter.tryAcquire("k", 3).allowed()).isFalse();
      Decision d = limiter.tryAcquire("k", 2);
      assertThat(d.allowed()).isTrue();
      assertThat(d.perLimit().get(0).remaining()).isEqualTo(3);
      assertThat(d.perLimit().get(1).remaining()).isZero();
    }
  }

  @Test
  void replaysAnIdempotencyKeyWithoutCharging() throws Exception {
    ManualClock clock = clock();
    try (LimitStore store = newStore(clock)) {
      Policy policy = Policy.builder(namespace("idem"))
          .limit(Limit.fixedWindow(2, Duration.ofMinutes(1)))
          .idempotencyTtl(Duration.ofSeconds(10))
          .build();
      RateLimiter limiter = RateLimiter.builder(policy).store(store).build();
      Decision first = limiter.tryAcquire("k", 1, "op-1");
      Decision replay = limiter.tryAcquire("k", 1, "op-1");
      assertThat(replay.allowed()).isEqualTo(first.allowed());
      assertThat(replay.remaining()).isEqualTo(first.remaining());
      assertThat(limiter.peek("k").remaining()).isEqualTo(1);
      clock.advance(Duration.ofSeconds(11));
      assertThat(limiter.tryAcquire("k", 1, "op-1").remaining()).isZero();
    }
  }

  @Test
  void resetForgetsAKey() throws Exception {
    ManualClock clock = clock();
    try (LimitStore store = newStore(clock)) {
      Policy policy = Policy.of(namespace("reset"), Limit.gcra(1, Duration.ofHours(1), 1));
      RateLimiter limiter = RateLimiter.builder(policy).store(store).build();
      assertThat(limiter.tryAcquire("k").allowed()).isTrue();
      assertThat(limiter.tryAcquire("k").allowed()).isFalse();
      limiter.reset("k");
      assertThat(limiter.tryAcquire("k").allowed()).isTrue();
    }
  }

  @Test
  void decidesABatchInOrderAsOneByOne() throws Exception {
    ManualClock clock = clock();
    Policy policy = Policy.builder(namespace("batch"))
        .limit(Limit.tokenBucket(3, Duration.ofSeconds(1)))
        .limit(Limit.slidingLog(4, Duration.ofMinutes(1)))
        .idempotencyTtl(Duration.ofMinutes(1))
        .build();
    try (LimitStore store = newStore(clock);
        InMemoryLimitStore reference = InMemoryLimitStore.builder().clock(clock()).build()) {
      List<LimitStore.Request> requests = new ArrayList<>();
      for (int i = 0; i < 9; i++) {
        // A hot key (order matters), another key, and an idempotency key used twice.
        requests.add(new LimitStore.Request(policy, i % 3 == 2 ? "other" : "hot", 1 + i % 2,
            i == 4 || i == 7 ? "op" : null));
      }
      List<Decision> batch = new ArrayList<>();
      for (var stage : store.acquireAllAsync(requests)) {
        batch.add(stage.toCompletableFuture().get());
      }
      List<Decision> expected = new ArrayList<>();
      for (LimitStore.Request r : requests) {
        expected.add(reference.acquire(r.policy(), r.key(), r.cost(), r.idempotencyKey()));
      }
      assertThat(batch).extracting(Decision::allowed).isEqualTo(expected.stream().map(Decision::allowed).toList());
      assertThat(batch).extracting(Decision::remaining).isEqualTo(expected.stream().map(Decision::remaining).toList());
      assertThat(batch).extracting(Decision::retryAfterMicros)
          .isEqualTo(expected.stream().map(Decision::retryAfterMicros).toList());
      assertThat(batch).extracting(Decision::allowed).contains(true, false);
    }
  }

  record Step(long advanceMicros, int key, long cost) {}

  record Timeline(List<Limit> limits, List<Step> steps) {}

  @Provide
  Arbitrary<Timeline> timelines() {
    Arbitrary<Limit> limits = Combinators.combine(
            Arbitraries.of(Algorithm.class),
            Arbitraries.longs().between(1, 50),
            Arbitraries.of(Duration.ofMillis(1), Duration.ofMillis(250), Duration.ofSeconds(1), Duration.ofSeconds(7),
                Duration.ofMinutes(1)),
            Arbitraries.longs().between(1, 80))
        .as((algorithm, limit, window, burst) -> {
          Limit.Builder b = Limit.builder(algorithm, limit, window);
          if (algorithm.hasBurst()) {
            b.burst(burst);
          }
          return b.build();
        });
    return limits.list().ofMinSize(1).ofMaxSize(3).flatMap(list -> {
      long capacity = list.stream().mapToLong(Limit::burst).min().orElseThrow();
      Arbitrary<Step> steps = Combinators.combine(
              Arbitraries.oneOf(Arbitraries.just(0L), Arbitraries.longs().between(0, 2_000_000L),
                  Arbitraries.longs().between(0, 120_000_000L)),
              Arbitraries.integers().between(0, 3),
              Arbitraries.oneOf(Arbitraries.just(1L), Arbitraries.longs().between(0, capacity)))
          .as(Step::new);
      return steps.list().ofMinSize(1).ofMaxSize(60).map(s -> new Timeline(list, s));
    });
  }

  /** The store under test decides exactly as the in-memory engine does, over a random timeline. */
  @Property(tries = 100)
  void decidesExactlyAsTheEngine(@ForAll("timelines") Timeline timeline) throws Exception {
    ManualClock clock = clock();
    ManualClock referenceClock = clock();
    String ns = namespace("diff");
    Policy policy = Policy.builder(ns).limits(timeline.limits()).build();
    try (LimitStore store = newStore(clock)) {
      RateLimiter tested = RateLimiter.builder(policy).store(store).build();
      RateLimiter reference = RateLimiter.builder(policy)
          .store(InMemoryLimitStore.builder().clock(referenceClock).build()).build();
      List<String> mismatches = new ArrayList<>();
      for (Step step : timeline.steps()) {
        clock.advanceMicros(step.advanceMicros());
        referenceClock.advanceMicros(step.advanceMicros());
        String key = "key-" + step.key();
        Decision expected = reference.tryAcquire(key, step.cost());
        Decision actual = tested.tryAcquire(key, step.cost());
        assertThat(actual.allowed()).as("allowed at %s", step).isEqualTo(expected.allowed());
        assertThat(actual.remaining()).as("remaining at %s", step).isEqualTo(expected.remaining());
        assertThat(actual.retryAfterMicros()).as("retry-after at %s", step).isEqualTo(expected.retryAfterMicros());
        assertThat(actual.resetAtMicros()).as("reset at %s", step).isEqualTo(expected.resetAtMicros());
        assertThat(actual.limit()).isEqualTo(expected.limit());
      }
      assertThat(mismatches).isEmpty();
    }
  }
}
