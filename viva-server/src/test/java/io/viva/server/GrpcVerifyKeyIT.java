package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import io.viva.api.v1.VerifyKeyRequest;
import io.viva.api.v1.VerifyKeyResponse;
import io.viva.api.v1.VerifyKeyResponse.Code;
import io.viva.core.ManualClock;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Full mode's verified check over gRPC ({@code viva.v1.KeyService/VerifyKey}), through grpc-java
 * against a real server (embedded H2, a manual clock): every outcome as an answer, the anonymous
 * tier by peer address, cost, bad input, a server not in full mode, and one rate limit, one usage
 * count and one set of metrics shared with {@code POST /api/v1/rate-limit/check}.
 */
class GrpcVerifyKeyIT {

  static final MethodDescriptor<VerifyKeyRequest, VerifyKeyResponse> VERIFY = MethodDescriptor
      .<VerifyKeyRequest, VerifyKeyResponse>newBuilder().setType(MethodDescriptor.MethodType.UNARY)
      .setFullMethodName(MethodDescriptor.generateFullMethodName("viva.v1.KeyService", "VerifyKey"))
      .setRequestMarshaller(ProtoUtils.marshaller(VerifyKeyRequest.getDefaultInstance()))
      .setResponseMarshaller(ProtoUtils.marshaller(VerifyKeyResponse.getDefaultInstance())).build();

  @TempDir
  Path dir;

  final ManualClock clock = ManualClock.at(Instant.parse("2026-11-10T12:00:30Z"));

  /** A full-mode server (FullModeIT's tiers: anonymous 2/min, free 3/min, pro 100/min) and a channel to it. */
  void withServer(Consumer<Client> test) {
    try (TestServer t = TestServer.start(FullModeIT.config(null, dir, FullModeIT.TIERS), TestServer.options(clock))) {
      withChannel(t, test);
    }
  }

