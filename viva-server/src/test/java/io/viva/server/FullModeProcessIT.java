package io.viva.server;

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
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
    try (RedisServer redis = RedisServer.start()) {
      Map<String, String> env = new HashMap<>();
      env.put("MODE", "full");
      env.put("ADMIN_TOKEN", FullModeIT.BOOT);
      env.put("DATABASE_URL", db.url());
      env.put("API_KEY_PEPPER", FullModeIT.PEPPER);
      env.put("REDIS_URL", redis.url());
      env.put("KEY_CHANGE_POLL", "200ms");
      // Exact sharing needs every decision from Redis: no local fallback on a slow, busy test machine.
      env.put("REDIS_FAILURE_MODE", "fail_closed");
      env.put("REDIS_TIMEOUT", "10s");
      env.put("DATA_DIR", dir.toString());
      ServerConfig cfg = ServerConfig.load(config, env);
      Path log = dir.resolve("child.log");
      Process child = startChild(config, env, log);
      try (TestServer a = TestServer.start(cfg)) {
        int port = awaitPort(child, log);
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
        child.destroy();
        assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
        db.drop();
      }
      String output = Files.readString(log);
      assertThat(output).contains("full mode: database postgresql://").contains("/api/v1/rate-limit/check")
          .doesNotContain("viva_live_").doesNotContain(FullModeIT.PEPPER);
    }
  }

  static int check(HttpClient client, int port, String secret) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/rate-limit/check"))
        .timeout(Duration.ofSeconds(30)).header("X-API-Key", secret).POST(HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString()).statusCode();
  }

  static Process startChild(Path config, Map<String, String> env, Path log) throws Exception {
    Path jar = Path.of(System.getProperty("viva.jar", "target/viva-server.jar"));
    assertThat(jar).exists();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-XX:+UseSerialGC", "-Xmx192m", "-jar", jar.toString(),
        "serve", "--config", config.toString(), "--listen", "127.0.0.1", "--port", "0");
    pb.environment().remove("SERVER_PORT");
    pb.environment().putAll(env);
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    return pb.start();
  }

  static int awaitPort(Process p, Path log) {
    Pattern started = Pattern.compile("viva started: .*listen=127\\.0\\.0\\.1:(\\d+)");
    int[] found = {-1};
    await().atMost(Duration.ofSeconds(90)).until(() -> {
      Matcher m = started.matcher(Files.readString(log));
      if (m.find()) {
        found[0] = Integer.parseInt(m.group(1));
      }
      return found[0] > 0 || !p.isAlive();
    });
    assertThat(p.isAlive()).as("child log: %s", log).isTrue();
    return found[0];
  }
}
