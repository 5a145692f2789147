package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.ManualClock;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Usage, quotas and invoices over real HTTP on one server (embedded H2, in-process pipeline, a
 * manual clock): exact counts per outcome, the monthly quota enforced from counts, invoices of a
 * closed month with a key rotated and a tier changed mid-period.
 */
class UsageIT {

  static final String TIERS = """
      tiers:
        - name: free
          monthly_quota: 5
          limits: [{algorithm: fixed_window, limit: 1000, window: 1m}]
        - name: basic
          monthly_quota: 1000
          limits: [{algorithm: fixed_window, limit: 3, window: 1m}]
          billing: {currency: EUR, price: 900, included: 2, overage: [{per_1000: 1000}]}
        - name: pro
          monthly_quota: unlimited
          limits: [{algorithm: token_bucket, limit: 1000, window: 1m}]
          billing: {currency: EUR, price: 4900, included: 10, overage: [{up_to: 12, per_1000: 2000}, {per_1000: 500}]}
      """;

  @TempDir
  Path dir;

  final ManualClock clock = ManualClock.at(Instant.parse("2026-11-10T12:00:30Z"));

  TestServer start() {
    return TestServer.start(FullModeIT.config(null, dir, TIERS), TestServer.options(clock));
  }

  static String[] boot() {
    return FullModeIT.bearer(FullModeIT.BOOT);
  }

  @Test
  void countsEveryOutcomeExactlyAndServesThemByKeyAndOwner() {
    try (TestServer t = start()) {
      JsonNode key = FullModeIT.createKey(t, FullModeIT.BOOT, "{\"name\":\"a\",\"tier\":\"basic\",\"owner_id\":\"cus_9\"}");
      String id = key.get("id").asText();
      String secret = key.get("key").asText();
      int ok = 0;
      int limited = 0;
      for (int i = 0; i < 5; i++) {
        int s = FullModeIT.check(t, secret).status();
        ok += s == 200 ? 1 : 0;
        limited += s == 429 ? 1 : 0;
      }
      assertThat(ok).isEqualTo(3);
      assertThat(limited).isEqualTo(2);
      clock.advance(Duration.ofHours(1));
      assertThat(FullModeIT.check(t, secret).status()).isEqualTo(200);
      assertThat(t.post("/api/v1/usage/flush", null, boot()).status()).isEqualTo(200);

      TestServer.Response r = t.get("/api/v1/keys/" + id + "/usage?granularity=hour&from=2026-11-10T00:00:00Z"
          + "&to=2026-11-11T00:00:00Z", boot());
      assertThat(r.status()).as(r.body()).isEqualTo(200);
      JsonNode u = r.json();
      assertThat(u.get("totals").get("allowed").asLong()).isEqualTo(4);
      assertThat(u.get("totals").get("denied").asLong()).isEqualTo(2);
      assertThat(u.get("totals").get("rate_limited").asLong()).isEqualTo(2);
      assertThat(u.get("buckets")).hasSize(2);
      assertThat(u.get("buckets").get(0).get("start").asText()).isEqualTo("2026-11-10T12:00:00Z");
      assertThat(u.get("buckets").get(0).get("allowed").asLong()).isEqualTo(3);

      JsonNode owner = t.get("/api/v1/usage?owner=cus_9", boot()).json();
      assertThat(owner.get("totals").get("allowed").asLong()).isEqualTo(4);
      assertThat(owner.get("keys").get(0).get("key_id").asText()).isEqualTo(id);

      assertThat(t.get("/api/v1/keys/" + id + "/usage").status()).isEqualTo(401);
      assertThat(t.get("/api/v1/keys/" + id + "/usage?granularity=week", boot()).status()).isEqualTo(400);
      assertThat(t.get("/api/v1/keys/" + id + "/usage?granularity=minute&from=2020-01-01T00:00:00Z", boot())
          .status()).isEqualTo(400);
      assertThat(t.get("/api/v1/keys/" + id + "/usage?from=yesterday", boot()).status()).isEqualTo(400);
      assertThat(t.get("/api/v1/usage", boot()).status()).isEqualTo(400);
      assertThat(t.get("/api/v1/keys/key_nope/usage", boot()).status()).isEqualTo(404);
      String viewer = FullModeIT.token(t, FullModeIT.BOOT, "v", "viewer");
      assertThat(t.get("/api/v1/usage?owner=cus_9", FullModeIT.bearer(viewer)).status()).isEqualTo(200);
      assertThat(t.post("/api/v1/usage/flush", null, FullModeIT.bearer(viewer)).status()).isEqualTo(403);
    }
  }

