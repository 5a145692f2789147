package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.viva.server.gateway.GatewayConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The gateway section: defaults, DOWNSTREAM_URL, every key, errors naming their path, and the example in docs/gateway.md. */
class GatewayFileTest {

  @Test
  void gatewayModeWithNothingElseProxiesEverythingToDownstreamUrl() throws Exception {
    ServerConfig c = ServerConfig.load(null, Map.of("MODE", "gateway", "DOWNSTREAM_URL", "http://backend:9000"));
    assertThat(c.mode()).isEqualTo("gateway");
    assertThat(c.metricsPort()).as("Viva's own routes move to the management port").isEqualTo(9090);
    GatewayConfig g = c.gateway();
    assertThat(g.upstreams()).containsOnlyKeys("default");
    assertThat(g.upstreams().get("default").url().toString()).isEqualTo("http://backend:9000");
    assertThat(g.routes()).containsExactly(new GatewayConfig.Route("/", "default", Duration.ofSeconds(30), false));
    assertThat(g.apiKey().header()).isEqualTo("X-API-Key");
    assertThat(g.apiKey().policy()).isEqualTo("default");
    assertThat(g.ipPolicy()).isEqualTo("default");
    assertThat(g.queue()).isNull();
    assertThat(g.apiKey().platform()).as("keys: static by default").isFalse();

    assertThat(ServerConfig.load(null, Map.of("MODE", "gateway")).gateway().upstreams().get("default").url())
        .hasToString("http://localhost:8081");
    assertThat(ServerConfig.load(null, Map.of()).gateway()).as("standalone has no gateway").isNull();
  }

  @Test
  void theExampleInTheGatewayDocIsValid() throws Exception {
    String doc = Files.readString(Path.of("..", "docs", "gateway.md"));
    String marker = "```yaml\n";
    int start = doc.indexOf(marker, doc.indexOf("## Configuration")) + marker.length();
    String yaml = doc.substring(start, doc.indexOf("```", start));
    Path file = Files.createTempFile("gateway-doc", ".yaml");
    Files.writeString(file, yaml);
    ServerConfig c = ServerConfig.load(file, Map.of());
    GatewayConfig g = c.gateway();
    assertThat(c.mode()).isEqualTo("gateway");
    assertThat(g.upstreams()).containsKeys("api", "reports");
    assertThat(g.routes()).hasSizeGreaterThan(1);
    assertThat(g.endpoints()).isNotEmpty();
    assertThat(g.trustedProxies()).isNotEmpty();
    assertThat(g.apiKey().tiers()).isNotEmpty();
    assertThat(g.queue()).isNotNull();
  }

