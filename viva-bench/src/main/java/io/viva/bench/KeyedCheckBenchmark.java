package io.viva.bench;

import io.github.bucket4j.Bucket;
import io.viva.core.RateLimiter;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Measures one keyed check, "may key K make a request now?", in nanoseconds per check, for Viva
 * and for the in-process rate limiters people would otherwise use, side by side:
 *
 * <ul>
 *   <li>{@code viva}: {@link RateLimiter#tryAcquire(String)} over an {@code InMemoryLimitStore}
 *       with a token bucket, returning {@code Decision.allowed()};</li>
 *   <li>{@code bucket4j}: a {@code ConcurrentHashMap<String, Bucket>}, a local (lock-free) bucket
 *       created by {@code computeIfAbsent} on a miss, then {@code tryConsume(1)};</li>
 *   <li>{@code guava}: a {@code ConcurrentHashMap<String, com.google.common.util.concurrent.RateLimiter>}
 *       and {@code tryAcquire()};</li>
 *   <li>{@code resilience4j}: a {@code ConcurrentHashMap<String, io.github.resilience4j.ratelimiter.RateLimiter>}
 *       (timeout 0) and {@code acquirePermission()}.</li>
 * </ul>
 *
 * <p>Viva does its key lookup itself; the three others are not keyed, so each gets the map an
 * application would put in front of it ({@code get}, then {@code computeIfAbsent} on a miss), and
 * the time includes that lookup. The parameter
 * {@code keys} is 1 (one hot key) or 100000 (each thread cycles through 100,000 keys in a shuffled
 * order, see {@link KeySpace}). Every subject is populated with all keys during setup, so the runs
 * time checks of known keys, not the creation of new ones. The limits (see {@code Subjects}) are
 * set so that no check is denied and no key's state lapses; a warning is printed if any check was
 * denied. The result (a boolean) is returned, so JMH consumes it.
 *
 * <p>Threads are chosen on the command line. From the repository root, after
 * {@code ./mvnw -q -pl viva-bench -am package -DskipTests}:
 *
 * <pre>
 * java -jar viva-bench/target/benchmarks.jar KeyedCheckBenchmark -t 1
 * java -jar viva-bench/target/benchmarks.jar KeyedCheckBenchmark -t 2
 * java -jar viva-bench/target/benchmarks.jar KeyedCheckBenchmark -t 1 -p keys=1   # one size only
 * java -jar viva-bench/target/benchmarks.jar KeyedCheckBenchmark -t 1 -bm thrpt -tu us   # ops/us instead
 * </pre>
 *
 * With two threads, each number is the average time of one check on one thread while the other
 * thread checks too (JMH reports the per-thread average); with one key both threads contend for
 * the same key. {@code viva-bench/run-benchmarks.sh} runs both thread counts and keeps JSON
 * results. The algorithms of Viva are compared with each other in {@link AlgorithmBenchmark}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class KeyedCheckBenchmark {

  /** Viva: one limiter over an in-memory store, every key checked once in setup. */
  @State(Scope.Benchmark)
  public static class VivaState {
    RateLimiter limiter;

    /** Builds the limiter and touches every key. */
    @Setup
    public void setup(KeySpace space) {
      limiter = Subjects.vivaLimiter(Subjects.VIVA_TOKEN_BUCKET);
      for (String key : space.all) {
        if (!limiter.tryAcquire(key).allowed()) {
          throw new IllegalStateException("viva denied " + key + " during setup");
        }
      }
    }
  }

  /** Bucket4j: a map of local buckets, one per key, created in setup. */
  @State(Scope.Benchmark)
  public static class Bucket4jState {
    final ConcurrentHashMap<String, Bucket> buckets = new ConcurrentHashMap<>();

    /** Creates every key's bucket and spends a token from it. */
    @Setup
    public void setup(KeySpace space) {
      for (String key : space.all) {
        if (!buckets.computeIfAbsent(key, k -> Subjects.bucket4j()).tryConsume(1)) {
          throw new IllegalStateException("bucket4j denied " + key + " during setup");
        }
      }
    }
  }

  /** Guava: a map of limiters, one per key, created in setup. */
  @State(Scope.Benchmark)
  public static class GuavaState {
    final ConcurrentHashMap<String, com.google.common.util.concurrent.RateLimiter> limiters =
        new ConcurrentHashMap<>();

    /** Creates every key's limiter and acquires from it. */
    @Setup
    public void setup(KeySpace space) {
      for (String key : space.all) {
        if (!limiters.computeIfAbsent(key, k -> Subjects.guava()).tryAcquire()) {
          throw new IllegalStateException("guava denied " + key + " during setup");
        }
      }
    }
  }

  /** Resilience4j: a map of limiters, one per key, created in setup. */
  @State(Scope.Benchmark)
  public static class Resilience4jState {
    final ConcurrentHashMap<String, io.github.resilience4j.ratelimiter.RateLimiter> limiters =
        new ConcurrentHashMap<>();

    /** Creates every key's limiter and acquires from it. */
    @Setup
    public void setup(KeySpace space) {
      for (String key : space.all) {
        if (!limiters.computeIfAbsent(key, Subjects::resilience4j).acquirePermission()) {
          throw new IllegalStateException("resilience4j denied " + key + " during setup");
        }
      }
    }
  }

  /** Viva: {@code limiter.tryAcquire(key).allowed()}. */
  @Benchmark
  public boolean viva(VivaState state, KeyCursor cursor) {
    return cursor.record(state.limiter.tryAcquire(cursor.next()).allowed());
  }

  /** Bucket4j: {@code lookup(map, key).tryConsume(1)}. */
  @Benchmark
  public boolean bucket4j(Bucket4jState state, KeyCursor cursor) {
    return cursor.record(lookup(state.buckets, cursor.next(), k -> Subjects.bucket4j()).tryConsume(1));
  }

  /** Guava: {@code lookup(map, key).tryAcquire()}. */
  @Benchmark
  public boolean guava(GuavaState state, KeyCursor cursor) {
    return cursor.record(lookup(state.limiters, cursor.next(), k -> Subjects.guava()).tryAcquire());
  }

  /** Resilience4j: {@code lookup(map, key).acquirePermission()}. */
  @Benchmark
  public boolean resilience4j(Resilience4jState state, KeyCursor cursor) {
    return cursor.record(lookup(state.limiters, cursor.next(), Subjects::resilience4j).acquirePermission());
  }

  /**
   * The lookup an application puts in front of an unkeyed limiter: {@code get}, and
   * {@code computeIfAbsent} only on a miss. ({@code computeIfAbsent} alone locks the hash bin
   * whenever the key is not the bin's first node, which would slow the peers down unfairly.)
   */
  private static <V> V lookup(ConcurrentHashMap<String, V> map, String key, Function<String, V> create) {
    V value = map.get(key);
    return value != null ? value : map.computeIfAbsent(key, create);
  }
}
