package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code MODE=gateway DOWNSTREAM_URL=... viva serve} as the fat jar in a child process, in front of a real upstream. */
class GatewayFatJarIT {

  @Test
  void modeGatewayWithDownstreamUrlProxiesAndExitsZeroOnSigterm() throws Exception {
    Path jar = Path.of(System.getProperty("viva.jar", "target/viva-server.jar"));
    assertThat(jar).exists();
    try (Upstream upstream = Upstream.start()) {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      ProcessBuilder pb = new ProcessBuilder(java, "-XX:+UseSerialGC", "-Xmx128m", "-jar", jar.toString(),
          "serve", "--listen", "127.0.0.1", "--port", "0");
      pb.environment().put("MODE", "gateway");
      pb.environment().put("DOWNSTREAM_URL", upstream.url());
      pb.environment().put("METRICS_PORT", "0");
      pb.environment().remove("SERVER_PORT");
      Path log = Files.createTempFile("viva-gateway-fatjar", ".log");
      pb.redirectErrorStream(true).redirectOutput(log.toFile());
      Process p = pb.start();
      Pattern started = Pattern.compile("viva started: mode=gateway .*listen=127\\.0\\.0\\.1:(\\d+) management=(\\d+)");
      int[] ports = {-1, -1};
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> {
        Matcher m = started.matcher(Files.readString(log));
        if (m.find()) {
          ports[0] = Integer.parseInt(m.group(1));
          ports[1] = Integer.parseInt(m.group(2));
        }
        return ports[0] > 0 || !p.isAlive();
      });
      try {
        assertThat(p.isAlive()).as(Files.readString(log)).isTrue();
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ports[0]
            + "/readyz?through=1")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.body()).as("the proxy port forwards every path, Viva's own too").isEqualTo("/readyz?through=1");
        assertThat(r.headers().firstValue("X-RateLimit-Limit")).hasValue("100");
        HttpResponse<String> ready = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ports[1]
            + "/readyz")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(ready.body()).contains("UP");
        assertThat(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ports[1] + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString()).body()).contains("gateway_requests_total{route=\"/\",status=\"200\"}");
      } finally {
        p.destroy();
      }
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      String output = Files.readString(log);
      Files.delete(log);
      assertThat(p.exitValue()).as(output).isZero();
      assertThat(output).contains("\"upstream_latency_us\":").contains("stopped in");
    }
  }
}
