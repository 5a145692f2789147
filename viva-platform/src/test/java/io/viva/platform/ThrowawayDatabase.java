package io.viva.platform;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A fresh, empty, migrated database for one test on one of the databases full mode runs on, and
 * its removal afterwards. The contracts ({@link PlatformStoreContract}, {@link UsageContract}) take
 * one per test, so each database runs exactly the same tests.
 */
interface ThrowawayDatabase {

  /** Opens the database. */
  PlatformDatabase open();

  /** Removes what {@link #open()} created (after the test closed the database). */
  void dispose();

  /** Embedded H2 (PostgreSQL mode), in a fresh file under a temporary data directory. */
  static ThrowawayDatabase h2() {
    return new H2();
  }

  /** The real PostgreSQL ({@code DATABASE_URL}, else localhost:5432), in a database of its own. */
  static ThrowawayDatabase postgres() {
    return new Postgres();
  }

  /** See {@link #h2()}. */
  final class H2 implements ThrowawayDatabase {
    private Path dir;

    @Override
    public PlatformDatabase open() {
      try {
        dir = Files.createTempDirectory("viva-h2-");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return PlatformDatabase.open(null, dir);
    }

    @Override
    public void dispose() {
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** See {@link #postgres()}. */
  final class Postgres implements ThrowawayDatabase {
    private TestDatabase database;

    @Override
    public PlatformDatabase open() {
      database = TestDatabase.create();
      return PlatformDatabase.open(database.url(), Path.of("unused"));
    }

    @Override
    public void dispose() {
      database.drop();
    }
  }
}
