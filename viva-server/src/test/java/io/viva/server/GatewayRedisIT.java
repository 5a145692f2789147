package io.viva.server;

import io.viva.redis.RedisServerProcess;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Gateways sharing their limits through Redis: the policies' store is the gateway's. */
class GatewayRedisIT {

  @Test
  void twoGatewaysOnOneRedisAdmitTheLimitOnceBetweenThem() throws Exception {
    try (Upstream upstream = Upstream.start(); RedisServerProcess redis = RedisServerProcess.started()) {
      String yaml = """
          policies:
            - {namespace: default, limit: 1000, window: 1h}
            - {namespace: keys, limit: 3, window: 1h}
          gateway:
            upstreams: {app: {url: "%s"}}
            api_key: {policy: keys}
          """.formatted(upstream.url());
      Map<String, String> env = Map.of("REDIS_URL", redis.url(), "REDIS_FAILURE_MODE", "fail_closed",
          "REDIS_TIMEOUT", "5s");
      try (GatewayServer a = GatewayServer.start(yaml, env); GatewayServer b = GatewayServer.start(yaml, env)) {
        assertThat(a.get("/x", "X-API-Key", "shared").statusCode()).isEqualTo(200);
        assertThat(b.get("/x", "X-API-Key", "shared").statusCode()).isEqualTo(200);
        assertThat(a.get("/x", "X-API-Key", "shared").statusCode()).isEqualTo(200);
        assertThat(b.get("/x", "X-API-Key", "shared").statusCode()).isEqualTo(429);
        assertThat(a.get("/x", "X-API-Key", "shared").statusCode()).isEqualTo(429);
        assertThat(b.get("/x", "X-API-Key", "other").statusCode()).isEqualTo(200);
      }
    }
  }
}