  static void withChannel(TestServer t, Consumer<Client> test) {
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", t.server.port()).usePlaintext().build();
    try {
      test.accept(new Client(t, channel));
    } finally {
      channel.shutdownNow();
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  record Client(TestServer t, ManagedChannel channel) {
    VerifyKeyResponse verify(VerifyKeyRequest r) {
      return ClientCalls.blockingUnaryCall(channel, VERIFY, CallOptions.DEFAULT, r);
    }

    VerifyKeyResponse verify(String key) {
      return verify(VerifyKeyRequest.newBuilder().setApiKey(key).build());
    }

    VerifyKeyResponse verify(String key, long cost) {
      return verify(VerifyKeyRequest.newBuilder().setApiKey(key).setCost(cost).build());
    }

    JsonNode createKey(String body) {
      return FullModeIT.createKey(t, FullModeIT.BOOT, body);
    }
  }

  static Status status(Throwable e) {
    return ((StatusRuntimeException) e).getStatus();
  }

  @Test
  void everyOutcomeIsAnAnswerWithTheHttpRoutesCode() {
    withServer(c -> {
      JsonNode created = c.createKey("{\"name\":\"k\",\"tier\":\"free\",\"owner_id\":\"cus_1\"}");
      String id = created.get("id").asText();
      String secret = created.get("key").asText();

      for (int i = 0; i < 3; i++) {
        VerifyKeyResponse r = c.verify(secret);
        assertThat(r.getCode()).isEqualTo(Code.VALID);
        assertThat(r.getValid()).isTrue();
        assertThat(r.getKeyId()).isEqualTo(id);
        assertThat(r.getOwnerId()).isEqualTo("cus_1");
        assertThat(r.getTier()).isEqualTo("free");
        assertThat(r.getLimit()).isEqualTo(3);
        assertThat(r.getRemaining()).isEqualTo(2 - i);
        assertThat(r.getResetAtUnixSeconds()).isEqualTo(Instant.parse("2026-11-10T12:01:00Z").getEpochSecond());
        assertThat(r.getRetryAfterMs()).isZero();
        assertThat(r.getRateLimitPolicy()).isEqualTo("\"per_minute\";q=3;w=60, \"per_day\";q=100;w=86400");
      }
      VerifyKeyResponse limited = c.verify(" " + secret + " "); // surrounding spaces ignored, as in the header
      assertThat(limited.getCode()).isEqualTo(Code.RATE_LIMITED);
      assertThat(limited.getValid()).isFalse();
      assertThat(limited.getKeyId()).isEqualTo(id);
      assertThat(limited.getRemaining()).isZero();
      assertThat(limited.getRetryAfterMs()).isEqualTo(30_000);

      for (String unknown : new String[] {"viva_live_notakey", io.viva.platform.KeyFormat.generate("viva_live_"),
          "viva_admin_" + "x".repeat(38), "\u00e9t\u00e9", " "}) {
        VerifyKeyResponse r = c.verify(unknown);
        assertThat(r.getCode()).as(unknown).isEqualTo(Code.NOT_FOUND);
        assertThat(r.getValid()).isFalse();
        assertThat(r.getKeyId()).isEmpty();
        assertThat(r.getTier()).isEmpty();
        assertThat(r.getLimit()).isZero();
      }

      assertThat(c.t().request("PATCH", "/api/v1/keys/" + id, "{\"enabled\":false}", FullModeIT.bearer(FullModeIT.BOOT))
          .status()).isEqualTo(200);
      VerifyKeyResponse disabled = c.verify(secret);
      assertThat(disabled.getCode()).isEqualTo(Code.DISABLED);
      assertThat(disabled.getKeyId()).isEqualTo(id);

      String expiring = c.createKey("{\"name\":\"e\",\"tier\":\"pro\",\"expires_in\":\"1h\"}").get("key").asText();
      assertThat(c.verify(expiring).getCode()).isEqualTo(Code.VALID);
      clock.advance(Duration.ofHours(1));
      VerifyKeyResponse expired = c.verify(expiring);
      assertThat(expired.getCode()).isEqualTo(Code.EXPIRED);
      assertThat(expired.getTier()).isEqualTo("pro");

      String noQuota = c.createKey("{\"name\":\"q\",\"tier\":\"free\",\"monthly_quota\":0}").get("key").asText();
      VerifyKeyResponse usage = c.verify(noQuota);
      assertThat(usage.getCode()).isEqualTo(Code.USAGE_EXCEEDED);
      assertThat(usage.getTier()).isEqualTo("free");
      assertThat(usage.getRetryAfterMs()).as("until the month ends").isPositive();
      assertThat(usage.getLimit()).isZero();

      // The HTTP route's metrics, by outcome.
      assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"valid\"")).isEqualTo(4);
      assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"rate_limited\"")).isEqualTo(1);
      assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"not_found\"")).isEqualTo(5);
      assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"disabled\"")).isEqualTo(1);
      assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"expired\"")).isEqualTo(1);
      assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"usage_exceeded\"")).isEqualTo(1);
    });
  }

  @Test
  void behindATrustedProxyTheAnonymousClientIsTheForwardedOneOverGrpcAndHttp() {
    ServerConfig cfg = FullModeIT.config(FullModeIT.platform(null, dir, java.util.List.of("127.0.0.1", "::1")),
        FullModeIT.TIERS);
    try (TestServer t = TestServer.start(cfg, TestServer.options(clock))) {
      withChannel(t, c -> {
        io.grpc.Metadata md = new io.grpc.Metadata();
        md.put(io.grpc.Metadata.Key.of("x-forwarded-for", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "203.0.113.7");
        io.grpc.Channel forwarded = io.grpc.ClientInterceptors.intercept(c.channel(),
            io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(md));
        VerifyKeyRequest anonymous = VerifyKeyRequest.getDefaultInstance();
        assertThat(ClientCalls.blockingUnaryCall(forwarded, VERIFY, CallOptions.DEFAULT, anonymous).getRemaining())
            .isEqualTo(1);
        // The same forwarded client over HTTP shares the allowance; the proxy's own calls do not.
        assertThat(t.post("/api/v1/rate-limit/check", null, "X-Forwarded-For", "203.0.113.7").status()).isEqualTo(200);
        assertThat(ClientCalls.blockingUnaryCall(forwarded, VERIFY, CallOptions.DEFAULT, anonymous).getCode())
            .isEqualTo(Code.RATE_LIMITED);
        assertThat(c.verify(anonymous).getCode()).isEqualTo(Code.VALID);
      });
    }
  }

  @Test
  void anEmptyKeyIsTheAnonymousTierByPeerAddressSharedWithHttp() {
    withServer(c -> {
      VerifyKeyResponse first = c.verify(VerifyKeyRequest.getDefaultInstance());
      assertThat(first.getCode()).isEqualTo(Code.VALID);
      assertThat(first.getTier()).isEqualTo("anonymous");
      assertThat(first.getKeyId()).isEmpty();
      assertThat(first.getLimit()).isEqualTo(2);
      assertThat(first.getRemaining()).isEqualTo(1);
      // The same client address over HTTP (no X-API-Key) takes from the same allowance.
      TestServer.Response http = FullModeIT.check(c.t(), null);
      assertThat(http.status()).isEqualTo(200);
      assertThat(http.json().get("rate_limit").get("remaining").asLong()).isZero();
      VerifyKeyResponse limited = c.verify("");
      assertThat(limited.getCode()).isEqualTo(Code.RATE_LIMITED);
      assertThat(limited.getTier()).isEqualTo("anonymous");
      assertThat(limited.getRetryAfterMs()).isEqualTo(30_000);
      assertThat(c.t().metric("viva_key_verifications_anonymous_total", "")).isEqualTo(3);
    });
  }

  @Test
  void costIsChargedAsOverHttpAndZeroPeeks() {
    withServer(c -> {
      String secret = c.createKey("{\"name\":\"p\",\"tier\":\"pro\"}").get("key").asText();
      assertThat(c.verify(secret).getRemaining()).as("unset: 1").isEqualTo(99);
      assertThat(c.verify(secret, 5).getRemaining()).isEqualTo(94);
      VerifyKeyResponse peek = c.verify(secret, 0);
      assertThat(peek.getCode()).isEqualTo(Code.VALID);
      assertThat(peek.getRemaining()).isEqualTo(94);
      TestServer.Response http = c.t().post("/api/v1/rate-limit/check", "{\"cost\":4}", "X-API-Key", secret);
      assertThat(http.json().get("rate_limit").get("remaining").asLong()).isEqualTo(90);
      assertThat(c.verify(secret, 90).getRemaining()).isZero();
      VerifyKeyResponse denied = c.verify(secret, 1);
      assertThat(denied.getCode()).isEqualTo(Code.RATE_LIMITED);
      assertThat(denied.getRetryAfterMs()).as("one token of 100 per minute").isEqualTo(600);
    });
  }

  @Test
  void badInputIsInvalidArgumentNamingTheFieldAndNeverTheKey() {
    try (LogCapture logs = LogCapture.of(org.slf4j.Logger.ROOT_LOGGER_NAME)) {
      withServer(c -> {
        String secret = c.createKey("{\"name\":\"f\",\"tier\":\"free\"}").get("key").asText();
        assertThatThrownBy(() -> c.verify(secret, -1)).satisfies(e -> {
          assertThat(status(e).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(status(e).getDescription()).isEqualTo("cost: -1 (expected: >= 0)");
        });
        // Above the capacity of the key's policy: refused as /v1/check refuses it, on the first
        // (uncached) verification and on a cached one, over gRPC and HTTP alike.
        for (int i = 0; i < 2; i++) {
          assertThatThrownBy(() -> c.verify(secret, Long.MAX_VALUE)).satisfies(e -> {
            assertThat(status(e).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(status(e).getDescription()).startsWith("cost: " + Long.MAX_VALUE + " (expected: <= 3");
          });
        }
        String fresh = c.createKey("{\"name\":\"g\",\"tier\":\"free\"}").get("key").asText();
        TestServer.Response http = c.t().post("/api/v1/rate-limit/check", "{\"cost\":4}", "X-API-Key", fresh);
        assertThat(http.status()).as(http.body()).isEqualTo(400);
        assertThat(http.json().get("message").asText()).startsWith("cost: 4 (expected: <= 3");
        TestServer.Response cached = c.t().post("/api/v1/rate-limit/check", "{\"cost\":4}", "X-API-Key", secret);
        assertThat(cached.status()).as(cached.body()).isEqualTo(400);
        assertThatThrownBy(() -> c.verify("", 3)).satisfies(e ->
            assertThat(status(e).getDescription()).startsWith("cost: 3 (expected: <= 2"));

        String overLong = secret + "x".repeat(300);
        assertThatThrownBy(() -> c.verify(overLong)).satisfies(e -> {
          assertThat(status(e).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(status(e).getDescription()).isEqualTo("api_key: 348 characters (expected: at most 256; empty"
              + " for an anonymous request)");
        });
        String broken = secret.substring(0, 47) + (secret.endsWith("x") ? "y" : "x");
        assertThat(c.verify(broken).getCode()).as("a wrong checksum").isEqualTo(Code.NOT_FOUND);

        // Nothing refused as invalid was counted, and the key's allowance is untouched.
        assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"valid\"")).isZero();
        assertThat(c.verify(secret).getRemaining()).isEqualTo(2);
      });
      assertThat(String.join("\n", logs.lines())).doesNotContain("viva_live_").doesNotContain("xxxxxxxxxx");
    }
  }

  @Test
  void aServerNotInFullModeRefusesWithFailedPrecondition() {
    try (TestServer t = TestServer.start(ServerConfig.defaults())) {
      withChannel(t, c -> {
        assertThatThrownBy(() -> c.verify("viva_live_x")).satisfies(e -> {
          assertThat(status(e).getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
          assertThat(status(e).getDescription()).startsWith("VerifyKey: this server is not in full mode (expected:"
              + " a server started with MODE=full");
        });
        var health = HealthGrpc.newBlockingStub(c.channel());
        assertThat(health.check(HealthCheckRequest.newBuilder().setService("viva.v1.KeyService").build()).getStatus())
            .isEqualTo(HealthCheckResponse.ServingStatus.NOT_SERVING);
        assertThat(health.check(HealthCheckRequest.newBuilder().setService("viva.v1.RateLimiter").build()).getStatus())
            .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      });
    }
  }

  /**
   * One key used over both transports: one rate limit (the key id is the identifier either way)
   * and one usage count, exact per outcome after a flush.
   */
  @Test
  void httpAndGrpcShareOneRateLimitAndOneUsageCount() {
    withServer(c -> {
      JsonNode created = c.createKey("{\"name\":\"both\",\"tier\":\"free\",\"owner_id\":\"cus_2\"}");
      String id = created.get("id").asText();
      String secret = created.get("key").asText();
      assertThat(FullModeIT.check(c.t(), secret).status()).isEqualTo(200);
      assertThat(c.verify(secret).getRemaining()).isEqualTo(1);
      assertThat(FullModeIT.check(c.t(), secret).header("X-RateLimit-Remaining")).contains("0");
      assertThat(c.verify(secret).getCode()).isEqualTo(Code.RATE_LIMITED);
      assertThat(FullModeIT.check(c.t(), secret).status()).isEqualTo(429);
      assertThat(c.verify(secret).getCode()).isEqualTo(Code.RATE_LIMITED);

      assertThat(c.t().post("/api/v1/usage/flush", null, FullModeIT.bearer(FullModeIT.BOOT)).status()).isEqualTo(200);
      TestServer.Response r = c.t().get("/api/v1/keys/" + id + "/usage?granularity=day&from=2026-11-01T00:00:00Z"
          + "&to=2026-12-01T00:00:00Z", FullModeIT.bearer(FullModeIT.BOOT));
      assertThat(r.status()).as(r.body()).isEqualTo(200);
      assertThat(r.json().get("totals").get("allowed").asLong()).isEqualTo(3);
      assertThat(r.json().get("totals").get("rate_limited").asLong()).isEqualTo(3);
      assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"valid\"")).isEqualTo(3);
      assertThat(c.t().metric("viva_key_verifications_total", "outcome=\"rate_limited\"")).isEqualTo(3);

      var health = HealthGrpc.newBlockingStub(c.channel());
      assertThat(health.check(HealthCheckRequest.newBuilder().setService("viva.v1.KeyService").build()).getStatus())
          .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    });
  }
}
