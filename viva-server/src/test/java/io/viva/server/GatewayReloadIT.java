package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.time.Duration;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/** The gateway section hot-reloaded from a changed file, and an invalid version refused. */
class GatewayReloadIT {

  @Test
  void routesAndPoliciesReloadFromTheFile() throws Exception {
    try (Upstream one = Upstream.start(); Upstream two = Upstream.start()) {
      String before = """
          policies:
            - {namespace: default, limit: 1000, window: 1h}
          gateway:
            upstreams: {one: {url: "%s"}, two: {url: "%s"}}
            routes: [{prefix: /, upstream: one}]
          """.formatted(one.url(), two.url());
      try (GatewayServer g = GatewayServer.start(before)) {
        assertThat(g.get("/status/201").statusCode()).isEqualTo(201);
        // Route /two to the second upstream, strip the prefix, and limit /limited/* to 1 per hour.
        Files.writeString(g.file, """
            policies:
              - {namespace: default, limit: 1000, window: 1h}
              - {namespace: tight, limit: 1, window: 1h}
            gateway:
              upstreams: {one: {url: "%s"}, two: {url: "%s"}}
              routes: [{prefix: /, upstream: one}, {prefix: /two, upstream: two, strip_prefix: true}]
              endpoints: [{path: "/limited/*", policy: tight}]
            """.formatted(one.url(), two.url()));
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> g.get("/two/status/202").statusCode() == 202);
        assertThat(g.get("/limited/a").statusCode()).isEqualTo(200);
        assertThat(g.get("/limited/b").statusCode()).isEqualTo(429);
        // An invalid version is rejected; the previous one keeps serving.
        Files.writeString(g.file, "gateway: {routes: [{prefix: /, upstream: nowhere}]}\n");
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> g.send(java.net.http.HttpRequest.newBuilder(
            java.net.URI.create(g.management + "/metrics"))).body()
            .contains("viva_config_reloads_total{result=\"failure\",source=\"file\"} 1.0"));
        assertThat(g.get("/two/status/203").statusCode()).isEqualTo(203);
      }
    }
  }
}