  @Test
  void errorsNameThePathAndWhatWasExpected() {
    assertThat(error("gateway: {routes: [{prefix: api}]}"))
        .isEqualTo("test.yaml: gateway.routes[0].prefix: \"api\" (expected: a path starting with /, without ? or *)");
    assertThat(error("gateway: {routes: [{prefix: /api, upstream: nope}]}"))
        .isEqualTo("test.yaml: gateway.routes[0].upstream: \"nope\" (expected: one of the upstreams: default)");
    assertThat(error("gateway: {upstreams: {api: {url: ftp://x}}}")).startsWith(
        "test.yaml: gateway.upstreams.api.url: \"ftp://x\" (expected: an http or https URL");
    assertThat(error("gateway: {endpoints: [{path: /a/**/b, policy: default}]}"))
        .isEqualTo("test.yaml: gateway.endpoints[0].path: \"/a/**/b\" (expected: ** only as the last segment)");
    assertThat(error("gateway: {endpoints: [{path: /a, policy: missing}]}")).startsWith(
        "test.yaml: gateway.endpoints[0].policy: \"missing\" is not a policy (expected: a namespace of the policies:"
            + " default");
    assertThat(error("gateway: {trusted_proxies: [10.0.0.0/33]}"))
        .isEqualTo("test.yaml: gateway.trusted_proxies[0]: \"10.0.0.0/33\" (expected: a prefix length from 0 to 32)");
    assertThat(error("gateway: {trusted_proxies: [proxy.local]}")).startsWith(
        "test.yaml: gateway.trusted_proxies[0]: \"proxy.local\" (expected: an IP address or CIDR block");
    assertThat(error("gateway: {queue: {max_wait: 61s}}"))
        .isEqualTo("test.yaml: gateway.queue.max_wait: 1m1s (expected: more than 0 and at most 60s)");
    assertThat(error("gateway: {api_key: {tiers: [{key_sha256: abc, policy: default}]}}")).startsWith(
        "test.yaml: gateway.api_key.tiers[0].key_sha256: not a SHA-256 (expected: 64 hex digits");
    assertThat(error("gateway: {upstream: {}}")).startsWith("test.yaml: gateway.upstream: unknown key");
    assertThat(error("gateway: {api_key: {keys: database}}")).isEqualTo("test.yaml: gateway.api_key.keys: \"database\""
        + " (expected: static, the gateway's own keys, or platform, full mode's key database)");
    assertThat(error("gateway: {api_key: {keys: platform, tiers: [{key_sha256: " + "a".repeat(64)
        + ", policy: default}]}}")).startsWith("test.yaml: gateway.api_key.tiers: given with keys: platform");
    assertThat(error("gateway: {endpoints: [{method: FETCH, path: /a, policy: default}]}"))
        .startsWith("test.yaml: gateway.endpoints[0].method: \"FETCH\" (expected: GET, POST");
  }

  @Test
  void ipPolicyCanBeTurnedOffAndDownstreamUrlOverridesTheDefaultUpstream() throws Exception {
    Path file = Files.createTempFile("gateway", ".yaml");
    Files.writeString(file, """
        server: {mode: gateway}
        gateway:
          upstreams:
            default: {url: "http://a:1", connect_timeout: 250ms, circuit_breaker: {failure_threshold: 3, open_for: 2s}}
            other: {url: "https://b/base/"}
          routes: [{prefix: /b, upstream: other, timeout: 5s, strip_prefix: true}, {prefix: /}]
          ip_policy: none
          endpoints: [{path: "/x/*", policy: default, per: global}]
          queue: {}
        """);
    GatewayConfig g = ServerConfig.load(file, Map.of("DOWNSTREAM_URL", "http://c:2")).gateway();
    assertThat(g.ipPolicy()).isNull();
    assertThat(g.upstreams().get("default").url()).hasToString("http://c:2");
    assertThat(g.upstreams().get("default").connectTimeout()).isEqualTo(Duration.ofMillis(250));
    assertThat(g.upstreams().get("default").breaker()).isEqualTo(new GatewayConfig.Breaker(3, Duration.ofSeconds(2)));
    assertThat(g.routes().get(1).upstream()).isEqualTo("default");
    assertThat(g.endpoints().get(0).perClient()).isFalse();
    assertThat(g.endpoints().get(0).method()).isNull();
    assertThat(g.queue()).isEqualTo(new GatewayConfig.Queue(Duration.ofMillis(200), 1000));
  }

  @Test
  void platformKeysAreChosenWithKeysPlatform() throws Exception {
    Path file = Files.createTempFile("gateway", ".yaml");
    Files.writeString(file, """
        server: {mode: gateway}
        gateway:
          api_key: {keys: platform, header: X-Key}
        """);
    GatewayConfig g = ServerConfig.load(file, Map.of()).gateway();
    assertThat(g.apiKey().platform()).isTrue();
    assertThat(g.apiKey().header()).isEqualTo("X-Key");
  }

  private static String error(String yaml) {
    try {
      ServerConfig.parseFile(yaml.getBytes(StandardCharsets.UTF_8), "test.yaml");
      throw new AssertionError("accepted: " + yaml);
    } catch (ConfigException e) {
      return e.getMessage();
    }
  }
}
