package io.viva.core.internal;

import io.viva.core.Algorithm;

/*
 * Leaky bucket, as a meter.
 *
 * A bucket of capacity `burst` drains `limit` units per `window`, continuously. A request of
 * cost c pours c units in if they fit; otherwise it is denied and pours nothing. This is the
 * "leaky bucket as a meter" of [1] (as opposed to the leaky bucket as a queue, which delays
 * requests instead of rejecting them); [2] shows it is equivalent to GCRA, and with level =
 * burst - tokens it makes exactly the decisions of TokenBucket, which the tests check.
 *
 * State: [level, last], level in scaled units (see RateScale). A new key starts empty. A clock
 * that goes backwards is treated as standing still.
 *
 * References:
 *  [1] J. Turner, "New directions in communications", IEEE Communications Magazine 24(10), 1986.
 *  [2] ATM Forum, "Traffic Management Specification Version 4.0", af-tm-0056.000, 1996, §4.4.2
 *      (the virtual scheduling and continuous-state leaky bucket algorithms).
 */
final class LeakyBucket extends LimitAlgorithm {
  private final RateScale scale;

  LeakyBucket(long limit, long windowMicros, long burst) {
    super(Algorithm.LEAKY_BUCKET, burst);
    this.scale = new RateScale(limit, windowMicros, burst, "leaky_bucket");
  }

  @Override
  public void evaluate(long[] state, long cost, long now, Outcome out) {
    final long unit = scale.unit;
    final long rate = scale.rate;
    final long cap = scale.capacity;
    long level;
    long last;
    if (state == null) {
      level = 0;
      last = now;
    } else {
      level = state[0];
      last = state[1];
    }
    long t = Math.max(now, last);
    if (level > 0) {
      long elapsed = t - last;
      if (elapsed >= Math.ceilDiv(level, rate)) {
        level = 0;
      } else {
        level -= elapsed * rate;
      }
    }
    long after = level + cost * unit;
    if (after <= cap) {
      level = after;
      out.allowed = true;
      out.retryAfter = 0;
    } else {
      out.allowed = false;
      out.retryAfter = t + Math.ceilDiv(after - cap, rate) - now;
    }
    out.remaining = (cap - level) / unit;
    out.available = (double) (cap - level) / unit;
    out.resetAt = t + Math.ceilDiv(level, rate);
    out.s0 = level;
    out.s1 = t;
  }

  @Override
  public long[] commit(long[] state, long cost, long now, Outcome out) {
    return commitFixed(state, 2, out);
  }

  @Override
  public long[] parameters() {
    return new long[] {scale.unit, scale.rate, scale.capacity, 0, 0};
  }
}
