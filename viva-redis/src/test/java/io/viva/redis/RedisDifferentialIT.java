package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.core.Algorithm;
import io.viva.core.Decision;
import io.viva.core.InMemoryLimitStore;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.ManualClock;
import io.viva.core.Policy;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * A harsher differential check than the contract's: wider parameters (odd windows, large limits
 * and bursts, up to 2^53 scaled units), clocks that step backwards, idempotency keys, and whole
 * {@link Decision}s compared with {@code equals} (every limit's numbers, {@code available}
 * included).
 */
class RedisDifferentialIT {

  static final RedisServerProcess REDIS = new RedisServerProcess();
  private static final AtomicLong RUNS = new AtomicLong();

  @BeforeContainer
  static void start() throws Exception {
    REDIS.start();
  }

  @AfterContainer
  static void stop() throws Exception {
    REDIS.stop();
  }

  record Step(long advanceMicros, int key, long cost, String idempotencyKey) {}

  record Timeline(List<Limit> limits, List<Step> steps) {}

  private static Limit limitOrNull(Algorithm algorithm, long limit, long windowMicros, long burst) {
    try {
      if (algorithm == Algorithm.SLIDING_LOG) {
        limit = Math.min(limit, 2_000);
      }
      Limit.Builder b = Limit.builder(algorithm, limit, Duration.ofNanos(windowMicros * 1_000));
      if (algorithm.hasBurst()) {
        b.burst(burst);
      }
      return b.build();
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  @Provide
  Arbitrary<Timeline> timelines() {
    Arbitrary<Long> counts = Arbitraries.oneOf(Arbitraries.longs().between(1, 20),
        Arbitraries.longs().between(1, 1_000_000_000L), Arbitraries.of(3L, 7L, 1_000L, 999_983L));
    Arbitrary<Long> windows = Arbitraries.oneOf(Arbitraries.longs().between(1, 5_000_000L),
        Arbitraries.of(1_000L, 333_333L, 1_000_000L, 60_000_000L, 3_600_000_000L, 86_400_000_000L,
            400 * 86_400_000_000L));
    Arbitrary<Limit> limits = Combinators.combine(Arbitraries.of(Algorithm.class), counts, windows, counts)
        .as(RedisDifferentialIT::limitOrNull)
        .filter(Objects::nonNull);
    return limits.list().ofMinSize(1).ofMaxSize(3).flatMap(list -> {
      long capacity = list.stream().mapToLong(Limit::burst).min().orElseThrow();
      long window = list.stream().mapToLong(Limit::windowMicros).max().orElseThrow();
      Arbitrary<Step> steps = Combinators.combine(
              Arbitraries.oneOf(Arbitraries.just(0L), Arbitraries.longs().between(-50_000L, 50_000L),
                  Arbitraries.longs().between(0, Math.min(window, 10_000_000_000L)),
                  Arbitraries.longs().between(0, 2 * window)),
              Arbitraries.integers().between(0, 2),
              Arbitraries.oneOf(Arbitraries.just(1L), Arbitraries.just(capacity), Arbitraries.longs().between(0, capacity)),
              Arbitraries.oneOf(Arbitraries.just((String) null), Arbitraries.of("a", "b", "c")))
          .as(Step::new);
      return steps.list().ofMinSize(1).ofMaxSize(80).map(s -> new Timeline(list, s));
    });
  }

  @Property(tries = 400)
  void wholeDecisionsMatchTheEngine(@ForAll("timelines") Timeline timeline) throws Exception {
    Instant start = Instant.parse("2026-01-15T10:00:00Z");
    ManualClock clock = ManualClock.at(start);
    ManualClock referenceClock = ManualClock.at(start);
    Policy policy = Policy.builder("diff").limits(timeline.limits()).idempotencyTtl(Duration.ofMillis(500)).build();
    try (LimitStore store = RedisLimitStore.builder(REDIS.connection())
            .keyPrefix("wide" + RUNS.incrementAndGet() + ":").clock(clock).timeSource(TimeSource.LOCAL).build();
        // The reference keeps idle keys far longer than any limit's window: a key it drops once
        // its state has lapsed would otherwise be missed when these timelines step the clock back
        // (the engine's idle sweep assumes time does not go backwards; Redis's PEXPIRE runs on
        // real time and has a grace second).
        LimitStore reference = InMemoryLimitStore.builder().clock(referenceClock)
            .minimumIdle(Duration.ofDays(1_000)).build()) {
      for (Step step : timeline.steps()) {
        clock.advanceMicros(step.advanceMicros());
        referenceClock.advanceMicros(step.advanceMicros());
        String key = "k" + step.key();
        Decision expected = reference.acquire(policy, key, step.cost(), step.idempotencyKey());
        Decision actual = store.acquire(policy, key, step.cost(), step.idempotencyKey());
        assertThat(actual).as("%s at %s", policy, step).isEqualTo(expected);
        assertThat(actual.perLimit()).isEqualTo(expected.perLimit());
      }
    }
  }

  @Provide
  Arbitrary<Timeline> longLogs() {
    Arbitrary<Limit> logs = Combinators.combine(Arbitraries.longs().between(50, 1_000),
            Arbitraries.of(1_000L, 77_777L, 1_000_000L, 60_000_000L))
        .as((limit, window) -> limitOrNull(io.viva.core.Algorithm.SLIDING_LOG, limit, window, limit));
    return logs.flatMap(log -> {
      long window = log.windowMicros();
      Arbitrary<Step> steps = Combinators.combine(
              Arbitraries.frequencyOf(
                  net.jqwik.api.Tuple.of(2, Arbitraries.just(0L)),
                  net.jqwik.api.Tuple.of(12, Arbitraries.longs().between(1, window / 1_000 + 1)),
                  net.jqwik.api.Tuple.of(1, Arbitraries.longs().between(-window / 50, window / 50)),
                  net.jqwik.api.Tuple.of(1, Arbitraries.longs().between(0, window / 5))),
              Arbitraries.just(0),
              Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(8, Arbitraries.just(1L)),
                  net.jqwik.api.Tuple.of(1, Arbitraries.longs().between(0, 3))),
              Arbitraries.just((String) null))
          .as(Step::new);
      return steps.list().ofMinSize(300).ofMaxSize(700).map(s -> new Timeline(List.of(log), s));
    });
  }

  /** Logs of hundreds of entries, so the script reads them in several pages. */
  @Property(tries = 30)
  void longSlidingLogsMatchTheEngine(@ForAll("longLogs") Timeline timeline) throws Exception {
    wholeDecisionsMatchTheEngine(timeline);
  }
}
