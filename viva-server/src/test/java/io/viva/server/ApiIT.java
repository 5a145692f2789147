package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.ManualClock;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every endpoint and header of the API, over real HTTP, on a server whose clock stands still. */
class ApiIT {

  static final String POLICIES = """
      server:
        max_batch_size: 5
      policies:
        - namespace: default
          limit: 100
          window: 1m
        - namespace: tiny
          algorithm: fixed_window
          limit: 2
          window: 1h
        - namespace: quarter
          algorithm: token_bucket
          limit: 4
          window: 1s
        - namespace: shadowed
          algorithm: fixed_window
          limit: 1
          window: 1h
          shadow: true
        - namespace: api_requests
          limits:
            - {algorithm: token_bucket, limit: 10, window: 1s, name: per_second}
            - {algorithm: fixed_window, limit: 1000, window: 1d, name: daily}
          overrides:
            - identifier: vip_user
              limits: [{algorithm: token_bucket, limit: 1000, window: 1s}]
      """;

  static final ManualClock CLOCK = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
  static TestServer t;

  @BeforeAll
  static void start() {
    t = TestServer.start(TestServer.config(POLICIES), TestServer.options(CLOCK));
  }

  @AfterAll
  static void stop() {
    t.close();
  }

  static String check(String identifier, String namespace) {
    return "{\"identifier\":\"" + identifier + "\"" + (namespace == null ? "" : ",\"namespace\":\"" + namespace + "\"") + "}";
  }

  @Test
  void checkAllowedThenDeniedWithEveryHeader() {
    TestServer.Response first = t.post("/v1/check", check("h1", "tiny"));
    assertThat(first.status()).isEqualTo(200);
    assertThat(first.json()).isEqualTo(TestServer.JSON.createObjectNode().put("allowed", true).put("limit", 2)
        .put("remaining", 1).put("reset_at", "2026-01-15T11:00:00Z").put("retry_after", 0));
    assertThat(first.header("Content-Type")).contains("application/json");
    assertThat(first.header("RateLimit-Policy")).contains("\"tiny\";q=2;w=3600");
    assertThat(first.header("RateLimit")).contains("\"tiny\";r=1;t=3600");
    assertThat(first.header("X-RateLimit-Limit")).contains("2");
    assertThat(first.header("X-RateLimit-Remaining")).contains("1");
    assertThat(first.header("X-RateLimit-Reset")).contains("3600");
    assertThat(first.header("Retry-After")).isEmpty();
    assertThat(first.header("X-Request-ID")).isPresent();

    assertThat(t.post("/v1/check", check("h1", "tiny")).status()).isEqualTo(200);
    TestServer.Response denied = t.post("/v1/check", check("h1", "tiny"));
    assertThat(denied.status()).isEqualTo(429);
    assertThat(denied.json().get("allowed").asBoolean()).isFalse();
    assertThat(denied.json().get("remaining").asLong()).isZero();
    assertThat(denied.json().get("retry_after").asDouble()).isEqualTo(3600.0);
    assertThat(denied.json().get("reset_at").asText()).isEqualTo("2026-01-15T11:00:00Z");
    assertThat(denied.header("Retry-After")).contains("3600");
    assertThat(denied.header("RateLimit")).contains("\"tiny\";r=0;t=3600");
    assertThat(denied.header("X-RateLimit-Remaining")).contains("0");
  }

