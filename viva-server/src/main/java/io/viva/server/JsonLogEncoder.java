package io.viva.server;

import ch.qos.logback.classic.pattern.ThrowableProxyConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.encoder.EncoderBase;
import java.lang.reflect.Array;
import java.nio.charset.StandardCharsets;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import org.slf4j.Marker;
import org.slf4j.event.KeyValuePair;

/**
 * Viva's log lines: one JSON object per event, the fields and order of logstash-logback-encoder's
 * {@code LogstashEncoder} (without {@code @version} and {@code level_value}):
 *
 * <pre>{@code
 * {"@timestamp":"2026-01-15T10:00:00.123Z","message":"request","logger_name":"io.viva.server.access",
 *  "thread_name":"vert.x-eventloop-thread-0","level":"INFO","request_id":"4beb...","status":200}
 * }</pre>
 *
 * <p>then {@code stack_trace} (Logback's {@code %ex} rendering) when the event has a throwable, the
 * MDC entries, the event's key-value pairs ({@code logger.atInfo().addKeyValue("status", 200)}) as
 * top-level fields, and {@code tags} (the names of its markers). A key-value pair's value is
 * written as a JSON number, boolean or null when it is one, as an object for a {@link Map}, an
 * array for an {@link Iterable} or array, else as a string ({@code toString()}).
 *
 * <p>Written by hand rather than with logstash-logback-encoder, which builds a Jackson {@code
 * ObjectMapper} at start: ~450 classes, several megabytes of an idle server's memory
 * (docs/decisions/0005-idle-memory.md). Usable in a {@code logback.xml}: {@code <encoder
 * class="io.viva.server.JsonLogEncoder"/>}.
 */
public final class JsonLogEncoder extends EncoderBase<ILoggingEvent> {

  private static final char[] HEX = "0123456789ABCDEF".toCharArray();
  private static final byte[] NO_BYTES = new byte[0];

  private final DateTimeFormatter timestamps = DateTimeFormatter.ISO_OFFSET_DATE_TIME.withZone(ZoneId.systemDefault());
  /** Created on the first event with a throwable: the pattern machinery is not needed before. */
  private ThrowableProxyConverter throwables;

  /** Called by Logback (and by {@link LogConfigurator}). */
  public JsonLogEncoder() {}

  @Override
  public byte[] headerBytes() {
    return NO_BYTES;
  }

  @Override
  public byte[] footerBytes() {
    return NO_BYTES;
  }

  @Override
  public byte[] encode(ILoggingEvent event) {
    StringBuilder sb = new StringBuilder(256);
    sb.append("{\"@timestamp\":\"");
    timestamps.formatTo(event.getInstant(), sb);
    sb.append('"');
    field(sb, "message", event.getFormattedMessage());
    field(sb, "logger_name", event.getLoggerName());
    field(sb, "thread_name", event.getThreadName());
    field(sb, "level", event.getLevel().toString());
    if (event.getThrowableProxy() != null) {
      field(sb, "stack_trace", throwables().convert(event));
    }
    Map<String, String> mdc = event.getMDCPropertyMap();
    if (mdc != null) {
      for (Map.Entry<String, String> e : mdc.entrySet()) {
        field(sb, e.getKey(), e.getValue());
      }
    }
    List<KeyValuePair> pairs = event.getKeyValuePairs();
    if (pairs != null) {
      for (KeyValuePair p : pairs) {
        sb.append(',');
        string(sb, p.key).append(':');
        value(sb, p.value);
      }
    }
    List<Marker> markers = event.getMarkerList();
    if (markers != null && !markers.isEmpty()) {
      sb.append(",\"tags\":[");
      for (int i = 0; i < markers.size(); i++) {
        if (i > 0) {
          sb.append(',');
        }
        string(sb, markers.get(i).getName());
      }
      sb.append(']');
    }
    sb.append('}').append(System.lineSeparator());
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  private ThrowableProxyConverter throwables() {
    if (throwables == null) {
      ThrowableProxyConverter c = new ThrowableProxyConverter();
      c.setContext(getContext());
      c.start();
      throwables = c;
    }
    return throwables;
  }

  private static void field(StringBuilder sb, String name, String value) {
    sb.append(',');
    string(sb, name).append(':');
    if (value == null) {
      sb.append("null");
    } else {
      string(sb, value);
    }
  }

  private static void value(StringBuilder sb, Object v) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long || v instanceof Short
        || v instanceof Byte || v instanceof java.math.BigInteger || v instanceof java.math.BigDecimal) {
      sb.append(v);
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      // Jackson's default: finite numbers as numbers, NaN and the infinities quoted.
      if (Double.isFinite(d)) {
        sb.append(v);
      } else {
        sb.append('"').append(v).append('"');
      }
    } else if (v instanceof Map<?, ?> map) {
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : map.entrySet()) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        string(sb, String.valueOf(e.getKey())).append(':');
        value(sb, e.getValue());
      }
      sb.append('}');
    } else if (v instanceof Iterable<?> items) {
      sb.append('[');
      boolean first = true;
      for (Object item : items) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        value(sb, item);
      }
      sb.append(']');
    } else if (v.getClass().isArray()) {
      sb.append('[');
      for (int i = 0, n = Array.getLength(v); i < n; i++) {
        if (i > 0) {
          sb.append(',');
        }
        value(sb, Array.get(v, i));
      }
      sb.append(']');
    } else {
      string(sb, v.toString());
    }
  }

  /**
   * Appends {@code s} as a JSON string with Jackson's escapes: {@code \" \\}, the short forms of
   * {@code \b \t \n \f \r}, a six-character unicode escape (upper-case hex) for the other
   * control characters and for every surrogate (so an emoji is two escapes, and a lone surrogate,
   * which has no UTF-8 form, still makes valid JSON); everything else as is (UTF-8).
   */
  static StringBuilder string(StringBuilder sb, String s) {
    sb.append('"');
    int n = s.length();
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (c >= 0x20 && c != '"' && c != '\\' && !Character.isSurrogate(c)) {
        sb.append(c);
        continue;
      }
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\b' -> sb.append("\\b");
        case '\t' -> sb.append("\\t");
        case '\n' -> sb.append("\\n");
        case '\f' -> sb.append("\\f");
        case '\r' -> sb.append("\\r");
        default -> sb.append("\\u").append(HEX[(c >> 12) & 0xF]).append(HEX[(c >> 8) & 0xF])
            .append(HEX[(c >> 4) & 0xF]).append(HEX[c & 0xF]);
      }
    }
    return sb.append('"');
  }
}