  @Test
  void theMonthlyQuotaIsEnforcedFromCountsAndResetsWithTheMonth() {
    try (TestServer t = start()) {
      String secret = FullModeIT.createKey(t, FullModeIT.BOOT, "{\"name\":\"q\",\"tier\":\"free\"}").get("key").asText();
      for (int i = 0; i < 5; i++) {
        assertThat(FullModeIT.check(t, secret).status()).isEqualTo(200);
      }
      TestServer.Response over = FullModeIT.check(t, secret);
      assertThat(over.status()).isEqualTo(429);
      assertThat(over.json().get("code").asText()).isEqualTo("USAGE_EXCEEDED");
      // Still exceeded once the counts are in the database rather than in memory.
      t.post("/api/v1/usage/flush", null, boot());
      assertThat(FullModeIT.check(t, secret).json().get("code").asText()).isEqualTo("USAGE_EXCEEDED");
      clock.setMicros(Instant.parse("2026-12-01T00:00:01Z").toEpochMilli() * 1000);
      assertThat(FullModeIT.check(t, secret).status()).isEqualTo(200);
    }
  }

  @Test
  void invoicesOfAClosedMonthWithARotationAndATierChange() {
    try (TestServer t = start()) {
      JsonNode a = FullModeIT.createKey(t, FullModeIT.BOOT, "{\"name\":\"a\",\"tier\":\"pro\",\"owner_id\":\"cus_a\"}");
      JsonNode b = FullModeIT.createKey(t, FullModeIT.BOOT, "{\"name\":\"b\",\"tier\":\"basic\",\"owner_id\":\"cus_b\"}");
      String aId = a.get("id").asText();
      String bId = b.get("id").asText();
      String aSecret = a.get("key").asText();
      for (int i = 0; i < 8; i++) {
        assertThat(FullModeIT.check(t, aSecret).status()).isEqualTo(200);
      }
      // Rotated mid-period: the same key id, one line.
      aSecret = t.post("/api/v1/keys/" + aId + "/rotate", "{\"grace_period\":\"0s\"}", boot()).json().get("key").asText();
      for (int i = 0; i < 7; i++) {
        assertThat(FullModeIT.check(t, aSecret).status()).isEqualTo(200);
      }
      // basic for 2 requests, then pro (the tier at period end) for 2 more.
      String bSecret = b.get("key").asText();
      FullModeIT.check(t, bSecret);
      FullModeIT.check(t, bSecret);
      clock.advance(Duration.ofDays(5));
      assertThat(t.request("PATCH", "/api/v1/keys/" + bId, "{\"tier\":\"pro\"}", boot()).status()).isEqualTo(200);
      FullModeIT.check(t, bSecret);
      FullModeIT.check(t, bSecret);

      assertThat(t.post("/api/v1/invoices/close", "{\"period\":\"2026-11\"}", boot()).status()).isEqualTo(409);
      clock.setMicros(Instant.parse("2026-12-01T03:00:00Z").toEpochMilli() * 1000);
      TestServer.Response closed = t.post("/api/v1/invoices/close", "{\"period\":\"2026-11\"}", boot());
      assertThat(closed.status()).as(closed.body()).isEqualTo(200);
      assertThat(closed.json().get("issued")).hasSize(2);

      JsonNode list = t.get("/api/v1/invoices?period=2026-11", boot()).json().get("invoices");
      assertThat(list).hasSize(2);
      JsonNode invA = list.get(0).get("owner_id").asText().equals("cus_a") ? list.get(0) : list.get(1);
      JsonNode invB = list.get(0).get("owner_id").asText().equals("cus_b") ? list.get(0) : list.get(1);
      // cus_a: 15 requests on pro: 4900 + 10 included + 2 at 2000/1000 (4) + 3 at 500/1000 (1.5 -> 2)
      assertThat(invA.get("requests").asLong()).isEqualTo(15);
      assertThat(invA.get("total").asLong()).isEqualTo(4900 + 4 + 2);
      assertThat(invA.get("currency").asText()).isEqualTo("EUR");
      assertThat(invA.get("lines")).hasSize(4);
      assertThat(invA.get("lines").get(0).get("key_id").asText()).isEqualTo(aId);
      // cus_b: 4 requests, all billed at pro (its tier at the period's end): base only
      assertThat(invB.get("total").asLong()).isEqualTo(4900);
      assertThat(invB.get("lines").get(0).get("tier").asText()).isEqualTo("pro");

      TestServer.Response one = t.get("/api/v1/invoices/" + invA.get("id").asText(), boot());
      assertThat(one.status()).isEqualTo(200);
      assertThat(one.json()).isEqualTo(invA);
      // Closing again: the same invoices, nothing new.
      assertThat(t.post("/api/v1/invoices/close", "{\"period\":\"2026-11\"}", boot()).json().get("issued")).isEmpty();
      assertThat(t.get("/api/v1/invoices?period=2026-11", boot()).json().get("invoices")).isEqualTo(list);
      assertThat(t.get("/api/v1/invoices/inv_000000000000000000000000", boot()).status()).isEqualTo(404);
      assertThat(t.get("/api/v1/invoices?period=2026-13", boot()).status()).isEqualTo(400);
    }
  }