  @Test
  void namespaceDefaultsToDefaultAndCostToOne() {
    TestServer.Response r = t.post("/v1/check", "{\"identifier\":\"d1\"}");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.json().get("limit").asLong()).isEqualTo(100);
    assertThat(r.json().get("remaining").asLong()).isEqualTo(99);
    assertThat(r.header("RateLimit-Policy")).contains("\"default\";q=100;w=60");
    assertThat(t.post("/v1/check", "{\"identifier\":\"d1\",\"cost\":5,\"namespace\":null}").json().get("remaining").asLong())
        .isEqualTo(94);
    assertThat(t.post("/v1/check", "{\"identifier\":\"d1\",\"cost\":0}").json().get("remaining").asLong())
        .as("cost 0 only looks").isEqualTo(94);
  }

  @Test
  void curlStyleFormContentTypeIsReadAsJson() {
    TestServer.Response r = t.post("/v1/check", "{\"identifier\":\"curl1\"}",
        "Content-Type", "application/x-www-form-urlencoded");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.json().get("allowed").asBoolean()).isTrue();
  }

  @Test
  void fractionalRetryAfter() {
    for (int i = 0; i < 4; i++) {
      assertThat(t.post("/v1/check", check("q1", "quarter")).status()).isEqualTo(200);
    }
    TestServer.Response denied = t.post("/v1/check", check("q1", "quarter"));
    assertThat(denied.status()).isEqualTo(429);
    assertThat(denied.json().get("retry_after").asDouble()).isEqualTo(0.25);
    assertThat(denied.body()).contains("\"retry_after\":0.25");
    assertThat(denied.header("Retry-After")).contains("1");
  }

  @Test
  void idempotencyKeyReplaysWithoutSpending() {
    String body = "{\"identifier\":\"i1\",\"namespace\":\"tiny\",\"idempotency_key\":\"k-1\"}";
    TestServer.Response first = t.post("/v1/check", body);
    TestServer.Response replay = t.post("/v1/check", body);
    assertThat(replay.body()).isEqualTo(first.body());
    assertThat(replay.json().get("remaining").asLong()).isEqualTo(1);
    // The header form, and a new key spends again.
    TestServer.Response viaHeader = t.post("/v1/check", check("i1", "tiny"), "Idempotency-Key", "k-2");
    assertThat(viaHeader.json().get("remaining").asLong()).isZero();
    assertThat(t.post("/v1/check", check("i1", "tiny"), "Idempotency-Key", "k-2").status()).isEqualTo(200);
    assertThat(t.post("/v1/check", check("i1", "tiny")).status()).isEqualTo(429);
  }

  @Test
  void shadowPolicyNeverDeniesButSaysSo() {
    double before = t.metric("rate_limit_checks_total", "namespace=\"shadowed\",result=\"shadow_denied\"");
    TestServer.Response first = t.post("/v1/check", check("s1", "shadowed"));
    assertThat(first.status()).isEqualTo(200);
    assertThat(first.json().has("shadow_denied")).isFalse();
    TestServer.Response second = t.post("/v1/check", check("s1", "shadowed"));
    assertThat(second.status()).isEqualTo(200);
    assertThat(second.json().get("allowed").asBoolean()).isTrue();
    assertThat(second.json().get("shadow_denied").asBoolean()).isTrue();
    assertThat(second.header("Retry-After")).isEmpty();
    assertThat(t.metric("rate_limit_checks_total", "namespace=\"shadowed\",result=\"shadow_denied\""))
        .isEqualTo(before + 1);
  }

  @Test
  void overridesHaveTheirOwnLimitsAndCounters() {
    TestServer.Response vip = t.post("/v1/check", check("vip_user", "api_requests"));
    assertThat(vip.json().get("limit").asLong()).isEqualTo(1000);
    assertThat(vip.header("RateLimit-Policy")).contains("\"api_requests\";q=1000;w=1");
    TestServer.Response other = t.post("/v1/check", check("o1", "api_requests"));
    assertThat(other.json().get("limit").asLong()).isEqualTo(10);
    assertThat(other.header("RateLimit-Policy")).contains("\"per_second\";q=10;w=1, \"daily\";q=1000;w=86400");
    assertThat(other.header("RateLimit")).contains("\"per_second\";r=9;t=1");
    for (int i = 0; i < 9; i++) {
      t.post("/v1/check", check("o1", "api_requests"));
    }
    assertThat(t.post("/v1/check", check("o1", "api_requests")).status()).isEqualTo(429);
    for (int i = 0; i < 20; i++) {
      assertThat(t.post("/v1/check", check("vip_user", "api_requests")).status()).isEqualTo(200);
    }
  }

  @Test
  void batchAnswersInOrderAndValidatesWholeBatchFirst() {
    TestServer.Response r = t.post("/v1/check/batch", "{\"checks\":[" + check("b1", "tiny") + "," + check("b1", "tiny")
        + "," + check("b1", "tiny") + "," + check("b2", null) + "]}");
    assertThat(r.status()).isEqualTo(200);
    JsonNode results = r.json().get("results");
    assertThat(results).hasSize(4);
    assertThat(results.get(0).get("remaining").asLong()).isEqualTo(1);
    assertThat(results.get(1).get("remaining").asLong()).isZero();
    assertThat(results.get(2).get("allowed").asBoolean()).isFalse();
    assertThat(results.get(2).get("retry_after").asDouble()).isEqualTo(3600.0);
    assertThat(results.get(3).get("limit").asLong()).isEqualTo(100);
    assertThat(r.header("RateLimit")).isEmpty();

    TestServer.Response bad = t.post("/v1/check/batch", "{\"checks\":[" + check("b3", "tiny") + ",{\"identifier\":\"b3\",\"cost\":-1}]}");
    assertThat(bad.status()).isEqualTo(400);
    assertThat(bad.json().get("message").asText()).startsWith("checks[1].cost");
    assertThat(t.post("/v1/check", check("b3", "tiny")).json().get("remaining").asLong())
        .as("nothing of a rejected batch was charged").isEqualTo(1);

    TestServer.Response tooMany = t.post("/v1/check/batch", "{\"checks\":[" + String.join(",", java.util.Collections.nCopies(6, check("b4", null))) + "]}");
    assertThat(tooMany.status()).isEqualTo(400);
    assertThat(tooMany.json().get("error").asText()).isEqualTo("batch_too_large");
    assertThat(t.post("/v1/check/batch", "{\"checks\":[]}").json().get("results")).isEmpty();
  }

  @Test
  void allowEndpoint() {
    TestServer.Response r = t.post("/allow?user_id=a1&resource=quarter&cost=1", null);
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("{\"allowed\":true,\"retry_after\":0.0,\"tokens_left\":3.0}");
    assertThat(r.header("RateLimit-Policy")).contains("\"quarter\";q=4;w=1");
    assertThat(r.header("X-RateLimit-Remaining")).contains("3");
    TestServer.Response keyed = t.post("/allow?user_id=a1&resource=quarter&cost=3", null, "Idempotency-Key", "12345");
    TestServer.Response again = t.post("/allow?user_id=a1&resource=quarter&cost=3", null, "Idempotency-Key", "12345");
    assertThat(again.body()).isEqualTo(keyed.body()).isEqualTo("{\"allowed\":true,\"retry_after\":0.0,\"tokens_left\":0.0}");
    TestServer.Response param = t.post("/allow?user_id=a1&resource=quarter&idempotency=p1", null);
    assertThat(param.status()).isEqualTo(429);
    assertThat(param.body()).isEqualTo("{\"allowed\":false,\"retry_after\":0.25,\"tokens_left\":0.0}");
    assertThat(param.header("Retry-After")).contains("1");
    assertThat(t.post("/allow?user_id=a1&resource=quarter&idempotency=p1", null).body()).isEqualTo(param.body());
    assertThat(t.post("/allow?user_id=a2", null).json().get("tokens_left").asDouble()).isEqualTo(99.0);
    assertThat(t.post("/allow?resource=quarter", null).status()).isEqualTo(400);
    assertThat(t.post("/allow?user_id=a3&cost=x", null).json().get("error").asText()).isEqualTo("invalid_request");
    assertThat(t.post("/allow?user_id=a3&resource=nope", null).json().get("error").asText()).isEqualTo("unknown_namespace");
  }

  @Test
  void pingHealthAndOpenApi() {
    assertThat(t.get("/v1/ping").body()).isEqualTo("{\"ok\":true}");
    TestServer.Response withBody = t.post("/v1/ping", "{\"identifier\":\"user_123\"}");
    assertThat(withBody.status()).isEqualTo(200);
    assertThat(withBody.body()).isEqualTo("{\"ok\":true}");
    assertThat(t.post("/v1/ping", "x".repeat(70_000)).status()).isEqualTo(413);
    for (String path : List.of("/health/live", "/livez", "/health/ready", "/readyz")) {
      TestServer.Response r = t.get(path);
      assertThat(r.status()).as(path).isEqualTo(200);
      assertThat(r.json().get("status").asText()).isEqualTo("UP");
    }
    TestServer.Response api = t.get("/openapi.json");
    assertThat(api.status()).isEqualTo(200);
    JsonNode doc = api.json();
    assertThat(doc.get("openapi").asText()).isEqualTo("3.1.0");
    List<String> paths = new ArrayList<>();
    doc.get("paths").fieldNames().forEachRemaining(paths::add);
    assertThat(paths).containsExactlyInAnyOrder("/v1/check", "/v1/check/batch", "/allow", "/json", "/v1/ping", "/health/live",
        "/livez", "/health/ready", "/readyz", "/metrics", "/openapi.json", "/admin/policies",
        "/admin/stats", "/admin/top_offenders", "/admin/user/{user_id}", "/admin/resources", "/admin/reset", "/dashboard",
        // full mode (MODE=full)
        "/api/v1/rate-limit/check", "/api/v1/keys", "/api/v1/keys/{id}", "/api/v1/keys/{id}/revoke",
        "/api/v1/keys/{id}/rotate", "/api/v1/keys/{id}/expire", "/api/v1/tiers", "/api/v1/tiers/{name}",
        "/api/v1/admin-tokens", "/api/v1/admin-tokens/{id}", "/api/v1/audit",
        // full mode: usage, billing, webhooks
        "/api/v1/keys/{id}/usage", "/api/v1/usage", "/api/v1/usage/flush", "/api/v1/invoices", "/api/v1/invoices/{id}",
        "/api/v1/invoices/close", "/api/v1/webhooks", "/api/v1/webhooks/{id}", "/api/v1/webhooks/{id}/deliveries");
  }

  @Test
  void metricsArePublished() {
    t.post("/v1/check", check("m1", "tiny"));
    t.post("/v1/check", check("m1", "tiny"));
    t.post("/v1/check", check("m1", "tiny"));
    TestServer.Response r = t.get("/metrics");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.header("Content-Type").orElse("")).startsWith("text/plain");
    assertThat(r.body()).contains(
        "rate_limit_checks_total{namespace=\"tiny\",result=\"allowed\"}",
        "rate_limit_checks_total{namespace=\"tiny\",result=\"denied\"}",
        "rate_limit_exceeded_total{namespace=\"tiny\"}",
        "rate_limit_check_duration_seconds_bucket{namespace=\"tiny\",le=",
        "rate_limit_active_keys ",
        "api_requests_total{method=\"POST\",route=\"/v1/check\",status=\"200\"}",
        "api_requests_total{method=\"POST\",route=\"/v1/check\",status=\"429\"}",
        "viva_config_reloads_total{result=\"failure\",source=\"file\"}",
        "viva_policies ",
        "jvm_memory_used_bytes",
        "process_uptime_seconds");
    assertThat(t.metric("rate_limit_active_keys", "")).isPositive();
    t.get("/no/such/route/12345");
    assertThat(t.get("/metrics").body()).contains("route=\"unmatched\"").doesNotContain("12345");
  }

  @Test
  void requestIdIsEchoedOrGenerated() {
    TestServer.Response given = t.get("/v1/ping", "X-Request-ID", "abc-123_x.y:z");
    assertThat(given.header("X-Request-ID")).contains("abc-123_x.y:z");
    TestServer.Response unsafe = t.get("/v1/ping", "X-Request-ID", "has space<script>");
    assertThat(unsafe.header("X-Request-ID").orElseThrow()).matches("[0-9a-f-]{36}");
    TestServer.Response tooLong = t.get("/v1/ping", "X-Request-ID", "a".repeat(129));
    assertThat(tooLong.header("X-Request-ID").orElseThrow()).matches("[0-9a-f-]{36}");
    TestServer.Response error = t.post("/v1/check", "{", "X-Request-ID", "req-42");
    assertThat(error.json().get("request_id").asText()).isEqualTo("req-42");
    assertThat(error.header("X-Request-ID")).contains("req-42");
  }

  @Test
  void badInputIsAlwaysA4xxJsonError() {
    assertError(t.post("/v1/check", "{\"identifier\":"), 400, "invalid_json", "malformed JSON");
    assertError(t.post("/v1/check", ""), 400, "invalid_json", "body: empty");
    assertError(t.post("/v1/check", "[1,2]"), 400, "invalid_request", "expected: a JSON object");
    assertError(t.post("/v1/check", "{\"identifier\":1}"), 400, "invalid_request", "identifier: 1 (expected: a non-empty string)");
    assertError(t.post("/v1/check", "{\"namespace\":\"tiny\"}"), 400, "invalid_request", "identifier: missing");
    assertError(t.post("/v1/check", "{\"identifier\":\"\"}"), 400, "invalid_request", "identifier: \"\"");
    assertError(t.post("/v1/check", check("x".repeat(1025), null)), 400, "invalid_request", "identifier: 1025 characters (expected: at most 1024)");
    assertThat(t.post("/v1/check", check("x".repeat(1024), null)).status()).isEqualTo(200);
    assertError(t.post("/v1/check", check("e1", "nope")), 400, "unknown_namespace", "namespace: \"nope\" (expected: one of");
    assertError(t.post("/v1/check", "{\"identifier\":\"e1\",\"cost\":-1}"), 400, "invalid_request", "cost: -1 (expected: >= 0)");
    assertError(t.post("/v1/check", "{\"identifier\":\"e1\",\"namespace\":\"tiny\",\"cost\":3}"), 400, "invalid_request",
        "cost: 3 (expected: <= 2, the capacity of policy tiny");
    assertError(t.post("/v1/check", "{\"identifier\":\"e1\",\"cost\":99999999999999999999999}"), 400, "invalid_request", "fits in 64 bits");
    assertError(t.post("/v1/check", "{\"identifier\":\"e1\",\"cost\":1.5}"), 400, "invalid_request", "cost: 1.5 (expected: an integer >= 0)");
    assertError(t.post("/v1/check", "{\"identifier\":\"e1\",\"cost\":\"1\"}"), 400, "invalid_request", "cost: a string");
    assertError(t.post("/v1/check", "{\"identifier\":\"e1\",\"namspace\":\"tiny\"}"), 400, "invalid_request", "namspace: unknown field");
    assertError(t.post("/v1/check", "{\"identifier\":\"e1\",\"identifier\":\"e2\"}"), 400, "invalid_request", "given twice");
    assertError(t.post("/v1/check", "{\"identifier\":\"e1\"} {}"), 400, "invalid_json", "after the JSON object");
    assertError(t.post("/v1/check", "{\"identifier\":\"" + "y".repeat(70_000) + "\"}"), 413, "payload_too_large", "65536 bytes");
    assertError(t.post("/v1/check", check("e1", null), "Content-Type", "text/xml"), 415, "unsupported_media_type", "text/xml");
    assertError(t.get("/nope"), 404, "not_found", "path: /nope");
    TestServer.Response wrongMethod = t.request("DELETE", "/v1/check", null);
    assertError(wrongMethod, 405, "method_not_allowed", "DELETE");
    assertThat(wrongMethod.header("Allow")).contains("POST");
    assertError(t.post("/v1/check/batch", "{\"checks\":{}}"), 400, "invalid_request", "checks: an object (expected: a list");
    assertError(t.post("/v1/check/batch", "{}"), 400, "invalid_request", "checks: missing");
    assertError(t.post("/v1/check/batch", "{\"checks\":[],\"x\":1}"), 400, "invalid_request", "x: unknown field");
  }

  @Test
  void malformedHttpIsAnsweredWithJsonToo() throws Exception {
    try (Socket s = new Socket("127.0.0.1", t.server.port())) {
      OutputStream out = s.getOutputStream();
      out.write("GET /v1/ping HTTP/1.1\r\nHost: x\r\nX-Big: ".getBytes(StandardCharsets.US_ASCII));
      out.write("z".repeat(20_000).getBytes(StandardCharsets.US_ASCII));
      out.write("\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      String response = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      assertThat(response).startsWith("HTTP/1.1 431").contains("\"error\":\"headers_too_large\"", "\"request_id\":");
    }
  }

  static void assertError(TestServer.Response r, int status, String code, String messagePart) {
    assertThat(r.status()).as(r.body()).isEqualTo(status);
    JsonNode json = r.json();
    assertThat(json.get("error").asText()).as(r.body()).isEqualTo(code);
    assertThat(json.get("message").asText()).contains(messagePart);
    assertThat(json.get("request_id").asText()).isNotEmpty().isEqualTo(r.header("X-Request-ID").orElseThrow());
  }
}
