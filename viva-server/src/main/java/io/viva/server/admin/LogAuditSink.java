package io.viva.server.admin;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Audit events as structured log lines (fields {@code audit_*}) on the logger {@code io.viva.audit},
 * at INFO whatever {@code LOG_LEVEL} says: an audit trail that a quieter log level silences is not
 * one. (A logging configuration that sets this logger's level explicitly still wins.)
 */
enum LogAuditSink implements AuditSink {
  INSTANCE;

  private static final Logger AUDIT = LoggerFactory.getLogger("io.viva.audit");

  static {
    if (AUDIT instanceof ch.qos.logback.classic.Logger logback && logback.getLevel() == null) {
      logback.setLevel(ch.qos.logback.classic.Level.INFO);
    }
  }

  @Override
  public void record(Event e) {
    AUDIT.atInfo()
        .addKeyValue("audit_action", e.action())
        .addKeyValue("audit_principal", e.principal())
        .addKeyValue("audit_target", e.target())
        .addKeyValue("audit_at", e.at().toString())
        .addKeyValue("request_id", e.requestId())
        .addKeyValue("audit_source_ip", e.sourceIp())
        .addKeyValue("audit_details", e.details())
        .log("audit {} by {} on {}", e.action(), e.principal(), e.target());
  }
}
