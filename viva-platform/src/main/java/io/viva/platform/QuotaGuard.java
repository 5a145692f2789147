package io.viva.platform;

/**
 * The monthly quota step of verification, after the key is found valid and before its rate limit.
 * Counting usage is the usage pipeline's job (issue 7); until it is wired in, {@link #UNLIMITED}
 * answers "within quota". Called on the hot path: must answer from memory.
 */
@FunctionalInterface
public interface QuotaGuard {

  /** Everyone is within quota. */
  QuotaGuard UNLIMITED = (key, quota) -> true;

  /**
   * Whether {@code key} may make one more request this month.
   *
   * @param quota the monthly quota that applies (the key's override, else its tier's)
   */
  boolean withinQuota(ApiKey key, long quota);
}
