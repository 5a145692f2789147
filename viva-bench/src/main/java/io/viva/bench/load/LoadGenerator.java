package io.viva.bench.load;

import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Recorder;
import org.HdrHistogram.Histogram;

/**
 * An HTTP load generator for Viva's server (or any HTTP endpoint), in two modes:
 *
 * <ul>
 *   <li><b>closed loop</b> ({@code --rate 0}, the default): {@code --connections} keep-alive
 *       connections each keep {@code --depth} requests in flight (HTTP/1.1 pipelining when depth
 *       &gt; 1), for the maximum throughput;</li>
 *   <li><b>open loop</b> ({@code --rate R}): requests are sent on a fixed schedule of R per second
 *       whatever the server does, paced by a dedicated thread at tens of microseconds, and each
 *       latency is measured from the request's scheduled time, not its actual send time, so a
 *       stalled server cannot hide its stall (no coordinated omission).</li>
 * </ul>
 *
 * Latencies go into an HdrHistogram (microsecond resolution); the result is one markdown table
 * row. The request body may contain {@code %d}, replaced by a key index cycling over {@code
 * --keys} values, so that a run spreads over many identifiers.
 *
 * <pre>
 * java -cp viva-bench/target/benchmarks.jar io.viva.bench.load.LoadGenerator \
 *     --url http://127.0.0.1:8080/v1/check --body '{"identifier":"user-%d"}' --keys 10000 \
 *     --duration 10s --warmup 3s --connections 32 --depth 4          # closed loop
 * ... --rate 50000                                                 # open loop at 50k/s
 * ... --url http://127.0.0.1:8080/api/v1/rate-limit/check --method POST --api-keys keys.txt
 *                                         # full mode: each request carries the next X-API-Key
 * </pre>
 *
 * {@code viva-bench/run-load.sh} runs the comparisons recorded in docs/benchmarks.md.
 */
public final class LoadGenerator {

  private final URI uri;
  private final HttpMethod method;
  private final String body;
  private final int keys;
  private final int connections;
  private final int depth;
  private final long rate;
  private final Duration duration;
  private final Duration warmup;
  private final String label;
  private final int threads;
  /** API keys sent round-robin in {@code X-API-Key} (full mode's verified check), or null. */
  private final String[] apiKeys;

  private final Recorder recorder = new Recorder(3);
  private final LongAdder completed = new LongAdder();
  private final Map<Integer, LongAdder> statuses = new java.util.concurrent.ConcurrentHashMap<>();
  private final LongAdder errors = new LongAdder();
  private final AtomicLong keyCursor = new AtomicLong();
  private volatile boolean measuring;
  /** When the measurement began: requests scheduled (or, closed loop, sent) before it are not recorded. */
  private volatile long measureStartNanos = Long.MAX_VALUE;
  private volatile boolean stopping;

  private LoadGenerator(Map<String, String> args) {
    this.uri = URI.create(args.getOrDefault("url", "http://127.0.0.1:8080/v1/check"));
    this.method = HttpMethod.valueOf(args.getOrDefault("method", args.containsKey("body") ? "POST" : "GET"));
    this.body = args.get("body");
    this.keys = Integer.parseInt(args.getOrDefault("keys", "1000"));
    this.connections = Integer.parseInt(args.getOrDefault("connections", "32"));
    this.depth = Integer.parseInt(args.getOrDefault("depth", "1"));
    this.rate = Long.parseLong(args.getOrDefault("rate", "0"));
    this.duration = parseDuration(args.getOrDefault("duration", "10s"));
    this.warmup = parseDuration(args.getOrDefault("warmup", "3s"));
    this.label = args.getOrDefault("label", uri.getPath());
    this.threads = Integer.parseInt(args.getOrDefault("threads", "1"));
    String keyFile = args.get("api-keys");
    try {
      this.apiKeys = keyFile == null ? null : java.nio.file.Files.readAllLines(java.nio.file.Path.of(keyFile)).stream()
          .map(String::trim).filter(l -> !l.isEmpty()).toArray(String[]::new);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("--api-keys " + keyFile, e);
    }
    if (apiKeys != null && apiKeys.length == 0) {
      throw new IllegalArgumentException("--api-keys " + keyFile + ": no keys (expected: one per line)");
    }
  }

