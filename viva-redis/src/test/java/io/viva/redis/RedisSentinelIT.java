package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.lettuce.core.RedisClient;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.Policy;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A {@code redis-sentinel://} store through a real failover: a master, a replica and three
 * sentinels; the store keeps answering (from Redis, or by its failure mode during the switch) and
 * goes to the new master by itself.
 */
class RedisSentinelIT {

  @RegisterExtension
  static final RedisSentinelProcess SENTINEL = new RedisSentinelProcess();

  private static final Policy POLICY = Policy.of("sentinel", Limit.tokenBucket(1_000_000, Duration.ofSeconds(1)));

  private static boolean exists(int port, String key) throws Exception {
    return RedisSentinelProcess.cli(port, "EXISTS", key).trim().equals("1");
  }

  private static String key(String id) {
    return "sentinel:{8:sentinel:" + id + "}:v1:token_bucket:1000000:1000000:1000000";
  }

  @Test
  void followsAFailoverToTheNewMaster() throws Exception {
    RedisClient client = RedisClient.create(SENTINEL.url());
    try (RedisLimitStore store = RedisLimitStore.builder(client).keyPrefix("sentinel:")
        .failureMode(FailureMode.LOCAL).build()) {
      assertThat(store.acquire(POLICY, "before", 1, null).allowed()).isTrue();
      assertThat(exists(SENTINEL.masterPort(), key("before"))).isTrue();
      assertThat(store.failureCount()).isZero();

      // Checks keep coming from two threads through the failover.
      AtomicBoolean running = new AtomicBoolean(true);
      AtomicInteger answered = new AtomicInteger();
      ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
      List<Thread> load = List.of(0, 1).stream().map(t -> Thread.ofPlatform().start(() -> {
        while (running.get()) {
          try {
            Decision d = store.acquire(POLICY, "load-" + t, 1, null);
            if (!d.allowed()) {
              throw new AssertionError("denied: " + d);
            }
            answered.incrementAndGet();
            // Paced: answered locally the loop would outrun even this limit.
            Thread.sleep(1);
          } catch (Throwable e) {
            errors.add(e);
          }
        }
      })).toList();

      SENTINEL.failover();
      await().atMost(Duration.ofSeconds(30)).until(() -> SENTINEL.masterPortBySentinel() == SENTINEL.replicaPort());
      // Back on Redis by itself: new decisions land on the promoted replica.
      AtomicInteger n = new AtomicInteger();
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> {
        String id = "after-" + n.incrementAndGet();
        store.acquire(POLICY, id, 1, null);
        return store.isHealthy() && exists(SENTINEL.replicaPort(), key(id));
      });
      running.set(false);
      for (Thread t : load) {
        t.join();
      }
      assertThat(errors).isEmpty();
      assertThat(answered.get()).isPositive();
      assertThat(RedisSentinelProcess.cli(SENTINEL.replicaPort(), "ROLE")).startsWith("master");
      System.out.printf("sentinel failover: %d decisions during the test, %d failed calls answered locally%n",
          answered.get(), store.failureCount());
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }
}