  @Test
  void badInputIsAClear4xxNeverA5xx() {
    try (TestServer t = start()) {
      String[][] posts = {
          {"/api/v1/invoices/close", "{"}, {"/api/v1/invoices/close", "[]"}, {"/api/v1/invoices/close", "{}"},
          {"/api/v1/invoices/close", "{\"period\":\"2026-1\"}"}, {"/api/v1/invoices/close", "{\"period\":7}"},
          {"/api/v1/invoices/close", "{\"period\":\"2026-11\",\"x\":1}"},
          {"/api/v1/invoices/close", "{\"period\":\"2999-01\"}"},
          {"/api/v1/webhooks", "{\"url\":\"http://h/x\",\"events\":[],\"secret\":\"0123456789abcdef\"}"},
          {"/api/v1/webhooks", "{\"url\":\"http://h/x\",\"events\":\"key.created\",\"secret\":\"0123456789abcdef\"}"},
          {"/api/v1/webhooks", "{\"url\":\"not a url\",\"events\":[\"*\"],\"secret\":\"0123456789abcdef\"}"},
          {"/api/v1/webhooks", "{\"url\":\"http://h/x\",\"events\":[1],\"secret\":\"0123456789abcdef\"}"},
          {"/api/v1/webhooks", "{\"url\":\"http://h/" + "x".repeat(3000) + "\",\"events\":[\"*\"],\"secret\":\"0123456789abcdef\"}"}};
      for (String[] p : posts) {
        TestServer.Response r = t.post(p[0], p[1], boot());
        assertThat(r.status()).as(p[0] + " " + p[1]).isBetween(400, 499);
        assertThat(r.json().has("error")).isTrue();
      }
      for (String path : new String[] {"/api/v1/usage?owner=" + "o".repeat(300), "/api/v1/usage?owner=x&from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
          "/api/v1/invoices?owner=", "/api/v1/invoices/inv_XYZ", "/api/v1/webhooks/x/deliveries",
          "/api/v1/webhooks/wh_abc/deliveries?limit=0", "/api/v1/keys/key_abc/usage?to=2026"}) {
        TestServer.Response r = t.get(path, boot());
        assertThat(r.status()).as(path).isBetween(400, 499);
      }
    }
  }
}
