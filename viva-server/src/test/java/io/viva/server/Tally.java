package io.viva.server;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * What concurrent rate limited requests were answered: how many were allowed (200) and how many
 * denied (429). Any other status fails the test.
 *
 * @param allowed 200s
 * @param denied 429s
 */
record Tally(long allowed, long denied) {

  /** One request: request {@code i} of thread {@code thread}, returning its HTTP status. */
  interface Request {
    int send(int thread, int i) throws Exception;
  }

  /**
   * Sends {@code perThread} requests from each of {@code threads} threads at once (request {@code
   * i} of thread {@code t} typically picks a server by {@code (i + t) % servers}) and counts them.
   */
  static Tally of(int threads, int perThread, Request request) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<Tally>> futures = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int thread = t;
        futures.add(pool.submit(() -> {
          long allowed = 0;
          long denied = 0;
          for (int i = 0; i < perThread; i++) {
            int status = request.send(thread, i);
            if (status == 200) {
              allowed++;
            } else if (status == 429) {
              denied++;
            } else {
              throw new AssertionError("status " + status + " (expected: 200 or 429)");
            }
          }
          return new Tally(allowed, denied);
        }));
      }
      long allowed = 0;
      long denied = 0;
      for (Future<Tally> f : futures) {
        Tally t = f.get(300, TimeUnit.SECONDS);
        allowed += t.allowed;
        denied += t.denied;
      }
      return new Tally(allowed, denied);
    } finally {
      pool.shutdown();
    }
  }
}
