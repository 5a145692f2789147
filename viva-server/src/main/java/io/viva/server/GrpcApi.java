package io.viva.server;

import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RlsProto;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.health.HealthService;
import io.vertx.grpc.server.GrpcProtocol;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.Service;
import io.viva.api.v1.CheckBatchRequest;
import io.viva.api.v1.CheckBatchResponse;
import io.viva.api.v1.CheckRequest;
import io.viva.api.v1.CheckResponse;
import io.viva.api.v1.VerifyKeyRequest;
import io.viva.api.v1.VerifyKeyResponse;
import io.viva.api.v1.VivaProto;
import io.viva.core.Decision;
import io.viva.platform.ApiKey;
import io.viva.platform.Verification;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC services on the API port: {@code viva.v1.RateLimiter} (Check, CheckBatch, CheckStream:
 * the checks of {@link CheckApi}, same validation and limits), {@code viva.v1.KeyService}
 * (VerifyKey: full mode's verified check, {@link FullMode#verify} as {@link PlatformApi}'s HTTP
 * route calls it; FAILED_PRECONDITION outside full mode), Envoy's {@code
 * envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit} ({@link EnvoyRls}), {@code
 * grpc.health.v1.Health} (SERVING while the server is ready) and server reflection (v1, {@link
 * GrpcReflection}).
 *
 * <p>Handlers run on the connection's event loop; a decision that completes later (Redis) is
 * answered back on that event loop. Bad input ends the call with INVALID_ARGUMENT and the same
 * message as the HTTP API's 400; a store failure with UNAVAILABLE.
 */
final class GrpcApi {

  private static final Logger LOG = LoggerFactory.getLogger(GrpcApi.class);

  static final ServiceName VIVA = ServiceName.create("viva.v1.RateLimiter");
  static final ServiceName KEYS = ServiceName.create("viva.v1.KeyService");
  static final ServiceName RLS = ServiceName.create("envoy.service.ratelimit.v3.RateLimitService");
  /**
   * Longest {@code api_key} accepted: far above a key's 48 characters, so any longer value is a
   * caller's bug, refused before it is hashed (HTTP bounds the same header by its size limit).
   */
  static final int MAX_API_KEY_LENGTH = 256;
  /** Largest message accepted: as the HTTP batch body limit. */
  static final long MAX_MESSAGE_SIZE = VivaRoutes.BATCH_BODY_LIMIT;

  private static final ServiceMethod<CheckRequest, CheckResponse> CHECK = ServiceMethod.server(VIVA, "Check",
      GrpcMessageEncoder.encoder(), decoder(CheckRequest.parser()));
  private static final ServiceMethod<CheckBatchRequest, CheckBatchResponse> CHECK_BATCH = ServiceMethod.server(VIVA,
      "CheckBatch", GrpcMessageEncoder.encoder(), decoder(CheckBatchRequest.parser()));
  private static final ServiceMethod<CheckBatchRequest, CheckBatchResponse> CHECK_STREAM = ServiceMethod.server(VIVA,
      "CheckStream", GrpcMessageEncoder.encoder(), decoder(CheckBatchRequest.parser()));
  private static final ServiceMethod<VerifyKeyRequest, VerifyKeyResponse> VERIFY_KEY = ServiceMethod.server(KEYS,
      "VerifyKey", GrpcMessageEncoder.encoder(), decoder(VerifyKeyRequest.parser()));
  private static final ServiceMethod<RateLimitRequest, RateLimitResponse> SHOULD_RATE_LIMIT = ServiceMethod.server(
      RLS, "ShouldRateLimit", GrpcMessageEncoder.encoder(), decoder(RateLimitRequest.parser()));

  /**
   * A protobuf decoder that yields null for bytes that are not a valid message, so the handler
   * answers INVALID_ARGUMENT (Vert.x's own decoder resets the stream: the client sees CANCELLED).
   */
  static <T> GrpcMessageDecoder<T> decoder(com.google.protobuf.Parser<T> parser) {
    return new GrpcMessageDecoder<>() {
      @Override
      public T decode(io.vertx.grpc.common.GrpcMessage msg) {
        try {
          return parser.parseFrom(msg.payload().getBytes());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
          return null;
        }
      }

      @Override
      public boolean accepts(io.vertx.grpc.common.WireFormat format) {
        return format == io.vertx.grpc.common.WireFormat.PROTOBUF;
      }
    };
  }

