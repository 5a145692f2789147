package io.viva.redis;

import java.time.Duration;

/**
 * A healthy Redis with a failure mode set decides exactly as without one: the contract again,
 * on {@link FailureMode#FAIL_CLOSED} (any fallback would show as a mismatch) with a generous
 * timeout, so that a slow machine does not make it flaky.
 */
class RedisFailureModeContractIT extends RedisServerContract {

  @Override
  String prefix() {
    return "fmc";
  }

  @Override
  RedisLimitStore.Builder configure(RedisLimitStore.Builder builder) {
    return builder.failureMode(FailureMode.FAIL_CLOSED).decisionTimeout(Duration.ofSeconds(10));
  }
}
