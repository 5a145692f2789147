package io.viva.bench.load;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;
import org.HdrHistogram.Histogram;

/**
 * An HTTP/1.1 load generator for Viva's server (or any HTTP endpoint), in two modes:
 *
 * <ul>
 *   <li><b>closed loop</b> ({@code --rate 0}, the default): {@code --connections} keep-alive
 *       connections each keep {@code --depth} requests in flight (HTTP/1.1 pipelining when depth
 *       &gt; 1), for the maximum throughput;</li>
 *   <li><b>open loop</b> ({@code --rate R}): requests leave on a fixed schedule of R per second,
 *       round robin over the connections (pipelined behind any still unanswered, as wrk2 paces),
 *       whatever the server does; each latency is measured from the request's scheduled time, not
 *       its actual send time, so a stalled server cannot hide its stall (no coordinated
 *       omission).</li>
 * </ul>
 *
 * <p>Why not an HTTP client library: client and server share this machine's two cores, so every
 * microsecond the client spends is taken from the server it measures, and an open loop must keep
 * its schedule. The generator is plain NIO: requests are encoded from a template straight into
 * each connection's buffer ({@link RequestTemplate}), responses are only framed, not parsed into
 * objects ({@link ResponseParser}), and nothing is allocated per request. {@code --threads}
 * reader threads each own a selector and a share of the connections; in open loop one pacer
 * thread writes the requests as they fall due.
 *
 * <p>Latencies go into HdrHistograms (microsecond resolution), one per reader thread, merged at
 * the end; the result is one markdown table row ({@link #header()}). A request is measured when
 * it was scheduled (open loop) or sent (closed loop) within the measured window; requests still
 * unanswered 2 s after the window count as errors. The body may contain {@code %d}, replaced by
 * a key index cycling over {@code --keys} values, so that a run spreads over many identifiers.
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
 * {@code viva-bench/run-load.sh} runs the comparisons recorded in docs/benchmarks.md. The client's
 * own CPU use over the window is printed on stderr.
 */
public final class LoadGenerator {

  /** Requests in flight one connection can track; far beyond any latency a run can survive. */
  private static final int RING = 1 << 15;
  private static final long DRAIN_NANOS = 2_000_000_000L;

  private final InetSocketAddress address;
  private final RequestTemplate template;
  private final int connections;
  private final int depth;
  private final long rate;
  private final Duration duration;
  private final Duration warmup;
  private final String label;
  private final int threads;
  private final AtomicLong sequence = new AtomicLong();

  private long start;
  private long measureStart;
  private long measureEnd;
  private volatile boolean stopping;
  /** Requests the pacer could not schedule (a dead connection, a full ring): errors. */
  private final AtomicLong pacerErrors = new AtomicLong();

  private LoadGenerator(Map<String, String> args) throws IOException {
    URI uri = URI.create(args.getOrDefault("url", "http://127.0.0.1:8080/v1/check"));
    String body = args.get("body");
    String method = args.getOrDefault("method", body != null ? "POST" : "GET");
    String keyFile = args.get("api-keys");
    String[] apiKeys = keyFile == null ? null : java.nio.file.Files.readAllLines(java.nio.file.Path.of(keyFile))
        .stream().map(String::trim).filter(l -> !l.isEmpty()).toArray(String[]::new);
    if (apiKeys != null && apiKeys.length == 0) {
      throw new IllegalArgumentException("--api-keys " + keyFile + ": no keys (expected: one per line)");
    }
    this.address = new InetSocketAddress(uri.getHost(), uri.getPort() < 0 ? 80 : uri.getPort());
    this.template = new RequestTemplate(method, uri, body, Integer.parseInt(args.getOrDefault("keys", "1000")),
        apiKeys);
    this.connections = Integer.parseInt(args.getOrDefault("connections", "32"));
    this.depth = Integer.parseInt(args.getOrDefault("depth", "1"));
    this.rate = Long.parseLong(args.getOrDefault("rate", "0"));
    this.duration = parseDuration(args.getOrDefault("duration", "10s"));
    this.warmup = parseDuration(args.getOrDefault("warmup", "3s"));
    this.label = args.getOrDefault("label", uri.getPath());
    this.threads = Math.max(1, Math.min(connections, Integer.parseInt(args.getOrDefault("threads", "1"))));
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
  static String row(String label, String mode, double perSecond, Histogram h, Map<?, ? extends Number> outcomes,
      long errors) {
    StringBuilder codes = new StringBuilder();
    new TreeMap<>(outcomes).forEach((k, v) -> codes.append(codes.isEmpty() ? "" : " ").append(k)
        .append('×').append(v.longValue()));
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
    List<Reader> readers = new ArrayList<>();
    List<Conn> all = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      readers.add(new Reader(t));
    }
    for (int c = 0; c < connections; c++) {
      Reader reader = readers.get(c % threads);
      Conn conn = new Conn(reader);
      conn.open();
      reader.conns.add(conn);
      all.add(conn);
    }
    start = System.nanoTime();
    measureStart = start + warmup.toNanos();
    measureEnd = measureStart + duration.toNanos();
    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    for (Reader reader : readers) {
      reader.thread.start();
    }
    Thread pacer = null;
    if (rate > 0) {
      pacer = new Thread(() -> pace(all), "load-pacer");
      pacer.setDaemon(true);
      pacer.start();
    }
    sleepUntil(measureStart);
    long cpuStart = os.getProcessCpuTime();
    sleepUntil(measureEnd);
    long cpu = os.getProcessCpuTime() - cpuStart;
    // Let the requests of the window finish; the closed loop sends nothing new after measureEnd.
    long drainEnd = measureEnd + DRAIN_NANOS;
    while (System.nanoTime() < drainEnd && !all.stream().allMatch(Conn::idle)) {
      Thread.sleep(5);
    }
    stopping = true;
    if (pacer != null) {
      pacer.join();
    }
    Histogram h = new Histogram(3);
    Map<Integer, Long> statuses = new TreeMap<>();
    long completed = 0;
    long errors = pacerErrors.get();
    for (Reader reader : readers) {
      reader.selector.wakeup();
      reader.thread.join();
      h.add(reader.histogram);
      completed += reader.completed;
      errors += reader.errors;
      for (int s = 0; s < reader.statuses.length; s++) {
        if (reader.statuses[s] > 0) {
          statuses.merge(s, reader.statuses[s], Long::sum);
        }
      }
    }
    for (Conn conn : all) {
      errors += conn.unansweredInWindow();
      conn.close();
    }
    double seconds = duration.toNanos() / 1e9;
    System.err.printf(Locale.ROOT, "client CPU: %.0f%% of one core over the window%n", 100.0 * cpu / duration.toNanos());
    return row(label, rate <= 0 ? "closed, " + connections + "×" + depth : "open, " + rate + "/s",
        completed / seconds, h, statuses, errors);
  }

