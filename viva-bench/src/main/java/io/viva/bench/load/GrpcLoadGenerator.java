package io.viva.bench.load;

import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.vertx.core.Context;
import io.vertx.core.Future;
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
import io.viva.api.v1.VerifyKeyRequest;
import io.viva.api.v1.VerifyKeyResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * A gRPC load generator for Viva, over HTTP/2 cleartext (Vert.x's gRPC client), in four modes:
 *
 * <ul>
 *   <li>{@code unary}: {@code viva.v1.RateLimiter/Check}, {@code --connections} connections each
 *       with {@code --depth} calls in flight;</li>
 *   <li>{@code stream}: {@code viva.v1.RateLimiter/CheckStream}, {@code --streams} streams (spread
 *       over {@code --connections}) each with {@code --depth} messages in flight, each message
 *       carrying {@code --batch} checks;</li>
 *   <li>{@code envoy}: {@code envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit} with one
 *       descriptor ({@code --descriptor-key}, default {@code user}) per call, as Envoy sends;</li>
 *   <li>{@code verify}: {@code viva.v1.KeyService/VerifyKey} (full mode), each call carrying the
 *       next API key of {@code --api-keys} (a file, one key per line; round robin, as {@link
 *       LoadGenerator}'s {@code --api-keys}).</li>
 * </ul>
 *
 * The loop is closed ({@code --connections} × {@code --depth} calls in flight) unless {@code
 * --rate R} is given for a unary mode: then calls leave on a fixed schedule of R per second
 * whatever the server does, and each latency is measured from the call's scheduled time (no
 * coordinated omission, as {@link LoadGenerator}'s open loop).
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
 * ... --mode verify --api-keys keys.txt --connections 2 --depth 32            # closed loop
 * ... --mode verify --api-keys keys.txt --rate 20000                          # open loop
 * </pre>
 *
 * {@code viva-bench/run-grpc.sh} runs HTTP, unary, streaming and Envoy runs in one session
 * ({@code FULL=1}: and VerifyKey).
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
  private static final ServiceMethod<VerifyKeyResponse, VerifyKeyRequest> VERIFY_KEY = ServiceMethod.client(
      ServiceName.create("viva.v1.KeyService"), "VerifyKey", GrpcMessageEncoder.encoder(),
      GrpcMessageDecoder.decoder(VerifyKeyResponse.getDefaultInstance()));
  /** Calls in flight one connection may carry in open loop: far beyond what a run at a sane rate needs. */
  private static final int OPEN_LOOP_STREAMS = 10_000;

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
  private final long rate;
  private final CheckRequest[] checks;
  private final CheckBatchRequest[] batches;
  private final RateLimitRequest[] envoyRequests;
  private final VerifyKeyRequest[] verifyRequests;

  private final Recorder recorder = new Recorder(3);
  private final LongAdder completedChecks = new LongAdder();
  private final Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();
  private final LongAdder errors = new LongAdder();
  /** Open loop: calls scheduled within the measured window, and those of them answered or failed. */
  private final LongAdder scheduledInWindow = new LongAdder();
  private final LongAdder finishedInWindow = new LongAdder();
  private volatile boolean measuring;
  private volatile boolean stopping;

  private GrpcLoadGenerator(Map<String, String> args) throws IOException {
    String[] hostPort = args.getOrDefault("target", "127.0.0.1:8080").split(":");
    this.target = SocketAddress.inetSocketAddress(Integer.parseInt(hostPort[1]), hostPort[0]);
    this.mode = args.getOrDefault("mode", "unary");
    if (!mode.equals("stream") && !mode.equals("unary") && !mode.equals("envoy") && !mode.equals("verify")) {
      throw new IllegalArgumentException("mode: " + mode + " (expected: unary, stream, envoy or verify)");
    }
    this.connections = Integer.parseInt(args.getOrDefault("connections", "4"));
    this.streams = Integer.parseInt(args.getOrDefault("streams", Integer.toString(connections)));
    this.depth = Integer.parseInt(args.getOrDefault("depth", mode.equals("stream") ? "8" : "32"));
    this.batch = Integer.parseInt(args.getOrDefault("batch", "100"));
    this.keys = Integer.parseInt(args.getOrDefault("keys", "10000"));
    this.duration = LoadGenerator.parseDuration(args.getOrDefault("duration", "10s"));
    this.warmup = LoadGenerator.parseDuration(args.getOrDefault("warmup", "3s"));
    this.threads = Integer.parseInt(args.getOrDefault("threads", "1"));
    this.rate = Long.parseLong(args.getOrDefault("rate", "0"));
    if (rate > 0 && mode.equals("stream")) {
      throw new IllegalArgumentException("--rate: the open loop is for unary modes (expected: unary, envoy or verify)");
    }
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
    this.verifyRequests = mode.equals("verify") ? verifyRequests(args.get("api-keys")) : null;
  }

  private static VerifyKeyRequest[] verifyRequests(String file) throws IOException {
    if (file == null) {
      throw new IllegalArgumentException("--api-keys: missing (expected: a file of API keys, one per line, for"
          + " --mode verify)");
    }
    VerifyKeyRequest[] out = Files.readAllLines(Path.of(file)).stream().map(String::trim).filter(l -> !l.isEmpty())
        .map(k -> VerifyKeyRequest.newBuilder().setApiKey(k).build()).toArray(VerifyKeyRequest[]::new);
    if (out.length == 0) {
      throw new IllegalArgumentException("--api-keys " + file + ": no keys (expected: one per line)");
    }
    return out;
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
            .setHttp2MultiplexingLimit(rate > 0 ? OPEN_LOOP_STREAMS : perConnection)
            .setTcpNoDelay(true),
        new PoolOptions().setHttp2MaxSize(connections).setMaxWaitQueueSize(-1));
    GrpcClient client = GrpcClient.client(vertx, http);
    long start = System.nanoTime();
    long warmupEnd = start + warmup.toNanos();
    long end = warmupEnd + duration.toNanos();
    if (rate > 0) {
      return openLoop(vertx, client, start, warmupEnd, end);
    }
    int loops = mode.equals("stream") ? streams : connections * depth;
    CountDownLatch done = new CountDownLatch(loops);
    for (int i = 0; i < loops; i++) {
      int offset = i;
      if (mode.equals("stream")) {
        vertx.runOnContext(v -> stream(client, offset * 31, end, done));
      } else {
        vertx.runOnContext(v -> closedLoop(client, offset * 997, end, done));
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

  /** One unary call of the mode; completes with the outcome's label. */
  private Future<String> call(GrpcClient client, int cursor) {
    return switch (mode) {
      case "unary" -> client.request(target, CHECK).compose(req -> {
        req.end(checks[cursor % keys]);
        return req.response().compose(resp -> resp.last());
      }).map(r -> r.getAllowed() ? "allowed" : "denied");
      case "envoy" -> client.request(target, SHOULD_RATE_LIMIT).compose(req -> {
        req.end(envoyRequests[cursor % keys]);
        return req.response().compose(resp -> resp.last());
      }).map(r -> r.getOverallCode().name());
      case "verify" -> client.request(target, VERIFY_KEY).compose(req -> {
        req.end(verifyRequests[cursor % verifyRequests.length]);
        return req.response().compose(resp -> resp.last());
      }).map(r -> r.getCode().name());
      default -> throw new IllegalStateException(mode);
    };
  }

  /** One of the closed loop's call chains: the next call leaves when the previous one is answered. */
  private void closedLoop(GrpcClient client, int cursor, long end, CountDownLatch done) {
    if (stopping || System.nanoTime() >= end) {
      done.countDown();
      return;
    }
    long sent = System.nanoTime();
    call(client, cursor).onComplete(ar -> {
      record(sent, ar.succeeded() ? 1 : 0, ar.succeeded() ? ar.result() : null);
      closedLoop(client, cursor + 1, end, done);
    });
  }

  /**
   * The open loop ({@link OpenLoopSchedule}): a pacer thread parks a few tens of microseconds at a
   * time and hands whatever fell due to the event loops (round robin), each call with its scheduled
   * time, from which its latency is measured. Calls scheduled in the window and not answered 2 s
   * after it count as errors.
   */
  private String openLoop(Vertx vertx, GrpcClient client, long start, long warmupEnd, long end) throws Exception {
    Context[] contexts = new Context[Math.max(1, threads)];
    for (int i = 0; i < contexts.length; i++) {
      contexts[i] = vertx.getOrCreateContext();
    }
    OpenLoopSchedule schedule = new OpenLoopSchedule(start, rate, warmupEnd);
    int turn = 0;
    while (true) {
      long now = System.nanoTime();
      if (now >= end) {
        break;
      }
      schedule.advance(now);
      if (schedule.from() < schedule.to()) {
        long from = schedule.from();
        long to = schedule.to();
        contexts[turn++ % contexts.length].runOnContext(v -> {
          for (long i = from; i < to; i++) {
            long intended = schedule.due(i);
            boolean inWindow = intended >= warmupEnd && intended < end;
            if (inWindow) {
              scheduledInWindow.increment();
            }
            call(client, (int) (i % Integer.MAX_VALUE)).onComplete(ar -> {
              if (inWindow) {
                recordScheduled(intended, ar.succeeded() ? ar.result() : null);
                finishedInWindow.increment();
              }
            });
          }
        });
      }
      LockSupport.parkNanos(schedule.parkNanos());
    }
    long drainEnd = System.nanoTime() + 2_000_000_000L;
    while (System.nanoTime() < drainEnd && finishedInWindow.sum() < scheduledInWindow.sum()) {
      Thread.sleep(5);
    }
    Histogram h = recorder.getIntervalHistogram();
    long unanswered = scheduledInWindow.sum() - finishedInWindow.sum();
    long count = completedChecks.sum();
    client.close().await();
    vertx.close().await();
    return LoadGenerator.row(label, "open, " + rate + "/s", count / ((end - warmupEnd) / 1e9), h, outcomes,
        errors.sum() + unanswered);
  }

  /** Records an open-loop call of the measured window, its latency from its scheduled time. */
  private void recordScheduled(long intended, String outcome) {
    long micros = Math.max(1, (System.nanoTime() - intended) / 1_000);
    recorder.recordValue(Math.min(micros, 60_000_000L));
    if (outcome == null) {
      errors.increment();
      return;
    }
    completedChecks.increment();
    outcomes.computeIfAbsent(outcome, k -> new LongAdder()).increment();
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
