package io.viva.core.internal;

import io.viva.core.Algorithm;

/*
 * Sliding window counter (two-bucket weighted counter).
 *
 * Keeps the count of the current epoch-aligned window and of the one before it, and estimates the
 * number of requests in the trailing window as
 *
 *     previous * (window - elapsed) / window + current
 *
 * where elapsed is the time since the current window began: the previous window is assumed to
 * have spread its requests evenly. A request of cost c is admitted if estimate + c <= limit.
 * Cloudflare measured this estimate within 0.003% of an exact log on real traffic [1]; it never
 * admits more than the fixed window would (current alone is bounded by limit).
 *
 * Integer form: the weight is computed in ticks of `tick` microseconds, N = window / tick ticks
 * per window, and compared as  previous * (N - elapsedTicks) + (current + c) * N <= limit * N.
 * The tick is the finest of 1us, 10us, ..., 1s that divides the window and keeps limit * N within
 * 2^53; elapsed ticks are rounded down, which only ever weights the previous window more (stricter).
 *
 * State: [windowStart, current, previous]. A clock that goes backwards is treated as standing at
 * the stored window's start at the earliest, which again only weights the previous window more.
 *
 * retry-after is exact at tick resolution: the earliest tick at which the weighted previous count
 * has decayed enough (within this window), or, if current + c alone exceeds the limit, the
 * earliest tick of the next window at which the then-previous count has decayed enough.
 *
 * Reference:
 *  [1] J. Grant-Christie (Cloudflare), "How we built rate limiting capable of scaling to millions
 *      of domains", 2017.
 */
final class SlidingWindow extends LimitAlgorithm {
  private final long limit;
  private final long window;
  private final long tick;
  private final long ticks;
  private final long scaledLimit;

  SlidingWindow(long limit, long windowMicros) {
    super(Algorithm.SLIDING_WINDOW, limit);
    this.limit = limit;
    this.window = windowMicros;
    long chosen = 0;
    for (long t = 1; t <= 1_000_000L; t *= 10) {
      if (windowMicros % t == 0 && limit <= MAX_EXACT / (windowMicros / t)) {
        chosen = t;
        break;
      }
    }
    if (chosen == 0) {
      throw new IllegalArgumentException("sliding_window: limit " + limit + " per " + windowMicros
          + "us (expected: limit x window ticks within 2^53; use a window that is a whole number of"
          + " milliseconds or seconds, or a smaller limit)");
    }
    this.tick = chosen;
    this.ticks = windowMicros / chosen;
    this.scaledLimit = limit * ticks;
  }

  @Override
  public void evaluate(long[] state, long cost, long now, Outcome out) {
    final long n = ticks;
    long start = now - Math.floorMod(now, window);
    long t = now;
    long previous = 0;
    long current = 0;
    if (state != null) {
      long stored = state[0];
      if (stored >= start) {
        start = stored;
        current = state[1];
        previous = state[2];
        t = Math.max(now, stored);
      } else if (stored == start - window) {
        previous = state[1];
      }
    }
    long elapsedTicks = (t - start) / tick;
    long estimate = previous * (n - elapsedTicks) + current * n;
    long after = estimate + cost * n;
    long nowCurrent;
    if (after <= scaledLimit) {
      out.allowed = true;
      out.retryAfter = 0;
      out.remaining = (scaledLimit - after) / n;
      out.available = (double) (scaledLimit - after) / n;
      nowCurrent = current + cost;
    } else {
      out.allowed = false;
      long target;
      if (current + cost <= limit) {
        // Wait within this window until the previous window's weight has decayed enough.
        long x = n - ((limit - current - cost) * n) / previous;
        target = start + x * tick;
      } else {
        // Wait for the next window, where `current` becomes the previous count.
        long y = Math.max(0, n - ((limit - cost) * n) / current);
        target = start + window + y * tick;
      }
      out.retryAfter = target - now;
      long left = Math.max(0, scaledLimit - estimate);
      out.remaining = left / n;
      out.available = (double) left / n;
      nowCurrent = current;
    }
    if (nowCurrent > 0) {
      out.resetAt = start + 2 * window;
    } else if (previous > 0) {
      out.resetAt = start + window;
    } else {
      out.resetAt = t;
    }
    out.s0 = start;
    out.s1 = nowCurrent;
    out.s2 = previous;
  }

  @Override
  public long[] commit(long[] state, long cost, long now, Outcome out) {
    return commitFixed(state, 3, out);
  }

  @Override
  public long[] parameters() {
    return new long[] {limit, window, tick, ticks, scaledLimit};
  }
}
