package io.viva.core;

import io.viva.core.internal.Outcome;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * The answer to one rate limit check: whether it is allowed, and the numbers a caller needs to
 * behave well (what is left, when the limit resets, how long to wait).
 *
 * <p>For a policy with several limits the top-level numbers are those of the binding limit: when
 * denied, the denying limit with the longest wait; when allowed, the limit with the fewest permits
 * left. {@link #perLimit()} has every limit's own decision.
 *
 * <p>Times are integer microseconds (since the epoch for instants); the {@code Duration} and
 * {@code Instant} accessors are conveniences. Immutable and thread-safe.
 */
public final class Decision {

  private final boolean allowed;
  private final Limit source;
  private final long remaining;
  private final double available;
  private final long resetAtMicros;
  private final long retryAfterMicros;
  private final long nowMicros;
  private final List<Decision> perLimit;

  private Decision(boolean allowed, Limit source, long remaining, double available, long resetAtMicros,
      long retryAfterMicros, long nowMicros, List<Decision> perLimit) {
    this.allowed = allowed;
    this.source = source;
    this.remaining = remaining;
    this.available = available;
    this.resetAtMicros = resetAtMicros;
    this.retryAfterMicros = retryAfterMicros;
    this.nowMicros = nowMicros;
    this.perLimit = perLimit;
  }

  /**
   * A single limit's decision; for {@link LimitStore} implementations.
   *
   * @param retryAfterMicros 0 when allowed
   */
  public static Decision of(Limit source, boolean allowed, long remaining, double available, long resetAtMicros,
      long retryAfterMicros, long nowMicros) {
    Objects.requireNonNull(source, "source");
    return new Decision(allowed, source, remaining, available, resetAtMicros,
        allowed ? 0 : Math.max(0, retryAfterMicros), nowMicros, null);
  }

  /** A decision from the engine's evaluation of one limit; for store implementations. */
  public static Decision of(Limit source, Outcome outcome, long nowMicros) {
    return of(source, outcome.allowed, outcome.remaining, outcome.available, outcome.resetAt,
        outcome.retryAfter, nowMicros);
  }

  /**
   * Combines the decisions of a policy's limits into one: allowed only if all are, numbers from
   * the binding limit. For store implementations.
   */
  public static Decision combine(List<Decision> decisions) {
    if (decisions.isEmpty()) {
      throw new IllegalArgumentException("decisions: [] (expected: at least one)");
    }
    if (decisions.size() == 1) {
      return decisions.get(0);
    }
    boolean allowed = true;
    for (Decision d : decisions) {
      allowed &= d.allowed;
    }
    Decision binding = null;
    for (Decision d : decisions) {
      if (allowed) {
        if (binding == null || d.remaining < binding.remaining) {
          binding = d;
        }
      } else if (!d.allowed && (binding == null || d.retryAfterMicros > binding.retryAfterMicros)) {
        binding = d;
      }
    }
    List<Decision> all = Collections.unmodifiableList(Arrays.asList(decisions.toArray(new Decision[0])));
    return new Decision(allowed, binding.source, binding.remaining, binding.available, binding.resetAtMicros,
        binding.retryAfterMicros, binding.nowMicros, all);
  }

  /** Whether the request is admitted (and, for a positive cost, was charged). */
  public boolean allowed() {
    return allowed;
  }

  /** The binding limit. */
  public Limit source() {
    return source;
  }

  /**
   * The binding limit's capacity: the most permits it holds at once ({@link Limit#burst()}), which
   * {@link #remaining()} counts down from. Equal to the permits per window unless a bucket has a
   * burst set.
   */
  public long limit() {
    return source.burst();
  }

  /** Whole permits left in the binding limit, never negative. */
  public long remaining() {
    return remaining;
  }

  /** Permits left including the fraction of the next one, for buckets that refill continuously. */
  public double available() {
    return available;
  }

  /** When the binding limit's whole allowance is available again, in epoch microseconds. */
  public long resetAtMicros() {
    return resetAtMicros;
  }

  /** {@link #resetAtMicros()} as an instant. */
  public Instant resetAt() {
    return Times.toInstant(resetAtMicros);
  }

  /** Microseconds from the decision until the reset, never negative. */
  public long resetAfterMicros() {
    return Math.max(0, resetAtMicros - nowMicros);
  }

  /** How long until the same request would be admitted (absent other traffic); zero when allowed. */
  public long retryAfterMicros() {
    return retryAfterMicros;
  }

  /** {@link #retryAfterMicros()} as a duration. */
  public Duration retryAfter() {
    return Times.toDuration(retryAfterMicros);
  }

  /** The time the decision was made, in epoch microseconds. */
  public long nowMicros() {
    return nowMicros;
  }

  /** Each limit's own decision, in the policy's order; a single-limit decision lists itself. */
  public List<Decision> perLimit() {
    return perLimit == null ? List.of(this) : perLimit;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Decision d
        && allowed == d.allowed
        && remaining == d.remaining
        && Double.compare(available, d.available) == 0
        && resetAtMicros == d.resetAtMicros
        && retryAfterMicros == d.retryAfterMicros
        && nowMicros == d.nowMicros
        && source.equals(d.source)
        && Objects.equals(perLimit, d.perLimit);
  }

  @Override
  public int hashCode() {
    return Objects.hash(allowed, remaining, resetAtMicros, retryAfterMicros, nowMicros, source);
  }

  @Override
  public String toString() {
    return "Decision[" + (allowed ? "allowed" : "denied") + ", " + source + ", remaining=" + remaining
        + ", resetAt=" + resetAt() + ", retryAfter=" + retryAfter() + "]";
  }
}
