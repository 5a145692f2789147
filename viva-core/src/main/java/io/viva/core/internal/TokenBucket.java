package io.viva.core.internal;

import io.viva.core.Algorithm;

/*
 * Token bucket.
 *
 * A bucket holds at most `burst` tokens and gains `limit` tokens per `window`, continuously. A
 * request of cost c takes c tokens if there are at least c; otherwise it is denied and takes
 * nothing. Over any interval of length t at most burst + limit * t / window are admitted.
 *
 * State: [tokens, last] where tokens is in scaled units (see RateScale) and last is the time of
 * the last admitted request. A new key starts full. Refill is computed lazily at each request;
 * the comparison `elapsed >= ceil(deficit / rate)` caps the refill without ever multiplying a
 * long elapsed time by the rate, so no value exceeds capacity + rate.
 *
 * A clock that goes backwards is treated as standing still (now' = max(now, last)).
 *
 * References:
 *  [1] J. Turner, "New directions in communications (or which way to the information age?)",
 *      IEEE Communications Magazine 24(10), 1986 — the token/leaky bucket as a traffic policer.
 *  [2] RFC 2697 and RFC 2698, the single and two rate three color markers.
 */
final class TokenBucket extends LimitAlgorithm {
  private final RateScale scale;

  TokenBucket(long limit, long windowMicros, long burst) {
    super(Algorithm.TOKEN_BUCKET, burst);
    this.scale = new RateScale(limit, windowMicros, burst, "token_bucket");
  }

  @Override
  public void evaluate(long[] state, long cost, long now, Outcome out) {
    final long unit = scale.unit;
    final long rate = scale.rate;
    final long cap = scale.capacity;
    long tokens;
    long last;
    if (state == null) {
      tokens = cap;
      last = now;
    } else {
      tokens = state[0];
      last = state[1];
    }
    long t = Math.max(now, last);
    long deficit = cap - tokens;
    if (deficit > 0) {
      long elapsed = t - last;
      if (elapsed >= Math.ceilDiv(deficit, rate)) {
        tokens = cap;
      } else {
        tokens += elapsed * rate;
      }
    }
    long need = cost * unit;
    if (need <= tokens) {
      tokens -= need;
      out.allowed = true;
      out.retryAfter = 0;
    } else {
      out.allowed = false;
      out.retryAfter = t + Math.ceilDiv(need - tokens, rate) - now;
    }
    out.remaining = tokens / unit;
    out.available = (double) tokens / unit;
    out.resetAt = t + Math.ceilDiv(cap - tokens, rate);
    out.s0 = tokens;
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
