package io.viva.bench.redis;

import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.distributed.AsyncBucketProxy;
import io.github.bucket4j.distributed.ExpirationAfterWriteStrategy;
import io.github.bucket4j.distributed.proxy.AsyncProxyManager;
import io.github.bucket4j.redis.lettuce.Bucket4jLettuce;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.resource.ClientResources;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.viva.bench.load.OpenLoopSchedule;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.Policy;
import io.viva.redis.FailureMode;
import io.viva.redis.RedisClients;
import io.viva.redis.RedisLimitStore;
import io.viva.redis.TimeSource;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * A load test of a Redis-backed rate limiter: Viva's {@link RedisLimitStore} or Bucket4j's Lettuce
 * backend ({@code LettuceBasedProxyManager}, compare-and-swap), both through their asynchronous
 * APIs on Lettuce connections, or the trivial peer ({@code --subject ping}: Lettuce's own
 * asynchronous PING). Not JMH: the work is network-bound and asynchronous.
 *
 * <ul>
 *   <li><b>closed loop</b> ({@code --rate 0}, the default): {@code --concurrency} decisions are kept
 *       in flight; each completion issues the next one;</li>
 *   <li><b>open loop</b> ({@code --rate R}): a pacer thread issues R decisions per second on a fixed
 *       schedule whatever the store does; latency is measured from the scheduled time (no
 *       coordinated omission).</li>
 * </ul>
 *
 * Both subjects use one token bucket of a huge capacity (10^9 per second), so nothing is denied
 * and every decision writes state. Keys cycle over {@code --keys} identifiers ({@code 1}: one hot
 * key). {@code --clock redis|local}: the store's time source (default redis, as the server).
 * {@code --failure-mode fail_open|fail_closed|local}: give Viva's store a failure mode, and so its
 * decision timeout, as the server does (default none). The client is built as the server builds
 * its own ({@link RedisClients}). {@code --caller thread|loop} (Viva only): who asks for decisions,
 * a thread of the client's own (the pacer, or the reply callbacks in closed loop; default) or, as in
 * the server, the event loop that also serves the store's connection ({@link
 * RedisClients#perEventLoop}).
 * {@code --connections K} spreads the decisions over K Lettuce connections (default 1, as a
 * store built on one {@code RedisClient} has). Prints one markdown table row.
 *
 * <pre>
 * java -cp viva-bench/target/benchmarks.jar io.viva.bench.redis.RedisStoreLoad \
 *     --subject viva --redis redis://127.0.0.1:16399 --keys 10000 --concurrency 64 --duration 10s --warmup 3s
 * </pre>
 *
 * {@code viva-bench/run-redis.sh} runs the comparisons recorded in docs/benchmarks.md.
 */
public final class RedisStoreLoad {

  /** One asynchronous decision on key index {@code k}; completes with whether it was allowed. */
  private interface Subject extends AutoCloseable {
    CompletionStage<Boolean> decide(int k);

    @Override
    void close();
  }

  private final String subjectName;
  private final String redis;
  private final int keys;
  private final int concurrency;
  private final int connections;
  private final long rate;
  private final Duration duration;
  private final Duration warmup;
  private final TimeSource timeSource;
  private final FailureMode failureMode;
  private final String caller;

  private final Recorder recorder = new Recorder(3);
  private final LongAdder completed = new LongAdder();
  private final LongAdder denied = new LongAdder();
  private final LongAdder errors = new LongAdder();
  private final AtomicLong cursor = new AtomicLong();
  private volatile boolean measuring;
  /** Open loop: how late the pacer issued each decision, and its latency from then on. */
  private final Recorder lateness = new Recorder(3);
  private final Recorder fromSend = new Recorder(3);
  /** The open loop's; owned by whichever thread paces. */
  private OpenLoopSchedule schedule;
  /** {@code --caller loop}: the event loop the Viva store's connection is on, and the decisions are asked on. */
  private EventLoop callerLoop;
  private volatile boolean stopping;

