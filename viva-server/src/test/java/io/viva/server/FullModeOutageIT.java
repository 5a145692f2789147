package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.grpc.Status;
import io.viva.api.v1.VerifyKeyResponse;
import io.viva.core.ManualClock;
import io.viva.platform.PostgresProcess;
import io.viva.platform.TestDatabase;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PostgreSQL stopped and started again under a running server (a PostgreSQL of the test's own on
 * a free port; the shared one is never touched): cached keys keep verifying (over HTTP and gRPC),
 * writes answer 503 JSON, an unseen key 503 (gRPC: UNAVAILABLE), readiness reports the database
 * down, and everything recovers by itself.
 */
class FullModeOutageIT {

  @TempDir
  java.nio.file.Path dir;

  @Test
  void verificationSurvivesADatabaseOutageAndWritesRecover() throws Exception {
    try (PostgresProcess pg = PostgresProcess.start()) {
      TestDatabase db = TestDatabase.create(pg.adminUrl());
      ManualClock clock = ManualClock.at(Instant.parse("2026-11-10T12:00:00Z"));
      try (TestServer t = TestServer.start(FullModeIT.config(db.url(), dir, FullModeIT.TIERS),
          TestServer.options(clock))) {
        JsonNode key = FullModeIT.createKey(t, FullModeIT.BOOT, "{\"name\":\"k\",\"tier\":\"pro\"}");
        String secret = key.get("key").asText();
        String uncached = FullModeIT.createKey(t, FullModeIT.BOOT, "{\"name\":\"u\",\"tier\":\"pro\"}").get("key")
            .asText();
        assertThat(FullModeIT.check(t, secret).status()).isEqualTo(200);

        pg.stopServer();

        // Cached keys verify; the hot path never needed the database.
        for (int i = 0; i < 5; i++) {
          assertThat(FullModeIT.check(t, secret).status()).isEqualTo(200);
        }
        // Writes fail with a clear 503.
        TestServer.Response write = t.post("/api/v1/keys", "{\"name\":\"x\",\"tier\":\"pro\"}",
            FullModeIT.bearer(FullModeIT.BOOT));
        assertThat(write.status()).isEqualTo(503);
        assertThat(write.json().get("error").asText()).isEqualTo("database_unavailable");
        assertThat(write.header("Retry-After")).contains("5");
        // A key never seen by this instance cannot be verified without the database: 503, not a guess.
        TestServer.Response unknown = FullModeIT.check(t, uncached);
        assertThat(unknown.status()).isEqualTo(503);
        assertThat(unknown.json().get("error").asText()).isEqualTo("database_unavailable");
        // Over gRPC alike: the cached key is VALID, the unseen one UNAVAILABLE (an error, not an answer).
        GrpcVerifyKeyIT.withChannel(t, c -> {
          assertThat(c.verify(secret).getCode()).isEqualTo(VerifyKeyResponse.Code.VALID);
          assertThatThrownBy(() -> c.verify(uncached)).satisfies(e -> {
            assertThat(GrpcVerifyKeyIT.status(e).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(GrpcVerifyKeyIT.status(e).getDescription()).isEqualTo("the key is not cached and the key"
                + " database is unreachable (retry later)");
          });
        });
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
          JsonNode ready = t.get("/health/ready").json();
          assertThat(ready.get("database").asText()).isEqualTo("down");
          assertThat(ready.get("status").asText()).isEqualTo("UP");
        });
        assertThat(t.metric("viva_database_up", "")).isZero();

        pg.startServer();

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
            assertThat(t.post("/api/v1/keys", "{\"name\":\"after\",\"tier\":\"pro\"}",
                FullModeIT.bearer(FullModeIT.BOOT)).status()).isEqualTo(201));
        assertThat(FullModeIT.check(t, uncached).status()).isEqualTo(200);
        assertThat(FullModeIT.check(t, secret).status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
            assertThat(t.get("/health/ready").json().get("database").asText()).isEqualTo("up"));
        // last_used_at marks made during the outage were kept and written after it.
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
            assertThat(t.get("/api/v1/keys/" + key.get("id").asText(), FullModeIT.bearer(FullModeIT.BOOT)).json()
                .get("last_used_at").isNull()).isFalse());
        // Revocation works again, through the change log too.
        assertThat(t.post("/api/v1/keys/" + key.get("id").asText() + "/revoke", null,
            FullModeIT.bearer(FullModeIT.BOOT)).status()).isEqualTo(200);
        assertThat(FullModeIT.check(t, secret).status()).isEqualTo(403);
      } finally {
        db.drop();
      }
    }
  }
}
