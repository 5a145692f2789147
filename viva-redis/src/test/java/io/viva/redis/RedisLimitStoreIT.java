package io.viva.redis;

import io.viva.core.LimitStore;
import io.viva.core.LimitStoreContract;
import io.viva.core.ManualClock;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The store contract against a real redis-server, including the differential property: the Lua
 * script decides exactly as the engine for random policies (all six algorithms, up to three
 * limits) and timelines.
 */
class RedisLimitStoreIT extends LimitStoreContract {

  @RegisterExtension
  static final RedisServerProcess REDIS = new RedisServerProcess();

  private static final AtomicLong STORES = new AtomicLong();

  @BeforeContainer
  static void startForProperties() throws Exception {
    REDIS.start();
  }

  @AfterContainer
  static void stopForProperties() throws Exception {
    REDIS.stop();
  }

  @Override
  protected LimitStore newStore(ManualClock clock) {
    return RedisLimitStore.builder(REDIS.connection())
        .keyPrefix("it" + STORES.incrementAndGet() + ":")
        .clock(clock).timeSource(TimeSource.LOCAL)
        .build();
  }
}
