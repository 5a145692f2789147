package io.viva.server;

import static io.viva.server.FullModeIT.bearer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.ManualClock;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin views ({@code /admin/*}) in full mode, on the embedded H2 database: full mode's admin
 * tokens and roles decide (reads viewer, changes operator), and a reset or a policy replacement is
 * an entry of full mode's audit log ({@code GET /api/v1/audit}).
 */
class FullModeAdminIT {

  @TempDir
  Path dir;

  @Test
  void adminViewsUseFullModesTokensRolesAndAuditLog() {
    ManualClock clock = ManualClock.at(Instant.parse("2026-11-10T12:00:30Z"));
    try (TestServer t = TestServer.start(FullModeIT.config(null, dir, FullModeIT.TIERS), TestServer.options(clock))) {
      String viewer = FullModeIT.token(t, FullModeIT.BOOT, "dash viewer", "viewer");
      String operator = FullModeIT.token(t, FullModeIT.BOOT, "dash operator", "operator");
      String operatorId = operatorId(t);

      // No or unknown token: 401; the standalone ADMIN_TOKEN check is not what decides (a viewer token works).
      assertThat(t.get("/admin/stats").status()).isEqualTo(401);
      assertThat(t.get("/admin/stats", bearer("viva_admin_" + "x".repeat(40))).status()).isEqualTo(401);
      TestServer.Response stats = t.get("/admin/stats", bearer(viewer));
      assertThat(stats.status()).as(stats.body()).isEqualTo(200);
      assertThat(stats.json().get("mode").asText()).isEqualTo("full");
      assertThat(stats.json().get("platform").asBoolean()).isTrue();
      assertThat(t.get("/admin/top_offenders?window=hour", bearer(viewer)).status()).isEqualTo(200);
      assertThat(t.get("/admin/resources", bearer(viewer)).status()).isEqualTo(200);
      assertThat(t.get("/admin/policies", bearer(viewer)).status()).isEqualTo(200);
      assertThat(t.get("/admin/stats", bearer(FullModeIT.BOOT)).status()).isEqualTo(200);

      // Changes need operator: a viewer is refused with 403 and nothing is reset.
      String reset = "{\"identifier\":\"user_7\",\"namespace\":\"default\"}";
      TestServer.Response refused = t.post("/admin/reset", reset, bearer(viewer));
      assertThat(refused.status()).isEqualTo(403);
      assertThat(refused.json().get("error").asText()).isEqualTo("forbidden");
      assertThat(t.request("PUT", "/admin/policies", "policies: [{namespace: default, limit: 5, window: 1m}]",
          bearer(viewer)).status()).isEqualTo(403);

      TestServer.Response done = t.post("/admin/reset", reset, bearer(operator));
      assertThat(done.status()).as(done.body()).isEqualTo(200);
      TestServer.Response put = t.request("PUT", "/admin/policies",
          "policies: [{namespace: default, limit: 5, window: 1m}]", "Authorization", "Bearer " + operator,
          "Content-Type", "application/yaml");
      assertThat(put.status()).as(put.body()).isEqualTo(200);

      // Both are in full mode's audit log, by the operator's token, with the caller's address.
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
        JsonNode entries = t.get("/api/v1/audit", bearer(operator)).json().get("entries");
        JsonNode resetEntry = find(entries, "limits.reset");
        assertThat(resetEntry).as(entries.toString()).isNotNull();
        assertThat(resetEntry.get("actor").asText()).isEqualTo("token:" + operatorId);
        assertThat(resetEntry.get("target").asText()).isEqualTo("default/user_7");
        assertThat(resetEntry.get("result").asText()).isEqualTo("success");
        assertThat(resetEntry.get("source_ip").asText()).isEqualTo("127.0.0.1");
        JsonNode refusedEntry = find(entries, "admin.write");
        assertThat(refusedEntry).as(entries.toString()).isNotNull();
        assertThat(refusedEntry.get("result").asText()).isEqualTo("denied");
        JsonNode putEntry = find(entries, "policies.replace");
        assertThat(putEntry).as(entries.toString()).isNotNull();
        assertThat(putEntry.get("actor").asText()).isEqualTo("token:" + operatorId);
      });
      assertThat(t.get("/api/v1/audit?action=limits.reset", bearer(operator)).body()).doesNotContain(operator)
          .doesNotContain(viewer).doesNotContain(FullModeIT.BOOT);
    }
  }

  @Test
  void standaloneStatsSayThereIsNoPlatform() {
    ServerConfig config = ServerConfig.defaults().with(l -> {
      l.adminToken = "standalone-admin";
      l.accessLog = false;
    });
    try (TestServer t = TestServer.start(config)) {
      JsonNode stats = t.get("/admin/stats", bearer("standalone-admin")).json();
      assertThat(stats.get("mode").asText()).isEqualTo("standalone");
      assertThat(stats.get("platform").asBoolean()).isFalse();
    }
  }

  private static String operatorId(TestServer t) {
    for (JsonNode tok : t.get("/api/v1/admin-tokens", bearer(FullModeIT.BOOT)).json().get("tokens")) {
      if (tok.get("name").asText().equals("dash operator")) {
        return tok.get("id").asText();
      }
    }
    throw new AssertionError("no operator token listed");
  }

  private static JsonNode find(JsonNode entries, String action) {
    for (JsonNode e : entries) {
      if (e.get("action").asText().equals(action)) {
        return e;
      }
    }
    return null;
  }
}
