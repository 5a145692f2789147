package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.redis.RedisServerProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Two fat-jar processes on one redis-server share one limit exactly. */
class FatJarRedisIT {

  static final String CONFIG = """
      server:
        event_loops: 2
        access_log: false
      policies:
        - namespace: shared
          algorithm: fixed_window
          limit: 500
          window: 1h
      """;

  @Test
  void twoProcessesShareOneLimit() throws Exception {
    Path config = Files.createTempFile("viva-redis", ".yaml");
    Files.writeString(config, CONFIG);
    try (RedisServerProcess redis = RedisServerProcess.started()) {
      ChildServer one = start(config, redis.url());
      ChildServer two = start(config, redis.url());
      try {
        int[] ports = {one.awaitStarted(), two.awaitStarted()};
        for (ChildServer child : new ChildServer[] {one, two}) {
          assertThat(child.output()).contains("redis store connected");
        }
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        Tally tally = Tally.of(8, 200, (thread, i) -> client.send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + ports[(i + thread) % 2] + "/v1/check"))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{\"identifier\":\"hammered\",\"namespace\":\"shared\"}"))
            .build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        assertThat(tally.allowed()).isEqualTo(500);
        assertThat(tally.denied()).isEqualTo(1100);
        assertThat(redis.keys("viva:*hammered*")).isNotEmpty();
      } finally {
        stop(one);
        stop(two);
        Files.deleteIfExists(config);
      }
    }
  }

  private static ChildServer start(Path config, String redisUrl) throws Exception {
    return ChildServer.serve(config, Map.of("REDIS_URL", redisUrl, "REDIS_FAILURE_MODE", "fail_closed",
        "REDIS_TIMEOUT", "10s"), Files.createTempFile("viva-fatjar-redis", ".log"), "128m");
  }

  private static void stop(ChildServer child) throws Exception {
    int exit = child.stop();
    String output = child.output();
    Files.deleteIfExists(child.log);
    assertThat(exit).as(output).isZero();
  }
}
