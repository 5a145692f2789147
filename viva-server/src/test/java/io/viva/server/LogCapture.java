package io.viva.server;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * What one logger logs while this is open, as events and as the JSON lines the production
 * encoder (JsonLogEncoder, as in production) makes of them.
 */
final class LogCapture implements AutoCloseable {

  private final Logger logger;
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();
  private final JsonLogEncoder encoder = new JsonLogEncoder();

  private LogCapture(String name) {
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    logger = context.getLogger(name);
    appender.setContext(context);
    appender.start();
    encoder.setContext(context);
    encoder.start();
    logger.addAppender(appender);
  }

  /** Starts capturing what {@code logger} logs (e.g. {@code io.viva.server.access}). */
  static LogCapture of(String logger) {
    return new LogCapture(logger);
  }

  /** The events so far. */
  List<ILoggingEvent> events() {
    return appender.list;
  }

  /** The events so far as the encoder writes them: one JSON document each. */
  List<String> lines() {
    return events().stream().map(e -> new String(encoder.encode(e), StandardCharsets.UTF_8)).toList();
  }

  /** The events so far, parsed. */
  List<JsonNode> json() {
    return lines().stream().map(l -> {
      try {
        return TestServer.JSON.readTree(l);
      } catch (Exception ex) {
        throw new AssertionError(ex);
      }
    }).toList();
  }

  /** The first parsed event whose {@code request_id} is {@code requestId}. */
  JsonNode request(String requestId) {
    return json().stream().filter(l -> l.path("request_id").asText().equals(requestId)).findFirst().orElseThrow();
  }

  /** Stops capturing. */
  @Override
  public void close() {
    logger.detachAppender(appender);
  }
}
