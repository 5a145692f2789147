package io.viva.platform;

/** The contract on the real PostgreSQL ({@code DATABASE_URL}, else localhost:5432), in a throwaway database. */
class PostgresPlatformStoreIT extends PlatformStoreContract {

  PostgresPlatformStoreIT() {
    super(ThrowawayDatabase.postgres());
  }
}
