package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.platform.TestDatabase;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gateway mode with full mode's keys ({@code gateway.api_key.keys: platform}) in front of a real
 * upstream: keys created through the platform API on the management port, verified through the
 * key verifier and limited by their tier, on the embedded H2 database and on PostgreSQL (two
 * gateways sharing it, to see a revocation reach the other one within the change poll).
 */
class GatewayPlatformIT {

  static final String ADMIN = "gateway-platform-admin-token";

  @TempDir
  Path dir;

  Upstream upstream;

  @BeforeEach
  void startUpstream() {
    upstream = Upstream.start();
  }

  @AfterEach
  void stopUpstream() {
    upstream.close();
  }

  String yaml(String platform) {
    return """
        policies:
          - {namespace: default, limit: 1000, window: 1m}
          - {namespace: search, limit: 1, window: 1h}
        tiers:
          - name: anonymous
            limits: [{algorithm: fixed_window, limit: 100, window: 1m}]
          - name: free
            monthly_quota: unlimited
            limits: [{name: per_minute, algorithm: fixed_window, limit: 3, window: 1m}]
          - name: pro
            monthly_quota: unlimited
            limits: [{name: per_minute, algorithm: fixed_window, limit: 1000, window: 1m}]
        platform:
        %s
          key_pepper: pepper-for-gateway-platform-tests-0123456789
          change_poll_interval: 200ms
        gateway:
          upstreams:
            app: {url: "%s"}
          routes:
            - {prefix: /, upstream: app, timeout: 10s}
          api_key: {keys: platform}
          endpoints:
            - {method: POST, path: /search, policy: search}
        """.formatted(platform, upstream.url());
  }

