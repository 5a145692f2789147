package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The gateway's access log: one JSON line per request, with the upstream's latency, never the API key. */
class GatewayLogIT {

  @Test
  void oneLinePerRequestWithUpstreamLatencyAndNoKeyMaterial() throws Exception {
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    Logger access = context.getLogger("io.viva.server.access");
    ListAppender<ILoggingEvent> events = new ListAppender<>();
    events.setContext(context);
    events.start();
    access.addAppender(events);
    JsonLogEncoder encoder = new JsonLogEncoder();
    encoder.setContext(context);
    encoder.start();
    String secret = "sk_live_do_not_log_me_0123456789";
    try (Upstream upstream = Upstream.start(); GatewayServer g = GatewayServer.start("""
        policies:
          - {namespace: default, limit: 1, window: 1h}
        gateway:
          upstreams: {app: {url: "%s"}}
        """.formatted(upstream.url()))) {
      g.get("/status/201?a=1", "X-API-Key", secret, "X-Request-ID", "gw-log-1");
      g.get("/status/201", "X-API-Key", secret, "X-Request-ID", "gw-log-2");
      Awaitility.await().until(() -> events.list.size() >= 2);
      List<String> raw = events.list.stream().map(e -> new String(encoder.encode(e))).toList();
      assertThat(String.join("\n", raw)).doesNotContain(secret);
      List<JsonNode> lines = raw.stream().map(l -> {
        try {
          return TestServer.JSON.readTree(l);
        } catch (Exception ex) {
          throw new AssertionError(ex);
        }
      }).toList();
      JsonNode ok = lines.stream().filter(l -> l.path("request_id").asText().equals("gw-log-1")).findFirst().orElseThrow();
      assertThat(ok.get("status").asInt()).isEqualTo(201);
      assertThat(ok.get("path").asText()).isEqualTo("/status/201");
      assertThat(ok.get("route").asText()).isEqualTo("/");
      assertThat(ok.get("upstream").asText()).isEqualTo("app");
      assertThat(ok.get("upstream_latency_us").isIntegralNumber()).isTrue();
      assertThat(ok.get("latency_us").asLong()).isGreaterThanOrEqualTo(ok.get("upstream_latency_us").asLong());
      assertThat(ok.get("client").asText()).hasSize(12);
      assertThat(ok.get("client_ip").asText()).isEqualTo("127.0.0.1");
      JsonNode limited = lines.stream().filter(l -> l.path("request_id").asText().equals("gw-log-2")).findFirst()
          .orElseThrow();
      assertThat(limited.get("status").asInt()).isEqualTo(429);
      assertThat(limited.get("limited_by").asText()).isEqualTo("key");
      assertThat(limited.get("error").asText()).isEqualTo("rate_limited");
      assertThat(limited.has("upstream_latency_us")).isFalse();
    } finally {
      access.detachAppender(events);
    }
  }
}
