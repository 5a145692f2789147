package io.viva.bench;

import io.viva.core.RateLimiter;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Measures Viva's keyed check, {@code RateLimiter.tryAcquire(key).allowed()} over an
 * {@code InMemoryLimitStore}, in nanoseconds per check, for each of its algorithms:
 * {@code token_bucket}, {@code gcra}, {@code leaky_bucket}, {@code fixed_window},
 * {@code sliding_window} and {@code sliding_log}, with 1 key or 100,000 keys (see
 * {@link KeySpace}). It is {@link KeyedCheckBenchmark}'s {@code viva} row swept over the
 * algorithms; the comparison with other libraries stays in that class.
 *
 * <p>Limits are built from the configuration name ({@code Algorithm.fromConfigName}) so that no
 * check is denied and no key lapses (see {@code Subjects#vivaLimit}): the buckets hold 4 billion
 * and refill one per second, the windows allow 4 billion per day, and the sliding log, which keeps
 * one entry per request and accepts at most 100,000 per window, uses a 1 ms window for one key and
 * a 100 ms window for 100,000 keys.
 *
 * <p>From the repository root, after {@code ./mvnw -q -pl viva-bench -am package -DskipTests}:
 *
 * <pre>
 * java -jar viva-bench/target/benchmarks.jar AlgorithmBenchmark -t 1
 * java -jar viva-bench/target/benchmarks.jar AlgorithmBenchmark -t 2
 * java -jar viva-bench/target/benchmarks.jar AlgorithmBenchmark -t 1 -p algorithm=gcra -p keys=1
 * </pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@State(Scope.Benchmark)
public class AlgorithmBenchmark {

  /** The algorithm, by configuration name. */
  @Param({"token_bucket", "gcra", "leaky_bucket", "fixed_window", "sliding_window", "sliding_log"})
  public String algorithm;

  private RateLimiter limiter;

  /** Builds the limiter and checks every key once. */
  @Setup
  public void setup(KeySpace space) {
    limiter = Subjects.vivaLimiter(Subjects.vivaLimit(algorithm, space.keys));
    for (String key : space.all) {
      if (!limiter.tryAcquire(key).allowed()) {
        throw new IllegalStateException(algorithm + " denied " + key + " during setup");
      }
    }
  }

  /** One check: {@code limiter.tryAcquire(key).allowed()}. */
  @Benchmark
  public boolean check(KeyCursor cursor) {
    return cursor.record(limiter.tryAcquire(cursor.next()).allowed());
  }
}
