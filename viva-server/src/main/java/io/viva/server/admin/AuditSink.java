package io.viva.server.admin;

import java.time.Instant;
import java.util.Map;

/**
 * Where admin actions that change state are recorded. Standalone mode writes one JSON log line
 * per action ({@link #log()}); full mode plugs in its audit table by implementing this interface.
 * Implementations must not throw and must never record secrets.
 */
public interface AuditSink {

  /**
   * One admin action: when, who ({@link AdminAuth.Granted#principal()}), what ({@code
   * policies.reset}, ...), on what, the request id, the caller's address (or null), and
   * action-specific details.
   */
  record Event(Instant at, String principal, String action, String target, String requestId, String sourceIp,
      Map<String, Object> details) {

    /** An event without the caller's address. */
    public Event(Instant at, String principal, String action, String target, String requestId,
        Map<String, Object> details) {
      this(at, principal, action, target, requestId, null, details);
    }
  }

  /** Records {@code event}. */
  void record(Event event);

  /** One JSON log line per event on the logger {@code io.viva.audit}. */
  static AuditSink log() {
    return LogAuditSink.INSTANCE;
  }
}