  private RedisStoreLoad(Map<String, String> args) {
    this.subjectName = args.getOrDefault("subject", "viva");
    this.redis = args.getOrDefault("redis", "redis://127.0.0.1:16399");
    this.keys = Integer.parseInt(args.getOrDefault("keys", "10000"));
    this.concurrency = Integer.parseInt(args.getOrDefault("concurrency", "64"));
    this.connections = Integer.parseInt(args.getOrDefault("connections", "1"));
    this.rate = Long.parseLong(args.getOrDefault("rate", "0"));
    this.duration = parseDuration(args.getOrDefault("duration", "10s"));
    this.warmup = parseDuration(args.getOrDefault("warmup", "3s"));
    this.timeSource = TimeSource.valueOf(args.getOrDefault("clock", "redis").toUpperCase(Locale.ROOT));
    this.caller = args.getOrDefault("caller", "thread");
    if (!caller.equals("thread") && !caller.equals("loop")) {
      throw new IllegalArgumentException("--caller: thread or loop, got " + caller);
    }
    String mode = args.get("failure-mode");
    this.failureMode = mode == null ? null : FailureMode.valueOf(mode.toUpperCase(Locale.ROOT));
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new LinkedHashMap<>();
    for (int i = 0; i < argv.length; i++) {
      if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
        throw new IllegalArgumentException("expected --name value pairs, got " + argv[i]);
      }
      args.put(argv[i].substring(2), argv[++i]);
    }
    new RedisStoreLoad(args).run();
    System.exit(0);
  }

  private void run() throws Exception {
    // As the server builds its client (RedisBackend).
    ClientResources resources = RedisClients.resources();
    RedisClient client = RedisClients.standalone(resources, RedisURI.create(redis), Duration.ofSeconds(5));
    try (Subject subject = switch (subjectName) {
      case "viva" -> viva(client, resources);
      case "bucket4j" -> bucket4j(client);
      case "ping" -> ping(client);
      default -> throw new IllegalArgumentException("--subject: viva, bucket4j or ping, got " + subjectName);
    }) {
      // One decision first, so that connection set-up and script loading are not measured.
      subject.decide(0).toCompletableFuture().get(10, TimeUnit.SECONDS);
      if (callerLoop != null) {
        callerLoop.execute(() -> {
          if (rate > 0) {
            startSchedule();
            openLoopOn(callerLoop, subject);
          } else {
            for (int i = 0; i < concurrency; i++) {
              issue(subject, System.nanoTime());
            }
          }
        });
      } else if (rate > 0) {
        Thread pacer = new Thread(() -> openLoop(subject), "pacer");
        pacer.setDaemon(true);
        pacer.start();
      } else {
        for (int i = 0; i < concurrency; i++) {
          issue(subject, System.nanoTime());
        }
      }
      Thread.sleep(warmup.toMillis());
      completed.reset();
      denied.reset();
      errors.reset();
      recorder.reset();
      lateness.reset();
      fromSend.reset();
      long cpu0 = cpuNanos();
      long allocated0 = allocatedBytes();
      long start = System.nanoTime();
      measuring = true;
      Thread.sleep(duration.toMillis());
      measuring = false;
      long elapsed = System.nanoTime() - start;
      long cpu = cpuNanos() - cpu0;
      long allocated = allocatedBytes() - allocated0;
      Histogram h = recorder.getIntervalHistogram();
      long done = completed.sum();
      stopping = true;
      Thread.sleep(200);
      String mode = rate > 0 ? String.format(Locale.ROOT, "open, %,d/s", rate)
          : "closed, " + concurrency + " in flight";
      System.out.printf(Locale.ROOT, "| %s | %s | %s | %d | %,.0f | %.3f | %.3f | %.3f | %.2f | %.0f%% | %d | %d |%n",
          caller.equals("loop") ? subjectName + " (on the event loop)" : subjectName, keys == 1 ? "1 (hot)" : String.format(Locale.ROOT, "%,d", keys), mode, connections,
          done * 1e9 / elapsed, h.getValueAtPercentile(50) / 1000.0, h.getValueAtPercentile(99) / 1000.0,
          h.getValueAtPercentile(99.9) / 1000.0, h.getMaxValue() / 1000.0, 100.0 * cpu / elapsed,
          denied.sum(), errors.sum());
      // On stderr, so that the table row stays alone on stdout.
      System.err.printf(Locale.ROOT, "%s: %,d bytes allocated per decision (all threads of the client JVM)%n",
          subjectName, done == 0 ? 0 : allocated / done);
      if (rate > 0) {
        // Where the tail comes from: the pacer (this JVM's scheduling) or the store's round trip.
        Histogram late = lateness.getIntervalHistogram();
        Histogram sent = fromSend.getIntervalHistogram();
        System.err.printf(Locale.ROOT, "%s: pacer lateness p99 %.3f ms, max %.3f ms; latency from the actual send p50 %.3f ms,"
            + " p99 %.3f ms, max %.3f ms%n", subjectName, late.getValueAtPercentile(99) / 1000.0, late.getMaxValue() / 1000.0,
            sent.getValueAtPercentile(50) / 1000.0, sent.getValueAtPercentile(99) / 1000.0, sent.getMaxValue() / 1000.0);
      }
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      resources.shutdown(0, 2, TimeUnit.SECONDS);
    }
  }

  private int nextKey() {
    return keys == 1 ? 0 : (int) (cursor.getAndIncrement() % keys);
  }

  /** Closed loop: each completion issues the next decision. */
  private void issue(Subject subject, long sent) {
    if (stopping) {
      return;
    }
    CompletionStage<Boolean> call;
    try {
      call = subject.decide(nextKey());
    } catch (RuntimeException e) {
      errors.increment();
      return;
    }
    call.whenComplete((allowed, error) -> {
      record(sent, allowed, error);
      issue(subject, System.nanoTime());
    });
  }

  /** Open loop: decisions at fixed intervals; latency counts from the scheduled time. */
  private void openLoop(Subject subject) {
    startSchedule();
    while (!stopping) {
      issueDue(subject);
      LockSupport.parkNanos(Math.max(0, schedule.due(schedule.to()) - System.nanoTime()));
    }
  }

  /**
   * Open loop on the store's event loop ({@code --caller loop}): a task that issues the decisions
   * due, then schedules itself for the next one. Netty's NIO loop times its tasks to the
   * millisecond, so decisions go out in bursts every millisecond, up to one late; the latency counts it.
   */
  private void openLoopOn(EventLoop loop, Subject subject) {
    if (stopping) {
      return;
    }
    issueDue(subject);
    // Never less than the loop's timer resolution: shorter delays make it spin.
    loop.schedule(() -> openLoopOn(loop, subject),
        Math.max(1_000_000, schedule.due(schedule.to()) - System.nanoTime()), TimeUnit.NANOSECONDS);
  }

  /** From now on; the warm-up's backlog is not dropped (the window starts when the main thread says). */
  private void startSchedule() {
    long now = System.nanoTime();
    schedule = new OpenLoopSchedule(now, rate, now);
  }

  /** Issues every decision due by now. */
  private void issueDue(Subject subject) {
    schedule.advance(System.nanoTime());
    for (long i = schedule.from(); i < schedule.to() && !stopping; i++) {
      long scheduled = schedule.due(i);
      try {
        long actual = System.nanoTime();
        if (measuring) {
          lateness.recordValue(Math.max(1, (actual - scheduled) / 1000));
        }
        subject.decide(nextKey()).whenComplete((allowed, error) -> {
          if (measuring && error == null) {
            fromSend.recordValue(Math.max(1, (System.nanoTime() - actual) / 1000));
          }
          record(scheduled, allowed, error);
        });
      } catch (RuntimeException e) {
        errors.increment();
      }
    }
  }

  private void record(long sent, Boolean allowed, Throwable error) {
    if (!measuring) {
      return;
    }
    if (error != null) {
      errors.increment();
      return;
    }
    if (!allowed) {
      denied.increment();
    }
    completed.increment();
    recorder.recordValue(Math.max(1, (System.nanoTime() - sent) / 1000));
  }

  /** Bytes allocated by all threads so far (the JVM's per-thread counters, summed). */
  private static long allocatedBytes() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getTotalThreadAllocatedBytes();
  }

  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static final long CAPACITY = 1_000_000_000L;

  private Subject viva(RedisClient client, ClientResources resources) {
    Policy policy = Policy.of("bench", Limit.tokenBucket(CAPACITY, Duration.ofSeconds(1)));
    List<RedisLimitStore> stores = new ArrayList<>();
    MultiThreadIoEventLoopGroup group;
    RedisClients.PerEventLoop perLoop;
    if (caller.equals("loop")) {
      // As the server runs it: the connection on the event loop that asks (RedisClients.perEventLoop).
      group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
      callerLoop = (EventLoop) group.next();
      perLoop = RedisClients.perEventLoop(resources, List.of(callerLoop), RedisURI.create(redis), Duration.ofSeconds(5));
      RedisLimitStore.Builder b = RedisLimitStore.builder(perLoop.connect()).timeSource(timeSource);
      stores.add((failureMode == null ? b : b.failureMode(failureMode)).build());
    } else {
      group = null;
      perLoop = null;
      for (int i = 0; i < connections; i++) {
        RedisLimitStore.Builder b = RedisLimitStore.builder(client).timeSource(timeSource);
        stores.add((failureMode == null ? b : b.failureMode(failureMode)).build());
      }
    }
    String[] ids = new String[keys];
    for (int i = 0; i < keys; i++) {
      ids[i] = "user-" + i;
    }
    AtomicLong rr = new AtomicLong();
    return new Subject() {
      @Override
      public CompletionStage<Boolean> decide(int k) {
        RedisLimitStore store = stores.get((int) (rr.getAndIncrement() % stores.size()));
        return store.acquireAsync(policy, ids[k], 1, null).thenApply(Decision::allowed);
      }

      @Override
      public void close() {
        stores.forEach(RedisLimitStore::close);
        if (perLoop != null) {
          perLoop.close();
          group.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        }
      }
    };
  }

  /**
   * The trivial peer: Lettuce's asynchronous {@code PING} on the same kind of connection, no
   * limiter at all. What this client, JVM and machine cost before any rate limiting.
   */
  private Subject ping(RedisClient client) {
    var connection = client.connect();
    var commands = connection.async();
    return new Subject() {
      @Override
      public CompletionStage<Boolean> decide(int k) {
        return commands.ping().thenApply("PONG"::equals);
      }

      @Override
      public void close() {
        connection.close();
      }
    };
  }

  private Subject bucket4j(RedisClient client) {
    BucketConfiguration config = BucketConfiguration.builder()
        .addLimit(limit -> limit.capacity(CAPACITY).refillGreedy(CAPACITY, Duration.ofSeconds(1)))
        .build();
    RedisCodec<String, byte[]> codec = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);
    List<io.lettuce.core.api.StatefulRedisConnection<String, byte[]>> conns = new ArrayList<>();
    List<AsyncBucketProxy[]> buckets = new ArrayList<>();
    for (int c = 0; c < connections; c++) {
      var conn = client.connect(codec);
      conns.add(conn);
      AsyncProxyManager<String> manager = Bucket4jLettuce.casBasedBuilder(conn)
          // Expire lapsed state, as Viva's PEXPIRE does.
          .expirationAfterWrite(ExpirationAfterWriteStrategy.basedOnTimeForRefillingBucketUpToMax(Duration.ofSeconds(1)))
          .build()
          .asAsync();
      AsyncBucketProxy[] proxies = new AsyncBucketProxy[keys];
      for (int i = 0; i < keys; i++) {
        proxies[i] = manager.builder().build("b4j:user-" + i, config);
      }
      buckets.add(proxies);
    }
    AtomicLong rr = new AtomicLong();
    return new Subject() {
      @Override
      public CompletionStage<Boolean> decide(int k) {
        return buckets.get((int) (rr.getAndIncrement() % buckets.size()))[k].tryConsume(1);
      }

      @Override
      public void close() {
        conns.forEach(c -> c.close());
      }
    };
  }

  private static Duration parseDuration(String s) {
    s = s.trim().toLowerCase(Locale.ROOT);
    if (s.endsWith("ms")) {
      return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2)));
    }
    if (s.endsWith("s")) {
      return Duration.ofSeconds(Long.parseLong(s.substring(0, s.length() - 1)));
    }
    return Duration.ofSeconds(Long.parseLong(s));
  }
}
