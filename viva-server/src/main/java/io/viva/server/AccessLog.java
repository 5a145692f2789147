package io.viva.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * The access log: one JSON line per request on the logger {@code io.viva.server.access} (switched
 * by {@code access_log}), written by the API routes and by the gateway alike.
 */
public final class AccessLog {

  private static final Logger ACCESS = LoggerFactory.getLogger("io.viva.server.access");
  /** The message of every access log line. */
  public static final String MESSAGE = "request";

  private AccessLog() {}

  /** Whether access log lines are written at all (check before building {@code extra}). */
  public static boolean enabled() {
    return ACCESS.isInfoEnabled();
  }

  /**
   * Writes one line: {@code request_id, method, path} (cut at 256 characters), {@code route,
   * status, latency_us}.
   */
  public static void write(String requestId, String method, String path, String route, int status,
      long latencyMicros) {
    start(requestId, method, path, route, status, latencyMicros).log(MESSAGE);
  }

  /**
   * A line with the fields of {@link #write}, for callers that add their own after them ({@code
   * addKeyValue}) and then {@code log(AccessLog.MESSAGE)} it.
   */
  public static LoggingEventBuilder start(String requestId, String method, String path, String route, int status,
      long latencyMicros) {
    String shown = path == null ? "" : path.length() > 256 ? path.substring(0, 256) + "..." : path;
    return ACCESS.atInfo()
        .addKeyValue("request_id", requestId)
        .addKeyValue("method", method)
        .addKeyValue("path", shown)
        .addKeyValue("route", route)
        .addKeyValue("status", status)
        .addKeyValue("latency_us", latencyMicros);
  }
}
