package io.viva.server;

import io.viva.redis.RedisServerProcess;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.viva.core.ManualClock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Envoy's RLS v3 against a running Viva, through grpc-java and the stubs Envoy's API ships: a
 * table of rule files and requests with the expected codes, remaining and reset, on the in-memory
 * and the Redis store; plus global shadow mode, Viva's extensions, {@code POST /json}, hot reload
 * and bad input.
 */
class EnvoyRlsIT {

  /** 10 seconds into a minute (and an hour and a day): every window's reset is known. */
  static final Instant T0 = Instant.parse("2026-01-15T10:00:10Z");

  static final String EDGE = """
      domain: edge
      descriptors:
        - key: remote_address
          rate_limit: {unit: minute, requests_per_unit: 3}
        - key: remote_address
          value: 50.0.0.5
          rate_limit: {unit: second, requests_per_unit: 0}
        - key: path
          value: /api/*
          rate_limit: {unit: hour, requests_per_unit: 2}
        - key: ldap
          rate_limit: {unlimited: true}
        - key: soft
          shadow_mode: true
          rate_limit: {unit: minute, requests_per_unit: 1}
        - key: quota
          quota_mode: true
          rate_limit: {unit: minute, requests_per_unit: 1}
        - key: message_type
          value: marketing
          descriptors:
            - key: to_number
              rate_limit: {unit: day, requests_per_unit: 2}
        - key: key_1
          value: value_1
          descriptors:
            - key: user
              rate_limit: {name: specific_limit, unit: second, requests_per_unit: 5}
        - key: key_2
          value: value_2
          descriptors:
            - key: user
              rate_limit: {replaces: [{name: specific_limit}], unit: second, requests_per_unit: 10}
        - key: weekly
          detailed_metric: true
          rate_limit: {unit: Week, requests_per_unit: 1}
      """;

  static final String OTHER = """
      domain: other
      descriptors:
        - key: k
          rate_limit: {unit: YEAR, requests_per_unit: 1}
        - key: m
          rate_limit: {unit: month, requests_per_unit: 1}
      """;

  static final String EXTENSIONS = """
      domain: ext
      descriptors:
        - key: tb
          rate_limit: {algorithm: token_bucket, requests_per_unit: 2, unit: second, burst: 4}
        - key: five
          rate_limit: {requests_per_unit: 2, window: 5m}
        - key: multi
          rate_limit:
            - {requests_per_unit: 3, unit: second}
            - {requests_per_unit: 4, unit: hour, name: hourly}
      """;

  /** One row: a request and what its descriptors' statuses must be. */
  record Row(String what, RateLimitRequest request, Code overall, List<Expect> statuses) {}

  /** A descriptor's expected status: code, remaining (-1: none), reset seconds (-1: none), limit (0: none). */
  record Expect(Code code, long remaining, long reset, long limit) {}

  static Expect ok(long remaining, long reset, long limit) {
    return new Expect(Code.OK, remaining, reset, limit);
  }

  static Expect over(long reset, long limit) {
    return new Expect(Code.OVER_LIMIT, 0, reset, limit);
  }

  static final Expect NO_LIMIT = new Expect(Code.OK, 0, -1, 0);

