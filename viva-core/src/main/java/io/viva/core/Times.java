package io.viva.core;

import java.time.Duration;
import java.time.Instant;

/** Conversions between java.time and Viva's integer microseconds. */
final class Times {

  private Times() {}

  static long toMicros(Duration duration, String name) {
    if (duration == null) {
      throw new NullPointerException(name);
    }
    try {
      long seconds = duration.getSeconds();
      int nanos = duration.getNano();
      if (nanos % 1_000 != 0) {
        throw new IllegalArgumentException(
            name + ": " + duration + " (expected: a whole number of microseconds)");
      }
      return Math.addExact(Math.multiplyExact(seconds, 1_000_000L), nanos / 1_000);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(name + ": " + duration + " (expected: a duration that fits in 2^63 microseconds)", e);
    }
  }

  static long toMicros(Instant instant, String name) {
    if (instant == null) {
      throw new NullPointerException(name);
    }
    if (instant.getEpochSecond() < 0) {
      throw new IllegalArgumentException(name + ": " + instant + " (expected: not before 1970-01-01T00:00:00Z)");
    }
    return Math.addExact(Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1_000);
  }

  static Instant toInstant(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }

  static Duration toDuration(long micros) {
    return Duration.ofSeconds(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }
}
