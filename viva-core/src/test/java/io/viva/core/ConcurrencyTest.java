package io.viva.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Many threads on one key admit exactly the limit, never more, for every algorithm. */
class ConcurrencyTest {

  private static final int THREADS = 8;
  private static final int ATTEMPTS_PER_THREAD = 2_000;
  private static final int LIMIT = 5_000;

  @ParameterizedTest
  @EnumSource(Algorithm.class)
  void manyThreadsOnOneKeyAdmitExactlyTheLimit(Algorithm algorithm) throws Exception {
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    Policy policy = Policy.builder("hot")
        .limit(Limit.of(algorithm, LIMIT, Duration.ofHours(1)))
        .limit(Limit.fixedWindow(LIMIT * 10, Duration.ofDays(1)))
        .build();
    RateLimiter limiter = RateLimiter.builder(policy).clock(clock).build();
    long admitted = hammer(limiter, "the-key");
    assertThat(admitted).isEqualTo(LIMIT);
    assertThat(limiter.peek("the-key").perLimit().get(1).remaining()).isEqualTo(LIMIT * 10 - LIMIT);
  }

  private static long hammer(RateLimiter limiter, String key) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<Callable<Long>> tasks = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        tasks.add(() -> {
          start.await();
          long n = 0;
          for (int i = 0; i < ATTEMPTS_PER_THREAD; i++) {
            if (limiter.tryAcquire(key).allowed()) {
              n++;
            }
          }
          return n;
        });
      }
      List<Future<Long>> futures = new ArrayList<>();
      for (Callable<Long> task : tasks) {
        futures.add(pool.submit(task));
      }
      start.countDown();
      long total = 0;
      for (Future<Long> f : futures) {
        total += f.get();
      }
      return total;
    } finally {
      pool.shutdownNow();
    }
  }
}
