package io.viva.platform;

import io.viva.core.Decision;
import io.viva.core.Policy;

/**
 * The answer to "may the holder of this key make this request now?".
 *
 * @param code the outcome
 * @param key the key, when one was found (null for {@link Code#NOT_FOUND} and anonymous checks)
 * @param tier the tier applied, when the check got that far
 * @param policy the rate limit policy applied, when the check got to the rate limit step
 * @param decision the rate limiter's decision, for {@link Code#VALID} and {@link Code#RATE_LIMITED}
 */
public record Verification(Code code, ApiKey key, String tier, Policy policy, Decision decision) {

  /** The outcomes, in the order the checks run: the first failing step decides. */
  public enum Code {
    /** Found, enabled, not expired, within quota and rate limit: go ahead. */
    VALID,
    /** Malformed, unknown, or a rotated-out secret past its grace period. */
    NOT_FOUND,
    /** Disabled or revoked. */
    DISABLED,
    /** Past its expiry time. */
    EXPIRED,
    /** Monthly quota used up. */
    USAGE_EXCEEDED,
    /** Over a rate limit of its tier (or of its own overrides). */
    RATE_LIMITED
  }

  static Verification of(Code code) {
    return new Verification(code, null, null, null, null);
  }

  /** Whether the request may proceed. */
  public boolean valid() {
    return code == Code.VALID;
  }
}
