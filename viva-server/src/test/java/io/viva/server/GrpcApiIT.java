package io.viva.server;

import io.viva.redis.RedisServerProcess;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import io.viva.api.v1.CheckBatchRequest;
import io.viva.api.v1.CheckBatchResponse;
import io.viva.api.v1.CheckRequest;
import io.viva.api.v1.CheckResponse;
import io.viva.core.ManualClock;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Viva's own gRPC API (viva.v1), health and reflection, through grpc-java on the HTTP port. */
class GrpcApiIT {

  static final String POLICIES = """
      policies:
        - {namespace: default, algorithm: fixed_window, limit: 3, window: 1m}
        - {namespace: shadowed, algorithm: fixed_window, limit: 1, window: 1m, shadow: true}
      """;

  static final MethodDescriptor<CheckRequest, CheckResponse> CHECK = method("Check", MethodDescriptor.MethodType.UNARY,
      CheckRequest.getDefaultInstance(), CheckResponse.getDefaultInstance());
  static final MethodDescriptor<CheckBatchRequest, CheckBatchResponse> BATCH = method("CheckBatch",
      MethodDescriptor.MethodType.UNARY, CheckBatchRequest.getDefaultInstance(), CheckBatchResponse.getDefaultInstance());
  static final MethodDescriptor<CheckBatchRequest, CheckBatchResponse> STREAM = method("CheckStream",
      MethodDescriptor.MethodType.BIDI_STREAMING, CheckBatchRequest.getDefaultInstance(),
      CheckBatchResponse.getDefaultInstance());

  static <I extends com.google.protobuf.Message, O extends com.google.protobuf.Message> MethodDescriptor<I, O> method(
      String name, MethodDescriptor.MethodType type, I req, O resp) {
    return MethodDescriptor.<I, O>newBuilder().setType(type)
        .setFullMethodName(MethodDescriptor.generateFullMethodName("viva.v1.RateLimiter", name))
        .setRequestMarshaller(ProtoUtils.marshaller(req)).setResponseMarshaller(ProtoUtils.marshaller(resp)).build();
  }

  static final Instant T0 = Instant.parse("2026-01-15T10:00:10Z");
  static TestServer server;
  static ManagedChannel channel;

