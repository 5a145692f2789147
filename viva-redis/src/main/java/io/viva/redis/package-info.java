/**
 * A Redis {@link io.viva.core.LimitStore}: {@link io.viva.redis.RedisLimitStore}, deciding in one
 * Lua script per request, exactly as the in-memory engine does.
 */
package io.viva.redis;
