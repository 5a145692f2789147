package io.viva.core;

import java.time.Instant;

/**
 * Wall time read once, then advanced by {@link System#nanoTime()}. The algorithms tolerate a
 * clock that goes backwards (they never grant extra), but a monotonic source keeps decisions
 * stable when the host's wall clock is stepped.
 */
enum SystemClock implements Clock {
  INSTANCE;

  private static final long BASE_NANOS = System.nanoTime();
  private static final long BASE_MICROS = toMicros(Instant.now());

  @Override
  public long micros() {
    return BASE_MICROS + (System.nanoTime() - BASE_NANOS) / 1_000L;
  }

  private static long toMicros(Instant instant) {
    return Math.addExact(Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1_000L);
  }
}
