package io.viva.redis;

import io.viva.core.LimitStore;
import io.viva.core.LimitStoreContract;
import io.viva.core.ManualClock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A healthy Redis with a failure mode set decides exactly as without one: the contract again,
 * on {@link FailureMode#FAIL_CLOSED} (any fallback would show as a mismatch) with a generous
 * timeout, so that a slow machine does not make it flaky.
 */
class RedisFailureModeContractIT extends LimitStoreContract {

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
        .keyPrefix("fmc" + STORES.incrementAndGet() + ":")
        .clock(clock).timeSource(TimeSource.LOCAL)
        .failureMode(FailureMode.FAIL_CLOSED)
        .decisionTimeout(Duration.ofSeconds(10))
        .build();
  }
}
