package io.viva.server.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.util.AsciiString;
import io.vertx.core.http.HttpMethod;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Route, endpoint and client IP matching, and the circuit breaker, without a network. */
class RoutingTest {

  private static final GatewayConfig.Breaker BREAKER = new GatewayConfig.Breaker(2, Duration.ofSeconds(1));

  private static Routing routing(List<GatewayConfig.Route> routes, List<GatewayConfig.Endpoint> endpoints,
      List<String> trusted) {
    GatewayConfig.Upstream a = new GatewayConfig.Upstream("a", URI.create("http://a:1/base"), Duration.ofSeconds(1),
        10, false, BREAKER);
    GatewayConfig.Upstream b = new GatewayConfig.Upstream("b", URI.create("http://b"), Duration.ofSeconds(1), 10, false,
        BREAKER);
    GatewayConfig config = new GatewayConfig(Map.of("a", a, "b", b), routes, endpoints, trusted,
        new GatewayConfig.ApiKey("X-API-Key", "default", Map.of()), "default", null, List.of());
    return new Routing(config, null, ClientResolver.staticKeys(config.apiKey()),
        new GatewayMetrics(new SimpleMeterRegistry()), n -> 0);
  }

  @Test
  void longestPrefixWinsOnSegmentBoundaries() {
    Routing r = routing(List.of(new GatewayConfig.Route("/", "a", Duration.ofSeconds(1), false),
        new GatewayConfig.Route("/api", "b", Duration.ofSeconds(1), true),
        new GatewayConfig.Route("/api/v2/", "a", Duration.ofSeconds(1), false)), List.of(), List.of());
    assertThat(r.route("/api/users").prefix).isEqualTo("/api");
    assertThat(r.route("/api").prefix).isEqualTo("/api");
    assertThat(r.route("/apix").prefix).isEqualTo("/");
    assertThat(r.route("/api/v2/x").prefix).isEqualTo("/api/v2/");
    assertThat(r.route("/api/users").upstreamPath("/api/users")).isEqualTo("/users");
    assertThat(r.route("/api").upstreamPath("/api")).isEqualTo("/");
    assertThat(r.route("/x").upstreamPath("/x/y")).isEqualTo("/base/x/y");
  }

  @Test
  void endpointPatternsMatchSegments() {
    Routing r = routing(List.of(new GatewayConfig.Route("/", "a", Duration.ofSeconds(1), false)), List.of(
        new GatewayConfig.Endpoint("POST", "/api/search", "s", true),
        new GatewayConfig.Endpoint(null, "/api/users/*/reports/**", "r", true)), List.of());
    assertThat(r.endpoint(HttpMethod.POST, "/api/search").policy).isEqualTo("s");
    assertThat(r.endpoint(HttpMethod.GET, "/api/search")).isNull();
    assertThat(r.endpoint(HttpMethod.POST, "/api/search/x")).isNull();
    assertThat(r.endpoint(HttpMethod.GET, "/api/users/42/reports").policy).isEqualTo("r");
    assertThat(r.endpoint(HttpMethod.DELETE, "/api/users/42/reports/2024/q1").policy).isEqualTo("r");
    assertThat(r.endpoint(HttpMethod.GET, "/api/users/42/43/reports")).isNull();
    assertThat(r.endpoint(HttpMethod.GET, "/api/users/reports")).isNull();
    assertThatThrownBy(() -> PathPattern.parse("/a/b*")).hasMessageContaining("whole segments");
    assertThatThrownBy(() -> PathPattern.parse("a")).hasMessageContaining("starting with /");
  }

  @Test
  void clientIpBelievesOnlyTrustedProxies() {
    Routing r = routing(List.of(new GatewayConfig.Route("/", "a", Duration.ofSeconds(1), false)), List.of(),
        List.of("10.0.0.0/8", "::1", "192.168.1.7"));
    assertThat(r.clientIp("203.0.113.5", "1.2.3.4")).as("untrusted peer").isEqualTo("203.0.113.5");
    assertThat(r.clientIp("10.1.1.1", null)).isEqualTo("10.1.1.1");
    assertThat(r.clientIp("10.1.1.1", "1.2.3.4")).isEqualTo("1.2.3.4");
    assertThat(r.clientIp("10.1.1.1", "9.9.9.9, 1.2.3.4, 10.2.2.2, 192.168.1.7")).isEqualTo("1.2.3.4");
    assertThat(r.clientIp("::1", "2001:db8::1")).isEqualTo("2001:db8::1");
    assertThat(r.clientIp("0:0:0:0:0:0:0:1", "10.0.0.9, 10.0.0.8")).as("all trusted: the left-most")
        .isEqualTo("10.0.0.9");
    assertThat(r.clientIp("10.1.1.1", "garbage, 1.2.3.4")).isEqualTo("1.2.3.4");
    assertThat(r.clientIp("10.1.1.1", "1.2.3.4, unknown")).as("nothing left of garbage is believed")
        .isEqualTo("10.1.1.1");
    assertThat(r.clientIp("::ffff:10.0.0.1", "5.6.7.8")).as("IPv4-mapped").isEqualTo("5.6.7.8");
  }

