package io.viva.core;

/**
 * A source of wall-clock time in integer microseconds since the Unix epoch.
 *
 * <p>Every algorithm in Viva takes "now" from a {@code Clock} rather than reading the system
 * time itself, so tests drive time with a {@link ManualClock} and a distributed store can
 * substitute a shared clock (for example the Redis server's {@code TIME}).
 */
@FunctionalInterface
public interface Clock {

  /** Returns the current time in microseconds since 1970-01-01T00:00:00Z. */
  long micros();

  /**
   * Returns the system clock: wall time anchored once at class load, then advanced by the
   * monotonic {@link System#nanoTime()}, so that an NTP step never moves it backwards.
   */
  static Clock system() {
    return SystemClock.INSTANCE;
  }
}