  private static final ApiError UNDECODABLE = ApiError.invalid("message: not a valid protobuf message of the"
      + " method's request type");

  private final PolicyRegistry registry;
  private final int maxBatchSize;
  private final EnvoyRls rls;
  private final AtomicBoolean ready;
  /** Full mode's parts, or null when the server is not in full mode (VerifyKey then refuses). */
  private final FullMode full;
  private final GrpcReflection reflection = new GrpcReflection(List.of(
      VivaProto.getDescriptor().findServiceByName("RateLimiter"),
      VivaProto.getDescriptor().findServiceByName("KeyService"),
      RlsProto.getDescriptor().findServiceByName("RateLimitService"),
      io.vertx.grpc.health.v1.HealthProto.getDescriptor().findServiceByName("Health")));

  GrpcApi(PolicyRegistry registry, int maxBatchSize, EnvoyRls rls, AtomicBoolean ready, FullMode full) {
    this.registry = registry;
    this.maxBatchSize = maxBatchSize;
    this.rls = rls;
    this.ready = ready;
    this.full = full;
  }

  /** A gRPC server (a request handler) for one event loop's HTTP server. */
  GrpcServer server(Vertx vertx) {
    GrpcServer server = GrpcServer.server(vertx, new GrpcServerOptions()
        .removeEnabledProtocol(GrpcProtocol.TRANSCODING)
        .setMaxMessageSize(MAX_MESSAGE_SIZE));
    server.addService(Service.service(VIVA, VivaProto.getDescriptor().findServiceByName("RateLimiter"))
        .bind(CHECK, this::check)
        .bind(CHECK_BATCH, this::checkBatch)
        .bind(CHECK_STREAM, this::checkStream)
        .build());
    server.addService(Service.service(KEYS, VivaProto.getDescriptor().findServiceByName("KeyService"))
        .bind(VERIFY_KEY, this::verifyKey)
        .build());
    server.addService(Service.service(RLS, RlsProto.getDescriptor().findServiceByName("RateLimitService"))
        .bind(SHOULD_RATE_LIMIT, this::shouldRateLimit)
        .build());
    HealthService health = HealthService.create(vertx);
    health.register("", () -> Future.succeededFuture(ready.get()));
    health.register(VIVA, () -> Future.succeededFuture(ready.get()));
    health.register(KEYS, () -> Future.succeededFuture(full != null && ready.get()));
    health.register(RLS, () -> Future.succeededFuture(ready.get()));
    server.addService(health);
    server.addService(reflection.service());
    return server;
  }

  // ---- viva.v1.RateLimiter -------------------------------------------------------------------

  private void check(GrpcServerRequest<CheckRequest, CheckResponse> request) {
    request.handler(msg -> {
      GrpcServerResponse<CheckRequest, CheckResponse> response = request.response();
      if (msg == null) {
        invalid(response, UNDECODABLE);
        return;
      }
      CheckApi.Resolved r;
      try {
        r = resolve(registry.snapshot(), msg, "", new CheckApi.CheckFields());
      } catch (ApiError e) {
        invalid(response, e);
        return;
      }
      CompletableFuture<Decision> f = CheckApi.run(r);
      whenDone(f, response, () -> response.end(result(f.join(), r)));
    });
  }

  private void checkBatch(GrpcServerRequest<CheckBatchRequest, CheckBatchResponse> request) {
    request.handler(msg -> {
      GrpcServerResponse<CheckBatchRequest, CheckBatchResponse> response = request.response();
      if (msg == null) {
        invalid(response, UNDECODABLE);
        return;
      }
      Batch batch;
      try {
        batch = start(msg);
      } catch (ApiError e) {
        invalid(response, e);
        return;
      }
      whenDone(batch.all, response, () -> response.end(batch.response()));
    });
  }

