package io.viva.core;

import java.util.Objects;
import java.util.concurrent.CompletionStage;

/**
 * The entry point for applications: a {@link Policy} bound to a {@link LimitStore}.
 *
 * <pre>{@code
 * RateLimiter limiter = RateLimiter.of(Policy.of("api", Limit.tokenBucket(100, Duration.ofSeconds(1))));
 * Decision d = limiter.tryAcquire("user_123");
 * if (!d.allowed()) {
 *   // reject; tell the caller to wait d.retryAfter()
 * }
 * }</pre>
 *
 * <p>Thread-safe; share one limiter per policy. Limiters over the same store and policy name
 * share counters.
 */
public final class RateLimiter {

  /** The longest key accepted: 1,024 characters. */
  public static final int MAX_KEY_LENGTH = 1024;

  private final Policy policy;
  private final LimitStore store;

  private RateLimiter(Policy policy, LimitStore store) {
    this.policy = policy;
    this.store = store;
  }

  /** A limiter for {@code policy} with its own in-memory store on the system clock. */
  public static RateLimiter of(Policy policy) {
    return builder(policy).build();
  }

  /** Starts a limiter for {@code policy}. */
  public static Builder builder(Policy policy) {
    return new Builder(policy);
  }

  /** Asks for one permit for {@code key}. */
  public Decision tryAcquire(String key) {
    return tryAcquire(key, 1, null);
  }

  /** Asks for {@code cost} permits for {@code key}; a cost of 0 only looks. */
  public Decision tryAcquire(String key, long cost) {
    return tryAcquire(key, cost, null);
  }

  /**
   * Asks for {@code cost} permits for {@code key}. If {@code idempotencyKey} is not null and was
   * used for this key within the policy's idempotency TTL, returns that first decision and charges
   * nothing.
   *
   * @throws IllegalArgumentException if the key is empty or longer than {@link #MAX_KEY_LENGTH},
   *     or the cost is negative or above {@link Policy#maxCost()}
   */
  public Decision tryAcquire(String key, long cost, String idempotencyKey) {
    checkKey(key);
    policy.checkCost(cost);
    return store.acquire(policy, key, cost, idempotencyKey);
  }

  /** {@link #tryAcquire(String, long, String)} without blocking, for stores that do I/O. */
  public CompletionStage<Decision> tryAcquireAsync(String key, long cost, String idempotencyKey) {
    checkKey(key);
    policy.checkCost(cost);
    return store.acquireAsync(policy, key, cost, idempotencyKey);
  }

  /** The current state for {@code key} without charging anything (a cost-0 check). */
  public Decision peek(String key) {
    return tryAcquire(key, 0, null);
  }

  /** Forgets {@code key}'s state. */
  public void reset(String key) {
    checkKey(key);
    store.reset(policy, key);
  }

  /** The policy. */
  public Policy policy() {
    return policy;
  }

  /** The store. */
  public LimitStore store() {
    return store;
  }

  private static void checkKey(String key) {
    Objects.requireNonNull(key, "key");
    if (key.isEmpty()) {
      throw new IllegalArgumentException("key: \"\" (expected: a non-empty identifier)");
    }
    if (key.length() > MAX_KEY_LENGTH) {
      throw new IllegalArgumentException("key: " + key.length() + " characters (expected: at most " + MAX_KEY_LENGTH + ")");
    }
  }

  /** Configures a {@link RateLimiter}. */
  public static final class Builder {
    private final Policy policy;
    private LimitStore store;
    private Clock clock;

    private Builder(Policy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
    }

    /** The store to keep state in; default a new {@link InMemoryLimitStore}. */
    public Builder store(LimitStore store) {
      this.store = Objects.requireNonNull(store, "store");
      return this;
    }

    /** The clock for the default in-memory store (ignored when a store is given); default the system clock. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Builds the limiter. */
    public RateLimiter build() {
      if (store != null && clock != null && store.clock() != clock) {
        throw new IllegalArgumentException("clock: " + clock + " (expected: unset when a store is given; the store "
            + store + " decides by its own clock " + store.clock() + ")");
      }
      LimitStore s = store != null ? store
          : InMemoryLimitStore.builder().clock(clock != null ? clock : Clock.system()).build();
      return new RateLimiter(policy, s);
    }
  }
}
