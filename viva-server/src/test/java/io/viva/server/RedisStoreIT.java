package io.viva.server;

import static io.viva.server.ApiIT.check;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.ManualClock;
import io.viva.redis.RedisServerProcess;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The server on the Redis store, against real redis-server processes started here. */
class RedisStoreIT {

  static final String POLICIES = """
      policies:
        - namespace: default
          limit: 100
          window: 1m
        - namespace: tiny
          algorithm: fixed_window
          limit: 2
          window: 1h
        - namespace: shared
          algorithm: fixed_window
          limit: 500
          window: 1h
        - namespace: shared_small
          algorithm: fixed_window
          limit: 2
          window: 1h
        - namespace: shadowed
          algorithm: fixed_window
          limit: 1
          window: 1h
          shadow: true
        - namespace: api_requests
          limits:
            - {algorithm: token_bucket, limit: 10, window: 1s, name: per_second}
            - {algorithm: fixed_window, limit: 1000, window: 1d, name: daily}
      """;

  static ServerConfig redisConfig(String url, String failureMode, String timeout) {
    return redisConfig(url, failureMode, timeout, "");
  }

  /** With more lines under {@code redis:} (indented by two spaces). */
  static ServerConfig redisConfig(String url, String failureMode, String timeout, String more) {
    return TestServer.config("""
        server:
          store: redis
        redis:
          url: %s
          failure_mode: %s
          timeout: %s
        """.formatted(url, failureMode, timeout) + more + POLICIES);
  }

  static final List<String> HEADERS = List.of("RateLimit-Policy", "RateLimit", "X-RateLimit-Limit",
      "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After");

