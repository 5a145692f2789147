package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.ManualClock;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The admin views over a real server: offenders from real denials, state read without consuming, audited reset. */
class AdminInsightIT {

  static final String AUTH = "Bearer s3cret-token";
  static final String CONFIG = """
      server:
        admin_token: s3cret-token
      policies:
        - namespace: api
          algorithm: fixed_window
          limit: 3
          window: 1h
          overrides:
            - identifier: vip
              limit: 1
              window: 1h
        - namespace: search
          algorithm: token_bucket
          limit: 10
          window: 1m
      """;

  private static void check(TestServer t, String ns, String id, int times) {
    for (int i = 0; i < times; i++) {
      t.post("/v1/check", "{\"identifier\":\"" + id + "\",\"namespace\":\"" + ns + "\"}");
    }
  }

  @Test
  void statsAndTopOffendersRankDenialsFromEveryEntryPoint() {
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:30Z"));
    try (TestServer t = TestServer.start(TestServer.config(CONFIG), TestServer.options(clock))) {
      check(t, "api", "alice", 10);   // 3 allowed, 7 denied
      check(t, "api", "bob", 5);      // 3 allowed, 2 denied
      check(t, "api", "vip", 3);      // override: 1 allowed, 2 denied
      for (int i = 0; i < 4; i++) {   // the query-string entry point counts too
        t.post("/allow?user_id=carol&resource=api", null);
      }                                // 3 allowed, 1 denied
      check(t, "search", "alice", 2);

      TestServer.Response top = t.get("/admin/top_offenders?window=minute&limit=2", "Authorization", AUTH);
      assertThat(top.status()).isEqualTo(200);
      JsonNode o = top.json();
      assertThat(o.get("window").asText()).isEqualTo("minute");
      assertThat(o.get("denied_total").asLong()).isEqualTo(12);
      assertThat(o.get("exact").asBoolean()).isTrue();
      assertThat(o.get("offenders")).hasSize(2);
      assertThat(o.get("offenders").get(0).get("identifier").asText()).isEqualTo("alice");
      assertThat(o.get("offenders").get(0).get("namespace").asText()).isEqualTo("api");
      assertThat(o.get("offenders").get(0).get("denied").asLong()).isEqualTo(7);
      assertThat(o.get("offenders").get(1).get("denied").asLong()).isEqualTo(2);

      JsonNode stats = t.get("/admin/stats", "Authorization", AUTH).json();
      assertThat(stats.at("/totals/allowed").asLong()).isEqualTo(12);
      assertThat(stats.at("/totals/denied").asLong()).isEqualTo(12);
      assertThat(stats.at("/windows/hour/denied").asLong()).isEqualTo(12);
      assertThat(stats.at("/store/type").asText()).isEqualTo("memory");
      assertThat(stats.at("/active_keys").asLong()).isPositive();
      assertThat(stats.at("/top_offenders/offenders/0/identifier").asText()).isEqualTo("alice");

      // An hour later the minute window is empty but the day still remembers.
      clock.advance(Duration.ofMinutes(61));
      assertThat(t.get("/admin/top_offenders", "Authorization", AUTH).json().get("offenders")).isEmpty();
      JsonNode day = t.get("/admin/top_offenders?window=day&namespace=api", "Authorization", AUTH).json();
      assertThat(day.at("/offenders/0/identifier").asText()).isEqualTo("alice");
      assertThat(day.get("offenders")).hasSize(4);
    }
  }

  @Test
  void userStateIsReadWithoutConsumingAndResetIsAudited() {
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:30Z"));
    try (TestServer t = TestServer.start(TestServer.config(CONFIG), TestServer.options(clock))) {
      check(t, "api", "dave", 2);
      for (int i = 0; i < 3; i++) {
        JsonNode u = t.get("/admin/user/dave?namespace=api", "Authorization", AUTH).json();
        assertThat(u.at("/namespaces/0/remaining").asLong()).isEqualTo(1);
        assertThat(u.at("/namespaces/0/limits/0/limit").asLong()).isEqualTo(3);
        assertThat(u.at("/namespaces/0/limits/0/reset_after_seconds").asDouble()).isEqualTo(3570.0);
      }
      JsonNode all = t.get("/admin/user/vip", "Authorization", AUTH).json();
      assertThat(all.get("namespaces")).hasSize(2);
      assertThat(all.at("/namespaces/0/override").asBoolean()).isTrue();
      assertThat(all.at("/namespaces/0/policy").asText()).isEqualTo("api#vip");
      // Looks are not traffic.
      assertThat(t.get("/admin/stats", "Authorization", AUTH).json().at("/totals/allowed").asLong()).isEqualTo(2);

      LogCapture audit = LogCapture.of("io.viva.audit");
      TestServer.Response reset;
      try (audit) {
        reset = t.post("/admin/reset", "{\"identifier\":\"dave\",\"namespace\":\"api\"}", "Authorization", AUTH,
            "X-Request-ID", "reset-1");
      }
      assertThat(reset.status()).isEqualTo(200);
      assertThat(audit.events()).hasSize(1);
      String line = audit.events().get(0).getFormattedMessage() + " " + audit.events().get(0).getKeyValuePairs();
      assertThat(line).contains("limits.reset", "admin-token", "api/dave", "reset-1").doesNotContain("s3cret");
      assertThat(reset.json().get("namespaces").get(0).asText()).isEqualTo("api");
      assertThat(t.get("/admin/user/dave?namespace=api", "Authorization", AUTH).json()
          .at("/namespaces/0/remaining").asLong()).isEqualTo(3);
    }
  }

