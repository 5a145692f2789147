package io.viva.server;

import io.viva.redis.RedisServerProcess;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.platform.TestDatabase;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two full-mode servers in two processes (this JVM and the fat jar) on one PostgreSQL database and
 * one redis-server: a key created on one verifies on the other, both spend one shared rate limit,
 * and a revocation on one is seen by the other within the change poll bound. The secrets never
 * reach the child's log.
 */
class FullModeProcessIT {

  static final String CONFIG = """
      server:
        event_loops: 2
        access_log: true
      tiers:
        - name: free
          monthly_quota: 1000
          limits: [{algorithm: fixed_window, limit: 6, window: 1h}]
      """;

  @TempDir
  Path dir;

  @Test
  void secondProcessSharesKeysLimitsAndRevocations() throws Exception {
    Path config = dir.resolve("viva.yaml");
    Files.writeString(config, CONFIG);
    TestDatabase db = TestDatabase.create();
    try (RedisServerProcess redis = RedisServerProcess.started()) {
      Map<String, String> env = FullModeIT.env(db, dir);
      env.put("REDIS_URL", redis.url());
      env.put("KEY_CHANGE_POLL", "200ms");
      // Exact sharing needs every decision from Redis: no local fallback on a slow, busy test machine.
      env.put("REDIS_FAILURE_MODE", "fail_closed");
      env.put("REDIS_TIMEOUT", "10s");
      ServerConfig cfg = ServerConfig.load(config, env);
      ChildServer child = ChildServer.serve(config, env, dir.resolve("child.log"), "192m");
      try (TestServer a = TestServer.start(cfg)) {
        int port = child.awaitStarted();
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        JsonNode key = FullModeIT.createKey(a, FullModeIT.BOOT, "{\"name\":\"shared\",\"tier\":\"free\"}");
        String secret = key.get("key").asText();

        int allowed = 0;
        for (int i = 0; i < 4; i++) {
          allowed += FullModeIT.check(a, secret).status() == 200 ? 1 : 0;
          allowed += check(client, port, secret) == 200 ? 1 : 0;
        }
        assertThat(allowed).as("one limit of 6 shared through Redis by both processes").isEqualTo(6);
        assertThat(check(client, port, secret)).isEqualTo(429);

        assertThat(a.post("/api/v1/keys/" + key.get("id").asText() + "/revoke", null,
            FullModeIT.bearer(FullModeIT.BOOT)).status()).isEqualTo(200);
        long t0 = System.nanoTime();
        await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20)).untilAsserted(() ->
            assertThat(check(client, port, secret)).isEqualTo(403));
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
      } finally {
        child.stop();
        db.drop();
      }
      String output = child.output();
      assertThat(output).contains("full mode: database postgresql://").contains("/api/v1/rate-limit/check")
          .doesNotContain("viva_live_").doesNotContain(FullModeIT.PEPPER);
    }
  }

  static int check(HttpClient client, int port, String secret) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/rate-limit/check"))
        .timeout(Duration.ofSeconds(30)).header("X-API-Key", secret).POST(HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString()).statusCode();
  }
}
