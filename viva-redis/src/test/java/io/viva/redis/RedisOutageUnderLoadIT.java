package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.resource.ClientResources;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.Policy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAccumulator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Kills and restarts a real redis-server while four threads check continuously: every call
 * returns (within the decision timeout plus a margin that only catches hangs, not slowness) and
 * answers according to the failure mode; the recovery time, from the restarted server accepting
 * connections to the first decision served by it, is measured and printed (docs/redis.md
 * records it), not asserted.
 */
class RedisOutageUnderLoadIT {

  @RegisterExtension
  static final RedisServerProcess REDIS = new RedisServerProcess();

  private static final Duration TIMEOUT = Duration.ofMillis(50);
  /** Far above the timeout: a call that takes this long hung (GC and a busy CI box stay well below it). */
  private static final long HANG_NANOS = TimeUnit.MILLISECONDS.toNanos(50 + 1_000);
  private static final Policy POLICY = Policy.of("outage", Limit.tokenBucket(1_000_000_000L, Duration.ofSeconds(1)));

  @ParameterizedTest
  @EnumSource(FailureMode.class)
  void answersEveryCallThroughAKillAndRestart(FailureMode mode) throws Exception {
    String prefix = "outage-" + mode + ":";
    // Set up as the server sets up its client (reconnect delay capped).
    ClientResources resources = RedisClients.resources();
    RedisClient client = RedisClients.standalone(resources, RedisURI.create("redis://127.0.0.1:" + REDIS.port()),
        Duration.ofSeconds(2));
    try (RedisLimitStore store = RedisLimitStore.builder(client).keyPrefix(prefix).failureMode(mode)
        .decisionTimeout(TIMEOUT).build()) {
      store.acquire(POLICY, "warm-up", 1, null);
      AtomicBoolean running = new AtomicBoolean(true);
      AtomicLong calls = new AtomicLong();
      LongAccumulator slowest = new LongAccumulator(Math::max, 0);
      ConcurrentLinkedQueue<String> wrong = new ConcurrentLinkedQueue<>();
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        String key = "load-" + t;
        threads.add(Thread.ofPlatform().start(() -> {
          while (running.get()) {
            long t0 = System.nanoTime();
            Decision d;
            try {
              d = store.acquire(POLICY, key, 1, null);
            } catch (RuntimeException e) {
              wrong.add("threw " + e);
              continue;
            }
            long took = System.nanoTime() - t0;
            slowest.accumulate(took);
            calls.incrementAndGet();
            if (took > HANG_NANOS) {
              wrong.add("took " + took / 1_000_000 + " ms");
            }
            // Redis and LOCAL admit (the limit is far away); FAIL_OPEN admits; FAIL_CLOSED denies
            // with its own signature.
            boolean expected = d.allowed() || (mode == FailureMode.FAIL_CLOSED
                && d.retryAfterMicros() == RedisLimitStore.FAIL_CLOSED_RETRY_MICROS && d.remaining() == 0);
            if (!expected) {
              wrong.add("unexpected " + d);
            }
            try {
              Thread.sleep(0, 200_000);
            } catch (InterruptedException e) {
              return;
            }
          }
        }));
      }
      Thread.sleep(300);
      long beforeOutage = calls.get();
      REDIS.kill();
      Thread.sleep(1_500);
      long duringOutage = calls.get() - beforeOutage;
      long fallbacksDuringOutage = store.fallbackCount();
      REDIS.restart();
      long restarted = System.nanoTime();
      // The first decision served by the restarted (empty) server is the first one whose key it holds.
      long recovered = -1;
      for (int i = 0; recovered < 0 && System.nanoTime() - restarted < TimeUnit.SECONDS.toNanos(30); i++) {
        String probe = "probe-" + i;
        store.acquire(POLICY, probe, 1, null);
        if (REDIS.connection().sync().exists(firstKey(prefix, probe)) == 1) {
          recovered = System.nanoTime();
        } else {
          Thread.sleep(5);
        }
      }
      Thread.sleep(300);
      running.set(false);
      for (Thread t : threads) {
        t.join();
      }
      assertThat(wrong).isEmpty();
      assertThat(duringOutage).isPositive();
      assertThat(fallbacksDuringOutage).isPositive();
      assertThat(recovered).as("decisions served by the restarted redis-server").isPositive();
      assertThat(store.isHealthy()).isTrue();
      System.out.printf("outage under load [%s]: %d calls, %d during the 1.5 s outage, %d answered by the failure"
          + " mode, slowest call %.1f ms, recovery %d ms (restarted server accepting -> first decision from it)%n",
          mode, calls.get(), duringOutage, store.fallbackCount(), slowest.get() / 1e6,
          TimeUnit.NANOSECONDS.toMillis(recovered - restarted));
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      resources.shutdown(0, 2, TimeUnit.SECONDS);
    }
  }

  private static String firstKey(String prefix, String key) {
    return prefix + "{" + POLICY.name().length() + ":" + POLICY.name() + ":" + key + "}:v1:token_bucket:1000000000:"
        + "1000000:1000000000";
  }
}
