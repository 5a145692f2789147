package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.ManualClock;
import io.viva.platform.TestDatabase;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code viva keys ...} against a running full-mode server. */
class KeysCommandIT {

  @TempDir
  java.nio.file.Path dir;

  @Test
  void createListRotateRevoke() throws Exception {
    TestDatabase db = TestDatabase.create();
    try (TestServer t = TestServer.start(FullModeIT.config(db.url(), dir, FullModeIT.TIERS),
        TestServer.options(ManualClock.at(Instant.parse("2026-11-10T12:00:00Z"))))) {
      String[] target = {"--url", t.base, "--token", FullModeIT.BOOT};
      MainTest.Run created = MainTest.run(concat(new String[] {"keys", "create", "--name", "cli key", "--tier", "pro",
          "--owner", "cus_9", "--rate-limit", "50", "--metadata", "{\"src\":\"cli\"}"}, target));
      assertThat(created.code()).as(created.err()).isZero();
      JsonNode key = TestServer.JSON.readTree(created.out());
      String id = key.get("id").asText();
      assertThat(key.get("key").asText()).startsWith("viva_live_");
      assertThat(FullModeIT.check(t, key.get("key").asText()).status()).isEqualTo(200);

      MainTest.Run list = MainTest.run(concat(new String[] {"keys", "list", "--owner", "cus_9"}, target));
      assertThat(list.code()).isZero();
      assertThat(TestServer.JSON.readTree(list.out()).get("keys")).hasSize(1);

      MainTest.Run rotated = MainTest.run(concat(new String[] {"keys", "rotate", id, "--grace", "0s"}, target));
      assertThat(rotated.code()).as(rotated.err()).isZero();
      String fresh = TestServer.JSON.readTree(rotated.out()).get("key").asText();
      assertThat(FullModeIT.check(t, key.get("key").asText()).status()).isEqualTo(401);
      assertThat(FullModeIT.check(t, fresh).status()).isEqualTo(200);

      MainTest.Run revoked = MainTest.run(concat(new String[] {"keys", "revoke", id}, target));
      assertThat(revoked.code()).isZero();
      assertThat(FullModeIT.check(t, fresh).status()).isEqualTo(403);

      MainTest.Run refused = MainTest.run("keys", "list", "--url", t.base, "--token", "wrong");
      assertThat(refused.code()).isEqualTo(1);
      assertThat(refused.err()).contains("unauthorized");
      assertThat(MainTest.run("keys", "revoke", "--url", "http://127.0.0.1:1", "--token", "x", id).code())
          .isEqualTo(1);
    } finally {
      db.drop();
    }
  }

  static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