  /** Runs one load test; arguments as {@code --name value}. */
  public static void main(String[] argv) throws Exception {
    Map<String, String> args = parseArgs(argv);
    if (args.containsKey("header")) {
      System.out.println(header());
      return;
    }
    System.out.println(new LoadGenerator(args).run());
  }

  /** {@code --name value} pairs, in order. */
  static Map<String, String> parseArgs(String[] argv) {
    Map<String, String> args = new LinkedHashMap<>();
    for (int i = 0; i < argv.length; i++) {
      if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
        throw new IllegalArgumentException("argument " + argv[i] + " (expected: --name value pairs)");
      }
      args.put(argv[i].substring(2), argv[++i]);
    }
    return args;
  }

  /** One row of {@link #header()}'s table from a run's measurements (latencies in microseconds). */
  static String row(String label, String mode, double perSecond, Histogram h, Map<?, LongAdder> outcomes,
      long errors) {
    StringBuilder codes = new StringBuilder();
    new java.util.TreeMap<>(outcomes).forEach((k, v) -> codes.append(codes.isEmpty() ? "" : " ").append(k)
        .append('×').append(v.sum()));
    return String.format(Locale.ROOT, "| %s | %s | %,.0f | %.3f | %.3f | %.3f | %.3f | %.3f | %s | %d |",
        label, mode, perSecond, ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(90)),
        ms(h.getValueAtPercentile(99)), ms(h.getValueAtPercentile(99.9)), ms(h.getMaxValue()), codes, errors);
  }

  /** The markdown table header matching {@link #run()}'s row. */
  static String header() {
    return "| run | mode | requests/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | statuses | errors |\n"
        + "|---|---|---:|---:|---:|---:|---:|---:|---|---:|";
  }

  String run() throws Exception {
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(threads));
    HttpClient client = vertx.createHttpClient(
        new HttpClientOptions()
            .setDefaultHost(uri.getHost())
            .setDefaultPort(uri.getPort() < 0 ? 80 : uri.getPort())
            .setKeepAlive(true)
            .setPipelining(depth > 1)
            .setPipeliningLimit(Math.max(1, depth))
            .setTcpNoDelay(true),
        new PoolOptions().setHttp1MaxSize(connections).setMaxWaitQueueSize(-1));
    String path = uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
    long start = System.nanoTime();
    long warmupEnd = start + warmup.toNanos();
    long end = warmupEnd + duration.toNanos();
    CountDownLatch done = new CountDownLatch(1);
    if (rate <= 0) {
      for (int i = 0; i < connections * depth; i++) {
        loop(client, path, end, done);
      }
    } else {
      openLoop(vertx, client, path, start, end, done);
    }
    // Switch the histogram and counters from warm-up to measurement.
    Thread.sleep(Math.max(0, (warmupEnd - System.nanoTime()) / 1_000_000));
    recorder.reset();
    completed.reset();
    errors.reset();
    statuses.clear();
    long measureStart = System.nanoTime();
    measureStartNanos = measureStart;
    measuring = true;
    Thread.sleep(Math.max(0, (end - System.nanoTime()) / 1_000_000));
    long measured = System.nanoTime() - measureStart;
    measuring = false;
    stopping = true;
    Histogram h = recorder.getIntervalHistogram();
    long count = completed.sum();
    done.await(5, TimeUnit.SECONDS);
    client.close().await();
    vertx.close().await();
    double perSecond = count / (measured / 1e9);
    return row(label, rate <= 0 ? "closed, " + connections + "×" + depth : "open, " + rate + "/s", perSecond, h,
        statuses, errors.sum());
  }

  private static double ms(long micros) {
    return micros / 1000.0;
  }

  private void loop(HttpClient client, String path, long end, CountDownLatch done) {
    if (stopping || System.nanoTime() >= end) {
      done.countDown();
      return;
    }
    long sent = System.nanoTime();
    send(client, path).onComplete(ar -> {
      record(sent, ar.succeeded() ? ar.result() : -1);
      loop(client, path, end, done);
    });
  }

  private void openLoop(Vertx vertx, HttpClient client, String path, long start, long end, CountDownLatch done) {
    // Vert.x timers tick at 1 ms at best, which would add up to a millisecond of pacing error to
    // every latency (requests due within a tick would leave together). A pacer thread parks for a
    // few tens of microseconds at a time instead and hands the requests that fell due to the event
    // loop in one task; each keeps its exact scheduled time, so the error is the park granularity
    // (at most ~150 µs: a 100 µs park plus Linux's default 50 µs timer slack) rather than the
    // timer's. Parking longer than that would add pacing error; parking shorter costs the event
    // loop a wake-up per task, CPU the server on the same cores would rather have.
    double intervalNanos = 1e9 / rate;
    io.vertx.core.Context context = vertx.getOrCreateContext();
    long parkNanos = Math.max(10_000L, Math.min(100_000L, (long) intervalNanos));
    Thread pacer = new Thread(() -> {
      long issued = 0;
      boolean rebased = false;
      while (!stopping) {
        long now = System.nanoTime();
        if (now >= end) {
          break;
        }
        long due = (long) ((now - start) / intervalNanos);
        if (!rebased && measuring) {
          // A backlog left from the warm-up (a cold JVM on either side sends and answers slowly at
          // first) is not sent: the measurement starts on schedule, not draining the warm-up's debt.
          rebased = true;
          issued = Math.max(issued, due);
        }
        if (due > issued) {
          long from = issued;
          long to = due;
          issued = due;
          context.runOnContext(v -> {
            for (long i = from; i < to && !stopping; i++) {
              long intended = start + (long) (i * intervalNanos);
              send(client, path).onComplete(ar -> record(intended, ar.succeeded() ? ar.result() : -1));
            }
          });
        }
        java.util.concurrent.locks.LockSupport.parkNanos(parkNanos);
      }
      done.countDown();
    }, "load-pacer");
    pacer.setDaemon(true);
    pacer.start();
  }

  private Future<Integer> send(HttpClient client, String path) {
    RequestOptions options = new RequestOptions().setMethod(method).setURI(path);
    String apiKey = apiKeys == null ? null : apiKeys[(int) (keyCursor.getAndIncrement() % apiKeys.length)];
    if (body == null) {
      if (apiKey != null) {
        options.addHeader("X-API-Key", apiKey);
      }
      return client.request(options).compose(req -> req.send()).compose(resp -> resp.body().map(b -> resp.statusCode()));
    }
    String text = body.contains("%d") ? body.replace("%d", Long.toString(keyCursor.getAndIncrement() % keys)) : body;
    MultiMap headers = MultiMap.caseInsensitiveMultiMap().add("content-type", "application/json");
    if (apiKey != null) {
      headers.add("X-API-Key", apiKey);
    }
    options.setHeaders(headers);
    return client.request(options)
        .compose(req -> req.send(Buffer.buffer(text)))
        .compose(resp -> resp.body().map(b -> resp.statusCode()));
  }

  private void record(long startNanos, int status) {
    if (!measuring || startNanos < measureStartNanos) {
      return;
    }
    long micros = Math.max(1, (System.nanoTime() - startNanos) / 1_000);
    recorder.recordValue(Math.min(micros, 60_000_000L));
    completed.increment();
    if (status < 0) {
      errors.increment();
    } else {
      statuses.computeIfAbsent(status, k -> new LongAdder()).increment();
    }
  }

  static Duration parseDuration(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    if (t.endsWith("ms")) {
      return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
    }
    if (t.endsWith("s")) {
      return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)));
    }
    if (t.endsWith("m")) {
      return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
    }
    throw new IllegalArgumentException("duration: " + text + " (expected: e.g. 500ms, 10s, 1m)");
  }

}
