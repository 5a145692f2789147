package io.viva.server;

import io.vertx.core.MultiMap;
import io.vertx.core.http.HttpHeaders;
import io.viva.core.Decision;

/**
 * The rate limit response headers of a decision, written the same way by the check API and the
 * gateway: the IETF draft's {@code RateLimit-Policy} and {@code RateLimit}, the common {@code
 * X-RateLimit-Limit/-Remaining/-Reset}, and {@code Retry-After} (whole seconds, at least 1) when
 * the request was refused.
 */
public final class RateLimitHeaders {

  private static final CharSequence RATELIMIT_POLICY = HttpHeaders.createOptimized("RateLimit-Policy");
  private static final CharSequence RATELIMIT = HttpHeaders.createOptimized("RateLimit");
  private static final CharSequence X_LIMIT = HttpHeaders.createOptimized("X-RateLimit-Limit");
  private static final CharSequence X_REMAINING = HttpHeaders.createOptimized("X-RateLimit-Remaining");
  private static final CharSequence X_RESET = HttpHeaders.createOptimized("X-RateLimit-Reset");
  private static final CharSequence RETRY_AFTER = HttpHeaders.createOptimized("Retry-After");

  private RateLimitHeaders() {}

  /**
   * Adds the headers of {@code decision} to {@code headers}.
   *
   * @param policyHeader the policy's constant {@code RateLimit-Policy} value
   * @param allowed whether the request goes through (a shadow denial counts as allowed)
   */
  public static void write(MultiMap headers, String policyHeader, Decision decision, boolean allowed) {
    long reset = ceilSeconds(decision.resetAfterMicros());
    String remaining = Long.toString(decision.remaining());
    String resetText = Long.toString(reset);
    headers.add(RATELIMIT_POLICY, policyHeader);
    String name = decision.source().name();
    headers.add(RATELIMIT, "\"" + (name != null ? name : "default") + "\";r=" + remaining + ";t=" + resetText);
    headers.add(X_LIMIT, Long.toString(decision.limit()));
    headers.add(X_REMAINING, remaining);
    headers.add(X_RESET, resetText);
    if (!allowed) {
      headers.add(RETRY_AFTER, Long.toString(Math.max(1, ceilSeconds(decision.retryAfterMicros()))));
    }
  }

  private static long ceilSeconds(long micros) {
    return micros <= 0 ? 0 : (micros + 999_999) / 1_000_000;
  }
}