  /**
   * One response per request message, in order: each message's decisions start as it arrives; its
   * response is written once they and every earlier message's response are done. Writes are not
   * flushed one by one: Vert.x flushes once per batch of reads from the socket. When the
   * response's write queue is full the request is paused until it drains.
   */
  private void checkStream(GrpcServerRequest<CheckBatchRequest, CheckBatchResponse> request) {
    GrpcServerResponse<CheckBatchRequest, CheckBatchResponse> response = request.response();
    Context context = Vertx.currentContext();
    StreamState state = new StreamState();
    response.drainHandler(v -> request.resume());
    // The client cancelled or the connection closed: stop answering.
    request.exceptionHandler(t -> state.failed = true);
    response.exceptionHandler(t -> state.failed = true);
    request.handler(msg -> {
      if (state.failed) {
        return;
      }
      if (msg == null) {
        state.failed = true;
        invalid(response, UNDECODABLE);
        return;
      }
      Batch batch;
      try {
        batch = start(msg);
      } catch (ApiError e) {
        state.failed = true;
        invalid(response, new ApiError(e.status, e.code, "message id " + msg.getId() + ": " + e.getMessage()));
        return;
      }
      if (state.tail == null && (batch.all == null || batch.all.isDone())) {
        if (!write(response, batch)) {
          state.failed = true;
          return;
        }
        if (response.writeQueueFull()) {
          request.pause();
        }
        return;
      }
      // An earlier message is still pending (Redis): keep the order.
      CompletableFuture<?> prev = state.tail != null ? state.tail : CompletableFuture.completedFuture(null);
      CompletableFuture<?> mine = batch.all != null ? CompletableFuture.allOf(prev, batch.all) : prev;
      CompletableFuture<Void> written = new CompletableFuture<>();
      state.tail = written;
      mine.whenComplete((ok, error) -> context.runOnContext(v -> {
        if (!state.failed && !write(response, batch)) {
          state.failed = true;
        }
        if (state.tail == written) {
          state.tail = null;
        }
        written.complete(null);
      }));
    });
    request.endHandler(v -> {
      if (state.failed) {
        return;
      }
      if (state.tail == null) {
        end(response);
      } else {
        state.tail.whenComplete((ok, error) -> context.runOnContext(x -> {
          if (!state.failed) {
            end(response);
          }
        }));
      }
    });
  }

  private static void end(GrpcServerResponse<?, ?> response) {
    try {
      response.end();
    } catch (IllegalStateException e) {
      // cancelled by the client meanwhile
    }
  }

  /** A stream's ordering state; touched on its event loop only. */
  private static final class StreamState {
    CompletableFuture<Void> tail;
    boolean failed;
  }

  /** Writes a batch's response; false (and the call failed) when a decision failed. */
  private static boolean write(GrpcServerResponse<CheckBatchRequest, CheckBatchResponse> response, Batch batch) {
    CheckBatchResponse out;
    try {
      out = batch.response();
    } catch (CompletionException e) {
      unavailable(response, e.getCause() != null ? e.getCause() : e);
      return false;
    }
    try {
      response.write(out);
    } catch (IllegalStateException e) {
      return false; // the stream was closed by the client meanwhile
    }
    return true;
  }

  /** A message's checks, validated whole, with their decisions started. */
  private final class Batch {
    final long id;
    final CheckApi.Resolved[] resolved;
    final CompletableFuture<Decision>[] decisions;
    final CompletableFuture<Void> all;

    @SuppressWarnings("unchecked")
    Batch(long id, CheckApi.Resolved[] resolved) {
      this.id = id;
      this.resolved = resolved;
      this.decisions = new CompletableFuture[resolved.length];
      boolean done = true;
      for (int i = 0; i < resolved.length; i++) {
        decisions[i] = CheckApi.run(resolved[i]);
        done &= decisions[i].isDone();
      }
      this.all = done ? null : CompletableFuture.allOf(decisions);
    }

    CheckBatchResponse response() {
      CheckBatchResponse.Builder b = CheckBatchResponse.newBuilder().setId(id);
      for (int i = 0; i < resolved.length; i++) {
        b.addResults(result(decisions[i].join(), resolved[i]));
      }
      return b.build();
    }
  }

