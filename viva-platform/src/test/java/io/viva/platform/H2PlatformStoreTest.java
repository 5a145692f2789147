package io.viva.platform;

/** The contract on embedded H2 (PostgreSQL mode), in a fresh file under a temporary data directory. */
class H2PlatformStoreTest extends PlatformStoreContract {

  H2PlatformStoreTest() {
    super(ThrowawayDatabase.h2());
  }
}
