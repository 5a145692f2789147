package io.viva.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.core.Algorithm;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Properties of every algorithm over random timelines on a fake clock: the bounds each promises,
 * exact retry-after, agreement with simple reference models, and safety when the clock skews.
 */
class AlgorithmProperties {

  private static final long T0 = 1_768_471_200_000_000L;

  record Step(long delta, long cost) {}

  record Scenario(Algorithm algorithm, long limit, long window, long burst, List<Step> steps) {
    LimitAlgorithm create() {
      return LimitAlgorithm.create(algorithm, limit, window, algorithm.hasBurst() ? burst : limit);
    }

    long capacity() {
      return algorithm.hasBurst() ? burst : limit;
    }
  }

  @Provide
  Arbitrary<Scenario> scenarios() {
    return scenarios(Arbitraries.of(Algorithm.class), false);
  }

  @Provide
  Arbitrary<Scenario> skewedScenarios() {
    return scenarios(Arbitraries.of(Algorithm.class), true);
  }

  @Provide
  Arbitrary<Scenario> bucketScenarios() {
    return scenarios(Arbitraries.of(Algorithm.TOKEN_BUCKET), false);
  }

  private static Arbitrary<Scenario> scenarios(Arbitrary<Algorithm> algorithms, boolean skew) {
    Arbitrary<Long> limits = Arbitraries.oneOf(Arbitraries.longs().between(1, 10), Arbitraries.longs().between(1, 1_000));
    Arbitrary<Long> windows = Arbitraries.oneOf(
        Arbitraries.of(1_000L, 1_000_000L, 60_000_000L, 3_600_000_000L, 333_333L, 7L),
        Arbitraries.longs().between(1, 10_000_000L));
    return Combinators.combine(algorithms, limits, windows, Arbitraries.longs().between(1, 2_000))
        .flatAs((algorithm, limit, window, burst) -> {
          long capacity = algorithm.hasBurst() ? burst : limit;
          Arbitrary<Long> deltas = Arbitraries.oneOf(
              Arbitraries.just(0L),
              Arbitraries.longs().between(0, Math.max(1, window / Math.max(1, limit))),
              Arbitraries.longs().between(0, 2 * window),
              skew ? Arbitraries.longs().between(-2 * window, 0) : Arbitraries.just(1L));
          Arbitrary<Long> costs = Arbitraries.oneOf(
              Arbitraries.just(1L),
              Arbitraries.longs().between(0, capacity));
          Arbitrary<Step> steps = Combinators.combine(deltas, costs).as(Step::new);
          return steps.list().ofMinSize(1).ofMaxSize(120)
              .map(list -> new Scenario(algorithm, limit, window, burst, list));
        })
        .filter(AlgorithmProperties::buildable);
  }