  private Batch start(CheckBatchRequest msg) {
    int n = msg.getChecksCount();
    if (n > maxBatchSize) {
      throw new ApiError(400, "batch_too_large", "checks: " + n + " items (expected: at most " + maxBatchSize
          + " per message; split it)");
    }
    PolicyRegistry.Snapshot snapshot = registry.snapshot();
    CheckApi.Resolved[] resolved = new CheckApi.Resolved[n];
    CheckApi.CheckFields fields = new CheckApi.CheckFields();
    for (int i = 0; i < n; i++) {
      fields.clear();
      resolved[i] = resolve(snapshot, msg.getChecks(i), null, fields);
      if (resolved[i] == null) {
        resolved[i] = resolve(snapshot, msg.getChecks(i), "checks[" + i + "]", fields);
      }
    }
    return new Batch(msg.getId(), resolved);
  }

  /**
   * Validates one check. {@code path} names it in error messages; null means "no message wanted":
   * returns null instead of throwing, and the caller retries with the path, so the common valid
   * case builds no path strings.
   */
  private static CheckApi.Resolved resolve(PolicyRegistry.Snapshot snapshot, CheckRequest msg, String path,
      CheckApi.CheckFields f) {
    if (path == null) {
      try {
        return resolve(snapshot, msg, "", f);
      } catch (ApiError e) {
        f.clear();
        return null;
      }
    }
    f.identifier = msg.getIdentifier();
    f.namespace = msg.getNamespace().isEmpty() ? null : msg.getNamespace();
    f.cost = msg.hasCost() ? msg.getCost() : 1;
    String key = msg.getIdempotencyKey();
    if (!key.isEmpty()) {
      f.idempotencyKey = CheckApi.checkIdempotencyKey(key, path.isEmpty() ? "idempotency_key" : path
          + ".idempotency_key");
    }
    return CheckApi.resolve(snapshot, f, path);
  }

  private static CheckResponse result(Decision d, CheckApi.Resolved r) {
    boolean shadowDenied = !d.allowed() && r.namespace().shadow();
    return CheckResponse.newBuilder()
        .setAllowed(d.allowed() || shadowDenied)
        .setLimit(d.limit())
        .setRemaining(d.remaining())
        .setResetAtUnixSeconds(CheckApi.ceilSeconds(d.resetAtMicros()))
        .setRetryAfterMs(retryAfterMs(d))
        .setShadowDenied(shadowDenied)
        .build();
  }

  private static long retryAfterMs(Decision d) {
    long micros = d.retryAfterMicros();
    return micros <= 0 ? 0 : (micros + 999) / 1000;
  }

  // ---- viva.v1.KeyService ----------------------------------------------------------------------

  private static final String NOT_FULL_MODE = "VerifyKey: this server is not in full mode (expected: a server"
      + " started with MODE=full, which issues and verifies API keys; see docs/full-mode.md)";

  private void verifyKey(GrpcServerRequest<VerifyKeyRequest, VerifyKeyResponse> request) {
    request.handler(msg -> {
      GrpcServerResponse<VerifyKeyRequest, VerifyKeyResponse> response = request.response();
      if (full == null) {
        fail(response, GrpcStatus.FAILED_PRECONDITION, NOT_FULL_MODE);
        return;
      }
      if (msg == null) {
        invalid(response, UNDECODABLE);
        return;
      }
      CompletableFuture<Verification> f;
      try {
        f = full.verify(secret(msg), msg.getApiKey().isEmpty() ? full.anonymousClient(
            request.connection() == null ? null : request.connection().remoteAddress(),
            request.headers().get("x-forwarded-for")) : null, cost(msg));
      } catch (ApiError e) {
        invalid(response, e);
        return;
      }
      whenDone(f, response, () -> response.end(verified(f.join())));
    });
  }

  /** The secret, null for none (anonymous); its length is checked, never its text echoed. */
  private static String secret(VerifyKeyRequest msg) {
    String key = msg.getApiKey();
    if (key.length() > MAX_API_KEY_LENGTH) {
      throw ApiError.invalid("api_key: " + key.length() + " characters (expected: at most " + MAX_API_KEY_LENGTH
          + "; empty for an anonymous request)");
    }
    return key.isEmpty() ? null : key;
  }

  private static long cost(VerifyKeyRequest msg) {
    long cost = msg.hasCost() ? msg.getCost() : 1;
    if (cost < 0) {
      throw ApiError.invalid("cost: " + cost + " (expected: >= 0)");
    }
    return cost;
  }

