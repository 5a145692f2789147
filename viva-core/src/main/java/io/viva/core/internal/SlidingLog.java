package io.viva.core.internal;

import io.viva.core.Algorithm;

/*
 * Sliding log (exact).
 *
 * Keeps every admitted request's (time, cost) for one window and admits a request of cost c if
 * the costs logged in the trailing window (now - window, now] plus c are at most `limit`. Exact
 * at every instant, at the price of memory proportional to the requests in a window, so the
 * limit is capped at MAX_LIMIT; for larger limits use SLIDING_WINDOW.
 *
 * State: a ring buffer [head, size, sum, t0, c0, t1, c1, ...] of (time, cost) pairs, oldest
 * first, with `sum` the total cost in the buffer. Entries at the same microsecond are merged.
 * Expired entries are dropped when a request is committed; evaluation only reads. Times are
 * logged at max(now, newest) so the log stays ordered when the clock goes backwards, and a
 * backwards clock never expires anything early.
 *
 * Reference: P. Tarjan (Figma), "An alternative approach to rate limiting", 2017; the sorted-set
 * sliding log in Redis.
 */
final class SlidingLog extends LimitAlgorithm {
  /** The largest limit a sliding log accepts: its memory grows with the limit. */
  static final long MAX_LIMIT = 100_000;

  private static final int HEADER = 3;

  private final long limit;
  private final long window;

  SlidingLog(long limit, long windowMicros) {
    super(Algorithm.SLIDING_LOG, limit);
    if (limit > MAX_LIMIT) {
      throw new IllegalArgumentException("sliding_log: limit " + limit + " (expected: at most "
          + MAX_LIMIT + ", as the log keeps one entry per request; use sliding_window for larger limits)");
    }
    this.limit = limit;
    this.window = windowMicros;
  }

  private static int capacityOf(long[] s) {
    return (s.length - HEADER) / 2;
  }

  private static long timeAt(long[] s, int i) {
    int cap = capacityOf(s);
    return s[HEADER + 2 * (int) ((s[0] + i) % cap)];
  }

  private static long costAt(long[] s, int i) {
    int cap = capacityOf(s);
    return s[HEADER + 2 * (int) ((s[0] + i) % cap) + 1];
  }

  @Override
  public void evaluate(long[] state, long cost, long now, Outcome out) {
    int size = state == null ? 0 : (int) state[1];
    long t = now;
    if (size > 0) {
      t = Math.max(now, timeAt(state, size - 1));
    }
    long cutoff = t - window;
    int expired = 0;
    long expiredCost = 0;
    while (expired < size && timeAt(state, expired) <= cutoff) {
      expiredCost += costAt(state, expired);
      expired++;
    }
    long live = size == 0 ? 0 : state[2] - expiredCost;
    long after = live + cost;
    if (after <= limit) {
      out.allowed = true;
      out.retryAfter = 0;
      out.remaining = limit - after;
      if (cost > 0) {
        out.resetAt = t + window;
      } else {
        out.resetAt = size > expired ? timeAt(state, size - 1) + window : t;
      }
    } else {
      out.allowed = false;
      long freed = 0;
      long target = t;
      for (int i = expired; i < size; i++) {
        freed += costAt(state, i);
        if (live - freed + cost <= limit) {
          target = timeAt(state, i) + window;
          break;
        }
      }
      out.retryAfter = target - now;
      out.remaining = Math.max(0, limit - live);
      out.resetAt = timeAt(state, size - 1) + window;
    }
    out.available = out.remaining;
    out.s0 = expired;
    out.s1 = expiredCost;
    out.s2 = t;
  }

  @Override
  public long[] commit(long[] state, long cost, long now, Outcome out) {
    long[] s = state == null ? new long[HEADER + 2 * 4] : state;
    int expired = (int) out.s0;
    long t = out.s2;
    int cap = capacityOf(s);
    int size = (int) s[1];
    s[0] = (s[0] + expired) % cap;
    size -= expired;
    s[2] -= out.s1;
    if (size > 0) {
      int newest = HEADER + 2 * (int) ((s[0] + size - 1) % cap);
      if (s[newest] == t) {
        s[newest + 1] += cost;
        s[1] = size;
        s[2] += cost;
        return s;
      }
    }
    if (size == cap) {
      s = grow(s, size);
      cap = capacityOf(s);
    }
    int slot = HEADER + 2 * (int) ((s[0] + size) % cap);
    s[slot] = t;
    s[slot + 1] = cost;
    s[1] = size + 1;
    s[2] += cost;
    return s;
  }

  private static long[] grow(long[] s, int size) {
    int cap = capacityOf(s);
    long[] bigger = new long[HEADER + 2 * cap * 2];
    for (int i = 0; i < size; i++) {
      bigger[HEADER + 2 * i] = timeAt(s, i);
      bigger[HEADER + 2 * i + 1] = costAt(s, i);
    }
    bigger[0] = 0;
    bigger[1] = size;
    bigger[2] = s[2];
    return bigger;
  }

  @Override
  public long[] parameters() {
    return new long[] {limit, window, 0, 0, 0};
  }
}
