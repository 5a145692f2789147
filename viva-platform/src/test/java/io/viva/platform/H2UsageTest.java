package io.viva.platform;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Usage on embedded H2 (PostgreSQL mode), in a fresh file under a temporary data directory. */
class H2UsageTest extends UsageContract {

  private Path dir;

  @Override
  PlatformDatabase open() {
    try {
      dir = Files.createTempDirectory("viva-h2-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return PlatformDatabase.open(null, dir);
  }

  @Override
  void dispose() {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
