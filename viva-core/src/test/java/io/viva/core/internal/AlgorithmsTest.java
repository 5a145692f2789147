package io.viva.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.core.Algorithm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class AlgorithmsTest {

  private static final long SECOND = 1_000_000L;
  private static final long T0 = 1_768_471_200_000_000L; // 2026-01-15T10:00:00Z, a whole hour

  // ---- token bucket, GCRA, leaky bucket ----

  @ParameterizedTest
  @EnumSource(names = {"TOKEN_BUCKET", "GCRA", "LEAKY_BUCKET"})
  void bucketRefillsFractionalRatesExactly(Algorithm algorithm) {
    // 3 per second: one token every 333,333.33 us. No rounding may ever let a 4th in early.
    Driver d = Driver.of(algorithm, 3, SECOND, 3);
    for (int i = 0; i < 3; i++) {
      assertThat(d.check(1, T0).allowed).isTrue();
    }
    Outcome denied = d.check(1, T0);
    assertThat(denied.allowed).isFalse();
    assertThat(denied.retryAfter).isEqualTo(333_334); // ceil(333,333.33)
    assertThat(d.look(1, T0 + 333_333).allowed).isFalse();
    assertThat(d.look(1, T0 + 333_334).allowed).isTrue();
    // After exactly one second, exactly three tokens again.
    assertThat(d.look(3, T0 + SECOND).allowed).isTrue();
    assertThat(d.look(3, T0 + SECOND - 1).allowed).isFalse();
    assertThat(d.look(0, T0 + SECOND).resetAt).isEqualTo(T0 + SECOND);
  }

  @ParameterizedTest
  @EnumSource(names = {"TOKEN_BUCKET", "GCRA", "LEAKY_BUCKET"})
  void bucketBurstIsSeparateFromRate(Algorithm algorithm) {
    Driver d = Driver.of(algorithm, 1, SECOND, 5);
    for (int i = 0; i < 5; i++) {
      assertThat(d.check(1, T0).allowed).isTrue();
    }
    assertThat(d.check(1, T0).allowed).isFalse();
    assertThat(d.check(1, T0 + SECOND).allowed).isTrue();
    assertThat(d.check(1, T0 + SECOND).allowed).isFalse();
    Outcome o = d.look(0, T0 + SECOND + SECOND / 2);
    assertThat(o.remaining).isZero();
    assertThat(o.available).isEqualTo(0.5);
  }

  @ParameterizedTest
  @EnumSource(names = {"TOKEN_BUCKET", "GCRA", "LEAKY_BUCKET"})
  void bucketHugeCostWaitsForTheWholeCapacity(Algorithm algorithm) {
    Driver d = Driver.of(algorithm, 1_000_000, 1_000L * SECOND, 1_000_000);
    assertThat(d.check(1, T0).allowed).isTrue();
    Outcome whole = d.check(1_000_000, T0);
    assertThat(whole.allowed).isFalse();
    assertThat(whole.retryAfter).isEqualTo(1_000); // one token at 1,000 per second
    assertThat(d.check(1_000_000, T0 + 1_000).allowed).isTrue();
    assertThat(d.look(0, T0 + 1_000).remaining).isZero();
  }

  @ParameterizedTest
  @EnumSource(names = {"TOKEN_BUCKET", "GCRA", "LEAKY_BUCKET"})
  void bucketNeverGrantsExtraWhenTheClockGoesBackwards(Algorithm algorithm) {
    Driver d = Driver.of(algorithm, 10, SECOND, 10);
    for (int i = 0; i < 10; i++) {
      d.check(1, T0 + SECOND);
    }
    // The host's clock steps back a minute, then a day: still empty.
    assertThat(d.check(1, T0 - 60 * SECOND).allowed).isFalse();
    assertThat(d.check(1, T0 - 86_400 * SECOND).allowed).isFalse();
    assertThat(d.check(1, T0 + SECOND).allowed).isFalse();
    // And it refills from the latest time it saw.
    assertThat(d.check(1, T0 + SECOND + 100_000).allowed).isTrue();
  }

  // ---- fixed window ----

  @Test
  void fixedWindowResetsExactlyAtTheEpochAlignedEdge() {
    Driver d = Driver.of(Algorithm.FIXED_WINDOW, 2, 60 * SECOND);
    long t = T0 + 59 * SECOND;
    assertThat(d.check(1, t).allowed).isTrue();
    assertThat(d.check(1, t).allowed).isTrue();
    Outcome denied = d.check(1, t + SECOND - 1);
    assertThat(denied.allowed).isFalse();
    assertThat(denied.retryAfter).isEqualTo(1);
    assertThat(denied.resetAt).isEqualTo(T0 + 60 * SECOND);
    // The known boundary weakness: 2 more right after the edge.
    assertThat(d.check(1, T0 + 60 * SECOND).allowed).isTrue();
    assertThat(d.check(1, T0 + 60 * SECOND).remaining).isZero();
  }

  @Test
  void fixedWindowNeverReopensASpentWindowWhenTheClockGoesBack() {
    Driver d = Driver.of(Algorithm.FIXED_WINDOW, 1, 60 * SECOND);
    assertThat(d.check(1, T0 + 61 * SECOND).allowed).isTrue();
    Outcome back = d.check(1, T0 + 30 * SECOND);
    assertThat(back.allowed).isFalse();
    assertThat(back.retryAfter).isEqualTo(90 * SECOND);
  }

  // ---- sliding window ----

  @Test
  void slidingWindowWeighsThePreviousWindowByOverlap() {
    Driver d = Driver.of(Algorithm.SLIDING_WINDOW, 10, 60 * SECOND);
    for (int i = 0; i < 10; i++) {
      assertThat(d.check(1, T0 + 30 * SECOND).allowed).isTrue();
    }
    // 15 s into the next window the previous counts 10 * 45/60 = 7.5: two more fit, not three.
    long t = T0 + 75 * SECOND;
    assertThat(d.look(0, t).available).isEqualTo(2.5);
    assertThat(d.check(1, t).allowed).isTrue();
    assertThat(d.check(1, t).allowed).isTrue();
    Outcome denied = d.check(1, t);
    assertThat(denied.allowed).isFalse();
    // 10 * (60 - x)/60 + 2 + 1 <= 10  <=>  x >= 18 s into the window.
    assertThat(denied.retryAfter).isEqualTo(3 * SECOND);
    assertThat(d.look(1, t + 3 * SECOND - 1).allowed).isFalse();
    assertThat(d.look(1, t + 3 * SECOND).allowed).isTrue();
  }

  @Test
  void slidingWindowRetryWhenTheCurrentWindowIsFull() {
    Driver d = Driver.of(Algorithm.SLIDING_WINDOW, 4, 60 * SECOND);
    for (int i = 0; i < 4; i++) {
      d.check(1, T0 + 10 * SECOND);
    }
    Outcome denied = d.check(1, T0 + 20 * SECOND);
    // Next window: 4 * (60 - y)/60 + 1 <= 4  <=>  y >= 15 s.
    assertThat(denied.retryAfter).isEqualTo(40 * SECOND + 15 * SECOND);
    assertThat(d.look(1, T0 + 75 * SECOND - 1).allowed).isFalse();
    assertThat(d.look(1, T0 + 75 * SECOND).allowed).isTrue();
    assertThat(denied.resetAt).isEqualTo(T0 + 120 * SECOND);
  }

  @Test
  void slidingWindowForgetsWindowsOlderThanThePreviousOne() {
    Driver d = Driver.of(Algorithm.SLIDING_WINDOW, 3, 60 * SECOND);
    for (int i = 0; i < 3; i++) {
      d.check(1, T0);
    }
    assertThat(d.look(3, T0 + 120 * SECOND).allowed).isTrue();
    assertThat(d.look(3, T0 + 119 * SECOND).allowed).isFalse();
  }

  // ---- sliding log ----

  @Test
  void slidingLogIsExactOverTheTrailingWindow() {
    Driver d = Driver.of(Algorithm.SLIDING_LOG, 3, 10 * SECOND);
    assertThat(d.check(1, T0).allowed).isTrue();
    assertThat(d.check(1, T0 + 4 * SECOND).allowed).isTrue();
    assertThat(d.check(1, T0 + 8 * SECOND).allowed).isTrue();
    Outcome denied = d.check(1, T0 + 9 * SECOND);
    assertThat(denied.allowed).isFalse();
    assertThat(denied.retryAfter).isEqualTo(SECOND);
    assertThat(d.check(1, T0 + 10 * SECOND - 1).allowed).isFalse();
    assertThat(d.check(1, T0 + 10 * SECOND).allowed).isTrue();
    assertThat(d.check(1, T0 + 13 * SECOND).allowed).isFalse();
    assertThat(d.check(2, T0 + 18 * SECOND).allowed).isTrue();
  }

  @Test
  void slidingLogRetryForALargeCostWaitsForEnoughEntries() {
    Driver d = Driver.of(Algorithm.SLIDING_LOG, 5, 10 * SECOND);
    d.check(2, T0);
    d.check(2, T0 + SECOND);
    d.check(1, T0 + 2 * SECOND);
    Outcome denied = d.check(4, T0 + 3 * SECOND);
    // Needs 4 free: the first two entries (2 + 2) must expire, at T0 + 11 s.
    assertThat(denied.retryAfter).isEqualTo(8 * SECOND);
    assertThat(d.look(4, T0 + 11 * SECOND).allowed).isTrue();
  }

  @Test
  void slidingLogGrowsAndMergesEntriesAtTheSameMicrosecond() {
    Driver d = Driver.of(Algorithm.SLIDING_LOG, 1_000, SECOND);
    for (int i = 0; i < 1_000; i++) {
      assertThat(d.check(1, T0 + i).allowed).isTrue();
    }
    assertThat(d.check(1, T0 + 1_000).allowed).isFalse();
    assertThat(d.check(1, T0 + SECOND).allowed).isTrue();
    Driver merged = Driver.of(Algorithm.SLIDING_LOG, 1_000, SECOND);
    for (int i = 0; i < 1_000; i++) {
      merged.check(1, T0);
    }
    assertThat(merged.state.length).isLessThan(20);
  }

  @Test
  void slidingLogNeverExpiresEarlyWhenTheClockGoesBack() {
    Driver d = Driver.of(Algorithm.SLIDING_LOG, 1, 10 * SECOND);
    d.check(1, T0 + 100 * SECOND);
    assertThat(d.check(1, T0).allowed).isFalse();
    assertThat(d.check(1, T0 + 109 * SECOND).allowed).isFalse();
    assertThat(d.check(1, T0 + 110 * SECOND).allowed).isTrue();
  }

  @ParameterizedTest
  @EnumSource(Algorithm.class)
  void deniedRequestsAndLooksLeaveNoTrace(Algorithm algorithm) {
    Driver d = Driver.of(algorithm, 5, 10 * SECOND);
    d.check(4, T0);
    long[] before = d.state.clone();
    d.check(5, T0 + 1);
    d.check(0, T0 + 2);
    assertThat(d.state).isEqualTo(before);
  }
}
