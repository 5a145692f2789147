package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.ManualClock;
import io.viva.platform.TestDatabase;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Full mode over real HTTP on the real PostgreSQL (a throwaway database per test): every endpoint
 * and role, the key lifecycle with rotation grace and expiry on a fake clock, revocation seen by a
 * second instance, a tier change applied live, and the audit log.
 */
class FullModeIT {

  static final String BOOT = "bootstrap-admin-token-for-tests";
  static final String PEPPER = "pepper-for-full-mode-tests-0123456789";
  static final String TIERS = """
      tiers:
        - name: anonymous
          monthly_quota: 100
          limits: [{algorithm: fixed_window, limit: 2, window: 1m}]
        - name: free
          monthly_quota: 1000
          limits:
            - {name: per_minute, algorithm: fixed_window, limit: 3, window: 1m}
            - {name: per_day, algorithm: fixed_window, limit: 100, window: 1d}
        - name: pro
          monthly_quota: unlimited
          limits: [{name: per_minute, algorithm: token_bucket, limit: 100, window: 1m}]
      """;

  @TempDir
  Path dir;

  TestDatabase database;
  ManualClock clock;

  @BeforeEach
  void setUp() {
    database = TestDatabase.create();
    clock = ManualClock.at(Instant.parse("2026-11-10T12:00:30Z"));
  }

  @AfterEach
  void tearDown() {
    database.drop();
  }

  static ServerConfig config(String databaseUrl, Path dataDir, String tiersYaml) {
    return config(platform(databaseUrl, dataDir, java.util.List.of()), tiersYaml);
  }

  /** Full mode's test settings on {@code databaseUrl} (null: H2 in {@code dataDir}). */
  static PlatformConfig platform(String databaseUrl, Path dataDir, java.util.List<String> trustedProxies) {
    return new PlatformConfig(databaseUrl, dataDir, PEPPER, Duration.ofHours(1), 10_000, Duration.ofMillis(100),
        Duration.ofMillis(200), trustedProxies);
  }

  static ServerConfig config(PlatformConfig pc, String tiersYaml) {
    try {
      ServerConfig.FileContents contents = ServerConfig.parseFile(tiersYaml.getBytes(StandardCharsets.UTF_8), "t.yaml");
      return ServerConfig.defaults().with(l -> {
        l.adminToken = BOOT;
        l.accessLog = false;
      }).withPlatformForTest(pc, contents.tiers());
    } catch (ConfigException e) {
      throw new IllegalArgumentException(e);
    }
  }

  /**
   * The environment of a full-mode server (its own process, or {@link ServerConfig#load}) on
   * {@code db}, with its data in {@code dataDir}; mutable, for a test's own variables.
   */
  static Map<String, String> env(TestDatabase db, Path dataDir) {
    Map<String, String> env = new HashMap<>();
    env.put("MODE", "full");
    env.put("ADMIN_TOKEN", BOOT);
    env.put("DATABASE_URL", db.url());
    env.put("API_KEY_PEPPER", PEPPER);
    env.put("DATA_DIR", dataDir.toString());
    return env;
  }

  TestServer start() {
    return TestServer.start(config(database.url(), dir, TIERS), TestServer.options(clock));
  }

  static String[] bearer(String token) {
    return new String[] {"Authorization", "Bearer " + token};
  }

  static TestServer.Response check(TestServer t, String key) {
    return key == null ? t.post("/api/v1/rate-limit/check", null) : t.post("/api/v1/rate-limit/check", null,
        "X-API-Key", key);
  }

  static JsonNode createKey(TestServer t, String token, String body) {
    TestServer.Response r = t.post("/api/v1/keys", body, bearer(token));
    assertThat(r.status()).as(r.body()).isEqualTo(201);
    return r.json();
  }

