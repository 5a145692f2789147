package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.api.sync.RedisCommands;
import io.viva.core.Decision;
import io.viva.core.InMemoryLimitStore;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.ManualClock;
import io.viva.core.Policy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round trips: a batch is written as one pipeline, concurrent decisions share the connection
 * without waiting for each other, and the local short-circuit saves calls. Counted by the server
 * ({@code INFO stats} reads, {@code INFO commandstats} calls), not timed.
 */
class RedisPipelineIT {

  @RegisterExtension
  static final RedisServerProcess REDIS = new RedisServerProcess();

  private static final Policy POLICY = Policy.of("pipe", Limit.tokenBucket(3, Duration.ofMinutes(1)));

  private static long info(String section, String pattern) {
    String text = REDIS.connection().sync().info(section);
    Matcher m = Pattern.compile(pattern).matcher(text);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }

  /** Socket reads the server made (each INFO asking for it is one more). */
  private static long reads() {
    return info("stats", "total_reads_processed:(\\d+)");
  }

  private static long evalshaCalls() {
    return info("commandstats", "cmdstat_evalsha:calls=(\\d+)");
  }

  private static List<Decision> join(List<CompletionStage<Decision>> stages) {
    List<Decision> out = new ArrayList<>();
    for (CompletionStage<Decision> s : stages) {
      out.add(s.toCompletableFuture().join());
    }
    return out;
  }

  @Test
  void aBatchReachesRedisInOneWrite() {
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("batch:").build()) {
      store.acquire(POLICY, "warm-up", 1, null);
      List<LimitStore.Request> requests = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        requests.add(new LimitStore.Request(POLICY, "user-" + i, 1, null));
      }
      long readsBefore = reads();
      long callsBefore = evalshaCalls();
      List<Decision> decisions = join(store.acquireAllAsync(requests));
      long batchReads = reads() - readsBefore - 1;
      assertThat(decisions).allMatch(Decision::allowed);
      assertThat(evalshaCalls() - callsBefore).isEqualTo(100);
      // 100 EVALSHAs (about 13 KB) in one write: Redis reads them in one go (a few at most, if
      // the kernel splits the write).
      assertThat(batchReads).isBetween(1L, 3L);

      // The contrast: one at a time, every decision is its own read.
      readsBefore = reads();
      for (int i = 0; i < 20; i++) {
        store.acquire(POLICY, "single-" + i, 1, null);
      }
      assertThat(reads() - readsBefore - 1).isGreaterThanOrEqualTo(20);
    }
  }

  @Test
  void aBatchDecidesAsTheEngineDoesOneByOne() {
    ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));
    Policy multi = Policy.builder("pipe-multi")
        .limit(Limit.slidingWindow(5, Duration.ofSeconds(10)))
        .limit(Limit.gcra(2, Duration.ofSeconds(1), 3))
        .idempotencyTtl(Duration.ofMinutes(1))
        .build();
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("batchorder:").clock(clock)
            .timeSource(TimeSource.LOCAL).build();
        InMemoryLimitStore engine = InMemoryLimitStore.builder().clock(clock).build()) {
      for (int round = 0; round < 4; round++) {
        List<LimitStore.Request> requests = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
          // Hot keys repeat within a batch, so order matters; an idempotency key repeats too.
          requests.add(new LimitStore.Request(i % 3 == 0 ? POLICY : multi, "k" + (i % 2), 1 + i % 2,
              i % 5 == 0 ? "op-" + (i % 10) : null));
        }
        List<Decision> batch = join(store.acquireAllAsync(requests));
        List<Decision> expected = new ArrayList<>();
        for (LimitStore.Request r : requests) {
          expected.add(engine.acquire(r.policy(), r.key(), r.cost(), r.idempotencyKey()));
        }
        assertThat(batch).isEqualTo(expected);
        clock.advance(Duration.ofMillis(700));
      }
    }
  }

  @Test
  void concurrentDecisionsArePipelinedOnOneConnection() throws Exception {
    try (RedisLimitStore store = RedisLimitStore.builder(REDIS.client()).keyPrefix("concurrent:").build()) {
      store.acquire(POLICY, "warm-up", 1, null);
      RedisCommands<String, String> admin = REDIS.connection().sync();
      long clients = info("clients", "connected_clients:(\\d+)");
      long callsBefore = evalshaCalls();
      // While Redis executes nothing, 50 threads each send a decision: all 50 are in flight on the
      // store's one connection at once (Lettuce does not wait for a reply before the next command).
      admin.clientPause(2_000);
      List<CompletableFuture<Decision>> pending = new ArrayList<>();
      List<Thread> threads = new ArrayList<>();
      for (int i = 0; i < 50; i++) {
        String key = "user-" + i;
        CompletableFuture<Decision> f = new CompletableFuture<>();
        pending.add(f);
        threads.add(Thread.ofPlatform().start(() -> store.acquireAsync(POLICY, key, 1, null)
            .whenComplete((d, e) -> {
              if (e != null) {
                f.completeExceptionally(e);
              } else {
                f.complete(d);
              }
            })));
      }
      for (Thread t : threads) {
        t.join();
      }
      assertThat(pending).noneMatch(CompletableFuture::isDone);
      CompletableFuture.allOf(pending.toArray(new CompletableFuture[0])).get(10, TimeUnit.SECONDS);
      assertThat(pending).allMatch(f -> f.join().allowed());
      assertThat(evalshaCalls() - callsBefore).isEqualTo(50);
      assertThat(info("clients", "connected_clients:(\\d+)")).isEqualTo(clients);
    }
  }
}
