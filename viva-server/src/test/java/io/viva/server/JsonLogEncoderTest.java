package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.logstash.logback.encoder.LogstashEncoder;
import net.logstash.logback.marker.LogstashMarker;
import net.logstash.logback.marker.Markers;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.slf4j.MarkerFactory;
import org.slf4j.event.KeyValuePair;

/**
 * Viva's JSON log lines are byte for byte those of logstash-logback-encoder's {@code
 * LogstashEncoder} as Viva configured it before (no {@code @version}, no {@code level_value}), so
 * log pipelines built on them keep working.
 */
class JsonLogEncoderTest {

  private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
  private final Logger logger = context.getLogger("io.viva.server.access");
  private final JsonLogEncoder ours = new JsonLogEncoder();
  private final LogstashEncoder logstash = new LogstashEncoder();

  JsonLogEncoderTest() {
    ours.setContext(context);
    ours.start();
    logstash.setContext(context);
    logstash.getFieldNames().setVersion("[ignore]");
    logstash.getFieldNames().setLevelValue("[ignore]");
    logstash.start();
  }

  private LoggingEvent event(Level level, String message, Throwable t, Object... args) {
    LoggingEvent e = new LoggingEvent(Logger.class.getName(), logger, level, message, t, args);
    e.setThreadName("vert.x-eventloop-thread-0");
    e.setInstant(Instant.parse("2026-01-15T10:00:00.123456789Z"));
    return e;
  }

  private void assertSameAsLogstash(LoggingEvent e) {
    String expected = new String(logstash.encode(e), StandardCharsets.UTF_8);
    String actual = new String(ours.encode(e), StandardCharsets.UTF_8);
    assertThat(actual).isEqualTo(expected);
  }

  @Test
  void aPlainMessage() {
    assertSameAsLogstash(event(Level.INFO, "viva started: mode={} port={}", null, "standalone", 8080));
  }

  @Test
  void timestampsWithAnyPrecision() {
    for (String at : List.of("2026-01-15T10:00:00Z", "2026-01-15T10:00:00.100Z", "2026-01-15T10:00:00.000001Z",
        "1999-12-31T23:59:59.999999999Z")) {
      LoggingEvent e = event(Level.WARN, "tick", null);
      e.setInstant(Instant.parse(at));
      assertSameAsLogstash(e);
    }
  }

  @Test
  void escapesLikeJackson() {
    assertSameAsLogstash(event(Level.ERROR, "quote \" backslash \\ slash / tab \t nl \n cr \r bs \b ff \f nul \u0000"
        + " unit \u001f del \u007f é ☃ 😀 line-sep \u2028", null));
  }

  /** Key-value pairs (the access and audit logs) give the lines that logstash markers gave before. */
  @Test
  void keyValuePairsAsTheFieldsOfLogstashMarkersBefore() {
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("identifier", "dave \"d\"");
    details.put("namespaces", List.of("api", "search"));
    details.put("count", 3);
    details.put("nothing", null);
    Map<String, Object> fields = new LinkedHashMap<>();
    fields.put("request_id", "4bebef14");
    fields.put("status", 200);
    fields.put("latency_us", 84L);
    fields.put("cached", true);
    fields.put("ratio", 0.25);
    fields.put("client_ip", null);
    fields.put("audit_details", details);
    fields.put("ids", List.of("a", "b"));
    LoggingEvent withPairs = event(Level.INFO, "request", null);
    LogstashMarker markers = null;
    for (Map.Entry<String, Object> f : fields.entrySet()) {
      withPairs.addKeyValuePair(new KeyValuePair(f.getKey(), f.getValue()));
      LogstashMarker m = Markers.append(f.getKey(), f.getValue());
      markers = markers == null ? m : markers.and(m);
    }
    LoggingEvent withMarkers = event(Level.INFO, "request", null);
    withMarkers.addMarker(markers);
    assertThat(new String(ours.encode(withPairs), StandardCharsets.UTF_8))
        .isEqualTo(new String(logstash.encode(withMarkers), StandardCharsets.UTF_8));
  }

  @Test
  void arraysAsJsonArrays() {
    LoggingEvent e = event(Level.INFO, "request", null);
    e.addKeyValuePair(new KeyValuePair("ids", new String[] {"a", "b"}));
    e.addKeyValuePair(new KeyValuePair("n", new int[] {1, 2}));
    assertSameAsLogstash(e);
  }

  @Test
  void stackTraceMdcAndTags() {
    RuntimeException cause = new IllegalStateException("inner");
    RuntimeException t = new RuntimeException("boom", cause);
    t.addSuppressed(new IllegalArgumentException("also"));
    LoggingEvent e = event(Level.ERROR, "unexpected error on {} {}", t, "GET", "/x");
    e.setMDCPropertyMap(Map.of("trace_id", "abc"));
    e.addMarker(MarkerFactory.getMarker("SECURITY"));
    assertSameAsLogstash(e);
  }

  @Test
  void aLoneSurrogateStillMakesValidJson() throws Exception {
    byte[] line = ours.encode(event(Level.INFO, "half \ud83d of an emoji", null));
    JsonNode json = TestServer.JSON.readTree(line);
    assertThat(json.get("message").asText()).isEqualTo("half \ud83d of an emoji");
  }
}
