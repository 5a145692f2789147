package io.viva.bench.load;

import com.sun.tools.attach.VirtualMachine;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.MBeanServerConnection;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * What one proxied request costs the gateway's process, in CPU time and heap allocation, beside
 * what the same request costs the upstream when called directly: numbers that depend far less on
 * how busy the machine's cores are than throughput and latency ({@code run-gateway.sh}), which
 * other processes on a shared box distort; the bytes do not depend on it at all.
 *
 * <p>It attaches to the running gateway and upstream JVMs (by process id, through the JDK's
 * attach API and JMX), sends {@code --requests} GETs at a modest fixed rate ({@code --rate}, open
 * loop, from a lean one-thread client) and reads, before and after, each process's CPU time
 * ({@code OperatingSystemMXBean.getProcessCpuTime}: every thread, GC and JIT included), the CPU
 * time of its Vert.x event-loop threads alone, the bytes its threads allocated ({@code
 * ThreadMXBean.getTotalThreadAllocatedBytes}) and its GC count. Each figure is divided by the
 * number of requests. A warm-up of {@code --warmup} requests through the gateway (and as many
 * direct) comes first so that the JIT has compiled the request path; {@code --rounds} repeats
 * the measurement to show its spread, and a last table gives each figure's median over the rounds.
 *
 * <p>CPU time per request still moves with what else runs (caches, frequency, the scheduler), if
 * much less than latency does. To compare two builds, give a second gateway ({@code --baseline}
 * and {@code --baseline-pid}, e.g. the previous jar in front of the same upstream): both are sent
 * their requests at the same time, each at {@code --rate}, so that they see the same conditions.
 * Bytes allocated do not depend on the conditions.
 *
 * <pre>
 * viva-bench/run-gateway-cost.sh            # builds, starts EchoUpstream and the gateway, runs this
 * java -cp viva-bench/target/benchmarks.jar io.viva.bench.load.GatewayCost \
 *     --upstream http://127.0.0.1:18181/api/items?id=1 --upstream-pid 1234 \
 *     --gateway http://127.0.0.1:18180/api/items?id=1 --gateway-pid 1235 \
 *     [--baseline http://127.0.0.1:18182/api/items?id=1 --baseline-pid 1236]
 *     [--rate 2000] [--requests 20000] [--warmup 100000] [--rounds 5] [--connections 8]
 * </pre>
 */
public final class GatewayCost {

  private static final String HEADER = "| run | process | CPU µs | event-loop CPU µs | bytes allocated | GCs |\n"
      + "|---|---|---:|---:|---:|---:|";

  private final URI upstream;
  private final URI gateway;
  private final long upstreamPid;
  private final long gatewayPid;
  private final URI baseline;
  private final long baselinePid;
  private final int rate;
  private final int requests;
  private final int warmup;
  private final int rounds;
  private final int connections;

  private GatewayCost(Map<String, String> args) {
    this.upstream = URI.create(required(args, "upstream"));
    this.gateway = URI.create(required(args, "gateway"));
    this.upstreamPid = Long.parseLong(required(args, "upstream-pid"));
    this.gatewayPid = Long.parseLong(required(args, "gateway-pid"));
    this.baseline = args.containsKey("baseline") ? URI.create(args.get("baseline")) : null;
    this.baselinePid = baseline == null ? -1 : Long.parseLong(required(args, "baseline-pid"));
    this.rate = Integer.parseInt(args.getOrDefault("rate", "2000"));
    this.requests = Integer.parseInt(args.getOrDefault("requests", "20000"));
    this.warmup = Integer.parseInt(args.getOrDefault("warmup", "100000"));
    this.rounds = Integer.parseInt(args.getOrDefault("rounds", "5"));
    this.connections = Integer.parseInt(args.getOrDefault("connections", "8"));
    if (rate <= 0 || requests <= 0 || warmup < 0 || rounds <= 0 || connections <= 0) {
      throw new IllegalArgumentException("--rate, --requests, --rounds, --connections: above 0; --warmup: at least 0"
          + " (got " + args + ")");
    }
  }

  private static String required(Map<String, String> args, String name) {
    String v = args.get(name);
    if (v == null) {
      throw new IllegalArgumentException("--" + name + ": missing (expected: see GatewayCost's javadoc)");
    }
    return v;
  }

  /** Runs the measurement; arguments as {@code --name value}. */
  public static void main(String[] argv) throws Exception {
    new GatewayCost(LoadGenerator.parseArgs(argv)).run();
  }

  private void run() throws Exception {
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1).setWorkerPoolSize(1));
    try (Probe up = Probe.attach(upstreamPid); Probe gw = Probe.attach(gatewayPid);
        Probe base = baseline == null ? null : Probe.attach(baselinePid)) {
      Sender direct = new Sender(vertx, upstream, connections);
      List<Sender> through = new ArrayList<>(List.of(new Sender(vertx, gateway, connections)));
      if (base != null) {
        through.add(new Sender(vertx, baseline, connections));
      }
      if (warmup > 0) {
        direct.send(warmup, rate * 2);
        Sender.sendAll(through, warmup, rate * 2);
      }
      Series directUpstream = new Series("direct to the upstream", "upstream");
      Series gateway = new Series("through the gateway", "gateway");
      Series before = new Series("through the baseline gateway", "gateway");
      Series throughUpstream = new Series(base == null ? "through the gateway" : "through both gateways", "upstream");
      System.out.printf(Locale.ROOT, "%,d requests per run at %,d/s, %d connections; per request:%n%n%s%n",
          requests, rate, connections, HEADER);
      for (int round = 0; round < rounds; round++) {
        Probe.Sample u0 = up.sample();
        direct.send(requests, rate);
        System.out.println(directUpstream.add(u0, up.sample(), requests));
        // Both gateways at once, so that they see the same conditions (other processes come and go).
        Probe.Sample g0 = gw.sample();
        Probe.Sample b0 = base == null ? null : base.sample();
        u0 = up.sample();
        // Whichever is sent to first each millisecond is answered in a slightly different rhythm: take turns.
        Sender.sendAll(round % 2 == 0 ? through : through.reversed(), requests, rate);
        System.out.println(gateway.add(g0, gw.sample(), requests));
        if (base != null) {
          System.out.println(before.add(b0, base.sample(), requests));
        }
        System.out.println(throughUpstream.add(u0, up.sample(), requests * through.size()));
      }
      List<Series> all = base == null ? List.of(directUpstream, gateway, throughUpstream)
          : List.of(directUpstream, before, gateway, throughUpstream);
      System.out.printf(Locale.ROOT, "%nmedians of %d rounds:%n%n%s%n", rounds, HEADER);
      all.forEach(x -> System.out.println(x.summary(false)));
      // Contention only ever adds CPU time: the least of the rounds is the best estimate of a quiet machine's.
      System.out.printf(Locale.ROOT, "%nleast of %d rounds:%n%n%s%n", rounds, HEADER);
      all.forEach(x -> System.out.println(x.summary(true)));
      direct.close();
      through.forEach(Sender::close);
    } finally {
      vertx.close().await();
    }
  }

  /** What each round measured of one process for one way of sending the requests. */
  private static final class Series {
    private final String run;
    private final String process;
    private final List<double[]> rounds = new ArrayList<>();

    Series(String run, String process) {
      this.run = run;
      this.process = process;
    }

    /** Records the difference between two samples over {@code n} requests; its row. */
    String add(Probe.Sample before, Probe.Sample after, int n) {
      double[] v = {(after.cpuNanos() - before.cpuNanos()) / (double) n / 1_000,
          (after.loopCpuNanos() - before.loopCpuNanos()) / (double) n / 1_000,
          (after.allocatedBytes() - before.allocatedBytes()) / (double) n, after.gcs() - before.gcs()};
      rounds.add(v);
      return row(v);
    }

    /** Each column's median over the rounds, or its least value. */
    String summary(boolean least) {
      double[] m = new double[4];
      for (int i = 0; i < m.length; i++) {
        int column = i;
        double[] sorted = rounds.stream().mapToDouble(r -> r[column]).sorted().toArray();
        int mid = sorted.length / 2;
        m[i] = least ? sorted[0] : sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
      }
      return row(m);
    }

    private String row(double[] v) {
      return String.format(Locale.ROOT, "| %s | %s | %.1f | %.1f | %,.0f | %.0f |", run, process, v[0], v[1], v[2],
          v[3]);
    }
  }

  /** An open-loop sender: a fixed schedule of requests on keep-alive connections; any answer but 200 fails the run. */
  private static final class Sender {
    private final Vertx vertx;
    private final HttpClient client;
    private final RequestOptions options;

    Sender(Vertx vertx, URI uri, int connections) {
      this.vertx = vertx;
      this.client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
          new PoolOptions().setHttp1MaxSize(connections).setMaxWaitQueueSize(-1));
      this.options = new RequestOptions().setMethod(HttpMethod.GET).setHost(uri.getHost()).setPort(uri.getPort())
          .setURI(uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery()));
    }

    /** Sends {@code n} requests, {@code perSecond} of them a second, and waits for every answer. */
    void send(int n, int perSecond) throws InterruptedException {
      sendAll(List.of(this), n, perSecond);
    }

    /** Each sender sends {@code n} requests at {@code perSecond}, all at the same time; waits for every answer. */
    static void sendAll(List<Sender> senders, int n, int perSecond) throws InterruptedException {
      List<Runnable> checks = new ArrayList<>();
      for (Sender s : senders) {
        checks.add(s.start(n, perSecond));
      }
      checks.forEach(Runnable::run);
    }

    /** Starts sending; the returned check waits for the answers and throws unless all were 200. */
    private Runnable start(int n, int perSecond) {
      CountDownLatch done = new CountDownLatch(n);
      AtomicLong failures = new AtomicLong();
      AtomicLong sent = new AtomicLong();
      long start = System.nanoTime();
      // Every millisecond, send what the schedule says is due by now.
      long timer = vertx.setPeriodic(1, id -> {
        long due = Math.min(n, (System.nanoTime() - start) * perSecond / 1_000_000_000L + 1);
        while (sent.get() < due) {
          sent.incrementAndGet();
          client.request(options).compose(r -> r.send().compose(resp -> resp.body().map(b -> resp.statusCode())))
              .onComplete(ar -> {
                if (ar.failed() || ar.result() != 200) {
                  failures.incrementAndGet();
                }
                done.countDown();
              });
        }
      });
      return () -> {
        boolean finished;
        try {
          finished = done.await(n / Math.max(1, perSecond) + 60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          finished = false;
        }
        vertx.cancelTimer(timer);
        if (!finished || failures.get() > 0) {
          throw new IllegalStateException(options.getURI() + " on port " + options.getPort() + ": " + failures.get()
              + " of " + n + " requests failed or were not answered (expected: all 200)");
        }
      };
    }

    void close() {
      client.close().await();
    }
  }

  /** A JMX connection to another JVM on this machine, for its CPU time, allocation and GC count. */
  private static final class Probe implements AutoCloseable {
    record Sample(long cpuNanos, long loopCpuNanos, long allocatedBytes, long gcs) {}

    private final JMXConnector connector;
    private final com.sun.management.OperatingSystemMXBean os;
    private final com.sun.management.ThreadMXBean threads;
    private final List<GarbageCollectorMXBean> gcs = new ArrayList<>();

    private Probe(JMXConnector connector) throws java.io.IOException, javax.management.JMException {
      this.connector = connector;
      MBeanServerConnection mbs = connector.getMBeanServerConnection();
      this.os = ManagementFactory.newPlatformMXBeanProxy(mbs, ManagementFactory.OPERATING_SYSTEM_MXBEAN_NAME,
          com.sun.management.OperatingSystemMXBean.class);
      this.threads = ManagementFactory.newPlatformMXBeanProxy(mbs, ManagementFactory.THREAD_MXBEAN_NAME,
          com.sun.management.ThreadMXBean.class);
      for (var name : mbs.queryNames(new javax.management.ObjectName(
          ManagementFactory.GARBAGE_COLLECTOR_MXBEAN_DOMAIN_TYPE + ",*"), null)) {
        gcs.add(ManagementFactory.newPlatformMXBeanProxy(mbs, name.toString(), GarbageCollectorMXBean.class));
      }
    }

    static Probe attach(long pid) throws Exception {
      VirtualMachine vm = VirtualMachine.attach(Long.toString(pid));
      try {
        String address = vm.startLocalManagementAgent();
        return new Probe(JMXConnectorFactory.connect(new JMXServiceURL(address)));
      } finally {
        vm.detach();
      }
    }

    Sample sample() {
      long loop = 0;
      long[] ids = threads.getAllThreadIds();
      for (ThreadInfo info : threads.getThreadInfo(ids)) {
        if (info != null && info.getThreadName().startsWith("vert.x-eventloop-thread-")) {
          loop += Math.max(0, threads.getThreadCpuTime(info.getThreadId()));
        }
      }
      long collections = 0;
      for (GarbageCollectorMXBean gc : gcs) {
        collections += Math.max(0, gc.getCollectionCount());
      }
      return new Sample(os.getProcessCpuTime(), loop, threads.getTotalThreadAllocatedBytes(), collections);
    }

    @Override
    public void close() throws java.io.IOException {
      connector.close();
    }
  }
}
