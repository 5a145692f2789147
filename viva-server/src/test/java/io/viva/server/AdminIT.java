package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.ManualClock;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** {@code GET/PUT /admin/policies}: disabled without a token, 401 with a wrong one, atomic replace with the right one. */
class AdminIT {

  static final String CONFIG = """
      server:
        admin_token: s3cret-token
      policies:
        - namespace: keep
          algorithm: fixed_window
          limit: 5
          window: 1h
        - namespace: change
          algorithm: fixed_window
          limit: 5
          window: 1h
      """;

  @Test
  void withoutTokenTheAdminApiIsDisabled() {
    try (TestServer t = TestServer.start(ServerConfig.defaults())) {
      for (TestServer.Response r : new TestServer.Response[] {t.get("/admin/policies"),
          t.request("PUT", "/admin/policies", "policies: []", "Authorization", "Bearer x")}) {
        ApiIT.assertError(r, 403, "admin_disabled", "set ADMIN_TOKEN");
      }
    }
  }

  @Test
  void wrongOrMissingTokenIs401() {
    try (TestServer t = TestServer.start(TestServer.config(CONFIG))) {
      TestServer.Response missing = t.get("/admin/policies");
      ApiIT.assertError(missing, 401, "unauthorized", "Authorization: missing");
      assertThat(missing.header("WWW-Authenticate")).contains("Bearer realm=\"viva-admin\"");
      ApiIT.assertError(t.get("/admin/policies", "Authorization", "Bearer wrong"), 401, "unauthorized", "wrong");
      ApiIT.assertError(t.get("/admin/policies", "Authorization", "Basic czNjcmV0LXRva2Vu"), 401, "unauthorized", "wrong");
      ApiIT.assertError(t.get("/admin/policies", "Authorization", "Bearer s3cret-tokenX"), 401, "unauthorized", "wrong");
      ApiIT.assertError(t.request("PUT", "/admin/policies", "{}", "Authorization", "Bearer nope",
          "Content-Type", "application/json"), 401, "unauthorized", "wrong");
    }
  }

  @Test
  void getAndPutReplaceAtomicallyKeepingCountersOfUnchangedPolicies() {
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    try (TestServer t = TestServer.start(TestServer.config(CONFIG), TestServer.options(clock))) {
      String auth = "Bearer s3cret-token";
      TestServer.Response get = t.get("/admin/policies", "Authorization", auth);
      assertThat(get.status()).isEqualTo(200);
      JsonNode state = get.json();
      assertThat(state.get("version").asLong()).isEqualTo(1);
      assertThat(state.get("source").asText()).isEqualTo("file");
      assertThat(state.get("policies")).hasSize(2);
      assertThat(state.get("policies").get(0).get("limits").get(0).get("window").asText()).isEqualTo("1h");

      for (int i = 0; i < 3; i++) {
        t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"keep\"}");
        t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"change\"}");
      }

      // YAML body: keep unchanged, change gets a new limit, added is new.
      String yaml = """
          policies:
            - {namespace: keep, algorithm: fixed_window, limit: 5, window: 1h}
            - {namespace: change, algorithm: fixed_window, limit: 50, window: 1h}
            - {namespace: added, limit: 7, window: 1m}
          """;
      TestServer.Response put = t.request("PUT", "/admin/policies", yaml, "Authorization", auth,
          "Content-Type", "application/yaml");
      assertThat(put.status()).as(put.body()).isEqualTo(200);
      assertThat(put.json().get("version").asLong()).isEqualTo(2);
      assertThat(put.json().get("source").asText()).isEqualTo("admin");
      assertThat(put.json().get("policies")).hasSize(3);

      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"keep\"}").json().get("remaining").asLong())
          .as("counters of an unchanged policy survive").isEqualTo(1);
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"change\"}").json().get("remaining").asLong())
          .as("a changed limit starts afresh").isEqualTo(49);
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"added\"}").status()).isEqualTo(200);

      // JSON body, invalid: rejected with the path, previous policies keep serving.
      double failures = t.metric("viva_config_reloads_total", "result=\"failure\",source=\"admin\"");
      TestServer.Response bad = t.request("PUT", "/admin/policies",
          "{\"policies\":[{\"namespace\":\"keep\",\"limit\":5,\"window\":\"5x\"}]}", "Authorization", auth,
          "Content-Type", "application/json");
      ApiIT.assertError(bad, 400, "invalid_policies", "policies[0].window: \"5x\"");
      assertThat(t.metric("viva_config_reloads_total", "result=\"failure\",source=\"admin\"")).isEqualTo(failures + 1);
      assertThat(t.get("/admin/policies", "Authorization", auth).json().get("version").asLong()).isEqualTo(2);
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"added\"}").status()).isEqualTo(200);

      ApiIT.assertError(t.request("PUT", "/admin/policies", "<policies/>", "Authorization", auth,
          "Content-Type", "application/xml"), 415, "unsupported_media_type", "application/xml");
      ApiIT.assertError(t.request("PUT", "/admin/policies", "server: {port: 1}\npolicies: []", "Authorization", auth,
          "Content-Type", "application/yaml"), 400, "invalid_policies", "cannot be changed at runtime");

      // What GET returns can be PUT back as it is.
      String current = t.get("/admin/policies", "Authorization", auth).body();
      assertThat(t.request("PUT", "/admin/policies", current.replaceFirst("\"version\":2,", "")
          .replaceFirst("\"source\":\"admin\",", "").replaceFirst("\"loaded_at\":\"[^\"]*\",", ""),
          "Authorization", auth, "Content-Type", "application/json").status()).isEqualTo(200);
      assertThat(t.post("/v1/check", "{\"identifier\":\"u\",\"namespace\":\"keep\"}").json().get("remaining").asLong())
          .isZero();
    }
  }
}
