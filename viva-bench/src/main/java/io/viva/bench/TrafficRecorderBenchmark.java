package io.viva.bench;

import io.viva.server.admin.TrafficRecorder;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the admin API adds to every decision: {@code TrafficRecorder.record} (the server's
 * {@code ObservedLimitStore} calls it once per charged check), in nanoseconds per call, for
 * allowed checks (lock-free counters) and denied checks (plus the Space-Saving summary under its
 * lock), over 1 key or 10,000 keys (distinct denied keys make the summary evict).
 *
 * <p>From the repository root, after {@code ./mvnw -q -pl viva-bench -am package -DskipTests}:
 *
 * <pre>
 * java -jar viva-bench/target/benchmarks.jar TrafficRecorderBenchmark -t 1
 * java -jar viva-bench/target/benchmarks.jar TrafficRecorderBenchmark -t 2
 * </pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class TrafficRecorderBenchmark {

  @Param({"true", "false"})
  public boolean allowed;

  @Param({"1", "10000"})
  public int keys;

  TrafficRecorder recorder;
  String[] ids;

  @Setup
  public void setup() {
    recorder = new TrafficRecorder(() -> System.currentTimeMillis() * 1000, 256);
    ids = new String[keys];
    for (int i = 0; i < keys; i++) {
      ids[i] = "user_" + i;
    }
  }

  /** Per-thread key cursor, so threads do not share a counter. */
  @State(Scope.Thread)
  public static class Cursor {
    int next;
  }

  @Benchmark
  public void record(Cursor c) {
    int i = c.next;
    c.next = i + 1 == keys ? 0 : i + 1;
    recorder.record("api", ids[i], allowed);
  }
}