  @Test
  void resourcesListNamespacesWithPoliciesAndTraffic() {
    try (TestServer t = TestServer.start(TestServer.config(CONFIG))) {
      check(t, "search", "x", 10);
      // The batch entry point counts too.
      assertThat(t.post("/v1/check/batch", "{\"checks\":[{\"identifier\":\"x\",\"namespace\":\"search\"},"
          + "{\"identifier\":\"x\",\"namespace\":\"search\"}]}").status()).isEqualTo(200);
      JsonNode r = t.get("/admin/resources", "Authorization", AUTH).json();
      JsonNode search = null;
      for (JsonNode n : r.get("namespaces")) {
        if (n.get("namespace").asText().equals("search")) {
          search = n;
        }
      }
      assertThat(search).isNotNull();
      assertThat(search.at("/limits/0/algorithm").asText()).isEqualTo("token_bucket");
      assertThat(search.at("/traffic/minute/allowed").asLong()).isEqualTo(10);
      assertThat(search.at("/traffic/minute/denied").asLong()).isEqualTo(2);
      assertThat(search.at("/traffic/since_start/denied").asLong()).isEqualTo(2);
    }
  }

  @Test
  void badInputIs4xxJsonAndEveryViewNeedsTheToken() {
    try (TestServer t = TestServer.start(TestServer.config(CONFIG))) {
      for (String path : new String[] {"/admin/stats", "/admin/top_offenders", "/admin/user/x", "/admin/resources"}) {
        ApiIT.assertError(t.get(path), 401, "unauthorized", "missing");
      }
      ApiIT.assertError(t.post("/admin/reset", "{\"identifier\":\"a\"}"), 401, "unauthorized", "missing");
      ApiIT.assertError(t.get("/admin/top_offenders?window=week", "Authorization", AUTH), 400, "invalid_request",
          "minute, hour or day");
      ApiIT.assertError(t.get("/admin/top_offenders?limit=1000", "Authorization", AUTH), 400, "invalid_request",
          "1 to 100");
      ApiIT.assertError(t.get("/admin/top_offenders?limit=x", "Authorization", AUTH), 400, "invalid_request", "limit");
      ApiIT.assertError(t.get("/admin/top_offenders?limit=1&limit=2", "Authorization", AUTH), 400,
          "invalid_request", "once");
      ApiIT.assertError(t.get("/admin/user/a?namespace=nope", "Authorization", AUTH), 400, "unknown_namespace",
          "nope");
      int tooLong = io.viva.core.RateLimiter.MAX_KEY_LENGTH + 1;
      ApiIT.assertError(t.get("/admin/user/" + "x".repeat(tooLong), "Authorization", AUTH), 400, "invalid_request",
          tooLong + " characters");
      ApiIT.assertError(t.post("/admin/reset", "[]", "Authorization", AUTH), 400, "invalid_request", "object");
      ApiIT.assertError(t.post("/admin/reset", "{", "Authorization", AUTH), 400, "invalid_json", "malformed");
      ApiIT.assertError(t.post("/admin/reset", "{\"who\":1}", "Authorization", AUTH), 400, "invalid_request",
          "unknown field");
      ApiIT.assertError(t.post("/admin/reset", "{\"identifier\":5}", "Authorization", AUTH), 400,
          "invalid_request", "identifier");
      ApiIT.assertError(t.post("/admin/reset", "{\"identifier\":\"a\",\"namespace\":\"zz\"}", "Authorization", AUTH),
          400, "unknown_namespace", "zz");
      assertThat(t.post("/admin/reset", "{\"identifier\":\"" + "y".repeat(20_000) + "\"}", "Authorization", AUTH)
          .status()).isEqualTo(413);
    }
  }

  @Test
  void dashboardIsServedFromTheJar() {
    try (TestServer t = TestServer.start(TestServer.config(CONFIG))) {
      TestServer.Response index = t.get("/dashboard/");
      assertThat(index.status()).isEqualTo(200);
      assertThat(index.header("Content-Type").orElseThrow()).startsWith("text/html");
      assertThat(index.header("Content-Security-Policy").orElseThrow()).contains("default-src 'self'");
      assertThat(index.body()).contains("uPlot.iife.min.js").doesNotContain("http://", "https://");
      assertThat(t.get("/dashboard/uPlot.iife.min.js").body()).contains("uPlot");
      assertThat(t.get("/dashboard/uPlot.LICENSE.txt").body()).contains("MIT");
      assertThat(t.get("/dashboard").status()).isEqualTo(302);
      ApiIT.assertError(t.get("/dashboard/..%2Fopenapi.json"), 404, "not_found", "dashboard file");
    }
  }
}
