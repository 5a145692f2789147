package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The access log (one JSON line per request) and the separate metrics port. */
class ObservabilityIT {

  @Test
  void oneStructuredAccessLogLinePerRequest() throws Exception {
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger access = context.getLogger("io.viva.server.access");
    ListAppender<ILoggingEvent> events = new ListAppender<>();
    events.setContext(context);
    events.start();
    access.addAppender(events);
    JsonLogEncoder encoder = new JsonLogEncoder();
    encoder.setContext(context);
    encoder.start();
    try (TestServer t = TestServer.start(ServerConfig.defaults())) {
      t.post("/v1/check", "{\"identifier\":\"log1\"}", "X-Request-ID", "trace-me-1");
      t.get("/missing/route", "X-Request-ID", "trace-me-2");
      org.awaitility.Awaitility.await().until(() -> events.list.size() >= 2);
      List<JsonNode> lines = events.list.stream().map(e -> {
        try {
          return TestServer.JSON.readTree(encoder.encode(e));
        } catch (Exception ex) {
          throw new AssertionError(ex);
        }
      }).toList();
      JsonNode check = lines.stream().filter(l -> l.path("request_id").asText().equals("trace-me-1")).findFirst().orElseThrow();
      assertThat(check.get("method").asText()).isEqualTo("POST");
      assertThat(check.get("path").asText()).isEqualTo("/v1/check");
      assertThat(check.get("route").asText()).isEqualTo("/v1/check");
      assertThat(check.get("status").asInt()).isEqualTo(200);
      assertThat(check.get("latency_us").isIntegralNumber()).isTrue();
      assertThat(check.get("message").asText()).isEqualTo("request");
      JsonNode missing = lines.stream().filter(l -> l.path("request_id").asText().equals("trace-me-2")).findFirst().orElseThrow();
      assertThat(missing.get("status").asInt()).isEqualTo(404);
      assertThat(missing.get("route").asText()).isEqualTo("unmatched");
    } finally {
      access.detachAppender(events);
    }
  }

  @Test
  void accessLogCanBeTurnedOff() {
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger access = context.getLogger("io.viva.server.access");
    ListAppender<ILoggingEvent> events = new ListAppender<>();
    events.setContext(context);
    events.start();
    access.addAppender(events);
    try (TestServer t = TestServer.start(ServerConfig.defaults().with(l -> l.accessLog = false))) {
      assertThat(t.get("/v1/ping").status()).isEqualTo(200);
      assertThat(t.get("/metrics").body()).contains("api_requests_total{method=\"GET\",route=\"/v1/ping\",status=\"200\"} 1.0");
      assertThat(events.list).isEmpty();
    } finally {
      access.detachAppender(events);
    }
  }

  @Test
  void metricsMoveToTheMetricsPortWhenSet() throws Exception {
    try (TestServer t = TestServer.start(ServerConfig.defaults().with(l -> l.metricsPort = 0))) {
      assertThat(t.server.metricsPort()).isPositive().isNotEqualTo(t.server.port());
      ApiIT.assertError(t.get("/metrics"), 404, "not_found", "/metrics");
      t.post("/v1/check", "{\"identifier\":\"m\"}");
      HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + t.server.metricsPort() + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).contains("rate_limit_checks_total{namespace=\"default\",result=\"allowed\"} 1.0");
    }
  }
}