  static JsonNode adminCall(GatewayServer g, String method, String path, String body) {
    HttpResponse<String> r = g.send(HttpRequest.newBuilder(URI.create(g.management + path))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body)),
        "Authorization", "Bearer " + ADMIN, "Content-Type", "application/json");
    assertThat(r.statusCode()).as(r.body()).isBetween(200, 201);
    return json(r.body());
  }

  static JsonNode json(String body) {
    try {
      return ConfigTree.json().readTree(body);
    } catch (java.io.IOException e) {
      throw new AssertionError("not JSON: " + body, e);
    }
  }

  static HttpResponse<String> call(GatewayServer g, String key) {
    return key == null ? g.get("/hello") : g.get("/hello", "X-API-Key", key);
  }

  @Test
  void platformKeysOnEmbeddedH2() throws Exception {
    try (GatewayServer g = GatewayServer.start(yaml("  data_dir: " + dir.resolve("data")), Map.of("ADMIN_TOKEN", ADMIN))) {
      String free = adminCall(g, "POST", "/api/v1/keys", "{\"name\":\"free key\",\"tier\":\"free\"}").get("key").asText();
      assertThat(g.send(HttpRequest.newBuilder(URI.create(g.management + "/readyz")).GET()).body())
          .contains("\"mode\":\"gateway\",\"database\":\"up\"");
      // The management port's admin views take full mode's tokens and show the key section.
      JsonNode stats = adminCall(g, "GET", "/admin/stats", null);
      assertThat(stats.get("mode").asText()).isEqualTo("gateway");
      assertThat(stats.get("platform").asBoolean()).isTrue();

      // A valid key is proxied, with the RateLimit headers of its tier; its limit is the tier's.
      for (int i = 0; i < 3; i++) {
        HttpResponse<String> ok = call(g, free);
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(ok.body()).isEqualTo("/hello");
        assertThat(ok.headers().firstValue("RateLimit-Policy")).hasValueSatisfying(v -> assertThat(v)
            .contains("\"per_minute\";q=3;w=60"));
        assertThat(ok.headers().firstValue("X-RateLimit-Remaining")).contains(Integer.toString(2 - i));
      }
      HttpResponse<String> limited = call(g, free);
      assertThat(limited.statusCode()).isEqualTo(429);
      assertThat(json(limited.body()).get("error").asText()).isEqualTo("rate_limited");
      assertThat(limited.headers().firstValue("Retry-After")).isPresent();
      assertThat(limited.headers().firstValue("X-RateLimit-Remaining")).contains("0");

      // Unknown and malformed keys: 401, never proxied, never treated as anonymous.
      HttpResponse<String> unknown = call(g, "viva_live_" + "A".repeat(38));
      assertThat(unknown.statusCode()).isEqualTo(401);
      assertThat(json(unknown.body()).get("error").asText()).isEqualTo("invalid_api_key");
      assertThat(unknown.body()).doesNotContain("AAAAAAAA");
      assertThat(call(g, "nonsense").statusCode()).isEqualTo(401);

      // A used-up monthly quota (0 here: usage counting is issue 7's): 429 until the month ends.
      String spent = adminCall(g, "POST", "/api/v1/keys", "{\"name\":\"no quota\",\"tier\":\"pro\",\"monthly_quota\":0}")
          .get("key").asText();
      HttpResponse<String> quota = call(g, spent);
      assertThat(quota.statusCode()).isEqualTo(429);
      assertThat(json(quota.body()).get("error").asText()).isEqualTo("usage_exceeded");
      assertThat(Long.parseLong(quota.headers().firstValue("Retry-After").orElseThrow())).isPositive();

      // Without a key the gateway's IP policy applies (the request is proxied).
      assertThat(call(g, null).statusCode()).isEqualTo(200);

      // Endpoint policies still apply on top of the key's tier, per key.
      JsonNode pro = adminCall(g, "POST", "/api/v1/keys", "{\"name\":\"pro key\",\"tier\":\"pro\"}");
      String proKey = pro.get("key").asText();
      HttpRequest.Builder search = HttpRequest.newBuilder(URI.create(g.base + "/search"))
          .POST(HttpRequest.BodyPublishers.ofString("q"));
      assertThat(g.send(search, "X-API-Key", proKey).statusCode()).isEqualTo(200);
      assertThat(g.send(HttpRequest.newBuilder(URI.create(g.base + "/search"))
          .POST(HttpRequest.BodyPublishers.ofString("q")), "X-API-Key", proKey).statusCode()).isEqualTo(429);

      // Revoked: 403 (as POST /api/v1/rate-limit/check answers), within the poll bound.
      adminCall(g, "POST", "/api/v1/keys/" + pro.get("id").asText() + "/revoke", null);
      await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(call(g, proKey).statusCode()).isEqualTo(403));
      assertThat(json(call(g, proKey).body()).get("error").asText()).isEqualTo("key_disabled");

      // The gateway's metrics count the verifications; no key in the scrape.
      HttpResponse<String> metrics = g.send(HttpRequest.newBuilder(URI.create(g.management + "/metrics")).GET());
      assertThat(metrics.body()).contains("viva_key_verifications_total{outcome=\"valid\"}")
          .doesNotContain(free).doesNotContain(proKey);

      // keys: platform is read at start: a reload switching to static keys is rejected whole.
      String yaml = java.nio.file.Files.readString(g.file);
      java.nio.file.Files.writeString(g.file, yaml.replace("api_key: {keys: platform}", "api_key: {keys: static}")
          .replace("limit: 1000, window: 1m}", "limit: 999, window: 1m}"));
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(g.send(HttpRequest.newBuilder(
          URI.create(g.management + "/metrics")).GET()).body())
          .contains("viva_config_reloads_total{result=\"failure\",source=\"file\"} 1.0"));
      assertThat(call(g, "nonsense").statusCode()).as("still platform keys").isEqualTo(401);
      assertThat(adminCall(g, "GET", "/admin/policies", null).toString()).contains("\"limit\":1000")
          .doesNotContain("999");
    }
  }

  @Test
  void revocationReachesASecondGatewayOnPostgresWithinThePollBound() {
    TestDatabase database = TestDatabase.create();
    try (GatewayServer a = GatewayServer.start(yaml("  database_url: \"" + database.url() + "\""),
        Map.of("ADMIN_TOKEN", ADMIN));
        GatewayServer b = GatewayServer.start(yaml("  database_url: \"" + database.url() + "\""),
            Map.of("ADMIN_TOKEN", ADMIN))) {
      JsonNode key = adminCall(a, "POST", "/api/v1/keys", "{\"name\":\"shared\",\"tier\":\"pro\"}");
      String secret = key.get("key").asText();
      assertThat(call(b, secret).statusCode()).isEqualTo(200);
      assertThat(call(a, secret).statusCode()).isEqualTo(200);

      adminCall(a, "POST", "/api/v1/keys/" + key.get("id").asText() + "/revoke", null);
      assertThat(call(a, secret).statusCode()).isEqualTo(403);
      // b had the key cached: the change log drops it within change_poll_interval (200 ms) plus a query.
      await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(50))
          .untilAsserted(() -> assertThat(call(b, secret).statusCode()).isEqualTo(403));
    } finally {
      database.drop();
    }
  }
}