  @BeforeAll
  static void start() {
    server = TestServer.start(TestServer.config(POLICIES), TestServer.options(ManualClock.at(T0)));
    channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.server.port()).usePlaintext().build();
  }

  @AfterAll
  static void stop() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.close();
  }

  static CheckResponse check(CheckRequest r) {
    return ClientCalls.blockingUnaryCall(channel, CHECK, CallOptions.DEFAULT, r);
  }

  static CheckRequest req(String id) {
    return CheckRequest.newBuilder().setIdentifier(id).build();
  }

  static Status.Code code(Throwable t) {
    return ((StatusRuntimeException) t).getStatus().getCode();
  }

  @Test
  void checkAsPostV1Check() {
    CheckResponse first = check(req("unary-1"));
    assertThat(first.getAllowed()).isTrue();
    assertThat(first.getLimit()).isEqualTo(3);
    assertThat(first.getRemaining()).isEqualTo(2);
    assertThat(first.getResetAtUnixSeconds()).isEqualTo(T0.getEpochSecond() + 50);
    assertThat(check(req("unary-1").toBuilder().setCost(2).build()).getRemaining()).isZero();
    CheckResponse denied = check(req("unary-1"));
    assertThat(denied.getAllowed()).isFalse();
    assertThat(denied.getRetryAfterMs()).isEqualTo(50_000);
    // The same counter as HTTP.
    assertThat(server.post("/v1/check", "{\"identifier\":\"unary-1\"}").status()).isEqualTo(429);
    CheckResponse peek = check(req("unary-1").toBuilder().setCost(0).build());
    assertThat(peek.getRemaining()).isZero();
    check(req("s").toBuilder().setNamespace("shadowed").build());
    CheckResponse shadow = check(req("s").toBuilder().setNamespace("shadowed").build());
    assertThat(shadow.getAllowed()).isTrue();
    assertThat(shadow.getShadowDenied()).isTrue();
  }

  @Test
  void badInputIsInvalidArgumentWithTheHttpMessage() {
    assertThatThrownBy(() -> check(CheckRequest.getDefaultInstance())).satisfies(e -> {
      assertThat(code(e)).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(((StatusRuntimeException) e).getStatus().getDescription()).isEqualTo("identifier: \"\" (expected: a"
          + " non-empty identifier)");
    });
    assertThatThrownBy(() -> check(req("x").toBuilder().setNamespace("nope").build()))
        .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getDescription())
            .startsWith("namespace: \"nope\" (expected: one of default, shadowed)"));
    assertThatThrownBy(() -> check(req("x").toBuilder().setCost(-1).build()))
        .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getDescription())
            .isEqualTo("cost: -1 (expected: >= 0)"));
    assertThatThrownBy(() -> check(req("x".repeat(1025))))
        .satisfies(e -> assertThat(code(e)).isEqualTo(Status.Code.INVALID_ARGUMENT));
    assertThatThrownBy(() -> check(req("x").toBuilder().setIdempotencyKey("k".repeat(300)).build()))
        .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getDescription())
            .isEqualTo("idempotency_key: 300 characters (expected: 1 to 256)"));
  }

  @Test
  void batchIsValidatedWholeAndAnsweredInOrder() {
    CheckBatchRequest.Builder b = CheckBatchRequest.newBuilder().setId(42);
    for (int i = 0; i < 4; i++) {
      b.addChecks(req("batch-1"));
    }
    CheckBatchResponse r = ClientCalls.blockingUnaryCall(channel, BATCH, CallOptions.DEFAULT, b.build());
    assertThat(r.getId()).isEqualTo(42);
    assertThat(r.getResultsList()).extracting(CheckResponse::getRemaining).containsExactly(2L, 1L, 0L, 0L);
    assertThat(r.getResultsList()).extracting(CheckResponse::getAllowed).containsExactly(true, true, true, false);
    CheckBatchRequest bad = CheckBatchRequest.newBuilder().addChecks(req("batch-2")).addChecks(req("")).build();
    assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(channel, BATCH, CallOptions.DEFAULT, bad))
        .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getDescription())
            .isEqualTo("checks[1].identifier: \"\" (expected: a non-empty identifier)"));
    // Nothing of the rejected batch was charged.
    assertThat(check(req("batch-2")).getRemaining()).isEqualTo(2);
    CheckBatchRequest.Builder tooMany = CheckBatchRequest.newBuilder();
    for (int i = 0; i < 1001; i++) {
      tooMany.addChecks(req("t" + i));
    }
    assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(channel, BATCH, CallOptions.DEFAULT, tooMany.build()))
        .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getDescription())
            .isEqualTo("checks: 1001 items (expected: at most 1000 per message; split it)"));
  }

  @Test
  void streamAnswersEachMessageInOrder() throws Exception {
    List<CheckBatchResponse> got = new CopyOnWriteArrayList<>();
    CountDownLatch done = new CountDownLatch(1);
    AtomicReference<Throwable> error = new AtomicReference<>();
    StreamObserver<CheckBatchRequest> out = ClientCalls.asyncBidiStreamingCall(
        channel.newCall(STREAM, CallOptions.DEFAULT), observer(got, error, done));
    for (int m = 0; m < 50; m++) {
      CheckBatchRequest.Builder b = CheckBatchRequest.newBuilder().setId(m);
      for (int i = 0; i < 10; i++) {
        b.addChecks(req("stream-" + m + "-" + (i % 2)));
      }
      out.onNext(b.build());
    }
    out.onCompleted();
    assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(error.get()).isNull();
    assertThat(got).hasSize(50);
    for (int m = 0; m < 50; m++) {
      CheckBatchResponse r = got.get(m);
      assertThat(r.getId()).isEqualTo(m);
      assertThat(r.getResultsList()).extracting(CheckResponse::getRemaining)
          .containsExactly(2L, 2L, 1L, 1L, 0L, 0L, 0L, 0L, 0L, 0L);
    }
  }

  @Test
  void aBadStreamMessageEndsTheStreamNamingIt() throws Exception {
    List<CheckBatchResponse> got = new CopyOnWriteArrayList<>();
    CountDownLatch done = new CountDownLatch(1);
    AtomicReference<Throwable> error = new AtomicReference<>();
    StreamObserver<CheckBatchRequest> out = ClientCalls.asyncBidiStreamingCall(
        channel.newCall(STREAM, CallOptions.DEFAULT), observer(got, error, done));
    out.onNext(CheckBatchRequest.newBuilder().setId(1).addChecks(req("bad-stream")).build());
    out.onNext(CheckBatchRequest.newBuilder().setId(2).addChecks(req("")).build());
    assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
    out.onCompleted();
    assertThat(got).hasSize(1);
    Status status = Status.fromThrowable(error.get());
    assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(status.getDescription()).isEqualTo("message id 2: checks[0].identifier: \"\" (expected: a non-empty"
        + " identifier)");
  }

  @Test
  void aCancelledStreamLeavesTheServerServing() throws Exception {
    io.grpc.ClientCall<CheckBatchRequest, CheckBatchResponse> call = channel.newCall(STREAM, CallOptions.DEFAULT);
    CountDownLatch closed = new CountDownLatch(1);
    call.start(new io.grpc.ClientCall.Listener<>() {
      @Override
      public void onClose(Status status, io.grpc.Metadata trailers) {
        closed.countDown();
      }
    }, new io.grpc.Metadata());
    call.request(Integer.MAX_VALUE);
    for (int m = 0; m < 20; m++) {
      call.sendMessage(CheckBatchRequest.newBuilder().setId(m).addChecks(req("cancelled-" + m)).build());
    }
    call.cancel("client gone", null);
    assertThat(closed.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(check(req("after-cancel")).getAllowed()).isTrue();
  }

  @Test
  void undecodableMessagesAreInvalidArgument() {
    MethodDescriptor.Marshaller<byte[]> raw = new MethodDescriptor.Marshaller<>() {
      @Override
      public java.io.InputStream stream(byte[] value) {
        return new java.io.ByteArrayInputStream(value);
      }

      @Override
      public byte[] parse(java.io.InputStream stream) {
        try {
          return stream.readAllBytes();
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }
    };
    for (String method : new String[] {"viva.v1.RateLimiter/Check", "viva.v1.RateLimiter/CheckBatch",
        "envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"}) {
      MethodDescriptor<byte[], byte[]> m = MethodDescriptor.<byte[], byte[]>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(method)
          .setRequestMarshaller(raw).setResponseMarshaller(raw).build();
      assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(channel, m, CallOptions.DEFAULT,
          new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01, 0x02}))
          .as(method).satisfies(e -> assertThat(code(e)).isEqualTo(Status.Code.INVALID_ARGUMENT));
    }
    MethodDescriptor<byte[], byte[]> unknown = MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("viva.v1.RateLimiter/Nope")
        .setRequestMarshaller(raw).setResponseMarshaller(raw).build();
    assertThatThrownBy(() -> ClientCalls.blockingUnaryCall(channel, unknown, CallOptions.DEFAULT, new byte[0]))
        .satisfies(e -> assertThat(code(e)).isEqualTo(Status.Code.UNIMPLEMENTED));
  }

  static StreamObserver<CheckBatchResponse> observer(List<CheckBatchResponse> got, AtomicReference<Throwable> error,
      CountDownLatch done) {
    return new StreamObserver<>() {
      @Override
      public void onNext(CheckBatchResponse value) {
        got.add(value);
      }

      @Override
      public void onError(Throwable t) {
        error.set(t);
        done.countDown();
      }

      @Override
      public void onCompleted() {
        done.countDown();
      }
    };
  }

  @Test
  void healthServesWhileReady() {
    var health = HealthGrpc.newBlockingStub(channel);
    for (String service : new String[] {"", "viva.v1.RateLimiter", "envoy.service.ratelimit.v3.RateLimitService"}) {
      assertThat(health.check(HealthCheckRequest.newBuilder().setService(service).build()).getStatus())
          .as(service).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    }
  }

  @Test
  void reflectionListsTheServicesAndDescribesThem() throws Exception {
    List<ServerReflectionResponse> got = new CopyOnWriteArrayList<>();
    CountDownLatch done = new CountDownLatch(1);
    StreamObserver<ServerReflectionRequest> out = ServerReflectionGrpc.newStub(channel).serverReflectionInfo(
        new StreamObserver<>() {
          @Override
          public void onNext(ServerReflectionResponse value) {
            got.add(value);
            if (got.size() == 2) {
              done.countDown();
            }
          }

          @Override
          public void onError(Throwable t) {
            done.countDown();
          }

          @Override
          public void onCompleted() {
            done.countDown();
          }
        });
    out.onNext(ServerReflectionRequest.newBuilder().setListServices("*").build());
    out.onNext(ServerReflectionRequest.newBuilder().setFileContainingSymbol("viva.v1.RateLimiter").build());
    assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
    out.onCompleted();
    assertThat(got.get(0).getListServicesResponse().getServiceList()).extracting(s -> s.getName())
        .contains("viva.v1.RateLimiter", "envoy.service.ratelimit.v3.RateLimitService", "grpc.health.v1.Health");
    var file = com.google.protobuf.DescriptorProtos.FileDescriptorProto.parseFrom(
        got.get(1).getFileDescriptorResponse().getFileDescriptorProto(0));
    assertThat(file.getPackage()).isEqualTo("viva.v1");
    assertThat(file.getService(0).getMethodList()).extracting(m -> m.getName())
        .containsExactly("Check", "CheckBatch", "CheckStream");
  }

  /**
   * The gRPC services are created on the first gRPC request (docs/decisions/0005-idle-memory.md): a
   * server that only spoke HTTP has none, and its first gRPC requests, arriving at once on several
   * connections (so on every event loop), are all served: health, a check sharing the HTTP
   * counter, Envoy's RLS.
   */
  @Test
  void aServerThatNeverSpokeGrpcServesItsFirstGrpcRequests() throws Exception {
    try (TestServer fresh = TestServer.start(TestServer.config(POLICIES), TestServer.options(ManualClock.at(T0)))) {
      assertThat(fresh.post("/v1/check", "{\"identifier\":\"lazy\"}").status()).isEqualTo(200);
      assertThat(fresh.get("/metrics").status()).isEqualTo(200);
      assertThat(fresh.server.grpcCreated()).isFalse();
      int connections = 4;
      List<ManagedChannel> channels = new java.util.ArrayList<>();
      for (int i = 0; i < connections; i++) {
        channels.add(ManagedChannelBuilder.forAddress("127.0.0.1", fresh.server.port()).usePlaintext().build());
      }
      java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(connections);
      try {
        CountDownLatch go = new CountDownLatch(1);
        List<java.util.concurrent.Future<HealthCheckResponse.ServingStatus>> first = new java.util.ArrayList<>();
        for (ManagedChannel ch : channels) {
          first.add(pool.submit(() -> {
            go.await();
            return HealthGrpc.newBlockingStub(ch).check(HealthCheckRequest.getDefaultInstance()).getStatus();
          }));
        }
        go.countDown();
        for (var f : first) {
          assertThat(f.get(30, TimeUnit.SECONDS)).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        }
        assertThat(fresh.server.grpcCreated()).isTrue();
        for (int i = 0; i < connections; i++) {
          CheckResponse r = ClientCalls.blockingUnaryCall(channels.get(i), CHECK, CallOptions.DEFAULT, req("lazy"));
          // limit 3: the HTTP check took one.
          assertThat(r.getAllowed()).isEqualTo(i < 2);
        }
        var rls = io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc.newBlockingStub(channels.get(0))
            .shouldRateLimit(io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest.newBuilder().setDomain("none")
                .addDescriptors(io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.newBuilder()
                    .addEntries(io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry
                        .newBuilder().setKey("k").setValue("v")))
                .build());
        assertThat(rls.getOverallCode())
            .isEqualTo(io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code.OK);
      } finally {
        pool.shutdownNow();
        for (ManagedChannel ch : channels) {
          ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
      }
    }
  }

  @Test
  void httpStillWorksOnTheSamePort() {
    assertThat(server.get("/health/ready").status()).isEqualTo(200);
  }

  /** With Redis, decisions complete later on Lettuce's threads: unary and stream answers still come back, in order. */
  @Test
  void redisStoreAnswersAsynchronouslyInOrder() throws Exception {
    try (RedisServerProcess redis = RedisServerProcess.started();
        TestServer s = TestServer.start(RedisStoreIT.redisConfig(redis.url(), "fail_closed", "5s")
            .withPoliciesForTest(TestServer.config(POLICIES).policies()), TestServer.options(ManualClock.at(T0)))) {
      ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", s.server.port()).usePlaintext().build();
      try {
        CheckResponse one = ClientCalls.blockingUnaryCall(ch, CHECK, CallOptions.DEFAULT, req("redis-unary"));
        assertThat(one.getRemaining()).isEqualTo(2);
        List<CheckBatchResponse> got = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        AtomicReference<Throwable> error = new AtomicReference<>();
        StreamObserver<CheckBatchRequest> out = ClientCalls.asyncBidiStreamingCall(
            ch.newCall(STREAM, CallOptions.DEFAULT), observer(got, error, done));
        for (int m = 0; m < 30; m++) {
          out.onNext(CheckBatchRequest.newBuilder().setId(m).addChecks(req("redis-stream-" + (m % 3))).build());
        }
        out.onCompleted();
        assertThat(done.await(20, TimeUnit.SECONDS)).isTrue();
        assertThat(error.get()).isNull();
        assertThat(got).extracting(CheckBatchResponse::getId).containsExactlyElementsOf(
            java.util.stream.LongStream.range(0, 30).boxed().toList());
        for (int m = 0; m < 30; m++) {
          assertThat(got.get(m).getResults(0).getRemaining()).as("message " + m).isEqualTo(Math.max(0, 2 - m / 3));
        }
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }
}