  private static boolean buildable(Scenario s) {
    try {
      s.create();
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  @Property(tries = 1000)
  void retryAfterIsExact(@ForAll("scenarios") Scenario s) {
    Driver d = new Driver(s.create());
    long now = T0;
    for (Step step : s.steps()) {
      now += step.delta();
      Outcome out = d.check(step.cost(), now);
      if (!out.allowed) {
        assertThat(out.retryAfter).as("retry after a denial").isPositive();
        assertThat(d.look(step.cost(), now + out.retryAfter).allowed)
            .as("admitted after retry-after %d at %d", out.retryAfter, now).isTrue();
        assertThat(d.look(step.cost(), now + out.retryAfter - 1).allowed)
            .as("still denied just before retry-after %d", out.retryAfter).isFalse();
      } else {
        assertThat(out.retryAfter).isZero();
      }
      assertThat(out.remaining).isBetween(0L, s.capacity());
      assertThat(out.resetAt).isGreaterThanOrEqualTo(now);
    }
  }

  @Property(tries = 1000)
  void admittedNeverExceedsWhatTheAlgorithmPromises(@ForAll("skewedScenarios") Scenario s) {
    Driver d = new Driver(s.create());
    long now = T0;
    long earliest = Long.MAX_VALUE;
    long latest = 0;
    long admitted = 0;
    List<long[]> log = new ArrayList<>();
    long logged = 0;
    for (Step step : s.steps()) {
      now = Math.max(0, now + step.delta());
      earliest = Math.min(earliest, now);
      latest = Math.max(latest, now);
      if (d.check(step.cost(), now).allowed) {
        admitted += step.cost();
        if (step.cost() > 0) {
          // The log's own time: it never runs backwards.
          logged = Math.max(logged, now);
          log.add(new long[] {logged, step.cost()});
        }
      }
      long elapsed = latest - earliest;
      switch (s.algorithm()) {
        case TOKEN_BUCKET, GCRA, LEAKY_BUCKET ->
            // admitted <= burst + limit * elapsed / window, compared exactly.
            assertThat(BigInteger.valueOf(admitted).multiply(BigInteger.valueOf(s.window())))
                .isLessThanOrEqualTo(BigInteger.valueOf(s.burst()).multiply(BigInteger.valueOf(s.window()))
                    .add(BigInteger.valueOf(s.limit()).multiply(BigInteger.valueOf(elapsed))));
        case FIXED_WINDOW, SLIDING_WINDOW -> {
          long windows = Math.floorDiv(latest, s.window()) - Math.floorDiv(earliest, s.window()) + 1;
          assertThat(admitted).isLessThanOrEqualTo(s.limit() * windows);
        }
        case SLIDING_LOG -> {
          // Exactly: the trailing window ending at the newest entry holds at most the limit.
          long inWindow = 0;
          for (long[] e : log) {
            if (e[0] > logged - s.window()) {
              inWindow += e[1];
            }
          }
          assertThat(inWindow).isLessThanOrEqualTo(s.limit());
        }
      }
    }
  }

  @Property(tries = 300)
  void tokenBucketGcraAndLeakyBucketMakeTheSameDecisions(@ForAll("bucketScenarios") Scenario s) {
    Driver token = new Driver(LimitAlgorithm.create(Algorithm.TOKEN_BUCKET, s.limit(), s.window(), s.burst()));
    Driver gcra = new Driver(LimitAlgorithm.create(Algorithm.GCRA, s.limit(), s.window(), s.burst()));
    Driver leaky = new Driver(LimitAlgorithm.create(Algorithm.LEAKY_BUCKET, s.limit(), s.window(), s.burst()));
    long now = T0;
    for (Step step : s.steps()) {
      now += step.delta();
      Outcome a = token.check(step.cost(), now);
      for (Outcome b : List.of(gcra.check(step.cost(), now), leaky.check(step.cost(), now))) {
        assertThat(b.allowed).isEqualTo(a.allowed);
        assertThat(b.remaining).isEqualTo(a.remaining);
        assertThat(b.available).isEqualTo(a.available);
        assertThat(b.retryAfter).isEqualTo(a.retryAfter);
        assertThat(b.resetAt).isEqualTo(a.resetAt);
      }
    }
  }

  @Property(tries = 300)
  void tokenBucketMatchesARationalReference(@ForAll("bucketScenarios") Scenario s) {
    // Reference: tokens as an unreduced fraction num / window, in arbitrary precision.
    BigInteger w = BigInteger.valueOf(s.window());
    BigInteger cap = BigInteger.valueOf(s.burst()).multiply(w);
    BigInteger num = cap;
    long last = T0;
    Driver d = new Driver(s.create());
    long now = T0;
    for (Step step : s.steps()) {
      now += step.delta();
      num = num.add(BigInteger.valueOf(s.limit()).multiply(BigInteger.valueOf(now - last))).min(cap);
      last = now;
      BigInteger need = BigInteger.valueOf(step.cost()).multiply(w);
      boolean allowed = need.compareTo(num) <= 0;
      if (allowed) {
        num = num.subtract(need);
      }
      Outcome out = d.check(step.cost(), now);
      assertThat(out.allowed).isEqualTo(allowed);
      assertThat(out.remaining).isEqualTo(num.divide(w).longValueExact());
    }
  }

  @Property(tries = 300)
  void fixedWindowAndSlidingLogMatchCountingReferences(@ForAll("scenarios") Scenario s) {
    if (s.algorithm() != Algorithm.FIXED_WINDOW && s.algorithm() != Algorithm.SLIDING_LOG) {
      return;
    }
    Driver d = new Driver(s.create());
    List<long[]> admitted = new ArrayList<>();
    long now = T0;
    for (Step step : s.steps()) {
      now += step.delta();
      long used = 0;
      for (long[] e : admitted) {
        boolean counts = s.algorithm() == Algorithm.FIXED_WINDOW
            ? Math.floorDiv(e[0], s.window()) == Math.floorDiv(now, s.window())
            : e[0] > now - s.window();
        if (counts) {
          used += e[1];
        }
      }
      boolean allowed = used + step.cost() <= s.limit();
      Outcome out = d.check(step.cost(), now);
      assertThat(out.allowed).isEqualTo(allowed);
      assertThat(out.remaining).isEqualTo(s.limit() - used - (allowed ? step.cost() : 0));
      if (allowed && step.cost() > 0) {
        admitted.add(new long[] {now, step.cost()});
      }
    }
  }

  @Property(tries = 300)
  void slidingWindowNeverAdmitsMoreThanTheLimitInAnAlignedWindowOrAnyTrailingOne(@ForAll("scenarios") Scenario s) {
    if (s.algorithm() != Algorithm.SLIDING_WINDOW) {
      return;
    }
    Driver d = new Driver(s.create());
    List<long[]> admitted = new ArrayList<>();
    long now = T0;
    for (Step step : s.steps()) {
      now += step.delta();
      if (d.check(step.cost(), now).allowed && step.cost() > 0) {
        admitted.add(new long[] {now, step.cost()});
      }
      long sameWindow = 0;
      for (long[] e : admitted) {
        if (Math.floorDiv(e[0], s.window()) == Math.floorDiv(now, s.window())) {
          sameWindow += e[1];
        }
      }
      assertThat(sameWindow).isLessThanOrEqualTo(s.limit());
    }
  }

  @Property(tries = 200)
  void lookingNeverChangesWhatComesNext(@ForAll("scenarios") Scenario s) {
    Driver plain = new Driver(s.create());
    Driver looked = new Driver(s.create());
    long now = T0;
    for (Step step : s.steps()) {
      now += step.delta();
      looked.check(0, now);
      Outcome a = plain.check(step.cost(), now);
      Outcome b = looked.check(step.cost(), now);
      assertThat(b.allowed).isEqualTo(a.allowed);
      assertThat(b.remaining).isEqualTo(a.remaining);
      assertThat(b.retryAfter).isEqualTo(a.retryAfter);
    }
  }
}