  private static void sleepUntil(long nanos) throws InterruptedException {
    long left;
    while ((left = nanos - System.nanoTime()) > 0) {
      Thread.sleep(Math.max(1, left / 1_000_000));
    }
  }

  /**
   * The open loop ({@link OpenLoopSchedule}): request i goes to connection {@code i % connections}.
   * The thread parks a few tens of microseconds at a time and writes whatever fell due, each with
   * its exact scheduled time, so the pacing error is the park granularity (at most ~150 µs with
   * Linux's default 50 µs timer slack), not a timer tick's 1 ms.
   */
  private void pace(List<Conn> all) {
    OpenLoopSchedule schedule = new OpenLoopSchedule(start, rate, measureStart);
    int n = all.size();
    while (!stopping) {
      long now = System.nanoTime();
      if (now >= measureEnd) {
        break;
      }
      schedule.advance(now);
      for (long i = schedule.from(); i < schedule.to(); i++) {
        all.get((int) (i % n)).schedule(schedule.due(i));
      }
      for (int i = 0; i < n; i++) {
        all.get(i).flushFromPacer();
      }
      LockSupport.parkNanos(schedule.parkNanos());
    }
  }

  private static double ms(long micros) {
    return micros / 1000.0;
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

  /** A thread that owns a selector and reads the responses of its share of the connections. */
  private final class Reader implements Runnable {
    final Selector selector;
    final Thread thread;
    final List<Conn> conns = new ArrayList<>();
    final Histogram histogram = new Histogram(60_000_000L, 3);
    final long[] statuses = new long[600];
    long completed;
    long errors;
    /** When the current batch of bytes was read: every response in it completed then. */
    long now;

    Reader(int index) throws IOException {
      this.selector = Selector.open();
      this.thread = new Thread(this, "load-reader-" + index);
      thread.setDaemon(true);
    }

    @Override
    public void run() {
      if (rate <= 0) {
        for (Conn conn : conns) {
          for (int i = 0; i < depth; i++) {
            conn.schedule(System.nanoTime());
          }
          conn.flushFromReader();
        }
      }
      try {
        while (!stopping) {
          selector.select(this::ready, 100);
        }
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }

    private void ready(SelectionKey key) {
      Conn conn = (Conn) key.attachment();
      now = System.nanoTime();
      if (key.isValid() && key.isWritable()) {
        conn.flushFromReader();
      }
      if (key.isValid() && key.isReadable()) {
        conn.read();
      }
    }

    void record(long intended, int status) {
      if (intended < measureStart || intended >= measureEnd) {
        return;
      }
      histogram.recordValue(Math.min(Math.max(1, (now - intended) / 1_000), 60_000_000L));
      completed++;
      if (status >= 0 && status < statuses.length) {
        statuses[status]++;
      }
    }
  }

  /**
   * One keep-alive connection. Its writer is the pacer (open loop) or its reader (closed loop),
   * never both; the ring of intended send times is the hand-over between them (single producer,
   * single consumer).
   */
  private final class Conn implements IntConsumer {
    final Reader reader;
    final long[] ring = new long[RING];
    final AtomicLong head = new AtomicLong();
    final AtomicLong tail = new AtomicLong();
    final ByteBuffer out = ByteBuffer.allocateDirect(Math.max(64 * 1024, template.maxSize() * 4));
    byte[] in = new byte[64 * 1024];
    ByteBuffer inBuffer = ByteBuffer.wrap(in);
    int inStart;
    int inEnd;
    ResponseParser parser;
    SocketChannel channel;
    SelectionKey key;
    /** Scheduled requests not yet encoded (the output buffer was full): the ring's newest entries. */
    long unsent;
    /** Responses of the current read, to be replaced by as many requests (closed loop). */
    int answered;
    volatile boolean dead;

    Conn(Reader reader) {
      this.reader = reader;
    }

    void open() throws IOException {
      channel = SocketChannel.open();
      channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
      channel.connect(address);
      channel.configureBlocking(false);
      key = channel.register(reader.selector, SelectionKey.OP_READ, this);
      parser = new ResponseParser();
      inStart = 0;
      inEnd = 0;
      out.clear();
      unsent = 0;
      head.set(tail.get());
      dead = false;
    }

    boolean idle() {
      return dead || head.get() == tail.get();
    }

    /** Requests of the window still unanswered at the end (a dead connection counted its own in fail). */
    long unansweredInWindow() {
      if (dead) {
        return 0;
      }
      long errors = 0;
      for (long i = head.get(); i < tail.get(); i++) {
        long intended = ring[(int) (i & (RING - 1))];
        if (intended >= measureStart && intended < measureEnd) {
          errors++;
        }
      }
      return errors;
    }

    /** Queues one request intended at {@code intended}; the writer flushes it. */
    void schedule(long intended) {
      if (dead || tail.get() - head.get() >= RING) {
        if (intended >= measureStart && intended < measureEnd) {
          pacerErrors.incrementAndGet();
        }
        return;
      }
      long t = tail.get();
      ring[(int) (t & (RING - 1))] = intended;
      tail.lazySet(t + 1);
      if (unsent > 0 || !template.encode(sequence.getAndIncrement(), out)) {
        unsent++;
      }
    }

    /** Writes what is queued; returns whether everything went out. */
    private boolean flush() throws IOException {
      while (true) {
        out.flip();
        channel.write(out);
        boolean drained = !out.hasRemaining();
        out.compact();
        if (!drained || unsent == 0) {
          return drained && unsent == 0;
        }
        while (unsent > 0 && template.encode(sequence.getAndIncrement(), out)) {
          unsent--;
        }
      }
    }

    void flushFromPacer() {
      if (dead || (out.position() == 0 && unsent == 0)) {
        return;
      }
      try {
        flush();
      } catch (IOException e) {
        dead = true; // the reader sees the failure too and counts what was in flight
      }
    }

    void flushFromReader() {
      try {
        boolean done = flush();
        key.interestOps(done ? SelectionKey.OP_READ : SelectionKey.OP_READ | SelectionKey.OP_WRITE);
      } catch (IOException e) {
        fail();
      }
    }

    void read() {
      try {
        if (inEnd == in.length) {
          if (inStart > 0) {
            System.arraycopy(in, inStart, in, 0, inEnd - inStart);
            inEnd -= inStart;
            inStart = 0;
          } else {
            in = java.util.Arrays.copyOf(in, in.length * 2); // a head larger than the buffer
            inBuffer = ByteBuffer.wrap(in);
          }
        }
        inBuffer.limit(in.length).position(inEnd);
        int n = channel.read(inBuffer);
        if (n < 0) {
          fail();
          return;
        }
        inEnd += n;
        answered = 0;
        inStart = parser.parse(in, inStart, inEnd, this);
        if (inStart == inEnd) {
          inStart = 0;
          inEnd = 0;
        }
        if (rate <= 0 && answered > 0 && reader.now < measureEnd && !stopping) {
          for (int i = 0; i < answered; i++) {
            schedule(reader.now);
          }
          flushFromReader();
        }
        if (parser.closeSeen() && head.get() == tail.get()) {
          fail();
        }
      } catch (IOException e) {
        fail();
      }
    }

    /** A response completed: the oldest request in flight was answered. */
    @Override
    public void accept(int status) {
      long h = head.get();
      reader.record(ring[(int) (h & (RING - 1))], status);
      head.lazySet(h + 1);
      answered++;
    }

    /** The connection broke: what it had in flight is lost; the closed loop reconnects. */
    void fail() {
      for (long i = head.get(); i < tail.get(); i++) {
        long intended = ring[(int) (i & (RING - 1))];
        if (intended >= measureStart && intended < measureEnd) {
          reader.errors++;
        }
      }
      close();
      dead = true;
      if (rate <= 0 && !stopping && System.nanoTime() < measureEnd) {
        try {
          open();
          for (int i = 0; i < depth; i++) {
            schedule(System.nanoTime());
          }
          flushFromReader();
        } catch (IOException e) {
          dead = true;
        }
      }
    }

    void close() {
      try {
        if (key != null) {
          key.cancel();
        }
        channel.close();
      } catch (IOException ignored) {
        // closing after a failure: nothing to do
      }
    }
  }
}
