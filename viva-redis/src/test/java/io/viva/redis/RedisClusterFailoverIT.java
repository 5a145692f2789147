package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.resource.ClientResources;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.Policy;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A Cluster master failover under a live store: three masters with a replica each; the master of
 * a used key is killed, its replica is promoted, and the store (FAIL_CLOSED, so that any allowed
 * decision is Redis's) goes to the new master by itself, with the key's state intact.
 */
class RedisClusterFailoverIT {

  @RegisterExtension
  static final RedisClusterProcess CLUSTER = new RedisClusterProcess(1);

  private static final Policy POLICY = Policy.of("fo", Limit.slidingLog(100, Duration.ofHours(1)));

  @Test
  void followsAPromotedReplica() throws Exception {
    ClientResources resources = RedisClients.resources();
    RedisClusterClient client = RedisClients.cluster(resources,
        CLUSTER.ports().stream().map(p -> RedisURI.create("redis://127.0.0.1:" + p)).toList(), Duration.ofSeconds(2));
    try (RedisLimitStore store = RedisLimitStore.builder(client).keyPrefix("fo:")
        .failureMode(FailureMode.FAIL_CLOSED).build()) {
      for (int i = 0; i < 3; i++) {
        assertThat(store.acquire(POLICY, "k", 1, null).allowed()).isTrue();
      }
      String stateKey = "fo:{2:fo:k}:v1:sliding_log:100:3600000000:100";
      int slot = SlotHash.getSlot(stateKey);
      int master = RedisClusterProcess.masterOf(CLUSTER.ports().get(0), slot);
      // Make sure the replica has the state before the master dies (replication is asynchronous).
      String masterId = RedisClusterProcess.nodeId(master);
      int replica = CLUSTER.ports().stream().filter(p -> {
        try {
          return RedisClusterProcess.cli(p, "cluster", "myid").trim().length() > 0
              && RedisClusterProcess.cli(p, "info", "replication").contains("role:slave")
              && RedisClusterProcess.cli(p, "cluster", "nodes").lines()
                  .anyMatch(l -> l.contains("myself") && l.contains(masterId));
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }).findFirst().orElseThrow();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (!RedisClusterProcess.cli(replica, "info", "replication").contains("master_link_status:up")
          || !offsetsMatch(master, replica)) {
        assertThat(System.nanoTime()).as("replica in sync").isLessThan(deadline);
        Thread.sleep(20);
      }

      CLUSTER.kill(master);
      long killed = System.nanoTime();
      Decision d;
      int denied = 0;
      while (!(d = store.acquire(POLICY, "k", 1, null)).allowed()) {
        assertThat(d.retryAfterMicros()).isEqualTo(RedisLimitStore.FAIL_CLOSED_RETRY_MICROS);
        assertThat(System.nanoTime() - killed).as("failover within 60 s").isLessThan(TimeUnit.SECONDS.toNanos(60));
        denied++;
        Thread.sleep(10);
      }
      // Redis again: the promoted replica, with the three earlier charges.
      assertThat(d.remaining()).isEqualTo(96);
      assertThat(RedisClusterProcess.masterOf(replica, slot)).isEqualTo(replica);
      assertThat(store.acquire(POLICY, "k", 1, null).remaining()).isEqualTo(95);
      System.out.printf("cluster failover: back on Redis %d ms after the master was killed (%d decisions answered"
          + " by FAIL_CLOSED meanwhile)%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed), denied);
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      resources.shutdown(0, 2, TimeUnit.SECONDS);
    }
  }

  private static boolean offsetsMatch(int master, int replica) throws Exception {
    String m = RedisClusterProcess.cli(master, "info", "replication");
    String r = RedisClusterProcess.cli(replica, "info", "replication");
    return offset(m, "master_repl_offset:") == offset(r, "slave_repl_offset:");
  }

  private static long offset(String info, String field) {
    return info.lines().filter(l -> l.startsWith(field)).map(l -> Long.parseLong(l.substring(field.length()).trim()))
        .findFirst().orElse(-1L);
  }
}