  /** The same requests on the same timeline get the same answers from the Redis and the in-memory store. */
  @Test
  void answersLikeTheInMemoryStore() throws Exception {
    ManualClock memClock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    ManualClock redisClock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    try (RedisServerProcess redis = RedisServerProcess.started();
        TestServer mem = TestServer.start(TestServer.config(POLICIES), TestServer.options(memClock));
        // The test's clock decides (clock: local), so both servers see one timeline.
        TestServer red = TestServer.start(redisConfig(redis.url(), "fail_closed", "5s", "  clock: local\n"),
            TestServer.options(redisClock))) {
      List<String[]> requests = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        requests.add(new String[] {"/v1/check", check("u1", "tiny")});
      }
      requests.add(new String[] {"/v1/check", check("u2", "shadowed")});
      requests.add(new String[] {"/v1/check", check("u2", "shadowed")});
      for (int i = 0; i < 12; i++) {
        requests.add(new String[] {"/v1/check", check("u3", "api_requests")});
      }
      requests.add(new String[] {"/v1/check/batch", "{\"checks\":[" + check("b1", "tiny") + "," + check("b1", "tiny")
          + "," + check("b1", "tiny") + "," + check("b2", "default") + "]}"});
      for (int round = 0; round < 2; round++) {
        for (String[] req : requests) {
          TestServer.Response a = mem.post(req[0], req[1]);
          TestServer.Response b = red.post(req[0], req[1]);
          assertSame(a, b, req[1]);
        }
        memClock.advance(Duration.ofMillis(700));
        redisClock.advance(Duration.ofMillis(700));
      }
      // Idempotency: a replay spends nothing, on both.
      for (int i = 0; i < 3; i++) {
        assertSame(mem.post("/v1/check", check("i1", "tiny"), "Idempotency-Key", "k1"),
            red.post("/v1/check", check("i1", "tiny"), "Idempotency-Key", "k1"), "idempotent");
      }
      TestServer.Response afterReplays = red.post("/v1/check", check("i1", "tiny"));
      assertThat(afterReplays.json().get("remaining").asLong()).isZero();
      assertSame(mem.post("/v1/check", check("i1", "tiny")), afterReplays, "after replays");
      // /allow, with its idempotency parameter.
      for (int i = 0; i < 4; i++) {
        String q = "/allow?user_id=a1&resource=tiny" + (i < 2 ? "&idempotency=x" : "");
        assertSame(mem.post(q, null), red.post(q, null), q);
      }
      assertThat(redis.keys("viva:*")).isNotEmpty();
      TestServer.Response ready = red.get("/health/ready");
      assertThat(ready.status()).isEqualTo(200);
      assertThat(ready.json().get("store").asText()).isEqualTo("redis");
      assertThat(ready.json().get("degraded").asBoolean()).isFalse();
      assertThat(red.metric("viva_store_degraded", "")).isZero();
      assertThat(red.get("/metrics").body()).doesNotContain("rate_limit_active_keys");
    }
  }

  private static void assertSame(TestServer.Response memory, TestServer.Response redis, String what) {
    assertThat(redis.status()).as(what).isEqualTo(memory.status());
    JsonNode a = memory.json();
    JsonNode b = redis.json();
    assertThat(b).as(what).isEqualTo(a);
    for (String h : HEADERS) {
      assertThat(redis.header(h)).as(what + " " + h).isEqualTo(memory.header(h));
    }
  }

  /** Two servers on one Redis share the limit: 8 threads x 200 requests, alternating, admit exactly 500. */
  @Test
  void twoServersShareOneLimit() throws Exception {
    try (RedisServerProcess redis = RedisServerProcess.started();
        TestServer one = TestServer.start(redisConfig(redis.url(), "fail_closed", "10s"));
        TestServer two = TestServer.start(redisConfig(redis.url(), "fail_closed", "10s"))) {
      Tally tally = Tally.of(8, 200, (thread, i) ->
          ((i + thread) % 2 == 0 ? one : two).post("/v1/check", check("hammered", "shared")).status());
      assertThat(tally.allowed()).isEqualTo(500);
      assertThat(tally.denied()).isEqualTo(1600 - 500);
      assertThat(one.metric("viva_store_fallbacks_total", "") + two.metric("viva_store_fallbacks_total", ""))
          .isZero();
    }
  }

  /** The short-circuit answers a hot key's denials locally, counted in a metric; decisions stay the same. */
  @Test
  void shortCircuitsDenialsOfAHotKey() throws Exception {
    try (RedisServerProcess redis = RedisServerProcess.started();
        TestServer server = TestServer.start(redisConfig(redis.url(), "fail_closed", "5s",
            "  short_circuit_keys: 1000\n"))) {
      List<Integer> statuses = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        statuses.add(server.post("/v1/check", check("hot", "shared_small")).status());
      }
      assertThat(statuses.subList(0, 2)).containsOnly(200);
      assertThat(statuses.subList(2, 10)).containsOnly(429);
      // The first denial came from Redis, the other seven from the short-circuit.
      assertThat(server.metric("viva_store_short_circuits_total", "")).isEqualTo(7.0);
      assertThat(server.post("/v1/check/batch", "{\"checks\":[" + check("hot", "shared_small") + "]}").json()
          .get("results").get(0).get("allowed").asBoolean()).isFalse();
      assertThat(server.metric("viva_store_short_circuits_total", "")).isEqualTo(8.0);
    }
  }

  /** Redis down at startup: the server starts, answers from memory (local), then switches to Redis once it is up. */
  @Test
  void startsWhileRedisIsDownThenUsesItOnceUp() throws Exception {
    int port = RedisServerProcess.freePort();
    try (TestServer server = TestServer.start(redisConfig("redis://127.0.0.1:" + port, "local", "2s"))) {
      TestServer.Response ready = server.get("/health/ready");
      assertThat(ready.status()).isEqualTo(200);
      assertThat(ready.json().get("store").asText()).isEqualTo("redis");
      assertThat(ready.json().get("degraded").asBoolean()).isTrue();
      // Local decisions: the limit holds in this process.
      assertThat(server.post("/v1/check", check("down", "tiny")).status()).isEqualTo(200);
      assertThat(server.post("/v1/check", check("down", "tiny")).status()).isEqualTo(200);
      assertThat(server.post("/v1/check", check("down", "tiny")).status()).isEqualTo(429);
      assertThat(server.metric("viva_store_degraded", "")).isEqualTo(1.0);
      assertThat(server.metric("viva_store_fallbacks_total", "")).isGreaterThanOrEqualTo(3.0);
      assertThat(server.metric("viva_store_failures_total", "")).isGreaterThanOrEqualTo(1.0);

      try (RedisServerProcess redis = RedisServerProcess.started(port)) {
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
          server.post("/v1/check", check("up", "tiny"));
          assertThat(redis.keys("viva:*up*")).isNotEmpty();
        });
        assertThat(server.get("/health/ready").json().get("degraded").asBoolean()).isFalse();
        assertThat(server.metric("viva_store_degraded", "")).isZero();
        // Redis state is fresh: the identifier limited locally during the outage starts over.
        assertThat(server.post("/v1/check", check("down", "tiny")).status()).isEqualTo(200);
        assertThat(redis.keys("viva:*down*")).isNotEmpty();
      }
    }
  }
}
