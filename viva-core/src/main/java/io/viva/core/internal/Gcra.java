package io.viva.core.internal;

import io.viva.core.Algorithm;

/*
 * GCRA, the generic cell rate algorithm (virtual scheduling form).
 *
 * Each key keeps one time, the theoretical arrival time (TAT) of the next request if traffic
 * flowed exactly at the rate. A request of cost c moves TAT to max(TAT, now) + c * T, where
 * T = window / limit is the emission interval, and is admitted if the new TAT is at most
 * burst * T ahead of now. Denied requests leave TAT alone. It makes the same decisions as a
 * token bucket of capacity `burst` refilled at `limit` per `window`, from a single timestamp.
 *
 * T is rarely a whole number of microseconds, so TAT is kept exactly as a microsecond part and a
 * remainder in 1/rate-ths of a microsecond (see RateScale): state [tatMicros, tatRemainder],
 * true TAT = tatMicros + tatRemainder / rate. All arithmetic is relative to now, so no absolute
 * time is ever multiplied by the rate. If the clock has gone backwards so far that TAT - now
 * exceeds the whole burst, the lag is clamped: the request is denied (never granted extra) and
 * its retry-after is a lower bound.
 *
 * References:
 *  [1] ITU-T Recommendation I.371, "Traffic control and congestion control in B-ISDN", Annex A.
 *  [2] ATM Forum, "Traffic Management Specification Version 4.0", af-tm-0056.000, 1996, §4.4.2.
 *  [3] B. Leach (brandur), "Rate Limiting, Cells, and GCRA", 2015 — GCRA in Redis.
 */
final class Gcra extends LimitAlgorithm {
  private final RateScale scale;
  private final long maxLag;

  Gcra(long limit, long windowMicros, long burst) {
    super(Algorithm.GCRA, burst);
    this.scale = new RateScale(limit, windowMicros, burst, "gcra");
    this.maxLag = scale.capacity / scale.rate + 2;
  }

  @Override
  public void evaluate(long[] state, long cost, long now, Outcome out) {
    final long unit = scale.unit;
    final long rate = scale.rate;
    final long tau = scale.capacity;
    long tatMicros;
    long tatRem;
    if (state == null || state[0] < now) {
      tatMicros = now;
      tatRem = 0;
    } else {
      tatMicros = state[0];
      tatRem = state[1];
    }
    long lag = Math.min(tatMicros - now, maxLag);
    long debt = lag * rate + tatRem;
    long after = debt + cost * unit;
    if (after <= tau) {
      out.allowed = true;
      out.retryAfter = 0;
      out.remaining = (tau - after) / unit;
      out.available = (double) (tau - after) / unit;
      out.resetAt = now + Math.ceilDiv(after, rate);
      out.s0 = now + after / rate;
      out.s1 = after % rate;
    } else {
      out.allowed = false;
      out.retryAfter = Math.ceilDiv(after - tau, rate);
      long left = Math.max(0, tau - debt);
      out.remaining = left / unit;
      out.available = (double) left / unit;
      out.resetAt = now + Math.ceilDiv(debt, rate);
    }
  }

  @Override
  public long[] commit(long[] state, long cost, long now, Outcome out) {
    return commitFixed(state, 2, out);
  }

  @Override
  public long[] parameters() {
    return new long[] {scale.unit, scale.rate, scale.capacity, maxLag, 0};
  }
}