  @Test
  void keyLifecycleOverHttp() {
    try (TestServer t = start()) {
      JsonNode created = createKey(t, BOOT, "{\"name\":\"Production API Key\",\"tier\":\"free\",\"owner_id\":\"cus_1\","
          + "\"metadata\":{\"plan\":\"startup\"}}");
      String id = created.get("id").asText();
      String secret = created.get("key").asText();
      assertThat(secret).startsWith("viva_live_").hasSize(48);
      assertThat(created.get("key_start").asText()).isEqualTo(secret.substring(0, 16));
      assertThat(created.get("state").asText()).isEqualTo("active");

      // The key is shown once: reads never carry it.
      TestServer.Response got = t.get("/api/v1/keys/" + id, bearer(BOOT));
      assertThat(got.status()).isEqualTo(200);
      assertThat(got.body()).doesNotContain(secret).doesNotContain(secret.substring(16));
      assertThat(got.json().get("metadata").get("plan").asText()).isEqualTo("startup");

      // VALID until the tier's 3 per minute are spent, with the RateLimit headers of /v1/check.
      for (int i = 0; i < 3; i++) {
        TestServer.Response r = check(t, secret);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        assertThat(r.json().get("code").asText()).isEqualTo("VALID");
        assertThat(r.json().get("key_id").asText()).isEqualTo(id);
        assertThat(r.json().get("tier").asText()).isEqualTo("free");
        assertThat(r.header("X-RateLimit-Remaining")).contains(Long.toString(2 - i));
        assertThat(r.header("RateLimit-Policy")).contains("\"per_minute\";q=3;w=60, \"per_day\";q=100;w=86400");
      }
      TestServer.Response limited = check(t, secret);
      assertThat(limited.status()).isEqualTo(429);
      assertThat(limited.json().get("code").asText()).isEqualTo("RATE_LIMITED");
      assertThat(limited.header("Retry-After")).contains("30");

      // Unknown, malformed and missing keys.
      assertThat(check(t, "viva_live_notakey").status()).isEqualTo(401);
      assertThat(check(t, "viva_live_notakey").json().get("code").asText()).isEqualTo("NOT_FOUND");
      assertThat(check(t, io.viva.platform.KeyFormat.generate("viva_live_")).json().get("code").asText())
          .isEqualTo("NOT_FOUND");

      // Update: tier and per-key limits (the seeds' rate_limit shorthand), metadata, enabled.
      TestServer.Response upd = t.request("PATCH", "/api/v1/keys/" + id, "{\"tier\":\"pro\",\"rate_limit\":5,"
          + "\"metadata\":{\"plan\":\"growth\"}}", bearer(BOOT));
      assertThat(upd.status()).as(upd.body()).isEqualTo(200);
      assertThat(upd.json().get("tier").asText()).isEqualTo("pro");
      assertThat(upd.json().get("limits").get(0).get("limit").asLong()).isEqualTo(5);
      TestServer.Response afterUpdate = check(t, secret);
      assertThat(afterUpdate.status()).isEqualTo(200);
      assertThat(afterUpdate.header("X-RateLimit-Limit")).contains("5");

      assertThat(t.request("PATCH", "/api/v1/keys/" + id, "{\"enabled\":false}", bearer(BOOT)).status()).isEqualTo(200);
      TestServer.Response disabled = check(t, secret);
      assertThat(disabled.status()).isEqualTo(403);
      assertThat(disabled.json().get("code").asText()).isEqualTo("DISABLED");
      assertThat(t.get("/api/v1/keys?state=disabled", bearer(BOOT)).json().get("keys")).hasSize(1);
      assertThat(t.request("PATCH", "/api/v1/keys/" + id, "{\"enabled\":true,\"limits\":null}", bearer(BOOT)).status())
          .isEqualTo(200);
      assertThat(check(t, secret).header("X-RateLimit-Limit")).contains("100");

      // Rotation with a grace period: both secrets work until it ends, then only the new one.
      TestServer.Response rotated = t.post("/api/v1/keys/" + id + "/rotate", "{\"grace_period\":\"10m\"}", bearer(BOOT));
      assertThat(rotated.status()).as(rotated.body()).isEqualTo(200);
      String fresh = rotated.json().get("key").asText();
      assertThat(rotated.json().get("id").asText()).isEqualTo(id);
      assertThat(rotated.json().get("previous_key_valid_until").asText()).isEqualTo("2026-11-10T12:10:30Z");
      assertThat(fresh).isNotEqualTo(secret);
      assertThat(check(t, fresh).status()).isEqualTo(200);
      assertThat(check(t, secret).status()).isEqualTo(200);
      clock.advance(Duration.ofMinutes(10));
      assertThat(check(t, secret).json().get("code").asText()).isEqualTo("NOT_FOUND");
      assertThat(check(t, fresh).status()).isEqualTo(200);

      // Expiry on the fake clock.
      TestServer.Response exp = t.post("/api/v1/keys/" + id + "/expire", "{\"at\":\"2026-11-10T13:00:00Z\"}",
          bearer(BOOT));
      assertThat(exp.status()).as(exp.body()).isEqualTo(200);
      assertThat(check(t, fresh).status()).isEqualTo(200);
      clock.advance(Duration.ofHours(1));
      TestServer.Response expired = check(t, fresh);
      assertThat(expired.status()).isEqualTo(401);
      assertThat(expired.json().get("code").asText()).isEqualTo("EXPIRED");
      assertThat(t.request("PATCH", "/api/v1/keys/" + id, "{\"expires_at\":null}", bearer(BOOT)).status())
          .isEqualTo(200);
      assertThat(check(t, fresh).status()).isEqualTo(200);

      // Revocation is final.
      assertThat(t.request("DELETE", "/api/v1/keys/" + id, null, bearer(BOOT)).json().get("state").asText())
          .isEqualTo("revoked");
      assertThat(check(t, fresh).json().get("code").asText()).isEqualTo("DISABLED");
      assertThat(t.request("PATCH", "/api/v1/keys/" + id, "{\"enabled\":true}", bearer(BOOT)).status()).isEqualTo(409);
      assertThat(t.post("/api/v1/keys/" + id + "/rotate", null, bearer(BOOT)).status()).isEqualTo(409);
      assertThat(t.get("/api/v1/keys/key_doesnotexist", bearer(BOOT)).status()).isEqualTo(404);

      // A used-up monthly quota (0 until usage counting lands) comes before the rate limit.
      String noQuota = createKey(t, BOOT, "{\"name\":\"q\",\"tier\":\"free\",\"monthly_quota\":0}").get("key")
          .asText();
      TestServer.Response usage = check(t, noQuota);
      assertThat(usage.status()).isEqualTo(429);
      assertThat(usage.json().get("code").asText()).isEqualTo("USAGE_EXCEEDED");
      assertThat(usage.header("Retry-After")).isPresent();

      // Metrics by outcome.
      assertThat(t.metric("viva_key_verifications_total", "outcome=\"valid\"")).isGreaterThanOrEqualTo(8);
      assertThat(t.metric("viva_key_verifications_total", "outcome=\"expired\"")).isEqualTo(1);
      assertThat(t.metric("viva_key_cache_hits_total", "")).isGreaterThan(0);

      // last_used_at arrives in a batch, not per request.
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(t.get("/api/v1/keys/" + id, bearer(BOOT)).json().get("last_used_at").isNull()).isFalse());
    }
  }

  @Test
  void listingFiltersAndPages() {
    try (TestServer t = start()) {
      createKey(t, BOOT, "{\"name\":\"a\",\"tier\":\"free\",\"owner_id\":\"cus_a\"}");
      clock.advance(Duration.ofSeconds(1));
      createKey(t, BOOT, "{\"name\":\"b\",\"tier\":\"pro\",\"owner_id\":\"cus_b\"}");
      clock.advance(Duration.ofSeconds(1));
      createKey(t, BOOT, "{\"name\":\"c\",\"tier\":\"pro\",\"owner_id\":\"cus_a\",\"environment\":\"test\"}");
      JsonNode page1 = t.get("/api/v1/keys?limit=2", bearer(BOOT)).json();
      assertThat(page1.get("keys")).extracting(k -> k.get("name").asText()).containsExactly("c", "b");
      assertThat(page1.get("next_offset").asInt()).isEqualTo(2);
      JsonNode page2 = t.get("/api/v1/keys?limit=2&offset=2", bearer(BOOT)).json();
      assertThat(page2.get("keys")).extracting(k -> k.get("name").asText()).containsExactly("a");
      assertThat(page2.get("next_offset").isNull()).isTrue();
      assertThat(t.get("/api/v1/keys?owner_id=cus_a", bearer(BOOT)).json().get("keys")).hasSize(2);
      assertThat(t.get("/api/v1/keys?tier=pro&owner_id=cus_a", bearer(BOOT)).json().get("keys")).hasSize(1);
      assertThat(t.get("/api/v1/keys?state=active", bearer(BOOT)).json().get("keys")).hasSize(3);
      assertThat(t.get("/api/v1/keys?state=bogus", bearer(BOOT)).status()).isEqualTo(400);
      assertThat(t.get("/api/v1/keys?limit=0", bearer(BOOT)).status()).isEqualTo(400);
    }
  }

  @Test
  void rolesAndTokens() {
    try (TestServer t = start()) {
      assertThat(t.get("/api/v1/keys").status()).isEqualTo(401);
      assertThat(t.get("/api/v1/keys", bearer("wrong")).status()).isEqualTo(401);
      assertThat(t.get("/api/v1/keys", bearer("viva_admin_" + "x".repeat(38))).status()).isEqualTo(401);

      String viewer = token(t, BOOT, "dash", "viewer");
      String operator = token(t, BOOT, "ops", "operator");
      String admin = token(t, BOOT, "second admin", "admin");

      // viewer: reads keys and tiers; nothing else.
      assertThat(t.get("/api/v1/keys", bearer(viewer)).status()).isEqualTo(200);
      assertThat(t.get("/api/v1/tiers", bearer(viewer)).status()).isEqualTo(200);
      TestServer.Response denied = t.post("/api/v1/keys", "{\"name\":\"x\"}", bearer(viewer));
      assertThat(denied.status()).isEqualTo(403);
      assertThat(denied.json().get("error").asText()).isEqualTo("forbidden");
      assertThat(t.get("/api/v1/audit", bearer(viewer)).status()).isEqualTo(403);
      assertThat(t.get("/api/v1/admin-tokens", bearer(viewer)).status()).isEqualTo(403);

      // operator: the key lifecycle and the audit log; not tokens.
      JsonNode key = createKey(t, operator, "{\"name\":\"x\",\"tier\":\"pro\"}");
      String id = key.get("id").asText();
      assertThat(t.post("/api/v1/keys/" + id + "/rotate", "{}", bearer(operator)).status()).isEqualTo(200);
      assertThat(t.post("/api/v1/keys/" + id + "/revoke", null, bearer(viewer)).status()).isEqualTo(403);
      assertThat(t.post("/api/v1/keys/" + id + "/revoke", null, bearer(operator)).status()).isEqualTo(200);
      assertThat(t.get("/api/v1/audit", bearer(operator)).status()).isEqualTo(200);
      assertThat(t.post("/api/v1/admin-tokens", "{\"name\":\"n\",\"role\":\"admin\"}", bearer(operator)).status())
          .isEqualTo(403);

      // admin: tokens; tokens are listed without their secrets and revocable.
      TestServer.Response tokens = t.get("/api/v1/admin-tokens", bearer(admin));
      assertThat(tokens.status()).isEqualTo(200);
      assertThat(tokens.json().get("tokens")).hasSize(3);
      assertThat(tokens.body()).doesNotContain(viewer).doesNotContain(operator).doesNotContain(admin);
      String viewerId = null;
      for (JsonNode n : tokens.json().get("tokens")) {
        if (n.get("name").asText().equals("dash")) {
          viewerId = n.get("id").asText();
          assertThat(n.get("role").asText()).isEqualTo("viewer");
          assertThat(viewer).startsWith(n.get("token_start").asText());
        }
      }
      assertThat(t.request("DELETE", "/api/v1/admin-tokens/" + viewerId, null, bearer(admin)).status()).isEqualTo(200);
      assertThat(t.get("/api/v1/keys", bearer(viewer)).status()).isEqualTo(401);

      // Bad input is a 400 naming the field.
      TestServer.Response bad = t.post("/api/v1/admin-tokens", "{\"name\":\"n\",\"role\":\"root\"}", bearer(admin));
      assertThat(bad.status()).isEqualTo(400);
      assertThat(bad.json().get("message").asText()).startsWith("role: \"root\"");
      assertThat(t.post("/api/v1/keys", "{\"name\":\"x\",\"tier\":\"gold\"}", bearer(admin)).json().get("message")
          .asText()).startsWith("tier: \"gold\" (expected: one of anonymous, free, pro)");
      assertThat(t.post("/api/v1/keys", "{\"name\":\"x\",\"colour\":1}", bearer(admin)).status()).isEqualTo(400);
      assertThat(t.post("/api/v1/keys", "{\"name\":", bearer(admin)).status()).isEqualTo(400);
      assertThat(t.post("/api/v1/keys", "{\"name\":\"x\",\"limits\":[{\"algorithm\":\"token_bucket\",\"limit\":0,"
          + "\"window\":\"1m\"}]}", bearer(admin)).json().get("error").asText()).isEqualTo("invalid_limits");
      assertThat(t.post("/api/v1/rate-limit/check", "{\"cost\":-1}", "X-API-Key", "viva_live_x").status())
          .isEqualTo(400);
    }
  }

  static String token(TestServer t, String as, String name, String role) {
    TestServer.Response r = t.post("/api/v1/admin-tokens", "{\"name\":\"" + name + "\",\"role\":\"" + role + "\"}",
        bearer(as));
    assertThat(r.status()).as(r.body()).isEqualTo(201);
    assertThat(r.json().get("token").asText()).startsWith("viva_admin_");
    return r.json().get("token").asText();
  }

  @Test
  void everyOperationIsAuditedWithoutSecrets() {
    try (TestServer t = start()) {
      String operator = token(t, BOOT, "ops", "operator");
      JsonNode key = createKey(t, operator, "{\"name\":\"x\",\"tier\":\"free\"}");
      String id = key.get("id").asText();
      TestServer.Response rot = t.post("/api/v1/keys/" + id + "/rotate", "{\"grace_period\":\"0s\"}", bearer(operator));
      t.post("/api/v1/keys/" + id + "/revoke", null, bearer(operator));
      t.post("/api/v1/admin-tokens", "{\"name\":\"n\",\"role\":\"admin\"}", bearer(operator)); // denied
      t.post("/api/v1/keys/key_missing0000/revoke", null, bearer(operator)); // not found

      TestServer.Response audit = t.get("/api/v1/audit", bearer(BOOT));
      assertThat(audit.status()).isEqualTo(200);
      List<String> actions = audit.json().get("entries").findValues("action").stream().map(JsonNode::asText).toList();
      assertThat(actions).containsExactly("key.revoke", "token.create", "key.revoke", "key.rotate", "key.create",
          "token.create");
      JsonNode notFound = audit.json().get("entries").get(0);
      assertThat(notFound.get("result").asText()).isEqualTo("not_found");
      JsonNode deniedEntry = audit.json().get("entries").get(1);
      assertThat(deniedEntry.get("result").asText()).isEqualTo("denied");
      JsonNode create = audit.json().get("entries").get(4);
      assertThat(create.get("actor").asText()).startsWith("token:tok_");
      assertThat(create.get("target").asText()).isEqualTo(id);
      assertThat(create.get("source_ip").asText()).isEqualTo("127.0.0.1");
      assertThat(create.get("result").asText()).isEqualTo("success");
      assertThat(create.get("at").asText()).isEqualTo("2026-11-10T12:00:30Z");
      assertThat(audit.body()).doesNotContain(key.get("key").asText()).doesNotContain(rot.json().get("key").asText())
          .doesNotContain(operator).doesNotContain(BOOT);
      assertThat(t.get("/api/v1/audit?target=" + id, bearer(BOOT)).json().get("entries")).hasSize(3);
      assertThat(t.get("/api/v1/audit?limit=2", bearer(BOOT)).json().get("next_before").asLong()).isPositive();
    }
  }

  @Test
  void revocationReachesASecondInstanceSharingTheDatabase() {
    try (TestServer a = start(); TestServer b = start()) {
      JsonNode key = createKey(a, BOOT, "{\"name\":\"shared\",\"tier\":\"pro\"}");
      String secret = key.get("key").asText();
      assertThat(check(b, secret).status()).isEqualTo(200);
      assertThat(check(b, secret).status()).as("cached on b").isEqualTo(200);
      long t0 = System.nanoTime();
      assertThat(a.post("/api/v1/keys/" + key.get("id").asText() + "/revoke", null, bearer(BOOT)).status())
          .isEqualTo(200);
      assertThat(check(a, secret).status()).as("at once on the instance that revoked").isEqualTo(403);
      await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20)).untilAsserted(() ->
          assertThat(check(b, secret).status()).isEqualTo(403));
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));

      // Admin tokens follow the same change log.
      String ops = token(a, BOOT, "ops", "operator");
      assertThat(b.get("/api/v1/keys", bearer(ops)).status()).isEqualTo(200);
      String tokenId = a.get("/api/v1/admin-tokens", bearer(BOOT)).json().get("tokens").get(0).get("id").asText();
      assertThat(a.request("DELETE", "/api/v1/admin-tokens/" + tokenId, null, bearer(BOOT)).status()).isEqualTo(200);
      await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20)).untilAsserted(() ->
          assertThat(b.get("/api/v1/keys", bearer(ops)).status()).isEqualTo(401));
    }
  }

  @Test
  void tierChangeInTheConfigFileAppliesLiveToEveryKeyOnIt() throws Exception {
    Path file = dir.resolve("viva.yaml");
    Files.writeString(file, TIERS);
    ServerConfig base = ServerConfig.load(file, Map.of("MODE", "full", "ADMIN_TOKEN", BOOT, "DATABASE_URL",
        database.url(), "API_KEY_PEPPER", PEPPER, "ACCESS_LOG", "false", "DATA_DIR", dir.toString()));
    try (TestServer t = TestServer.start(base, new VivaServer.Options(clock, null, Duration.ofMillis(100)))) {
      String k1 = createKey(t, BOOT, "{\"name\":\"one\",\"tier\":\"free\"}").get("key").asText();
      String k2 = createKey(t, BOOT, "{\"name\":\"two\",\"tier\":\"free\"}").get("key").asText();
      for (int i = 0; i < 3; i++) {
        check(t, k1);
        check(t, k2);
      }
      assertThat(check(t, k1).status()).isEqualTo(429);
      assertThat(check(t, k2).status()).isEqualTo(429);
      Files.writeString(file, TIERS.replace("limit: 3, window: 1m", "limit: 10, window: 1m"));
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(check(t, k1).status()).isEqualTo(200));
      assertThat(check(t, k2).status()).isEqualTo(200);
      assertThat(check(t, k2).header("X-RateLimit-Limit")).contains("10");
      assertThat(t.get("/api/v1/tiers/free", bearer(BOOT)).json().get("limits").get(0).get("limit").asLong())
          .isEqualTo(10);
      assertThat(t.get("/api/v1/audit?action=tier.reload", bearer(BOOT)).json().get("entries")).hasSize(1);
    }
  }

  @Test
  void anonymousRequestsGetTheAnonymousTier() {
    try (TestServer t = start()) {
      TestServer.Response r = check(t, null);
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.json().get("tier").asText()).isEqualTo("anonymous");
      assertThat(r.json().has("key_id")).isFalse();
      check(t, null);
      assertThat(check(t, null).status()).isEqualTo(429);
      JsonNode tiers = t.get("/api/v1/tiers", bearer(BOOT)).json().get("tiers");
      assertThat(tiers).extracting(n -> n.get("name").asText()).containsExactly("anonymous", "free", "pro");
      assertThat(t.get("/api/v1/tiers/pro", bearer(BOOT)).json().get("monthly_quota").asText()).isEqualTo("unlimited");
      assertThat(t.get("/api/v1/tiers/gold", bearer(BOOT)).status()).isEqualTo(404);
    }
  }

  @Test
  void anonymousClientsBehindATrustedProxyAreToldApartByXForwardedFor() {
    ServerConfig cfg = config(platform(database.url(), dir, java.util.List.of("127.0.0.0/8", "::1")), TIERS);
    try (TestServer t = TestServer.start(cfg, TestServer.options(clock))) {
      // The anonymous tier allows 2 a minute per client: each forwarded address has its own 2.
      for (String client : new String[] {"203.0.113.7", "198.51.100.9"}) {
        for (int i = 0; i < 2; i++) {
          assertThat(t.post("/api/v1/rate-limit/check", null, "X-Forwarded-For", client).status()).isEqualTo(200);
        }
        assertThat(t.post("/api/v1/rate-limit/check", null, "X-Forwarded-For", client).status()).isEqualTo(429);
      }
      // The right-most untrusted hop counts; what it was handed further left is not believed.
      assertThat(t.post("/api/v1/rate-limit/check", null, "X-Forwarded-For", "198.51.100.9, 192.0.2.1").status())
          .isEqualTo(200);
    }
    // Without trusted proxies the header is ignored: every anonymous request is the peer's.
    try (TestServer t = start()) {
      assertThat(t.post("/api/v1/rate-limit/check", null, "X-Forwarded-For", "203.0.113.7").status()).isEqualTo(200);
      assertThat(t.post("/api/v1/rate-limit/check", null, "X-Forwarded-For", "198.51.100.9").status()).isEqualTo(200);
      assertThat(t.post("/api/v1/rate-limit/check", null, "X-Forwarded-For", "192.0.2.1").status()).isEqualTo(429);
    }
  }

  @Test
  void embeddedH2IsTheDefaultAndHasTheBuiltInTiers() {
    ServerConfig cfg = ServerConfig.defaults().with(l -> {
      l.adminToken = BOOT;
      l.accessLog = false;
    }).withPlatformForTest(new PlatformConfig(null, dir.resolve("data"), null, Duration.ofHours(1), 1000,
        Duration.ofSeconds(1), Duration.ofSeconds(10), java.util.List.of()), null);
    try (TestServer t = TestServer.start(cfg, TestServer.options(clock))) {
      JsonNode tiers = t.get("/api/v1/tiers", bearer(BOOT)).json().get("tiers");
      assertThat(tiers).extracting(n -> n.get("name").asText())
          .containsExactly("anonymous", "free", "basic", "pro", "premium", "enterprise");
      String secret = createKey(t, BOOT, "{\"name\":\"x\",\"tier\":\"enterprise\"}").get("key").asText();
      assertThat(check(t, secret).status()).isEqualTo(200);
      assertThat(t.get("/health/ready").json().get("database").asText()).isEqualTo("up");
    }
    assertThat(dir.resolve("data").resolve("key-pepper")).exists();
  }

  @Test
  void badInputIsAlwaysA4xxJsonErrorNeverA5xx() {
    java.util.Random random = new java.util.Random(42);
    String[] bodies = {"", "{", "[]", "null", "42", "\"x\"", "{\"name\":null}", "{\"name\":\"\"}",
        "{\"name\":\"" + "n".repeat(300) + "\"}", "{\"name\":\"a\",\"rate_limit\":-1}",
        "{\"name\":\"a\",\"rate_limit\":1e99}", "{\"name\":\"a\",\"limits\":\"x\"}",
        "{\"name\":\"a\",\"limits\":[{}]}", "{\"name\":\"a\",\"metadata\":[1]}",
        "{\"name\":\"a\",\"metadata\":{\"k\":\"" + "v".repeat(5000) + "\"}}", "{\"name\":\"a\",\"expires_at\":\"soon\"}",
        "{\"name\":\"a\",\"expires_in\":\"-1s\"}", "{\"name\":\"a\",\"monthly_quota\":\"x\"}",
        "{\"name\":\"a\",\"environment\":\"prod\"}", "{\"enabled\":\"yes\"}", "{\"grace_period\":true}",
        "{\"at\":5}", "{\"cost\":\"1\"}", "{\"cost\":99999999999999999999}", "{\"role\":\"admin\"}",
        "{\"name\":\"a\",\"name\":\"b\"}"};
    String[][] targets = {{"POST", "/api/v1/keys"}, {"PATCH", "/api/v1/keys/key_abc"}, {"POST", "/api/v1/keys/key_x/rotate"},
        {"POST", "/api/v1/keys/key_x/expire"}, {"POST", "/api/v1/admin-tokens"}, {"POST", "/api/v1/rate-limit/check"},
        {"GET", "/api/v1/keys?limit=abc"}, {"GET", "/api/v1/audit?before=x"}, {"DELETE", "/api/v1/admin-tokens/%00"},
        {"PUT", "/api/v1/keys"}, {"GET", "/api/v1/keys/" + "k".repeat(2000)}};
    try (TestServer t = start()) {
      String id = createKey(t, BOOT, "{\"name\":\"victim\",\"tier\":\"free\"}").get("id").asText();
      for (int i = 0; i < 300; i++) {
        String[] target = targets[random.nextInt(targets.length)];
        String path = target[1].replace("key_abc", id);
        String body = bodies[random.nextInt(bodies.length)];
        String[] headers = random.nextBoolean() ? bearer(BOOT) : new String[] {"X-API-Key", random.nextBoolean()
            ? "viva_live_" + "a".repeat(random.nextInt(60)) : "\u00e9t\u00e9"};
        TestServer.Response r;
        try {
          r = t.request(target[0], path, body.isEmpty() ? null : body, headers);
        } catch (IllegalArgumentException e) {
          continue; // a header value the JDK client itself refuses to send
        }
        assertThat(r.status()).as(target[0] + " " + path + " " + body + " -> " + r.body()).isBetween(200, 499);
        if (r.status() >= 400 && !r.json().has("code")) { // a verification answer carries a code instead
          assertThat(r.json().get("error").isTextual()).as(r.body()).isTrue();
          assertThat(r.json().get("message").isTextual()).isTrue();
        }
      }
      assertThat(t.get("/api/v1/keys/" + id, bearer(BOOT)).status()).isEqualTo(200);
    }
  }

  @Test
  void standaloneModeHasNoKeyApi() {
    try (TestServer t = TestServer.start(ServerConfig.defaults().with(l -> l.adminToken = BOOT))) {
      assertThat(t.get("/api/v1/keys", bearer(BOOT)).status()).isEqualTo(404);
      assertThat(t.post("/api/v1/rate-limit/check", null).status()).isEqualTo(404);
      assertThat(t.get("/health/ready").body()).isEqualTo("{\"status\":\"UP\"}");
    }
  }
}
