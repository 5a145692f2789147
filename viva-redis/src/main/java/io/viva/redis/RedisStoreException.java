package io.viva.redis;

/** A Redis call of {@link RedisLimitStore} failed, or Redis replied with something unexpected. */
public final class RedisStoreException extends RuntimeException {

  /** With a message and the underlying cause. */
  public RedisStoreException(String message, Throwable cause) {
    super(message, cause);
  }

  /** With a message. */
  public RedisStoreException(String message) {
    super(message);
  }
}
