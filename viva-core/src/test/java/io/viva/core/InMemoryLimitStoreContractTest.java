package io.viva.core;

/** The store contract, for the in-memory store. */
class InMemoryLimitStoreContractTest extends LimitStoreContract {

  @Override
  protected LimitStore newStore(ManualClock clock) {
    return InMemoryLimitStore.builder().clock(clock).build();
  }
}
