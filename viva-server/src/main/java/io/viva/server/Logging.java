package io.viva.server;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import java.util.Locale;
import org.slf4j.ILoggerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Log levels at run time. Logs are JSON lines on stdout ({@link LogConfigurator}: {@link
 * JsonLogEncoder} behind an AsyncAppender that never blocks the event loop). The access log is the logger {@code
 * io.viva.server.access}, switched by {@code access_log} independently of the root level.
 */
final class Logging {

  private Logging() {}

  /** Sets the root level ({@code LOG_LEVEL}) and turns the access log on or off. */
  static void configure(String rootLevel, boolean accessLog) {
    ILoggerFactory factory = LoggerFactory.getILoggerFactory();
    if (factory instanceof LoggerContext context) {
      context.getLogger(Logger.ROOT_LOGGER_NAME).setLevel(Level.toLevel(rootLevel.toUpperCase(Locale.ROOT), Level.INFO));
      context.getLogger("io.viva.server.access").setLevel(accessLog ? Level.INFO : Level.OFF);
    }
  }

  /** Flushes and stops logging; the last call before the JVM exits. */
  static void shutdown() {
    if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
      context.stop();
    }
  }
}
