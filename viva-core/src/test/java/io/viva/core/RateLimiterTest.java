package io.viva.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class RateLimiterTest {

  private final ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));

  private RateLimiter limiter(Policy policy) {
    return RateLimiter.builder(policy).clock(clock).build();
  }

  @Test
  void admitsUpToTheLimitThenDeniesWithRetryAfter() {
    RateLimiter limiter = limiter(Policy.of("api", Limit.tokenBucket(3, Duration.ofSeconds(3))));
    for (int i = 2; i >= 0; i--) {
      Decision d = limiter.tryAcquire("user_123");
      assertThat(d.allowed()).isTrue();
      assertThat(d.remaining()).isEqualTo(i);
      assertThat(d.limit()).isEqualTo(3);
    }
    Decision denied = limiter.tryAcquire("user_123");
    assertThat(denied.allowed()).isFalse();
    assertThat(denied.retryAfter()).isEqualTo(Duration.ofSeconds(1));
    assertThat(denied.resetAt()).isEqualTo(Instant.parse("2026-01-15T10:00:03Z"));
    clock.advance(Duration.ofSeconds(1));
    assertThat(limiter.tryAcquire("user_123").allowed()).isTrue();
    assertThat(limiter.tryAcquire("other").remaining()).isEqualTo(2);
  }

  @Test
  void severalLimitsAllMustAllowAndNoneIsChargedOnDenial() {
    Policy policy = Policy.builder("api")
        .limit(Limit.tokenBucket(10, Duration.ofSeconds(1)))
        .limit(Limit.fixedWindow(15, Duration.ofDays(1)))
        .build();
    RateLimiter limiter = limiter(policy);
    for (int i = 0; i < 10; i++) {
      assertThat(limiter.tryAcquire("k").allowed()).isTrue();
    }
    Decision denied = limiter.tryAcquire("k");
    assertThat(denied.allowed()).isFalse();
    assertThat(denied.source()).isEqualTo(policy.limits().get(0));
    assertThat(denied.perLimit()).hasSize(2);
    // The daily window admitted the request but was not charged.
    assertThat(denied.perLimit().get(1).allowed()).isTrue();
    assertThat(denied.perLimit().get(1).remaining()).isEqualTo(5);

    clock.advance(Duration.ofSeconds(1));
    for (int i = 0; i < 5; i++) {
      assertThat(limiter.tryAcquire("k").allowed()).isTrue();
    }
    Decision daily = limiter.tryAcquire("k");
    assertThat(daily.allowed()).isFalse();
    assertThat(daily.source()).isEqualTo(policy.limits().get(1));
    assertThat(daily.resetAt()).isEqualTo(Instant.parse("2026-01-16T00:00:00Z"));
    // The per-second bucket was not charged by the denied request: 5 tokens left.
    assertThat(daily.perLimit().get(0).remaining()).isEqualTo(5);
  }

  @Test
  void allowedDecisionReportsTheTightestLimit() {
    Policy policy = Policy.builder("api")
        .limit(Limit.tokenBucket(10, Duration.ofSeconds(1)))
        .limit(Limit.fixedWindow(3, Duration.ofMinutes(1)))
        .build();
    Decision d = limiter(policy).tryAcquire("k");
    assertThat(d.allowed()).isTrue();
    assertThat(d.limit()).isEqualTo(3);
    assertThat(d.remaining()).isEqualTo(2);
  }

  @Test
  void idempotencyKeyReplaysTheFirstDecisionWithoutCharging() {
    RateLimiter limiter = limiter(Policy.builder("pay")
        .limit(Limit.tokenBucket(2, Duration.ofMinutes(1)))
        .idempotencyTtl(Duration.ofSeconds(30))
        .build());
    Decision first = limiter.tryAcquire("a", 1, "12345");
    Decision again = limiter.tryAcquire("a", 1, "12345");
    assertThat(again).isSameAs(first);
    assertThat(limiter.peek("a").remaining()).isEqualTo(1);
    // A different key spends; so does the same key after its TTL.
    assertThat(limiter.tryAcquire("a", 1, "other").remaining()).isZero();
    assertThat(limiter.tryAcquire("a", 1, "12345")).isSameAs(first);
    clock.advance(Duration.ofSeconds(31));
    Decision late = limiter.tryAcquire("a", 1, "12345");
    assertThat(late).isNotSameAs(first);
    assertThat(late.allowed()).isTrue(); // 31 s refilled one token of two-per-minute
  }

  @Test
  void costZeroOnlyLooks() {
    RateLimiter limiter = limiter(Policy.of("api", Limit.fixedWindow(5, Duration.ofMinutes(1))));
    limiter.tryAcquire("k", 2);
    for (int i = 0; i < 3; i++) {
      Decision look = limiter.tryAcquire("k", 0);
      assertThat(look.allowed()).isTrue();
      assertThat(look.remaining()).isEqualTo(3);
    }
  }

  @Test
  void costAboveCapacityAndBadKeysAreRejected() {
    RateLimiter limiter = limiter(Policy.of("api", Limit.tokenBucket(5, Duration.ofSeconds(1))));
    assertThat(limiter.tryAcquire("k", 5).allowed()).isTrue();
    assertThatThrownBy(() -> limiter.tryAcquire("k", 6))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("cost: 6 (expected: <= 5");
    assertThatThrownBy(() -> limiter.tryAcquire("k", Long.MAX_VALUE)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> limiter.tryAcquire("")).hasMessage("key: \"\" (expected: a non-empty identifier)");
    assertThatThrownBy(() -> limiter.tryAcquire("x".repeat(1025)))
        .hasMessage("key: 1025 characters (expected: at most 1024)");
    assertThatThrownBy(() -> limiter.tryAcquire(null)).isInstanceOf(NullPointerException.class);
  }

  @Test
  void limitersSharingAStoreShareCountersByPolicyName() {
    InMemoryLimitStore store = InMemoryLimitStore.builder().clock(clock).build();
    Policy policy = Policy.of("shared", Limit.fixedWindow(2, Duration.ofMinutes(1)));
    RateLimiter a = RateLimiter.builder(policy).store(store).build();
    RateLimiter b = RateLimiter.builder(policy).store(store).build();
    a.tryAcquire("k");
    b.tryAcquire("k");
    assertThat(a.tryAcquire("k").allowed()).isFalse();
    a.reset("k");
    assertThat(b.tryAcquire("k").allowed()).isTrue();
  }

  @Test
  void builderRefusesAClockThatTheStoreWouldIgnore() {
    InMemoryLimitStore store = InMemoryLimitStore.create();
    assertThatThrownBy(() -> RateLimiter.builder(Policy.of("p", Limit.tokenBucket(1, Duration.ofSeconds(1))))
            .store(store).clock(clock).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("expected: unset when a store is given");
  }
}
