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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
      Proc one = Proc.start(config, redis.url());
      Proc two = Proc.start(config, redis.url());
      try {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        AtomicInteger allowed = new AtomicInteger();
        AtomicInteger denied = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
          List<Future<?>> futures = new ArrayList<>();
          for (int t = 0; t < 8; t++) {
            int thread = t;
            futures.add(pool.submit(() -> {
              for (int i = 0; i < 200; i++) {
                int port = (i + thread) % 2 == 0 ? one.port : two.port;
                int status = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/check"))
                    .timeout(Duration.ofSeconds(30))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"identifier\":\"hammered\",\"namespace\":\"shared\"}"))
                    .build(), HttpResponse.BodyHandlers.ofString()).statusCode();
                if (status == 200) {
                  allowed.incrementAndGet();
                } else if (status == 429) {
                  denied.incrementAndGet();
                } else {
                  throw new AssertionError("status " + status);
                }
              }
              return null;
            }));
          }
          for (Future<?> f : futures) {
            f.get();
          }
        } finally {
          pool.shutdown();
        }
        assertThat(allowed.get()).isEqualTo(500);
        assertThat(denied.get()).isEqualTo(1100);
        assertThat(redis.keys("viva:*hammered*")).isNotEmpty();
      } finally {
        one.stop();
        two.stop();
        Files.deleteIfExists(config);
      }
    }
  }

  /** One fat-jar process; its output goes to a temp file. */
  private record Proc(Process process, Path log, int port) {

    static Proc start(Path config, String redisUrl) throws Exception {
      Path jar = Path.of(System.getProperty("viva.jar", "target/viva-server.jar"));
      assertThat(jar).exists();
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      ProcessBuilder pb = new ProcessBuilder(java, "-XX:+UseSerialGC", "-Xmx128m", "-jar", jar.toString(),
          "serve", "--config", config.toString(), "--listen", "127.0.0.1", "--port", "0");
      pb.environment().remove("SERVER_PORT");
      pb.environment().put("REDIS_URL", redisUrl);
      pb.environment().put("REDIS_FAILURE_MODE", "fail_closed");
      pb.environment().put("REDIS_TIMEOUT", "10s");
      Path log = Files.createTempFile("viva-fatjar-redis", ".log");
      pb.redirectErrorStream(true).redirectOutput(log.toFile());
      Process p = pb.start();
      Pattern started = Pattern.compile("viva started: .*listen=127\\.0\\.0\\.1:(\\d+)");
      int[] found = {-1};
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> {
        Matcher m = started.matcher(Files.readString(log));
        if (m.find()) {
          found[0] = Integer.parseInt(m.group(1));
        }
        return found[0] > 0 || !p.isAlive();
      });
      assertThat(p.isAlive()).as(Files.readString(log)).isTrue();
      assertThat(Files.readString(log)).contains("redis store connected");
      return new Proc(p, log, found[0]);
    }

    void stop() throws Exception {
      process.destroy();
      boolean exited = process.waitFor(60, TimeUnit.SECONDS);
      String output = Files.readString(log);
      Files.deleteIfExists(log);
      assertThat(exited).as(output).isTrue();
      assertThat(process.exitValue()).as(output).isZero();
    }
  }
}
