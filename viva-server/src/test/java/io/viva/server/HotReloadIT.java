package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.viva.core.ManualClock;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The config file is watched: valid changes apply without a restart, invalid ones are rejected. */
class HotReloadIT {

  static final String V1 = """
      policies:
        - {namespace: stable, algorithm: fixed_window, limit: 10, window: 1h}
        - {namespace: moving, algorithm: fixed_window, limit: 10, window: 1h}
      """;
  static final String V2 = """
      policies:
        - {namespace: stable, algorithm: fixed_window, limit: 10, window: 1h}
        - {namespace: moving, algorithm: fixed_window, limit: 3, window: 1h}
        - {namespace: fresh, limit: 1, window: 1m}
      """;

  @TempDir
  Path dir;

  @Test
  void validChangeAppliesAndKeepsCountersInvalidChangeIsRejected() throws Exception {
    Path file = dir.resolve("viva.yaml");
    write(file, V1);
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    ServerConfig config = ServerConfig.load(file, Map.of());
    try (TestServer t = TestServer.start(config, new VivaServer.Options(clock, null, Duration.ofMillis(200)))) {
      for (int i = 0; i < 4; i++) {
        t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"stable\"}");
      }
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"fresh\"}").status()).isEqualTo(400);

      // An editor-style replace: write a temporary file, rename it over the config.
      Path tmp = dir.resolve("viva.yaml.tmp");
      write(tmp, V2);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"fresh\"}").status()).isEqualTo(200));
      assertThat(t.metric("viva_config_reloads_total", "result=\"success\",source=\"file\"")).isEqualTo(1);
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"stable\"}").json().get("remaining").asLong())
          .as("counters of the unchanged policy are kept").isEqualTo(5);
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"moving\"}").json().get("limit").asLong())
          .isEqualTo(3);

      // Invalid: rejected, counted, the previous policies keep serving.
      write(file, V2.replace("limit: 3, window: 1h", "limit: 3, window: 1h, burst: 9"));
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(t.metric("viva_config_reloads_total", "result=\"failure\",source=\"file\"")).isEqualTo(1));
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"fresh\"}").status()).isEqualTo(429);
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"stable\"}").json().get("remaining").asLong())
          .isEqualTo(4);

      // Unknown keys are errors too; then a valid file applies again.
      write(file, V1.replace("namespace: moving,", "namespace: moving, lmit: 2,"));
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(t.metric("viva_config_reloads_total", "result=\"failure\",source=\"file\"")).isEqualTo(2));
      write(file, V1);
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"fresh\"}").status()).isEqualTo(400));
      assertThat(t.metric("viva_config_reloads_total", "result=\"success\",source=\"file\"")).isEqualTo(2);
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"stable\"}").json().get("remaining").asLong())
          .isEqualTo(3);
    }
  }

  static void write(Path file, String text) throws IOException {
    Files.writeString(file, text, StandardCharsets.UTF_8);
  }
}
