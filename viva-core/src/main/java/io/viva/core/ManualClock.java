package io.viva.core;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A clock that moves only when told to; for tests of code that uses a {@link RateLimiter}.
 *
 * <pre>{@code
 * ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
 * RateLimiter limiter = RateLimiter.builder(policy).clock(clock).build();
 * clock.advance(Duration.ofMillis(250));
 * }</pre>
 */
public final class ManualClock implements Clock {

  private final AtomicLong micros;

  private ManualClock(long micros) {
    this.micros = new AtomicLong(micros);
  }

  /** Returns a clock that reads {@code start} until it is advanced. */
  public static ManualClock at(Instant start) {
    return new ManualClock(Times.toMicros(start, "start"));
  }

  /** Returns a clock that reads {@code micros} (microseconds since the epoch) until it is advanced. */
  public static ManualClock atMicros(long micros) {
    if (micros < 0) {
      throw new IllegalArgumentException("micros: " + micros + " (expected: >= 0)");
    }
    return new ManualClock(micros);
  }

  @Override
  public long micros() {
    return micros.get();
  }

  /** Moves the clock by {@code amount}; a negative amount moves it backwards, as a skewed host would. */
  public ManualClock advance(Duration amount) {
    micros.addAndGet(Times.toMicros(amount, "amount"));
    return this;
  }

  /** Moves the clock by {@code deltaMicros} microseconds (may be negative). */
  public ManualClock advanceMicros(long deltaMicros) {
    micros.addAndGet(deltaMicros);
    return this;
  }

  /** Sets the clock to {@code micros} microseconds since the epoch. */
  public ManualClock setMicros(long micros) {
    this.micros.set(micros);
    return this;
  }

  @Override
  public String toString() {
    return "ManualClock[" + Times.toInstant(micros.get()) + "]";
  }
}
