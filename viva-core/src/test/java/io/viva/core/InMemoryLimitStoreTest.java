package io.viva.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class InMemoryLimitStoreTest {

  private final ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));

  @Test
  void idleKeysExpireOnceTheirAllowanceIsBack() {
    InMemoryLimitStore store = InMemoryLimitStore.builder().clock(clock).build();
    RateLimiter limiter = RateLimiter.builder(Policy.of("p", Limit.tokenBucket(10, Duration.ofSeconds(10))))
        .store(store).build();
    for (int i = 0; i < 100; i++) {
      limiter.tryAcquire("key-" + i);
    }
    assertThat(store.keyCount()).isEqualTo(100);
    clock.advance(Duration.ofMillis(999));
    assertThat(store.sweepAll()).isZero();
    clock.advance(Duration.ofMillis(1));
    assertThat(store.sweepAll()).isEqualTo(100);
    assertThat(store.keyCount()).isZero();
    // Dropping lapsed state changes no decision: the key starts full, as it would have been.
    assertThat(limiter.tryAcquire("key-1").remaining()).isEqualTo(9);
  }

  @Test
  void keysExpireWithoutExplicitSweepsAsTheStoreIsUsed() {
    InMemoryLimitStore store = InMemoryLimitStore.builder().clock(clock).build();
    RateLimiter limiter = RateLimiter.builder(Policy.of("p", Limit.fixedWindow(10, Duration.ofSeconds(1))))
        .store(store).build();
    for (int i = 0; i < 1_000; i++) {
      limiter.tryAcquire("old-" + i);
    }
    clock.advance(Duration.ofSeconds(2));
    for (int i = 0; i < 200_000; i++) {
      limiter.tryAcquire("hot");
    }
    assertThat(store.keyCount()).isLessThan(1_000);
  }

  @Test
  void theMaximumKeyCountIsHeldByEvictingTheKeyClosestToExpiry() {
    InMemoryLimitStore store = InMemoryLimitStore.builder().clock(clock).maximumKeys(100).build();
    RateLimiter limiter = RateLimiter.builder(Policy.of("p", Limit.fixedWindow(10, Duration.ofHours(1))))
        .store(store).build();
    for (int i = 0; i < 1_000; i++) {
      limiter.tryAcquire("key-" + i);
    }
    assertThat(store.keyCount()).isLessThanOrEqualTo(100);
    assertThat(store.evictionCount()).isGreaterThanOrEqualTo(900);
  }

  @Test
  void expiredKeysAreSweptBeforeAnyLiveKeyIsEvicted() {
    InMemoryLimitStore store = InMemoryLimitStore.builder().clock(clock).maximumKeys(100).build();
    RateLimiter limiter = RateLimiter.builder(Policy.of("p", Limit.fixedWindow(10, Duration.ofSeconds(1))))
        .store(store).build();
    for (int i = 0; i < 100; i++) {
      limiter.tryAcquire("old-" + i);
    }
    clock.advance(Duration.ofSeconds(1));
    for (int i = 0; i < 100; i++) {
      limiter.tryAcquire("new-" + i);
    }
    assertThat(store.evictionCount()).isZero();
    assertThat(store.keyCount()).isLessThanOrEqualTo(100);
  }

  @Test
  void replacingAPolicyKeepsTheCountersOfUnchangedLimits() {
    InMemoryLimitStore store = InMemoryLimitStore.builder().clock(clock).build();
    Limit perMinute = Limit.fixedWindow(5, Duration.ofMinutes(1));
    Policy before = Policy.builder("api").limit(perMinute).limit(Limit.tokenBucket(100, Duration.ofSeconds(1))).build();
    RateLimiter old = RateLimiter.builder(before).store(store).build();
    for (int i = 0; i < 3; i++) {
      old.tryAcquire("k");
    }
    Policy after = Policy.builder("api")
        .limit(Limit.fixedWindow(5, Duration.ofMinutes(1)))
        .limit(Limit.tokenBucket(50, Duration.ofSeconds(1)))
        .build();
    RateLimiter replaced = RateLimiter.builder(after).store(store).build();
    Decision d = replaced.tryAcquire("k");
    assertThat(d.perLimit().get(0).remaining()).isEqualTo(1); // kept: 3 + 1 of 5
    assertThat(d.perLimit().get(1).remaining()).isEqualTo(49); // new limit starts fresh
  }

  @Test
  void resetForgetsOneKey() {
    InMemoryLimitStore store = InMemoryLimitStore.builder().clock(clock).build();
    RateLimiter limiter = RateLimiter.builder(Policy.of("p", Limit.fixedWindow(1, Duration.ofHours(1))))
        .store(store).build();
    limiter.tryAcquire("a");
    limiter.tryAcquire("b");
    limiter.reset("a");
    assertThat(limiter.tryAcquire("a").allowed()).isTrue();
    assertThat(limiter.tryAcquire("b").allowed()).isFalse();
  }
}
