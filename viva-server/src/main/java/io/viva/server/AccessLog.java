package io.viva.server;

import net.logstash.logback.marker.LogstashMarker;
import net.logstash.logback.marker.Markers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The access log: one JSON line per request on the logger {@code io.viva.server.access} (switched
 * by {@code access_log}), written by the API routes and by the gateway alike.
 */
public final class AccessLog {

  private static final Logger ACCESS = LoggerFactory.getLogger("io.viva.server.access");

  private AccessLog() {}

  /** Whether access log lines are written at all (check before building {@code extra}). */
  public static boolean enabled() {
    return ACCESS.isInfoEnabled();
  }

  /**
   * Writes one line: {@code request_id, method, path} (cut at 256 characters), {@code route,
   * status, latency_us}, then the {@code extra} fields if not null.
   */
  public static void write(String requestId, String method, String path, String route, int status, long latencyMicros,
      LogstashMarker extra) {
    String shown = path == null ? "" : path.length() > 256 ? path.substring(0, 256) + "..." : path;
    LogstashMarker fields = Markers.append("request_id", requestId)
        .and(Markers.append("method", method))
        .and(Markers.append("path", shown))
        .and(Markers.append("route", route))
        .and(Markers.append("status", status))
        .and(Markers.append("latency_us", latencyMicros));
    if (extra != null) {
      fields = fields.and(extra);
    }
    ACCESS.info(fields, "request");
  }
}
