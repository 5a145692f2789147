package io.viva.redis;

import io.viva.core.LimitStore;
import io.viva.core.LimitStoreContract;
import io.viva.core.ManualClock;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The store contract, differential property included, against a real three-master Redis Cluster.
 * Cluster-specific checks are in {@link RedisClusterFeaturesIT}.
 */
class RedisClusterLimitStoreIT extends LimitStoreContract {

  @RegisterExtension
  static final RedisClusterProcess CLUSTER = new RedisClusterProcess();

  private static final AtomicLong STORES = new AtomicLong();

  @BeforeContainer
  static void startForProperties() throws Exception {
    CLUSTER.start();
  }

  @AfterContainer
  static void stopForProperties() throws Exception {
    CLUSTER.stop();
  }

  @Override
  protected LimitStore newStore(ManualClock clock) {
    return RedisLimitStore.builder(CLUSTER.connection())
        .keyPrefix("cit" + STORES.incrementAndGet() + ":")
        .clock(clock).timeSource(TimeSource.LOCAL)
        .build();
  }
}
