package io.viva.platform;

/** Usage on embedded H2 (PostgreSQL mode), in a fresh file under a temporary data directory. */
class H2UsageTest extends UsageContract {

  H2UsageTest() {
    super(ThrowawayDatabase.h2());
  }
}
