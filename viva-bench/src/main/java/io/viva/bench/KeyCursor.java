package io.viva.bench;

import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.ThreadParams;

/**
 * JMH per-thread state: which key this thread checks next, and how many of its checks were
 * denied. Not a benchmark itself; {@link KeyedCheckBenchmark} and {@link AlgorithmBenchmark} use
 * it.
 *
 * <p>Each thread walks {@link KeySpace#visitOrder} from its own starting point (thread {@code i}
 * of {@code n} starts at {@code i * keys / n}), so with 100,000 keys two threads rarely touch the
 * same key at once, while with one key every thread checks that hot key. The benchmarks are meant
 * never to be denied (see {@code Subjects}); if some checks were, a warning is printed at the end
 * of the trial, because the numbers then include the denial path.
 */
@State(Scope.Thread)
public class KeyCursor {

  private String[] order;
  private int next;

  /** Checks this thread saw denied; should stay 0. */
  public long denied;

  /** Positions this thread's cursor. */
  @Setup
  public void setup(KeySpace space, ThreadParams thread) {
    order = space.visitOrder;
    next = (int) ((long) thread.getThreadIndex() * order.length / thread.getThreadCount());
  }

  /** The next key to check. */
  public String next() {
    String key = order[next];
    if (++next == order.length) {
      next = 0;
    }
    return key;
  }

  /** Returns {@code allowed}, counting the check if it was denied. */
  public boolean record(boolean allowed) {
    if (!allowed) {
      denied++;
    }
    return allowed;
  }

  /** Warns when checks were denied. */
  @TearDown
  public void report() {
    if (denied > 0) {
      System.err.println("WARNING: " + denied + " checks were denied on thread " + Thread.currentThread().getName()
          + "; this run timed the denial path too and its numbers are not comparable");
    }
  }
}
