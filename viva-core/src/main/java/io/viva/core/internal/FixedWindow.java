package io.viva.core.internal;

import io.viva.core.Algorithm;

/*
 * Fixed window counter.
 *
 * Time is cut into windows of `window` microseconds aligned to the Unix epoch (so every instance
 * and every store agrees on the boundaries without coordination), and each key may spend `limit`
 * per window. Cheapest in memory and time; the known weakness is the boundary: up to 2 * limit
 * can pass in a span of one window straddling a boundary. Use SLIDING_WINDOW or SLIDING_LOG
 * where that matters.
 *
 * State: [windowStart, count]. If the clock goes back into an earlier window, the stored (later)
 * window and its count stay in force, so a skew never reopens a spent window.
 *
 * Reference: the fixed-window counter as described in, e.g., the Stripe engineering blog,
 * "Scaling your API with rate limiters" (2017).
 */
final class FixedWindow extends LimitAlgorithm {
  private final long limit;
  private final long window;

  FixedWindow(long limit, long windowMicros) {
    super(Algorithm.FIXED_WINDOW, limit);
    if (limit > MAX_EXACT) {
      throw new IllegalArgumentException("fixed_window: limit " + limit + " (expected: at most 2^53)");
    }
    this.limit = limit;
    this.window = windowMicros;
  }

  @Override
  public void evaluate(long[] state, long cost, long now, Outcome out) {
    long start = now - Math.floorMod(now, window);
    long count = 0;
    if (state != null && state[0] >= start) {
      start = state[0];
      count = state[1];
    }
    long after = count + cost;
    long end = start + window;
    if (after <= limit) {
      out.allowed = true;
      out.retryAfter = 0;
      out.remaining = limit - after;
    } else {
      out.allowed = false;
      out.retryAfter = end - now;
      out.remaining = Math.max(0, limit - count);
    }
    out.available = out.remaining;
    out.resetAt = end;
    out.s0 = start;
    out.s1 = after;
  }

  @Override
  public long[] commit(long[] state, long cost, long now, Outcome out) {
    return commitFixed(state, 2, out);
  }

  @Override
  public long[] parameters() {
    return new long[] {limit, window, 0, 0, 0};
  }
}
