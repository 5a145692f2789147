package io.viva.core;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A named set of limits that apply together to every key: a request is admitted only if every
 * limit admits it, and when any denies, none is spent. For example 10 per second and 1,000 per
 * day:
 *
 * <pre>{@code
 * Policy policy = Policy.builder("api_requests")
 *     .limit(Limit.tokenBucket(10, Duration.ofSeconds(1)))
 *     .limit(Limit.fixedWindow(1_000, Duration.ofDays(1)))
 *     .build();
 * }</pre>
 *
 * <p>The name is the policy's namespace: two policies with the same name share counters in a
 * store, limit by limit (a limit whose parameters are unchanged keeps its state when a policy is
 * replaced). Immutable and thread-safe.
 */
public final class Policy {

  /** How long an idempotency key is remembered unless set: 10 minutes. */
  public static final Duration DEFAULT_IDEMPOTENCY_TTL = Duration.ofMinutes(10);

  private final String name;
  private final List<Limit> limits;
  private final Limit[] limitArray;
  private final long idempotencyTtlMicros;
  private final long maxCost;

  private Policy(Builder b) {
    this.name = b.name;
    this.limits = List.copyOf(b.limits);
    this.limitArray = limits.toArray(new Limit[0]);
    this.idempotencyTtlMicros = b.idempotencyTtlMicros;
    long max = Long.MAX_VALUE;
    for (Limit limit : limitArray) {
      max = Math.min(max, limit.burst());
    }
    this.maxCost = max;
  }

  /** Starts a policy for the namespace {@code name}. */
  public static Builder builder(String name) {
    return new Builder(name);
  }

  /** A policy with one limit. */
  public static Policy of(String name, Limit limit) {
    return builder(name).limit(limit).build();
  }

  /** The namespace. */
  public String name() {
    return name;
  }

  /** The limits, in the order given. */
  public List<Limit> limits() {
    return limits;
  }

  /** How long an idempotency key's first decision is replayed. */
  public Duration idempotencyTtl() {
    return Times.toDuration(idempotencyTtlMicros);
  }

  /** {@link #idempotencyTtl()} in microseconds. */
  public long idempotencyTtlMicros() {
    return idempotencyTtlMicros;
  }

  /** The largest cost a request may ask for: the smallest burst among the limits. */
  public long maxCost() {
    return maxCost;
  }

  Limit[] limitArray() {
    return limitArray;
  }

  /**
   * Checks a request's cost against this policy.
   *
   * @throws IllegalArgumentException if {@code cost} is negative or above {@link #maxCost()}
   */
  public void checkCost(long cost) {
    if (cost < 0) {
      throw new IllegalArgumentException("cost: " + cost + " (expected: >= 0)");
    }
    if (cost > maxCost) {
      throw new IllegalArgumentException("cost: " + cost + " (expected: <= " + maxCost
          + ", the capacity of policy " + name + "; a larger cost could never be admitted)");
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Policy other
        && name.equals(other.name)
        && limits.equals(other.limits)
        && idempotencyTtlMicros == other.idempotencyTtlMicros;
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, limits, idempotencyTtlMicros);
  }

  @Override
  public String toString() {
    return "Policy[" + name + ", " + limits + "]";
  }

  /** Builds a {@link Policy}. */
  public static final class Builder {
    private final String name;
    private final List<Limit> limits = new ArrayList<>();
    private long idempotencyTtlMicros = Times.toMicros(DEFAULT_IDEMPOTENCY_TTL, "ttl");

    private Builder(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isEmpty()) {
        throw new IllegalArgumentException("name: \"\" (expected: a non-empty namespace)");
      }
      this.name = name;
    }

    /** Adds a limit. */
    public Builder limit(Limit limit) {
      limits.add(Objects.requireNonNull(limit, "limit"));
      return this;
    }

    /** Adds limits. */
    public Builder limits(List<Limit> limits) {
      limits.forEach(this::limit);
      return this;
    }

    /** How long an idempotency key replays its first decision; default 10 minutes. */
    public Builder idempotencyTtl(Duration ttl) {
      long micros = Times.toMicros(ttl, "idempotencyTtl");
      if (micros <= 0) {
        throw new IllegalArgumentException("idempotencyTtl: " + ttl + " (expected: > 0)");
      }
      this.idempotencyTtlMicros = micros;
      return this;
    }

    /** Builds the policy. */
    public Policy build() {
      if (limits.isEmpty()) {
        throw new IllegalArgumentException("limits: [] (expected: at least one limit for policy " + name + ")");
      }
      if (limits.size() > 16) {
        throw new IllegalArgumentException("limits: " + limits.size() + " (expected: at most 16 per policy)");
      }
      return new Policy(this);
    }
  }
}