  static RateLimitDescriptor d(String... kv) {
    RateLimitDescriptor.Builder b = RateLimitDescriptor.newBuilder();
    for (int i = 0; i < kv.length; i += 2) {
      b.addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(kv[i]).setValue(kv[i + 1]));
    }
    return b.build();
  }

  static RateLimitRequest req(String domain, int hits, RateLimitDescriptor... ds) {
    return RateLimitRequest.newBuilder().setDomain(domain).setHitsAddend(hits).addAllDescriptors(List.of(ds)).build();
  }

  static Row row(String what, RateLimitRequest r, Code overall, Expect... statuses) {
    return new Row(what, r, overall, List.of(statuses));
  }

  static final long MIN = 50;         // seconds left in the minute at T0
  static final long HOUR = 3590;
  static final long DAY = 14 * 3600 - 10;
  static final long WEEK = secondsToNext(T0, 7 * 86_400);

  static long secondsToNext(Instant t, long unitSeconds) {
    return unitSeconds - Math.floorMod(t.getEpochSecond(), unitSeconds);
  }

  static List<Row> table() {
    List<Row> rows = new ArrayList<>();
    rows.add(row("bare key: first of 3 per minute", req("edge", 0, d("remote_address", "1.1.1.1")), Code.OK, ok(2, MIN, 3)));
    rows.add(row("bare key: second", req("edge", 0, d("remote_address", "1.1.1.1")), Code.OK, ok(1, MIN, 3)));
    rows.add(row("bare key: third", req("edge", 0, d("remote_address", "1.1.1.1")), Code.OK, ok(0, MIN, 3)));
    rows.add(row("bare key: fourth is over", req("edge", 0, d("remote_address", "1.1.1.1")), Code.OVER_LIMIT, over(MIN, 3)));
    rows.add(row("bare key: each value its own counter", req("edge", 0, d("remote_address", "2.2.2.2")), Code.OK, ok(2, MIN, 3)));
    rows.add(row("exact value before bare key; 0 blocks", req("edge", 0, d("remote_address", "50.0.0.5")), Code.OVER_LIMIT, over(1, 0)));
    rows.add(row("wildcard value", req("edge", 0, d("path", "/api/users")), Code.OK, ok(1, HOUR, 2)));
    rows.add(row("wildcard: each value its own counter", req("edge", 0, d("path", "/api/orders")), Code.OK, ok(1, HOUR, 2)));
    rows.add(row("no rule for this value", req("edge", 0, d("path", "/static/x")), Code.OK, NO_LIMIT));
    rows.add(row("unlimited", req("edge", 0, d("ldap", "x")), Code.OK, new Expect(Code.OK, 0xFFFF_FFFFL, -1, 0)));
    rows.add(row("shadow_mode: first", req("edge", 0, d("soft", "a")), Code.OK, ok(0, MIN, 1)));
    rows.add(row("shadow_mode: over but OK", req("edge", 0, d("soft", "a")), Code.OK, ok(0, MIN, 1)));
    rows.add(row("quota_mode: first", req("edge", 0, d("quota", "a")), Code.OK, ok(0, MIN, 1)));
    rows.add(row("quota_mode: over but OK", req("edge", 0, d("quota", "a")), Code.OK, ok(0, MIN, 1)));
    rows.add(row("nested", req("edge", 0, d("message_type", "marketing", "to_number", "206")), Code.OK, ok(1, DAY, 2)));
    rows.add(row("nested: parent alone has no limit", req("edge", 0, d("message_type", "marketing")), Code.OK, NO_LIMIT));
    rows.add(row("depth must match", req("edge", 0, d("remote_address", "9.9.9.9", "extra", "x")), Code.OK, NO_LIMIT));
    rows.add(row("replaces: the replaced rule is not evaluated", req("edge", 0,
        d("key_1", "value_1", "user", "u"), d("key_2", "value_2", "user", "u")), Code.OK, NO_LIMIT, ok(9, 1, 10)));
    rows.add(row("replaces: alone it counts (and was not charged above)", req("edge", 0, d("key_1", "value_1", "user", "u")),
        Code.OK, ok(4, 1, 5)));
    rows.add(row("hits_addend 2", req("edge", 2, d("remote_address", "3.3.3.3")), Code.OK, ok(1, MIN, 3)));
    rows.add(row("hits_addend 0 means 1", req("edge", 0, d("remote_address", "3.3.3.3")), Code.OK, ok(0, MIN, 3)));
    rows.add(row("per-descriptor hits_addend wins", req("edge", 1, d("remote_address", "4.4.4.4").toBuilder()
        .setHitsAddend(com.google.protobuf.UInt64Value.of(3)).build()), Code.OK, ok(0, MIN, 3)));
    rows.add(row("hits above the limit: over, nothing counted", req("edge", 4, d("remote_address", "5.5.5.5")),
        Code.OVER_LIMIT, over(MIN, 3)));
    rows.add(row("... so the next hit is the first", req("edge", 0, d("remote_address", "5.5.5.5")), Code.OK, ok(2, MIN, 3)));
    RateLimitDescriptor override = d("remote_address", "6.6.6.6").toBuilder().setLimit(
        RateLimitDescriptor.RateLimitOverride.newBuilder().setRequestsPerUnit(1)
            .setUnit(io.envoyproxy.envoy.type.v3.RateLimitUnit.SECOND)).build();
    rows.add(row("limit override", req("edge", 0, override), Code.OK, ok(0, 1, 1)));
    rows.add(row("limit override: over", req("edge", 0, override), Code.OVER_LIMIT, over(1, 1)));
    rows.add(row("unknown domain: no limit", req("nowhere", 0, d("remote_address", "1.1.1.1")), Code.OK, NO_LIMIT));
    rows.add(row("several descriptors: any over makes the request over", req("edge", 0,
        d("remote_address", "1.1.1.1"), d("remote_address", "7.7.7.7")), Code.OVER_LIMIT, over(MIN, 3), ok(2, MIN, 3)));
    rows.add(row("week", req("edge", 0, d("weekly", "w")), Code.OK, ok(0, WEEK, 1)));
    rows.add(row("second file, second domain: year", req("other", 0, d("k", "v")), Code.OK,
        ok(0, secondsToNext(T0, 365 * 86_400), 1)));
    rows.add(row("month", req("other", 0, d("m", "v")), Code.OK, ok(0, secondsToNext(T0, 30 * 86_400), 1)));
    return rows;
  }

  static TestServer start(Path dir, ManualClock clock, ServerConfig base, boolean shadow) throws Exception {
    Files.writeString(dir.resolve("edge.yaml"), EDGE);
    Files.writeString(dir.resolve("other.yml"), OTHER);
    Files.writeString(dir.resolve("ext.yaml"), EXTENSIONS);
    Files.writeString(dir.resolve("notes.txt"), "not a rule file");
    return TestServer.start(base.withEnvoy(new EnvoySettings(List.of(dir), shadow, true, true, false)),
        TestServer.options(clock));
  }

  static ManagedChannel channel(TestServer s) {
    return ManagedChannelBuilder.forAddress("127.0.0.1", s.server.port()).usePlaintext().build();
  }

  static void runTable(TestServer s) throws Exception {
    ManagedChannel channel = channel(s);
    try {
      RateLimitServiceGrpc.RateLimitServiceBlockingStub rls = RateLimitServiceGrpc.newBlockingStub(channel);
      for (Row row : table()) {
        RateLimitResponse r = rls.shouldRateLimit(row.request());
        assertThat(r.getOverallCode()).as(row.what()).isEqualTo(row.overall());
        assertThat(r.getStatusesCount()).as(row.what()).isEqualTo(row.statuses().size());
        for (int i = 0; i < row.statuses().size(); i++) {
          Expect e = row.statuses().get(i);
          RateLimitResponse.DescriptorStatus st = r.getStatuses(i);
          String what = row.what() + " [" + i + "]";
          assertThat(st.getCode()).as(what).isEqualTo(e.code());
          assertThat(Integer.toUnsignedLong(st.getLimitRemaining())).as(what + " remaining").isEqualTo(e.remaining());
          if (e.reset() < 0) {
            assertThat(st.hasDurationUntilReset()).as(what + " reset").isFalse();
          } else {
            assertThat(st.getDurationUntilReset().getSeconds()).as(what + " reset").isEqualTo(e.reset());
          }
          assertThat(st.hasCurrentLimit()).as(what + " limit").isEqualTo(e.limit() > 0 || e.code() == Code.OVER_LIMIT);
          if (st.hasCurrentLimit()) {
            assertThat(Integer.toUnsignedLong(st.getCurrentLimit().getRequestsPerUnit())).as(what).isEqualTo(e.limit());
          }
        }
      }
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void tableInMemory(@TempDir Path dir) throws Exception {
    ManualClock clock = ManualClock.at(T0);
    try (TestServer s = start(dir, clock, ServerConfig.defaults(), false)) {
      runTable(s);
      // The next minute: the bare key's counter starts afresh.
      clock.advance(Duration.ofSeconds(MIN));
      ManagedChannel channel = channel(s);
      RateLimitResponse r = RateLimitServiceGrpc.newBlockingStub(channel)
          .shouldRateLimit(req("edge", 0, d("remote_address", "1.1.1.1")));
      assertThat(r.getStatuses(0).getLimitRemaining()).isEqualTo(2);
      assertThat(r.getStatuses(0).getDurationUntilReset().getSeconds()).isEqualTo(60);
      channel.shutdownNow();
      assertThat(s.metric("viva_envoy_rule_decisions_total", "key=\"edge.remote_address\",result=\"over_limit\""))
          .isEqualTo(3);
      assertThat(s.metric("viva_envoy_rule_decisions_total", "key=\"edge.weekly_w\",result=\"ok\"")).isEqualTo(1);
      assertThat(s.metric("viva_envoy_requests_total", "result=\"over_limit\"")).isEqualTo(5);
    }
  }

  @Test
  void tableWithRedis(@TempDir Path dir) throws Exception {
    ManualClock clock = ManualClock.at(T0);
    try (RedisServerProcess redis = RedisServerProcess.started();
        // The table's expectations run on the test's fake clock, so the store must use it too (not Redis TIME).
        TestServer s = start(dir, clock, RedisStoreIT.redisConfig(redis.url(), "fail_closed", "5s",
            "  clock: local\n"), false)) {
      runTable(s);
      assertThat(redis.keys("*")).isNotEmpty();
    }
  }

  @Test
  void responseHeadersQuotaMetadataAndExtensions(@TempDir Path dir) throws Exception {
    try (TestServer s = start(dir, ManualClock.at(T0), ServerConfig.defaults(), false)) {
      ManagedChannel channel = channel(s);
      var rls = RateLimitServiceGrpc.newBlockingStub(channel);
      RateLimitResponse r = rls.shouldRateLimit(req("edge", 0, d("remote_address", "1.1.1.1"),
          d("path", "/api/x")));
      assertThat(r.getResponseHeadersToAddList()).extracting(h -> h.getKey() + ": " + h.getValue())
          .containsExactly("RateLimit-Limit: 2", "RateLimit-Remaining: 1", "RateLimit-Reset: " + HOUR);
      rls.shouldRateLimit(req("edge", 0, d("quota", "q")));
      RateLimitResponse q = rls.shouldRateLimit(req("edge", 0, d("remote_address", "1.1.1.1"), d("quota", "q")));
      assertThat(q.getOverallCode()).isEqualTo(Code.OK);
      assertThat(q.getDynamicMetadata().getFieldsOrThrow("quotaModeEnabled").getBoolValue()).isTrue();
      assertThat(q.getDynamicMetadata().getFieldsOrThrow("quotaModeViolations").getListValue().getValuesList())
          .extracting(v -> (int) v.getNumberValue()).containsExactly(1);
      // Extensions: a token bucket with burst 4, a 5 minute window, two limits on one descriptor.
      for (int i = 3; i >= 0; i--) {
        assertThat(rls.shouldRateLimit(req("ext", 0, d("tb", "a"))).getStatuses(0).getLimitRemaining()).isEqualTo(i);
      }
      assertThat(rls.shouldRateLimit(req("ext", 0, d("tb", "a"))).getOverallCode()).isEqualTo(Code.OVER_LIMIT);
      RateLimitResponse five = rls.shouldRateLimit(req("ext", 0, d("five", "a")));
      assertThat(five.getStatuses(0).getDurationUntilReset().getSeconds()).isEqualTo(290);
      assertThat(five.getStatuses(0).getCurrentLimit().getUnit()).isEqualTo(RateLimitResponse.RateLimit.Unit.UNKNOWN);
      assertThat(rls.shouldRateLimit(req("ext", 0, d("multi", "a"))).getStatuses(0).getLimitRemaining()).isEqualTo(2);
      assertThat(rls.shouldRateLimit(req("ext", 2, d("multi", "a"))).getStatuses(0).getLimitRemaining()).isEqualTo(0);
      RateLimitResponse multi = rls.shouldRateLimit(req("ext", 0, d("multi", "a")));
      assertThat(multi.getOverallCode()).isEqualTo(Code.OVER_LIMIT);
      channel.shutdownNow();
    }
  }

  @Test
  void globalShadowModeNeverDeniesButReports(@TempDir Path dir) throws Exception {
    try (TestServer s = start(dir, ManualClock.at(T0), ServerConfig.defaults(), true)) {
      ManagedChannel channel = channel(s);
      var rls = RateLimitServiceGrpc.newBlockingStub(channel);
      RateLimitResponse r = rls.shouldRateLimit(req("edge", 0, d("remote_address", "50.0.0.5")));
      assertThat(r.getOverallCode()).isEqualTo(Code.OK);
      assertThat(r.getStatuses(0).getCode()).isEqualTo(Code.OVER_LIMIT);
      assertThat(s.metric("viva_envoy_requests_total", "result=\"shadow_mode\"")).isEqualTo(1);
      channel.shutdownNow();
    }
  }

  @Test
  void jsonEndpointAsUpstream(@TempDir Path dir) throws Exception {
    try (TestServer s = start(dir, ManualClock.at(T0), ServerConfig.defaults(), false)) {
      String body = "{\"domain\":\"edge\",\"descriptors\":[{\"entries\":[{\"key\":\"remote_address\",\"value\":\"8.8.8.8\"}]}]}";
      TestServer.Response ok = s.post("/json", body);
      assertThat(ok.status()).isEqualTo(200);
      assertThat(ok.json().get("overallCode").asText()).isEqualTo("OK");
      assertThat(ok.json().get("statuses").get(0).get("limitRemaining").asInt()).isEqualTo(2);
      s.post("/json", body);
      s.post("/json", body);
      TestServer.Response over = s.post("/json", body);
      assertThat(over.status()).isEqualTo(429);
      assertThat(over.json().get("overallCode").asText()).isEqualTo("OVER_LIMIT");
      // As upstream, any content type is read as JSON (curl -d sends a form type).
      TestServer.Response form = s.post("/json", body.replace("8.8.8.8", "8.8.4.4"), "Content-Type",
          "application/x-www-form-urlencoded");
      assertThat(form.status()).isEqualTo(200);
      TestServer.Response bad = s.post("/json", "{\"domain\":\"edge\",\"nope\":1}");
      assertThat(bad.status()).isEqualTo(400);
      assertThat(bad.json().get("message").asText()).contains("nope");
      TestServer.Response empty = s.post("/json", "{\"domain\":\"edge\"}");
      assertThat(empty.status()).isEqualTo(400);
      assertThat(empty.json().get("message").asText()).isEqualTo("descriptors: empty (expected: at least one descriptor)");
    }
  }

  @Test
  void badRequestsAreInvalidArgument(@TempDir Path dir) throws Exception {
    try (TestServer s = start(dir, ManualClock.at(T0), ServerConfig.defaults(), false)) {
      ManagedChannel channel = channel(s);
      var rls = RateLimitServiceGrpc.newBlockingStub(channel);
      assertThatThrownBy(() -> rls.shouldRateLimit(req("", 0, d("k", "v"))))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(e.getStatus().getDescription()).isEqualTo("domain: empty (expected: the domain of a rule file,"
                + " e.g. edge)");
          });
      assertThatThrownBy(() -> rls.shouldRateLimit(req("edge", 0)))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));
      assertThatThrownBy(() -> rls.shouldRateLimit(req("edge", 0, d("remote_address", "x".repeat(2000)))))
          .isInstanceOfSatisfying(StatusRuntimeException.class,
              e -> assertThat(e.getStatus().getDescription()).startsWith("descriptors[0]: a key of"));
      channel.shutdownNow();
    }
  }

  @Test
  void hotReloadKeepsServingAndRejectsInvalidFiles(@TempDir Path dir) throws Exception {
    try (TestServer s = start(dir, ManualClock.at(T0), ServerConfig.defaults(), false)) {
      ManagedChannel channel = channel(s);
      var rls = RateLimitServiceGrpc.newBlockingStub(channel);
      assertThat(rls.shouldRateLimit(req("new", 0, d("k", "v"))).getStatuses(0).hasCurrentLimit()).isFalse();
      Files.writeString(dir.resolve("new.yaml"), "domain: new\ndescriptors: [{key: k, rate_limit: {unit: second,"
          + " requests_per_unit: 7}}]\n");
      Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(rls.shouldRateLimit(req("new", 0, d("k", "v"))).getStatuses(0).getLimitRemaining()).isEqualTo(6));
      double failures = s.metric("viva_config_reloads_total", "result=\"failure\",source=\"envoy\"");
      Files.writeString(dir.resolve("bad.yaml"), "domain: new\n");
      Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(s.metric("viva_config_reloads_total", "result=\"failure\",source=\"envoy\""))
              .isEqualTo(failures + 1));
      assertThat(rls.shouldRateLimit(req("new", 0, d("k", "v"))).getStatuses(0).getLimitRemaining()).isEqualTo(5);
      channel.shutdownNow();
    }
  }

  @Test
  void invalidRulesFailStartWithTheirPath(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("bad.yaml");
    Files.write(file, "domain: d\ndescriptors: [{key: k, rate_limit: {unlimited: true, unit: second}}]\n"
        .getBytes(StandardCharsets.UTF_8));
    assertThatThrownBy(() -> TestServer.start(ServerConfig.defaults().withEnvoy(
        new EnvoySettings(List.of(file), false, false, false, false))))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("invalid envoy rules: " + file + ": descriptors[0].rate_limit: both unlimited: true and unit:"
            + " second (expected: no unit when unlimited)");
  }

  @Test
  void theDocumentedExampleLoadsAndWorks() throws Exception {
    Path example = Path.of("../docs/examples/ratelimit-config.yaml");
    assertThat(example).exists();
    try (TestServer s = TestServer.start(ServerConfig.defaults().withEnvoy(
        new EnvoySettings(List.of(example), false, true, false, false)), TestServer.options(ManualClock.at(T0)))) {
      ManagedChannel channel = channel(s);
      var rls = RateLimitServiceGrpc.newBlockingStub(channel);
      RateLimitResponse r = rls.shouldRateLimit(req("edge_proxy", 0, d("remote_address", "10.0.0.1")));
      assertThat(r.getOverallCode()).isEqualTo(Code.OK);
      assertThat(r.getStatuses(0).getCurrentLimit().getRequestsPerUnit()).isEqualTo(100);
      channel.shutdownNow();
    }
  }
}
