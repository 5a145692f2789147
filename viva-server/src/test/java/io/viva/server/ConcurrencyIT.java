package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.core.ManualClock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Many clients on one key: the server admits exactly the limit, never one more. */
class ConcurrencyIT {

  @Test
  void eightClientsOnOneKeyAdmitExactlyTheLimit() throws Exception {
    ServerConfig config = TestServer.config("""
        policies:
          - {namespace: hot, algorithm: fixed_window, limit: 500, window: 1h}
        """);
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    try (TestServer t = TestServer.start(config, TestServer.options(clock))) {
      int threads = 8;
      int perThread = 200;
      AtomicInteger allowed = new AtomicInteger();
      AtomicInteger denied = new AtomicInteger();
      CountDownLatch go = new CountDownLatch(1);
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      List<Future<?>> futures = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        futures.add(pool.submit(() -> {
          go.await();
          for (int j = 0; j < perThread; j++) {
            int status = t.post("/v1/check", "{\"identifier\":\"shared\",\"namespace\":\"hot\"}").status();
            (status == 200 ? allowed : denied).incrementAndGet();
            assertThat(status).isIn(200, 429);
          }
          return null;
        }));
      }
      go.countDown();
      for (Future<?> f : futures) {
        f.get();
      }
      pool.shutdown();
      assertThat(allowed.get()).isEqualTo(500);
      assertThat(denied.get()).isEqualTo(threads * perThread - 500);
      assertThat(t.metric("rate_limit_checks_total", "namespace=\"hot\",result=\"allowed\"")).isEqualTo(500);
      assertThat(t.metric("rate_limit_checks_total", "namespace=\"hot\",result=\"denied\"")).isEqualTo(1100);

      // The batch path too: 8 batches of 100 on a fresh key admit exactly 500.
      StringBuilder body = new StringBuilder("{\"checks\":[");
      for (int i = 0; i < 100; i++) {
        body.append(i == 0 ? "" : ",").append("{\"identifier\":\"batched\",\"namespace\":\"hot\"}");
      }
      String batch = body.append("]}").toString();
      ExecutorService pool2 = Executors.newFixedThreadPool(threads);
      List<Future<Integer>> counts = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        counts.add(pool2.submit(() -> {
          int n = 0;
          for (var r : t.post("/v1/check/batch", batch).json().get("results")) {
            n += r.get("allowed").asBoolean() ? 1 : 0;
          }
          return n;
        }));
      }
      int total = 0;
      for (Future<Integer> f : counts) {
        total += f.get();
      }
      pool2.shutdown();
      assertThat(total).isEqualTo(500);
    }
  }
}
