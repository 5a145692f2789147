package io.viva.server;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;

/**
 * Small, allocation-light JSON writing for the responses on the hot path (the request bodies are
 * read with Jackson's streaming parser from {@link #FACTORY}).
 */
public final class Json {

  /** The parser factory for request bodies: strict JSON, nesting capped well below Jackson's default. */
  static final JsonFactory FACTORY = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).maxNumberLength(64).build())
      .build();

  private static final char[] HEX = "0123456789abcdef".toCharArray();

  private Json() {}

  /** Appends {@code s} as a JSON string literal, quotes included. */
  static StringBuilder string(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20 || c == 0x2028 || c == 0x2029 || (Character.isSurrogate(c) && !validSurrogate(s, i))) {
            sb.append("\\u").append(HEX[(c >> 12) & 0xF]).append(HEX[(c >> 8) & 0xF])
                .append(HEX[(c >> 4) & 0xF]).append(HEX[c & 0xF]);
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append('"');
  }

  private static boolean validSurrogate(String s, int i) {
    char c = s.charAt(i);
    if (Character.isHighSurrogate(c)) {
      return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
    }
    return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
  }

  /** The error body {@code {"error":..,"message":..,"request_id":..}}. */
  public static String error(String code, String message, String requestId) {
    StringBuilder sb = new StringBuilder(64 + message.length());
    sb.append("{\"error\":");
    string(sb, code).append(",\"message\":");
    string(sb, message).append(",\"request_id\":");
    return string(sb, requestId == null ? "" : requestId).append('}').toString();
  }

  /**
   * Appends {@code micros / 1e6} seconds rounded up to the millisecond, with at least {@code
   * minDecimals} (0 or 1) and at most 3 decimals: {@code 0}, {@code 0.25}, {@code 12}; or with
   * {@code minDecimals = 1}, {@code 0.0}, {@code 0.25}, {@code 12.0}.
   */
  static StringBuilder seconds(StringBuilder sb, long micros, int minDecimals) {
    long millis = micros <= 0 ? 0 : (micros + 999) / 1000;
    return thousandths(sb, millis, minDecimals);
  }

  /** Appends {@code value} rounded down to 3 decimals, with at least one decimal: {@code 7.4}, {@code 0.0}. */
  static StringBuilder decimal(StringBuilder sb, double value) {
    if (!(value > 0)) {
      return sb.append("0.0");
    }
    if (value >= 9.0e15) {
      return sb.append((long) value).append(".0");
    }
    return thousandths(sb, (long) Math.floor(value * 1000.0), 1);
  }

  private static StringBuilder thousandths(StringBuilder sb, long thousandths, int minDecimals) {
    sb.append(thousandths / 1000);
    int frac = (int) (thousandths % 1000);
    if (frac == 0) {
      return minDecimals > 0 ? sb.append(".0") : sb;
    }
    sb.append('.');
    sb.append((char) ('0' + frac / 100));
    if (frac % 100 != 0) {
      sb.append((char) ('0' + frac / 10 % 10));
      if (frac % 10 != 0) {
        sb.append((char) ('0' + frac % 10));
      }
    }
    return sb;
  }

  /**
   * Appends the UTC instant {@code epochSecond} as {@code "2026-01-15T11:00:00Z"} (quoted), the
   * same text as {@code Instant.ofEpochSecond(epochSecond).toString()} for years 1970 to 9999.
   */
  static StringBuilder isoSeconds(StringBuilder sb, long epochSecond) {
    long days = Math.floorDiv(epochSecond, 86_400L);
    int secOfDay = (int) Math.floorMod(epochSecond, 86_400L);
    // Howard Hinnant's civil_from_days.
    long z = days + 719_468;
    long era = Math.floorDiv(z, 146_097);
    long doe = z - era * 146_097;
    long yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    long y = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) {
      y++;
    }
    sb.append('"');
    pad(sb, y, 4).append('-');
    pad(sb, m, 2).append('-');
    pad(sb, d, 2).append('T');
    pad(sb, secOfDay / 3600, 2).append(':');
    pad(sb, secOfDay / 60 % 60, 2).append(':');
    pad(sb, secOfDay % 60, 2);
    return sb.append("Z\"");
  }

  private static StringBuilder pad(StringBuilder sb, long v, int width) {
    long limit = 1;
    for (int i = 1; i < width; i++) {
      limit *= 10;
    }
    while (limit > 1 && v < limit) {
      sb.append('0');
      limit /= 10;
    }
    return sb.append(v);
  }
}
