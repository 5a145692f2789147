package io.viva.bench;

import com.sun.management.HotSpotDiagnosticMXBean;
import io.viva.core.Algorithm;
import io.viva.core.Limit;
import io.viva.core.RateLimiter;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.ref.Reference;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Measures the heap each tracked key costs, with 1,000,000 keys: Viva's {@code InMemoryLimitStore}
 * with a token bucket, a fixed window, a sliding window and a sliding log, and for comparison a
 * {@code ConcurrentHashMap} of Bucket4j local buckets, of Guava limiters and of Resilience4j
 * limiters. Not a JMH benchmark: a plain program that prints a markdown table.
 *
 * <p>Method, for each subject in turn: collect garbage (several {@code System.gc()} calls with
 * pauses) and read the used heap from the {@link MemoryMXBean}; check one request for each of
 * the 1,000,000 keys ({@code "user-0"} ...), which creates its state; collect garbage again, read
 * the used heap, and divide the growth by the number of keys. The key strings are created before
 * the first reading and kept by the program, so the figures are the store's own cost per key
 * (map entry, table slot and state), not the key's characters; the strings' own size is printed
 * as a separate row for reference. Limits are those of the benchmarks (see {@code Subjects}):
 * nothing is denied and no key lapses, which the program checks ({@code RateLimiter.store()
 * .keyCount()} must be 1,000,000). The sliding log is measured after one request per key; it
 * grows by 16 bytes per further request (distinct microsecond) in its window.
 *
 * <p>Use a full-compacting collector so that the used heap after {@code System.gc()} is exact.
 * From the repository root, after {@code ./mvnw -q -pl viva-bench -am package -DskipTests}:
 *
 * <pre>
 * java -Xmx4g -XX:+UseParallelGC -cp viva-bench/target/benchmarks.jar io.viva.bench.MemoryPerKey
 * </pre>
 *
 * An optional argument sets the number of keys (default 1000000).
 */
public final class MemoryPerKey {

  private MemoryPerKey() {}

  /** Runs the measurement; {@code args[0]}, if given, is the number of keys. */
  public static void main(String[] args) throws InterruptedException {
    int n = args.length > 0 ? Integer.parseInt(args[0].replace("_", "")) : 1_000_000;
    printEnvironment(n);

    long before = usedHeapAfterGc();
    String[] keys = new String[n];
    for (int i = 0; i < n; i++) {
      keys[i] = "user-" + i;
      keys[i].hashCode();
    }
    long keyBytes = usedHeapAfterGc() - before;

    System.out.println("| Subject | Keys held | Bytes per key |");
    System.out.println("|---|---:|---:|");
    viva("Viva token_bucket (InMemoryLimitStore)", Subjects.VIVA_TOKEN_BUCKET, keys);
    viva("Viva fixed_window (InMemoryLimitStore)", Limit.of(Algorithm.FIXED_WINDOW, Subjects.WINDOW_LIMIT, Subjects.WINDOW), keys);
    viva("Viva sliding_window (InMemoryLimitStore)", Limit.of(Algorithm.SLIDING_WINDOW, Subjects.WINDOW_LIMIT, Subjects.WINDOW), keys);
    viva("Viva sliding_log, 1 request logged (InMemoryLimitStore)",
        Limit.of(Algorithm.SLIDING_LOG, Subjects.SLIDING_LOG_LIMIT, java.time.Duration.ofHours(1)), keys);
    peer("Bucket4j local bucket in ConcurrentHashMap", keys, k -> Subjects.bucket4j(), b -> b.tryConsume(1));
    peer("Guava RateLimiter in ConcurrentHashMap", keys, k -> Subjects.guava(),
        com.google.common.util.concurrent.RateLimiter::tryAcquire);
    peer("Resilience4j RateLimiter in ConcurrentHashMap", keys, Subjects::resilience4j,
        io.github.resilience4j.ratelimiter.RateLimiter::acquirePermission);
    row("(reference) the key String itself, e.g. `user-123456`, not included above", n, keyBytes, n);
    Reference.reachabilityFence(keys);
  }

  private static void viva(String name, Limit limit, String[] keys) throws InterruptedException {
    long before = usedHeapAfterGc();
    RateLimiter limiter = Subjects.vivaLimiter(limit);
    long denied = 0;
    for (String key : keys) {
      if (!limiter.tryAcquire(key).allowed()) {
        denied++;
      }
    }
    long after = usedHeapAfterGc();
    long held = limiter.store().keyCount();
    Reference.reachabilityFence(limiter);
    check(name, denied, held, keys.length);
    row(name, held, after - before, keys.length);
  }

  private static <L> void peer(String name, String[] keys, Function<String, L> create, Acquire<L> acquire)
      throws InterruptedException {
    long before = usedHeapAfterGc();
    ConcurrentHashMap<String, L> map = new ConcurrentHashMap<>();
    long denied = 0;
    for (String key : keys) {
      if (!acquire.tryAcquire(map.computeIfAbsent(key, create))) {
        denied++;
      }
    }
    long after = usedHeapAfterGc();
    long held = map.size();
    Reference.reachabilityFence(map);
    check(name, denied, held, keys.length);
    row(name, held, after - before, keys.length);
  }

  /** One request against a per-key limiter. */
  @FunctionalInterface
  private interface Acquire<L> {
    boolean tryAcquire(L limiter);
  }

  private static void check(String name, long denied, long held, int n) {
    if (denied > 0 || held != n) {
      System.err.println("WARNING: " + name + ": " + denied + " denied, " + held + " of " + n
          + " keys held; the figure below is not per live key");
    }
  }

  private static void row(String name, long held, long bytes, int n) {
    System.out.println(String.format(Locale.ROOT, "| %s | %,d | %.1f |", name, held, (double) bytes / n));
  }

  /** Used heap after the collector has settled. */
  private static long usedHeapAfterGc() throws InterruptedException {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 5; i++) {
      System.gc();
      Thread.sleep(100);
      used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
    }
    return used;
  }

  private static void printEnvironment(int n) {
    Runtime rt = Runtime.getRuntime();
    String gcs = ManagementFactory.getGarbageCollectorMXBeans().stream()
        .map(GarbageCollectorMXBean::getName).collect(Collectors.joining(", "));
    HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
    String oops = hotspot == null ? "?" : hotspot.getVMOption("UseCompressedOops").getValue();
    System.out.println(String.format(Locale.ROOT, "Heap per tracked key, %,d keys. JVM %s %s, max heap %d MiB,"
            + " collectors: %s, compressed oops: %s%n", n, System.getProperty("java.vm.name"),
        Runtime.version(), rt.maxMemory() >> 20, gcs, oops));
  }
}
