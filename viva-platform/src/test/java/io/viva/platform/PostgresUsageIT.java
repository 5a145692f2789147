package io.viva.platform;

import java.nio.file.Path;

/** Usage on the real PostgreSQL ({@code DATABASE_URL}, else localhost:5432), in a throwaway database. */
class PostgresUsageIT extends UsageContract {

  private TestDatabase database;

  @Override
  PlatformDatabase open() {
    database = TestDatabase.create();
    return PlatformDatabase.open(database.url(), Path.of("unused"));
  }

  @Override
  void dispose() {
    database.drop();
  }
}
