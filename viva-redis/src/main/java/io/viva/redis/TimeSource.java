package io.viva.redis;

/** Whose clock a {@link RedisLimitStore} decides by. */
public enum TimeSource {

  /**
   * Redis {@code TIME}, read by the script of every decision (the default): every client of one
   * Redis decides by one clock, so processes with skewed clocks still agree. On a Cluster each
   * master's clock decides for its own slots.
   */
  REDIS,

  /**
   * The store's {@link io.viva.core.Clock}, sent with every decision: decisions are exactly the
   * engine's for the same timeline (what the differential tests use), but every client of one
   * Redis must keep its clock synchronized (NTP).
   */
  LOCAL
}
