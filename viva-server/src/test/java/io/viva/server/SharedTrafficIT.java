package io.viva.server;

import io.viva.redis.RedisServerProcess;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Top offenders and window counts across two instances sharing a real redis-server. */
class SharedTrafficIT {

  static final String AUTH = "Bearer shared-token";

  static ServerConfig config(String url) {
    return RedisStoreIT.redisConfig(url, "fail_closed", "2s").with(l -> l.adminToken = "shared-token");
  }

  private static void deny(TestServer t, String id, int times) {
    for (int i = 0; i < times; i++) {
      t.post("/v1/check", ApiIT.check(id, "tiny"));
    }
  }

  @Test
  void offendersAndCountsAreMergedOverInstances() throws Exception {
    try (RedisServerProcess redis = RedisServerProcess.started();
        TestServer a = TestServer.start(config(redis.url()));
        TestServer b = TestServer.start(config(redis.url()))) {
      deny(a, "alice", 5);            // the limit is shared: 2 allowed, 3 denied
      deny(b, "bob", 8);              // 2 allowed, 6 denied, all on b
      deny(b, "alice", 1);            // 1 more denial of alice, on b
      await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
        JsonNode top = a.get("/admin/top_offenders?window=hour", "Authorization", AUTH).json();
        assertThat(top.get("scope").asText()).isEqualTo("cluster");
        assertThat(top.get("instances").asInt()).isEqualTo(2);
        assertThat(top.get("denied_total").asLong()).isEqualTo(10);
        assertThat(top.at("/offenders/0/identifier").asText()).isEqualTo("bob");
        assertThat(top.at("/offenders/0/denied").asLong()).isEqualTo(6);
        assertThat(top.at("/offenders/1/identifier").asText()).isEqualTo("alice");
        assertThat(top.at("/offenders/1/denied").asLong()).isEqualTo(4);
      });
      JsonNode stats = b.get("/admin/stats", "Authorization", AUTH).json();
      assertThat(stats.at("/windows/day/denied").asLong()).isEqualTo(10);
      assertThat(stats.at("/windows/day/allowed").asLong()).isEqualTo(4);
      // Since-start totals are the instance's own.
      assertThat(stats.at("/totals/denied").asLong()).isEqualTo(7);
      JsonNode resources = a.get("/admin/resources", "Authorization", AUTH).json();
      for (JsonNode n : resources.get("namespaces")) {
        if (n.get("namespace").asText().equals("tiny")) {
          assertThat(n.at("/traffic/minute/denied").asLong()).isEqualTo(10);
        }
      }
    }
  }

  @Test
  void withRedisDownTheViewsAreThisInstancesAndSaySo() throws Exception {
    int port = RedisServerProcess.freePort();
    try (TestServer t = TestServer.start(config("redis://127.0.0.1:" + port))) {
      deny(t, "x", 3);
      JsonNode top = t.get("/admin/top_offenders", "Authorization", AUTH).json();
      assertThat(top.get("scope").asText()).isEqualTo("instance");
      assertThat(top.get("scope_problem").asText()).contains("redis");
      // fail_closed with Redis down: every check denied.
      assertThat(top.at("/offenders/0/denied").asLong()).isEqualTo(3);
      JsonNode stats = t.get("/admin/stats", "Authorization", AUTH).json();
      assertThat(stats.at("/store/degraded").asBoolean()).isTrue();
      assertThat(stats.at("/store/healthy").asBoolean()).isFalse();
    }
  }
}
