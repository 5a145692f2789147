package io.viva.bench;

import java.util.Random;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * JMH state shared by all threads of a benchmark: the {@code keys} parameter and the keys
 * themselves, {@code "user-0"} to {@code "user-<keys-1>"}, generated once per trial. Not a
 * benchmark itself; {@link KeyedCheckBenchmark} and {@link AlgorithmBenchmark} use it, and
 * {@code -p keys=1} or {@code -p keys=100000} on their command line picks one size.
 *
 * <p>The keys are visited in a fixed pseudo-random order ({@link #visitOrder}) rather than in the
 * order they were created, so that 100,000 keys are not walked in allocation order, which would
 * let the hardware prefetcher hide the cost of a cache miss.
 */
@State(Scope.Benchmark)
public class KeySpace {

  /** How many distinct keys are checked: one hot key, or 100,000 keys each checked in turn. */
  @Param({"1", "100000"})
  public int keys;

  /** The keys in creation order; subjects are populated in this order. */
  public String[] all;

  /** The same strings, shuffled with a fixed seed; threads check keys in this order. */
  public String[] visitOrder;

  /** Generates the keys. */
  @Setup
  public void setup() {
    all = new String[keys];
    for (int i = 0; i < keys; i++) {
      all[i] = "user-" + i;
      all[i].hashCode(); // cache the hash, as a long-lived key string would have it
    }
    visitOrder = all.clone();
    Random random = new Random(42);
    for (int i = visitOrder.length - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      String t = visitOrder[i];
      visitOrder[i] = visitOrder[j];
      visitOrder[j] = t;
    }
  }
}