  private VerifyKeyResponse verified(Verification v) {
    VerifyKeyResponse.Builder b = VerifyKeyResponse.newBuilder().setCode(code(v.code())).setValid(v.valid());
    ApiKey key = v.key();
    if (key != null) {
      b.setKeyId(key.id());
      if (key.ownerId() != null) {
        b.setOwnerId(key.ownerId());
      }
    }
    if (v.tier() != null) {
      b.setTier(v.tier());
    }
    Decision d = v.decision();
    if (d != null) {
      b.setLimit(d.limit())
          .setRemaining(d.remaining())
          .setResetAtUnixSeconds(CheckApi.ceilSeconds(d.resetAtMicros()))
          .setRetryAfterMs(retryAfterMs(d))
          .setRateLimitPolicy(full.policyHeader(v.policy()));
    } else if (v.code() == Verification.Code.USAGE_EXCEEDED) {
      b.setRetryAfterMs(PlatformApi.secondsToNextMonth() * 1000);
    }
    return b.build();
  }

  private static VerifyKeyResponse.Code code(Verification.Code code) {
    return switch (code) {
      case VALID -> VerifyKeyResponse.Code.VALID;
      case NOT_FOUND -> VerifyKeyResponse.Code.NOT_FOUND;
      case DISABLED -> VerifyKeyResponse.Code.DISABLED;
      case EXPIRED -> VerifyKeyResponse.Code.EXPIRED;
      case USAGE_EXCEEDED -> VerifyKeyResponse.Code.USAGE_EXCEEDED;
      case RATE_LIMITED -> VerifyKeyResponse.Code.RATE_LIMITED;
    };
  }

  // ---- envoy.service.ratelimit.v3.RateLimitService ------------------------------------------

  private void shouldRateLimit(GrpcServerRequest<RateLimitRequest, RateLimitResponse> request) {
    request.handler(msg -> {
      GrpcServerResponse<RateLimitRequest, RateLimitResponse> response = request.response();
      if (msg == null) {
        invalid(response, UNDECODABLE);
        return;
      }
      CompletableFuture<RateLimitResponse> f;
      try {
        f = rls.shouldRateLimit(msg);
      } catch (ApiError e) {
        invalid(response, e);
        return;
      }
      whenDone(f, response, () -> response.end(f.join()));
    });
  }

  // ---- shared --------------------------------------------------------------------------------

  /** Runs {@code respond} now if {@code f} is null or done, else on this event loop when it completes. */
  private static void whenDone(CompletableFuture<?> f, GrpcServerResponse<?, ?> response, Runnable respond) {
    if (f == null || f.isDone()) {
      respondOrFail(response, respond);
      return;
    }
    Context context = Vertx.currentContext();
    f.whenComplete((ok, error) -> context.runOnContext(v -> respondOrFail(response, respond)));
  }

  private static void respondOrFail(GrpcServerResponse<?, ?> response, Runnable respond) {
    try {
      respond.run();
    } catch (CompletionException e) {
      if (e.getCause() instanceof ApiError a) {
        // A refusal the shared code already worded (VerifyKey: cost beyond the key's policy, key database down).
        fail(response, a.status < 500 ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.UNAVAILABLE, a.getMessage());
        return;
      }
      unavailable(response, e.getCause() != null ? e.getCause() : e);
    } catch (IllegalStateException e) {
      // the call was cancelled (client gone, deadline): nobody to answer
    }
  }

  private static void invalid(GrpcServerResponse<?, ?> response, ApiError e) {
    fail(response, GrpcStatus.INVALID_ARGUMENT, e.getMessage());
  }

  private static void unavailable(GrpcServerResponse<?, ?> response, Throwable cause) {
    LOG.warn("gRPC decision failed: {}", cause.toString());
    fail(response, GrpcStatus.UNAVAILABLE, "store unavailable: " + cause.getMessage());
  }

  private static void fail(GrpcServerResponse<?, ?> response, GrpcStatus status, String message) {
    try {
      response.status(status).statusMessage(message).end();
    } catch (IllegalStateException e) {
      // the call is already over (cancelled by the client)
    }
  }
}
