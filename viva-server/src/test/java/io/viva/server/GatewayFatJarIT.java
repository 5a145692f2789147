package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code MODE=gateway DOWNSTREAM_URL=... viva serve} as the fat jar in a child process, in front of a real upstream. */
class GatewayFatJarIT {

  @Test
  void modeGatewayWithDownstreamUrlProxiesAndExitsZeroOnSigterm() throws Exception {
    try (Upstream upstream = Upstream.start()) {
      Path log = Files.createTempFile("viva-gateway-fatjar", ".log");
      ChildServer child = ChildServer.serve(null, Map.of("MODE", "gateway", "DOWNSTREAM_URL", upstream.url(),
          "METRICS_PORT", "0"), log, "128m");
      int exit;
      try {
        int port = child.awaitStarted();
        assertThat(child.output()).contains("viva started: mode=gateway ");
        int management = child.managementPort();
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
            + "/readyz?through=1")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.body()).as("the proxy port forwards every path, Viva's own too").isEqualTo("/readyz?through=1");
        assertThat(r.headers().firstValue("X-RateLimit-Limit")).hasValue("100");
        HttpResponse<String> ready = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + management
            + "/readyz")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(ready.body()).contains("UP");
        assertThat(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + management + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString()).body()).contains("gateway_requests_total{route=\"/\",status=\"200\"}");
      } finally {
        exit = child.stop();
      }
      String output = child.output();
      Files.delete(log);
      assertThat(exit).as(output).isZero();
      assertThat(output).contains("\"upstream_latency_us\":").contains("stopped in");
    }
  }
}
