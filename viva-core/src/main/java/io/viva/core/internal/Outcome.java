package io.viva.core.internal;

/**
 * The result of evaluating one limit for one request, plus the state to write if the request is
 * committed. A mutable scratch object so that the hot path allocates little; not thread-safe.
 */
public final class Outcome {
  /** Whether this limit admits the request. */
  public boolean allowed;
  /** Whole permits left after this request (if admitted) or now (if not). */
  public long remaining;
  /** Permits left including the fraction of the next one (buckets refill continuously). */
  public double available;
  /** When this limit's full allowance is back, in epoch microseconds. */
  public long resetAt;
  /** How long until the same request would be admitted, in microseconds; 0 when admitted. */
  public long retryAfter;

  // Pending state for commit(); meaning depends on the algorithm.
  long s0;
  long s1;
  long s2;

  /** Resets every field, for reuse. */
  public void clear() {
    allowed = false;
    remaining = 0;
    available = 0;
    resetAt = 0;
    retryAfter = 0;
    s0 = 0;
    s1 = 0;
    s2 = 0;
  }
}
