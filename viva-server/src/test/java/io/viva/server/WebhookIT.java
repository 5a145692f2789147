package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Webhooks against a real HTTP receiver started by the test: the signature verifies with the
 * documented recipe, a receiver failing twice gets the event on the third attempt (and the delivery
 * log says so), rate limit events are debounced per key, quota thresholds are announced once.
 */
class WebhookIT {

  static final String CONFIG = """
      tiers:
        - name: free
          monthly_quota: 1000
          limits: [{algorithm: fixed_window, limit: 2, window: 1h}]
        - name: pro
          monthly_quota: 5
          limits: [{algorithm: fixed_window, limit: 1000, window: 1h}]
      """;
  static final String SECRET = "whsec-test-0123456789abcdef";

  @TempDir
  Path dir;

  record Received(Map<String, List<String>> headers, String body) {}

  @Test
  void signedRetriedDebouncedAndOnce() throws Exception {
    List<Received> received = new CopyOnWriteArrayList<>();
    Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
    HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    receiver.createContext("/hook", ex -> {
      String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      String type = ex.getRequestHeaders().getFirst("Viva-Event");
      received.add(new Received(Map.copyOf(ex.getRequestHeaders()), body));
      int n = attempts.computeIfAbsent(type, k -> new AtomicInteger()).incrementAndGet();
      int status = type.equals("key.created") && n <= 2 ? 500 : 204;
      ex.sendResponseHeaders(status, -1);
      ex.close();
    });
    receiver.start();
    Path config = dir.resolve("viva.yaml");
    Files.writeString(config, CONFIG);
    Map<String, String> env = Map.of("MODE", "full", "ADMIN_TOKEN", FullModeIT.BOOT, "DATA_DIR", dir.toString(),
        "WEBHOOK_RETRY_INITIAL", "200ms", "WEBHOOK_DEBOUNCE", "1h", "QUOTA_REFRESH_INTERVAL", "200ms",
        "USAGE_FLUSH_INTERVAL", "100ms");
    try (TestServer t = TestServer.start(ServerConfig.load(config, env))) {
      String[] boot = FullModeIT.bearer(FullModeIT.BOOT);
      String url = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook";
      assertThat(t.post("/api/v1/webhooks", "{\"url\":\"ftp://x\",\"events\":[\"key.created\"],\"secret\":\""
          + SECRET + "\"}", boot).status()).isEqualTo(400);
      assertThat(t.post("/api/v1/webhooks", "{\"url\":\"" + url + "\",\"events\":[\"nope\"],\"secret\":\""
          + SECRET + "\"}", boot).status()).isEqualTo(400);
      assertThat(t.post("/api/v1/webhooks", "{\"url\":\"" + url + "\",\"events\":[\"key.created\"],\"secret\":\"short\"}",
          boot).status()).isEqualTo(400);
      TestServer.Response created = t.post("/api/v1/webhooks", "{\"url\":\"" + url + "\",\"events\":[\"key.created\","
          + "\"rate_limit.exceeded\",\"quota.warning\",\"quota.exceeded\",\"key.expired\"],\"secret\":\"" + SECRET
          + "\"}", boot);
      assertThat(created.status()).as(created.body()).isEqualTo(201);
      assertThat(created.body()).doesNotContain(SECRET);
      String hook = created.json().get("id").asText();
      assertThat(t.get("/api/v1/webhooks", boot).json().get("webhooks")).hasSize(1);

      // Fails twice, delivered on the third attempt; the signature verifies.
      JsonNode key = FullModeIT.createKey(t, FullModeIT.BOOT, "{\"name\":\"a\",\"tier\":\"free\"}");
      await().atMost(Duration.ofSeconds(30)).until(() -> attempts.getOrDefault("key.created", new AtomicInteger()).get() >= 3);
      Received third = received.stream().filter(r -> r.headers().get("Viva-event").get(0).equals("key.created"))
          .toList().get(2);
      String sig = third.headers().get("Viva-signature").get(0);
      long ts = Long.parseLong(sig.substring(2, sig.indexOf(',')));
      assertThat(sig).isEqualTo("t=" + ts + ",v1=" + hmac(SECRET, ts + "." + third.body()));
      assertThat(hmac("wrong-secret-0123456789", ts + "." + third.body())).isNotEqualTo(sig.substring(sig.indexOf("v1=") + 3));
      JsonNode event = TestServer.JSON.readTree(third.body());
      assertThat(event.get("type").asText()).isEqualTo("key.created");
      assertThat(event.get("data").get("key_id").asText()).isEqualTo(key.get("id").asText());
      assertThat(third.body()).doesNotContain(key.get("key").asText());
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
        JsonNode d = t.get("/api/v1/webhooks/" + hook + "/deliveries", boot).json().get("deliveries").get(0);
        assertThat(d.get("state").asText()).isEqualTo("delivered");
        assertThat(d.get("attempts").asInt()).isEqualTo(3);
        assertThat(d.get("last_status").asInt()).isEqualTo(204);
      });

      // Rate limited 8 times: one event (debounced per key).
      String secret = key.get("key").asText();
      for (int i = 0; i < 10; i++) {
        FullModeIT.check(t, secret);
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> attempts.containsKey("rate_limit.exceeded"));
      Thread.sleep(1_000);
      assertThat(attempts.get("rate_limit.exceeded").get()).isEqualTo(1);

      // Quota of 5: 80 % then 100 %, each once.
      String pro = FullModeIT.createKey(t, FullModeIT.BOOT, "{\"name\":\"p\",\"tier\":\"pro\"}").get("key").asText();
      for (int i = 0; i < 4; i++) {
        assertThat(FullModeIT.check(t, pro).status()).isEqualTo(200);
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> attempts.containsKey("quota.warning"));
      assertThat(FullModeIT.check(t, pro).status()).isEqualTo(200);
      assertThat(FullModeIT.check(t, pro).status()).isEqualTo(429);
      await().atMost(Duration.ofSeconds(10)).until(() -> attempts.containsKey("quota.exceeded"));
      Thread.sleep(1_000);
      assertThat(attempts.get("quota.warning").get()).isEqualTo(1);
      assertThat(attempts.get("quota.exceeded").get()).isEqualTo(1);

      // Expired by the API, then seen expired by a request: one key.expired event.
      assertThat(t.post("/api/v1/keys/" + key.get("id").asText() + "/expire", null, boot).status()).isEqualTo(200);
      assertThat(FullModeIT.check(t, secret).json().get("code").asText()).isEqualTo("EXPIRED");
      await().atMost(Duration.ofSeconds(10)).until(() -> attempts.containsKey("key.expired"));
      Thread.sleep(1_000);
      assertThat(attempts.get("key.expired").get()).isEqualTo(1);

      assertThat(t.request("DELETE", "/api/v1/webhooks/" + hook, null, boot).status()).isEqualTo(200);
      assertThat(t.get("/api/v1/webhooks", boot).json().get("webhooks")).isEmpty();
      assertThat(t.get("/api/v1/webhooks/wh_nope/deliveries", boot).status()).isEqualTo(404);
    } finally {
      receiver.stop(0);
    }
  }

  static String hmac(String secret, String text) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
    return HexFormat.of().formatHex(mac.doFinal(text.getBytes(StandardCharsets.UTF_8)));
  }
}
