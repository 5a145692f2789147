package io.viva.server;

import java.time.Duration;

/**
 * Parses and formats the durations of configuration files: a sequence of whole numbers each
 * followed by a unit, largest unit first, e.g. {@code 500ms}, {@code 1s}, {@code 5m}, {@code 1h},
 * {@code 1d}, {@code 1h30m}, {@code 2m500ms}. Units: {@code d}, {@code h}, {@code m}, {@code s},
 * {@code ms}, {@code us}.
 */
public final class DurationParser {

  private static final String EXPECTED = "expected: a duration like 500ms, 1s, 5m, 1h30m or 1d";
  private static final String[] UNITS = {"d", "h", "m", "s", "ms", "us"};
  private static final long[] UNIT_MICROS = {86_400_000_000L, 3_600_000_000L, 60_000_000L, 1_000_000L, 1_000L, 1L};

  private DurationParser() {}

  /**
   * Parses {@code text}.
   *
   * @param what names the value in the error message, e.g. {@code policies[0].window}
   * @throws IllegalArgumentException naming {@code what}, the value and the expected form
   */
  public static Duration parse(String text, String what) {
    if (text == null) {
      throw new IllegalArgumentException(what + ": null (" + EXPECTED + ")");
    }
    String s = text.trim();
    if (s.isEmpty()) {
      throw new IllegalArgumentException(what + ": \"" + text + "\" (" + EXPECTED + ")");
    }
    long total = 0;
    int lastUnit = -1;
    int i = 0;
    try {
      while (i < s.length()) {
        int start = i;
        while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
          i++;
        }
        if (i == start || i - start > 12) {
          throw bad(text, what);
        }
        long number = Long.parseLong(s, start, i, 10);
        int unitStart = i;
        while (i < s.length() && Character.isLetter(s.charAt(i))) {
          i++;
        }
        String unit = s.substring(unitStart, i);
        int u = unitIndex(unit);
        if (u < 0 || u <= lastUnit) {
          throw bad(text, what);
        }
        lastUnit = u;
        total = Math.addExact(total, Math.multiplyExact(number, UNIT_MICROS[u]));
      }
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(what + ": \"" + text + "\" (expected: a shorter duration)", e);
    }
    if (total <= 0) {
      throw new IllegalArgumentException(what + ": \"" + text + "\" (expected: a duration > 0)");
    }
    return Duration.ofSeconds(total / 1_000_000L, (total % 1_000_000L) * 1_000L);
  }

  /** Formats {@code duration} in the form {@link #parse} reads, e.g. {@code 1h30m}; sub-microsecond parts are dropped. */
  public static String format(Duration duration) {
    long micros = duration.getSeconds() * 1_000_000L + duration.getNano() / 1_000L;
    if (micros <= 0) {
      return "0s";
    }
    StringBuilder sb = new StringBuilder();
    for (int u = 0; u < UNITS.length; u++) {
      long n = micros / UNIT_MICROS[u];
      if (n > 0) {
        sb.append(n).append(UNITS[u]);
        micros -= n * UNIT_MICROS[u];
      }
    }
    return sb.toString();
  }

  private static int unitIndex(String unit) {
    for (int u = 0; u < UNITS.length; u++) {
      if (UNITS[u].equals(unit)) {
        return u;
      }
    }
    return -1;
  }

  private static IllegalArgumentException bad(String text, String what) {
    return new IllegalArgumentException(what + ": \"" + text + "\" (" + EXPECTED + ")");
  }
}
