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
import java.util.LinkedHashMap;
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
 * what the same request costs the upstream when called directly: numbers that do not depend on
 * how busy the machine's cores are (unlike throughput and latency, which {@code run-gateway.sh}
 * measures and which other processes on a shared box distort).
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
 * and {@code --baseline-pid}, e.g. the previous jar in front of the same upstream): each round
 * measures both, one after the other, so that they see the same conditions. Bytes allocated do not
 * depend on the conditions.
 *
 * <pre>
 * viva-bench/run-gateway-cost.sh            # builds, starts EchoUpstream and the gateway, runs this
 * java -cp viva-bench/target/benchmarks.jar io.viva.bench.load.GatewayCost \
 *     --upstream http://127.0.0.1:18181/api/items?id=1 --upstream-pid 1234 \
 *     --gateway http://127.0.0.1:18180/api/items?id=1 --gateway-pid 1235 \
 *     [--baseline http://127.0.0.1:18182/api/items?id=1 --baseline-pid 1236]
 *     [--rate 2000] [--requests 20000] [--warmup 60000] [--rounds 5] [--connections 8]
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
    this.warmup = Integer.parseInt(args.getOrDefault("warmup", "60000"));
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
      List<Target> targets = new ArrayList<>();
      targets.add(new Target("direct to the upstream", new Sender(vertx, upstream, connections), null, up));
      if (base != null) {
        targets.add(new Target("through the baseline gateway", new Sender(vertx, baseline, connections), base, up));
      }
      targets.add(new Target("through the gateway", new Sender(vertx, gateway, connections), gw, up));
      if (warmup > 0) {
        for (Target t : targets) {
          t.sender.send(warmup, rate * 2);
        }
      }
      System.out.printf(Locale.ROOT, "%,d requests per run at %,d/s, %d connections; per request:%n%n%s%n",
          requests, rate, connections, HEADER);
      for (int round = 0; round < rounds; round++) {
        // Direct first, then the gateways in turn, in the opposite order every other round (whoever
        // runs right after whom sees slightly different caches).
        targets.get(0).measure();
        for (int i = 1; i < targets.size(); i++) {
          targets.get(round % 2 == 0 ? i : targets.size() - i).measure();
        }
      }
      System.out.printf(Locale.ROOT, "%nmedians of %d rounds:%n%n%s%n", rounds, HEADER);
      for (Target t : targets) {
        t.summary(false).forEach(System.out::println);
      }
      // Contention only ever adds CPU time: the least of the rounds is the best estimate of a quiet machine's.
      System.out.printf(Locale.ROOT, "%nleast of %d rounds:%n%n%s%n", rounds, HEADER);
      for (Target t : targets) {
        t.summary(true).forEach(System.out::println);
        t.sender.close();
      }
    } finally {
      vertx.close().await();
    }
  }

  /** One way of sending the requests, the processes it costs, and what each round measured there. */
  private final class Target {
    private final String label;
    private final Sender sender;
    private final Probe proxy;
    private final Probe upstream;
    private final Map<String, List<double[]>> rows = new LinkedHashMap<>();

    Target(String label, Sender sender, Probe proxy, Probe upstream) {
      this.label = label;
      this.sender = sender;
      this.proxy = proxy;
      this.upstream = upstream;
    }

    /** One round: the requests, and what they cost the proxy (if any) and the upstream. */
    void measure() throws InterruptedException {
      Probe.Sample p0 = proxy == null ? null : proxy.sample();
      Probe.Sample u0 = upstream.sample();
      sender.send(requests, rate);
      if (proxy != null) {
        System.out.println(record("gateway", p0, proxy.sample()));
      }
      System.out.println(record("upstream", u0, upstream.sample()));
    }

    private String record(String process, Probe.Sample before, Probe.Sample after) {
      double n = requests;
      double[] v = {(after.cpuNanos() - before.cpuNanos()) / n / 1_000,
          (after.loopCpuNanos() - before.loopCpuNanos()) / n / 1_000,
          (after.allocatedBytes() - before.allocatedBytes()) / n, after.gcs() - before.gcs()};
      rows.computeIfAbsent(process, k -> new ArrayList<>()).add(v);
      return row(process, v);
    }

    /** One row per process: each column's median over the rounds, or its least value. */
    List<String> summary(boolean least) {
      List<String> out = new ArrayList<>();
      rows.forEach((process, measured) -> {
        double[] m = new double[4];
        for (int i = 0; i < m.length; i++) {
          int column = i;
          double[] sorted = measured.stream().mapToDouble(r -> r[column]).sorted().toArray();
          int mid = sorted.length / 2;
          m[i] = least ? sorted[0] : sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        }
        out.add(row(process, m));
      });
      return out;
    }

    private String row(String process, double[] v) {
      return String.format(Locale.ROOT, "| %s | %s | %.1f | %.1f | %,.0f | %.0f |", label, process, v[0], v[1],
          v[2], v[3]);
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
      boolean finished = done.await(n / Math.max(1, perSecond) + 60, TimeUnit.SECONDS);
      vertx.cancelTimer(timer);
      if (!finished || failures.get() > 0) {
        throw new IllegalStateException(options.getURI() + ": " + failures.get() + " of " + n
            + " requests failed or were not answered (expected: all 200)");
      }
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
