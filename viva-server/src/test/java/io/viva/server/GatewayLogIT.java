package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/** The gateway's access log: one JSON line per request, with the upstream's latency, never the API key. */
class GatewayLogIT {

  @Test
  void oneLinePerRequestWithUpstreamLatencyAndNoKeyMaterial() throws Exception {
    String secret = "sk_live_do_not_log_me_0123456789";
    try (LogCapture log = LogCapture.of("io.viva.server.access"); Upstream upstream = Upstream.start();
        GatewayServer g = GatewayServer.start("""
        policies:
          - {namespace: default, limit: 1, window: 1h}
        gateway:
          upstreams: {app: {url: "%s"}}
        """.formatted(upstream.url()))) {
      g.get("/status/201?a=1", "X-API-Key", secret, "X-Request-ID", "gw-log-1");
      g.get("/status/201", "X-API-Key", secret, "X-Request-ID", "gw-log-2");
      Awaitility.await().until(() -> log.events().size() >= 2);
      assertThat(String.join("\n", log.lines())).doesNotContain(secret);
      JsonNode ok = log.request("gw-log-1");
      assertThat(ok.get("status").asInt()).isEqualTo(201);
      assertThat(ok.get("path").asText()).isEqualTo("/status/201");
      assertThat(ok.get("route").asText()).isEqualTo("/");
      assertThat(ok.get("upstream").asText()).isEqualTo("app");
      assertThat(ok.get("upstream_latency_us").isIntegralNumber()).isTrue();
      assertThat(ok.get("latency_us").asLong()).isGreaterThanOrEqualTo(ok.get("upstream_latency_us").asLong());
      assertThat(ok.get("client").asText()).hasSize(12);
      assertThat(ok.get("client_ip").asText()).isEqualTo("127.0.0.1");
      JsonNode limited = log.request("gw-log-2");
      assertThat(limited.get("status").asInt()).isEqualTo(429);
      assertThat(limited.get("limited_by").asText()).isEqualTo("key");
      assertThat(limited.get("error").asText()).isEqualTo("rate_limited");
      assertThat(limited.has("upstream_latency_us")).isFalse();
    }
  }
}
