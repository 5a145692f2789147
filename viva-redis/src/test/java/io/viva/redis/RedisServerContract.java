package io.viva.redis;

import io.viva.core.LimitStore;
import io.viva.core.LimitStoreContract;
import io.viva.core.ManualClock;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The store contract against a real redis-server of the test class's own, started for both
 * engines: JUnit Jupiter's tests through the extension, jqwik's property through its container
 * hooks. Every store gets a fresh key prefix, so no store sees another's state; a subclass says
 * how its stores differ from the defaults.
 */
abstract class RedisServerContract extends LimitStoreContract {

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

  /** The key prefix of this class's stores, before a number and a colon. */
  abstract String prefix();

  /** Sets what this class's stores do differently; {@code builder} already has the connection, prefix and clock. */
  RedisLimitStore.Builder configure(RedisLimitStore.Builder builder) {
    return builder;
  }

  @Override
  protected final LimitStore newStore(ManualClock clock) {
    return configure(RedisLimitStore.builder(REDIS.connection())
        .keyPrefix(prefix() + STORES.incrementAndGet() + ":")
        .clock(clock).timeSource(TimeSource.LOCAL))
        .build();
  }
}
