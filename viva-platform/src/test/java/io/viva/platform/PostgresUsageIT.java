package io.viva.platform;

/** Usage on the real PostgreSQL ({@code DATABASE_URL}, else localhost:5432), in a throwaway database. */
class PostgresUsageIT extends UsageContract {

  PostgresUsageIT() {
    super(ThrowawayDatabase.postgres());
  }
}