  @Test
  void circuitBreakerOpensProbesAndCloses() {
    AtomicLong now = new AtomicLong(1_000);
    CircuitBreaker b = new CircuitBreaker(3, 1_000_000_000L, now::get);
    for (int i = 0; i < 2; i++) {
      assertThat(b.tryAcquire()).isTrue();
      b.onFailure();
    }
    b.onSuccess();
    for (int i = 0; i < 3; i++) {
      assertThat(b.tryAcquire()).isTrue();
      b.onFailure();
    }
    assertThat(b.state()).isEqualTo(CircuitBreaker.OPEN);
    assertThat(b.tryAcquire()).isFalse();
    assertThat(b.retryAfterNanos()).isEqualTo(1_000_000_000L);
    now.addAndGet(1_000_000_000L);
    assertThat(b.tryAcquire()).as("the probe").isTrue();
    assertThat(b.tryAcquire()).as("one probe at a time").isFalse();
    b.onFailure();
    assertThat(b.state()).isEqualTo(CircuitBreaker.OPEN);
    now.addAndGet(999_999_999L);
    assertThat(b.tryAcquire()).isFalse();
    now.addAndGet(1);
    assertThat(b.tryAcquire()).isTrue();
    b.onAbandoned();
    assertThat(b.tryAcquire()).as("an abandoned probe lets the next one go at once").isTrue();
    b.onSuccess();
    assertThat(b.state()).isEqualTo(CircuitBreaker.CLOSED);
    assertThat(b.tryAcquire()).isTrue();
  }

  @Test
  void connectionHeaderTokensAndHopByHop() {
    assertThat(ProxyCall.listedIn("keep-alive, X-Drop ,Other", "x-drop")).isTrue();
    assertThat(ProxyCall.listedIn("keep-alive, X-Drop ,Other", "other")).isTrue();
    assertThat(ProxyCall.listedIn("keep-alive, X-Drop", "X-Dro")).isFalse();
    assertThat(ProxyCall.listedIn(null, "x")).isFalse();
    assertThat(ProxyCall.isHopByHop("Transfer-Encoding")).isTrue();
    assertThat(ProxyCall.isHopByHop("TE")).isTrue();
    assertThat(ProxyCall.isHopByHop("Content-Length")).isFalse();
    // Names as the server parsed them (AsciiString), compared without case.
    assertThat(ProxyCall.isHopByHop(AsciiString.of("keep-ALIVE"))).isTrue();
    assertThat(ProxyCall.listedIn("close, x-drop", AsciiString.of("X-Drop"))).isTrue();
  }

  @Test
  void headersTheGatewayWritesItselfAreNotCopied() {
    for (String name : new String[] {"Host", "expect", "X-Request-ID", "Forwarded", "X-Forwarded-For",
        "x-forwarded-proto", "X-FORWARDED-HOST", "X-Forwarded-Anything"}) {
      assertThat(ProxyCall.skippedUpstream(name)).as(name).isTrue();
      assertThat(ProxyCall.skippedUpstream(AsciiString.of(name))).as(name).isTrue();
    }
    for (String name : new String[] {"Hos", "Hosts", "Accept", "X-Request", "X-Forwarded", "Forwardedx", "Content-Type"}) {
      assertThat(ProxyCall.skippedUpstream(name)).as(name).isFalse();
    }
  }

  @Test
  void theClientsRequestTargetGoesUpstreamAsIsUnlessThePathChanges() {
    Routing r = routing(List.of(new GatewayConfig.Route("/", "b", Duration.ofSeconds(1), false),
        new GatewayConfig.Route("/api", "b", Duration.ofSeconds(1), true),
        new GatewayConfig.Route("/based", "a", Duration.ofSeconds(1), false)), List.of(), List.of());
    String raw = "/x/y?a=%20b&c";
    assertThat(r.route("/x/y").upstreamUri(raw, "/x/y", "a=%20b&c")).isSameAs(raw);
    assertThat(r.route("/x").upstreamUri("/x", "/x", null)).isEqualTo("/x");
    assertThat(r.route("/api/u").upstreamUri("/api/u?q=1", "/api/u", "q=1")).isEqualTo("/u?q=1");
    assertThat(r.route("/based/u").upstreamUri("/based/u?", "/based/u", "")).isEqualTo("/base/based/u?");
    // An absolute-form target is rebuilt from its path and query.
    assertThat(r.route("/x").upstreamUri("http://h/x?q=1", "/x", "q=1")).isEqualTo("/x?q=1");
  }

  @Test
  void staticKeysIdentifyByHashAndPickTiers() {
    String hash = StaticKeys.sha256("gold");
    ClientResolver r = ClientResolver.staticKeys(new GatewayConfig.ApiKey("X-API-Key", "basic", Map.of(hash, "gold")));
    ClientResolver.Client gold = r.resolve("gold").toCompletableFuture().join();
    ClientResolver.Client other = r.resolve("other").toCompletableFuture().join();
    assertThat(gold.policy()).isEqualTo("gold");
    assertThat(other.policy()).isEqualTo("basic");
    assertThat(gold.id()).isEqualTo("key:" + hash.substring(0, 32)).doesNotContain("gold".toUpperCase());
    assertThat(gold.logId()).isEqualTo(hash.substring(0, 12));
    assertThat(other.isRejected()).isFalse();
  }
}
