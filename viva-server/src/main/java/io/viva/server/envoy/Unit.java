package io.viva.server.envoy;

import java.time.Duration;
import java.util.Locale;

/**
 * The time units of envoyproxy/ratelimit's {@code rate_limit.unit}, with the same numbers as the
 * RLS v3 {@code RateLimitResponse.RateLimit.Unit} enum. A month is 30 days and a year 365 days, as
 * upstream counts them; windows are aligned to the Unix epoch.
 */
public enum Unit {
  SECOND(1, 1),
  MINUTE(2, 60),
  HOUR(3, 3_600),
  DAY(4, 86_400),
  WEEK(7, 7 * 86_400),
  MONTH(5, 30 * 86_400),
  YEAR(6, 365 * 86_400);

  private final int protoNumber;
  private final long seconds;

  Unit(int protoNumber, long seconds) {
    this.protoNumber = protoNumber;
    this.seconds = seconds;
  }

  /** The RLS v3 enum number. */
  public int protoNumber() {
    return protoNumber;
  }

  /** The unit's length. */
  public Duration duration() {
    return Duration.ofSeconds(seconds);
  }

  /** The unit of RLS v3 enum number {@code n}, or null for UNKNOWN and numbers it does not know. */
  public static Unit ofProtoNumber(int n) {
    for (Unit u : values()) {
      if (u.protoNumber == n) {
        return u;
      }
    }
    return null;
  }

  /** The unit named {@code name}, any case, or null. */
  public static Unit parse(String name) {
    try {
      return valueOf(name.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /** The unit whose length is exactly {@code window}, or null. */
  public static Unit ofDuration(Duration window) {
    for (Unit u : values()) {
      if (u.duration().equals(window)) {
        return u;
      }
    }
    return null;
  }
}
