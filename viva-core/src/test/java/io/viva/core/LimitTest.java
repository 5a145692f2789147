package io.viva.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class LimitTest {

  @Test
  void rejectsAZeroLimitNamingTheValue() {
    assertThatThrownBy(() -> Limit.tokenBucket(0, Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("limit: 0 (expected: > 0)");
  }

  @Test
  void rejectsANegativeOrZeroWindow() {
    assertThatThrownBy(() -> Limit.fixedWindow(10, Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("window: PT-1S (expected: > 0)");
    assertThatThrownBy(() -> Limit.fixedWindow(10, Duration.ZERO))
        .hasMessage("window: PT0S (expected: > 0)");
  }

  @Test
  void rejectsSubMicrosecondAndHugeWindows() {
    assertThatThrownBy(() -> Limit.fixedWindow(10, Duration.ofNanos(1500)))
        .hasMessageContaining("expected: a whole number of microseconds");
    assertThatThrownBy(() -> Limit.fixedWindow(10, Duration.ofDays(401)))
        .hasMessageContaining("expected: <= PT9600H");
  }

  @Test
  void burstOnlyForBuckets() {
    assertThatThrownBy(() -> Limit.builder(Algorithm.FIXED_WINDOW, 10, Duration.ofSeconds(1)).burst(20))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("burst: 20 (expected: unset; only token_bucket, gcra and leaky_bucket take a burst");
    assertThatThrownBy(() -> Limit.builder(Algorithm.GCRA, 10, Duration.ofSeconds(1)).burst(0))
        .hasMessage("burst: 0 (expected: > 0)");
    assertThat(Limit.gcra(10, Duration.ofSeconds(1), 25).burst()).isEqualTo(25);
    assertThat(Limit.slidingWindow(10, Duration.ofSeconds(1)).burst()).isEqualTo(10);
  }

  @Test
  void rejectsParametersWhoseArithmeticWouldNotBeExactInLua() {
    // 999,983 is prime, so a day does not divide by it: 10^12 scaled units per token x 10^6 tokens > 2^53.
    assertThatThrownBy(() -> Limit.tokenBucket(999_983L * 1000, 999_983, Duration.ofDays(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected: at most 2^53");
    // Round numbers reduce well: a billion a day is fine.
    assertThat(Limit.tokenBucket(1_000_000_000L, Duration.ofDays(1)).limit()).isEqualTo(1_000_000_000L);
    assertThatThrownBy(() -> Limit.slidingLog(100_001, Duration.ofMinutes(1)))
        .hasMessageContaining("sliding_log: limit 100001 (expected: at most 100000");
  }

  @Test
  void slidingWindowChoosesACoarserTickForHugeLimits() {
    // limit x window in microseconds would exceed 2^53; the millisecond tick keeps it exact.
    assertThat(Limit.slidingWindow(10_000_000, Duration.ofDays(1)).limit()).isEqualTo(10_000_000);
  }

  @Test
  void equalityIgnoresTheName() {
    Limit a = Limit.builder(Algorithm.TOKEN_BUCKET, 5, Duration.ofSeconds(1)).name("a").build();
    Limit b = Limit.builder(Algorithm.TOKEN_BUCKET, 5, Duration.ofSeconds(1)).name("b").build();
    assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
    assertThat(a).isNotEqualTo(Limit.tokenBucket(6, 5, Duration.ofSeconds(1)));
    assertThat(a.toString()).isEqualTo("a=token_bucket(5/PT1S)");
    assertThat(Limit.tokenBucket(6, 5, Duration.ofSeconds(1)).toString()).isEqualTo("token_bucket(5/PT1S, burst 6)");
  }

  @Test
  void parsesAlgorithmNames() {
    assertThat(Algorithm.fromConfigName("Sliding-Window")).isEqualTo(Algorithm.SLIDING_WINDOW);
    assertThatThrownBy(() -> Algorithm.fromConfigName("bogus"))
        .hasMessageStartingWith("algorithm: bogus (expected: one of token_bucket, gcra");
  }

  @Test
  void policyChecksItsLimitsAndCost() {
    assertThatThrownBy(() -> Policy.builder("p").build())
        .hasMessage("limits: [] (expected: at least one limit for policy p)");
    assertThatThrownBy(() -> Policy.builder(""))
        .hasMessage("name: \"\" (expected: a non-empty namespace)");
    Policy policy = Policy.builder("p")
        .limit(Limit.tokenBucket(10, Duration.ofSeconds(1)))
        .limit(Limit.fixedWindow(100, Duration.ofMinutes(1)))
        .build();
    assertThat(policy.maxCost()).isEqualTo(10);
    assertThatThrownBy(() -> policy.checkCost(11))
        .hasMessageStartingWith("cost: 11 (expected: <= 10, the capacity of policy p");
    assertThatThrownBy(() -> policy.checkCost(-1)).hasMessage("cost: -1 (expected: >= 0)");
  }
}
