package io.viva.redis;

/**
 * What a {@link RedisLimitStore} answers when Redis fails (an error, or no reply within the
 * store's decision timeout) or while its circuit breaker is open.
 */
public enum FailureMode {

  /**
   * Admit the request, as if it were unlimited: the decision is allowed, with every limit's
   * {@code remaining} equal to its capacity ({@link io.viva.core.Limit#burst()}), reset at now and
   * no retry-after. Nothing is charged anywhere.
   */
  FAIL_OPEN,

  /**
   * Deny the request: the decision is denied, with {@code remaining} 0 and a retry-after of one
   * second (reset one second from now) for every limit.
   */
  FAIL_CLOSED,

  /**
   * Decide in this process instead: an {@link io.viva.core.InMemoryLimitStore} on the store's
   * clock, which counts only this process's requests during the outage (and forgets them when
   * Redis is back).
   */
  LOCAL
}
