package io.viva.redis;

/**
 * The store contract against a real redis-server, including the differential property: the Lua
 * script decides exactly as the engine for random policies (all six algorithms, up to three
 * limits) and timelines.
 */
class RedisLimitStoreIT extends RedisServerContract {

  @Override
  String prefix() {
    return "it";
  }
}
