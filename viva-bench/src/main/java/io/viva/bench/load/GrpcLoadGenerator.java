package io.viva.bench.load;

import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.viva.api.v1.CheckBatchRequest;
import io.viva.api.v1.CheckBatchResponse;
import io.viva.api.v1.CheckRequest;
import io.viva.api.v1.CheckResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * A closed-loop gRPC load generator for Viva, over HTTP/2 cleartext (Vert.x's gRPC client), in
 * three modes:
 *
 * <ul>
 *   <li>{@code unary}: {@code viva.v1.RateLimiter/Check}, {@code --connections} connections each
 *       with {@code --depth} calls in flight;</li>
 *   <li>{@code stream}: {@code viva.v1.RateLimiter/CheckStream}, {@code --streams} streams (spread
 *       over {@code --connections}) each with {@code --depth} messages in flight, each message
 *       carrying {@code --batch} checks;</li>
 *   <li>{@code envoy}: {@code envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit} with one
 *       descriptor ({@code --descriptor-key}, default {@code user}) per call, as Envoy sends.</li>
 * </ul>
 *
 * Throughput is reported in checks per second (a stream message of 100 checks counts 100); the
 * latency percentiles are per call (unary) or per message (stream), in the same markdown row as
 * {@link LoadGenerator}. Requests are built before the run (identifiers cycle over {@code --keys})
 * so the client allocates little per call.
 *
 * <pre>
 * java -cp viva-bench/target/benchmarks.jar io.viva.bench.load.GrpcLoadGenerator \
 *     --target 127.0.0.1:8080 --mode stream --connections 2 --streams 4 --depth 8 --batch 100 \
 *     --namespace bench --duration 10s --warmup 3s
 * </pre>
 *
 * {@code viva-bench/run-grpc.sh} runs HTTP, unary, streaming and Envoy runs in one session.
 */
public final class GrpcLoadGenerator {

  private static final ServiceName VIVA = ServiceName.create("viva.v1.RateLimiter");
  private static final ServiceMethod<CheckResponse, CheckRequest> CHECK = ServiceMethod.client(VIVA, "Check",
      GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(CheckResponse.getDefaultInstance()));
  private static final ServiceMethod<CheckBatchResponse, CheckBatchRequest> STREAM = ServiceMethod.client(VIVA,
      "CheckStream", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(CheckBatchResponse.getDefaultInstance()));
  private static final ServiceMethod<RateLimitResponse, RateLimitRequest> SHOULD_RATE_LIMIT = ServiceMethod.client(
      ServiceName.create("envoy.service.ratelimit.v3.RateLimitService"), "ShouldRateLimit",
      GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(RateLimitResponse.getDefaultInstance()));

  private final SocketAddress target;
  private final String mode;
  private final int connections;
  private final int streams;
  private final int depth;
  private final int batch;
  private final int keys;
  private final Duration duration;
  private final Duration warmup;
  private final String label;
  private final int threads;
  private final CheckRequest[] checks;
  private final CheckBatchRequest[] batches;
  private final RateLimitRequest[] envoyRequests;

  private final Recorder recorder = new Recorder(3);
  private final LongAdder completedChecks = new LongAdder();
  private final Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();
  private final LongAdder errors = new LongAdder();
  private volatile boolean measuring;
  private volatile boolean stopping;

  private GrpcLoadGenerator(Map<String, String> args) {
    String[] hostPort = args.getOrDefault("target", "127.0.0.1:8080").split(":");
    this.target = SocketAddress.inetSocketAddress(Integer.parseInt(hostPort[1]), hostPort[0]);
    this.mode = args.getOrDefault("mode", "unary");
    this.connections = Integer.parseInt(args.getOrDefault("connections", "4"));
    this.streams = Integer.parseInt(args.getOrDefault("streams", Integer.toString(connections)));
    this.depth = Integer.parseInt(args.getOrDefault("depth", mode.equals("stream") ? "8" : "32"));
    this.batch = Integer.parseInt(args.getOrDefault("batch", "100"));
    this.keys = Integer.parseInt(args.getOrDefault("keys", "10000"));
    this.duration = LoadGenerator.parseDuration(args.getOrDefault("duration", "10s"));
    this.warmup = LoadGenerator.parseDuration(args.getOrDefault("warmup", "3s"));
    this.threads = Integer.parseInt(args.getOrDefault("threads", "1"));
    String namespace = args.getOrDefault("namespace", "bench");
    this.label = args.getOrDefault("label", "gRPC " + mode);
    this.checks = new CheckRequest[keys];
    for (int i = 0; i < keys; i++) {
      checks[i] = CheckRequest.newBuilder().setIdentifier("user-" + i).setNamespace(namespace).build();
    }
    int batchCount = Math.max(1, keys / Math.max(1, batch));
    this.batches = new CheckBatchRequest[batchCount];
    for (int b = 0; b < batchCount; b++) {
      CheckBatchRequest.Builder builder = CheckBatchRequest.newBuilder().setId(b);
      for (int i = 0; i < batch; i++) {
        builder.addChecks(checks[(b * batch + i) % keys]);
      }
      batches[b] = builder.build();
    }
    String domain = args.getOrDefault("domain", "bench");
    String key = args.getOrDefault("descriptor-key", "user");
    this.envoyRequests = new RateLimitRequest[keys];
    for (int i = 0; i < keys; i++) {
      envoyRequests[i] = RateLimitRequest.newBuilder().setDomain(domain).addDescriptors(RateLimitDescriptor.newBuilder()
          .addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(key).setValue("user-" + i))).build();
    }
  }

  /** Runs one load test; arguments as {@code --name value} ({@code --header x} prints the table header). */
  public static void main(String[] argv) throws Exception {
    Map<String, String> args = LoadGenerator.parseArgs(argv);
    if (args.containsKey("header")) {
      System.out.println(LoadGenerator.header());
      return;
    }
    System.out.println(new GrpcLoadGenerator(args).run());
  }

  String run() throws Exception {
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(threads));
    int perConnection = mode.equals("stream") ? Math.max(1, (streams + connections - 1) / connections) : depth;
    HttpClient http = vertx.createHttpClient(new HttpClientOptions()
            .setProtocolVersion(HttpVersion.HTTP_2)
            .setHttp2ClearTextUpgrade(false)
            .setHttp2MultiplexingLimit(perConnection)
            .setTcpNoDelay(true),
        new PoolOptions().setHttp2MaxSize(connections).setMaxWaitQueueSize(-1));
    GrpcClient client = GrpcClient.client(vertx, http);
    long start = System.nanoTime();
    long warmupEnd = start + warmup.toNanos();
    long end = warmupEnd + duration.toNanos();
    int loops = mode.equals("stream") ? streams : connections * depth;
    CountDownLatch done = new CountDownLatch(loops);
    for (int i = 0; i < loops; i++) {
      int offset = i;
      switch (mode) {
        case "unary" -> vertx.runOnContext(v -> unary(client, offset * 997, end, done));
        case "envoy" -> vertx.runOnContext(v -> envoy(client, offset * 997, end, done));
        case "stream" -> vertx.runOnContext(v -> stream(client, offset * 31, end, done));
        default -> throw new IllegalArgumentException("mode: " + mode + " (expected: unary, stream or envoy)");
      }
    }
    Thread.sleep(Math.max(0, (warmupEnd - System.nanoTime()) / 1_000_000));
    recorder.reset();
    completedChecks.reset();
    errors.reset();
    outcomes.clear();
    measuring = true;
    long measureStart = System.nanoTime();
    Thread.sleep(Math.max(0, (end - System.nanoTime()) / 1_000_000));
    long measured = System.nanoTime() - measureStart;
    measuring = false;
    stopping = true;
    Histogram h = recorder.getIntervalHistogram();
    long count = completedChecks.sum();
    done.await(5, TimeUnit.SECONDS);
    client.close().await();
    vertx.close().await();
    String shape = mode.equals("stream")
        ? "closed, " + streams + " streams×" + depth + " msgs×" + batch + " checks, " + connections + " conns"
        : "closed, " + connections + " conns×" + depth;
    return LoadGenerator.row(label, shape, count / (measured / 1e9), h, outcomes, errors.sum());
  }

  private void unary(GrpcClient client, int cursor, long end, CountDownLatch done) {
    if (stopping || System.nanoTime() >= end) {
      done.countDown();
      return;
    }
    long sent = System.nanoTime();
    client.request(target, CHECK)
        .compose(req -> {
          req.end(checks[cursor % keys]);
          return req.response().compose(resp -> resp.last());
        })
        .onComplete(ar -> {
          if (ar.succeeded()) {
            record(sent, 1, ar.result().getAllowed() ? "allowed" : "denied");
          } else {
            record(sent, 0, null);
          }
          unary(client, cursor + 1, end, done);
        });
  }

  private void envoy(GrpcClient client, int cursor, long end, CountDownLatch done) {
    if (stopping || System.nanoTime() >= end) {
      done.countDown();
      return;
    }
    long sent = System.nanoTime();
    client.request(target, SHOULD_RATE_LIMIT)
        .compose(req -> {
          req.end(envoyRequests[cursor % keys]);
          return req.response().compose(resp -> resp.last());
        })
        .onComplete(ar -> {
          record(sent, ar.succeeded() ? 1 : 0, ar.succeeded() ? ar.result().getOverallCode().name() : null);
          envoy(client, cursor + 1, end, done);
        });
  }

  /** One stream: {@code depth} messages in flight; each response (in order) records and sends the next. */
  private void stream(GrpcClient client, int cursor, long end, CountDownLatch done) {
    client.request(target, STREAM).onComplete(ar -> {
      if (ar.failed()) {
        errors.increment();
        done.countDown();
        return;
      }
      GrpcClientRequest<CheckBatchRequest, CheckBatchResponse> req = ar.result();
      long[] sentAt = new long[depth];
      int[] state = {cursor, 0, 0}; // next batch, ring head, in flight
      req.response().onComplete(resp -> {
        if (resp.failed()) {
          errors.increment();
          done.countDown();
          return;
        }
        resp.result().handler(msg -> {
          long sent = sentAt[state[1]];
          state[1] = (state[1] + 1) % depth;
          state[2]--;
          int allowed = 0;
          for (int i = 0; i < msg.getResultsCount(); i++) {
            allowed += msg.getResults(i).getAllowed() ? 1 : 0;
          }
          record(sent, msg.getResultsCount(), allowed == msg.getResultsCount() ? "allowed" : "some denied");
          if (stopping || System.nanoTime() >= end) {
            if (state[2] == 0) {
              req.end();
            }
            return;
          }
          send(req, sentAt, state);
        });
        resp.result().endHandler(v -> done.countDown());
        resp.result().exceptionHandler(t -> errors.increment());
      });
      for (int i = 0; i < depth; i++) {
        send(req, sentAt, state);
      }
    });
  }

  private void send(GrpcClientRequest<CheckBatchRequest, CheckBatchResponse> req, long[] sentAt, int[] state) {
    int slot = (state[1] + state[2]) % depth;
    sentAt[slot] = System.nanoTime();
    state[2]++;
    req.write(batches[state[0]++ % batches.length]);
  }

  private void record(long startNanos, int checkCount, String outcome) {
    if (!measuring) {
      return;
    }
    long micros = Math.max(1, (System.nanoTime() - startNanos) / 1_000);
    recorder.recordValue(Math.min(micros, 60_000_000L));
    if (outcome == null) {
      errors.increment();
      return;
    }
    completedChecks.add(checkCount);
    outcomes.computeIfAbsent(outcome, k -> new LongAdder()).increment();
  }
}
