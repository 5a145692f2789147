package io.viva.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.viva.core.Limit;
import io.viva.core.ManualClock;
import io.viva.core.Policy;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What is special about a Redis Cluster: keys spread over masters, scripts loaded per node. */
class RedisClusterFeaturesIT {

  @RegisterExtension
  static final RedisClusterProcess CLUSTER = new RedisClusterProcess();

  private final ManualClock clock = ManualClock.at(Instant.parse("2026-01-15T10:00:00Z"));

  private static List<RedisClusterNode> masters() {
    return CLUSTER.connection().getPartitions().stream()
        .filter(n -> n.is(RedisClusterNode.NodeFlag.UPSTREAM))
        .toList();
  }

  private static RedisCommands<String, String> node(RedisClusterNode node) {
    return CLUSTER.connection().getConnection(node.getUri().getHost(), node.getUri().getPort()).sync();
  }

  @Test
  void spreadsIdentifiersOverTheMastersAndKeepsEachDecisionInOneSlot() {
    List<RedisClusterNode> masters = masters();
    assertThat(masters).hasSize(RedisClusterProcess.MASTERS);
    Policy policy = Policy.builder("spread")
        .limit(Limit.tokenBucket(10, Duration.ofSeconds(1)))
        .limit(Limit.slidingLog(100, Duration.ofMinutes(1)))
        .build();
    try (RedisLimitStore store = RedisLimitStore.builder(CLUSTER.client()).keyPrefix("spread:")
        .clock(clock).timeSource(TimeSource.LOCAL).build()) {
      for (int i = 0; i < 60; i++) {
        assertThat(store.acquire(policy, "user:" + i, 1, "op").allowed()).isTrue();
      }
    }
    Map<String, String> nodeOfIdentifier = new HashMap<>();
    int total = 0;
    Set<RedisClusterNode> used = new HashSet<>();
    for (RedisClusterNode master : masters) {
      List<String> keys = node(master).keys("spread:*");
      total += keys.size();
      if (!keys.isEmpty()) {
        used.add(master);
      }
      for (String key : keys) {
        assertThat(master.hasSlot(SlotHash.getSlot(key))).as("%s on %s", key, master.getUri()).isTrue();
        String identifier = key.substring(key.indexOf('{'), key.indexOf('}') + 1);
        String before = nodeOfIdentifier.putIfAbsent(identifier, master.getNodeId());
        assertThat(before == null || before.equals(master.getNodeId()))
            .as("all keys of %s on one node", identifier).isTrue();
      }
    }
    // Two limits and the idempotency record per identifier.
    assertThat(total).isEqualTo(60 * 3);
    assertThat(nodeOfIdentifier).hasSize(60);
    assertThat(used).as("masters holding keys").hasSize(RedisClusterProcess.MASTERS);
  }

  @Test
  void loadsTheScriptOnNodesThatHaveNeverSeenIt() {
    List<RedisClusterNode> masters = masters();
    for (RedisClusterNode master : masters) {
      node(master).scriptFlush();
      assertThat(node(master).scriptExists(RedisLimitStore.SHA)).containsExactly(false);
    }
    Policy policy = Policy.of("noscript", Limit.fixedWindow(2, Duration.ofMinutes(1)));
    RedisLimitStore store = RedisLimitStore.builder(CLUSTER.connection()).keyPrefix("ns:")
        .clock(clock).timeSource(TimeSource.LOCAL).build();
    // Enough identifiers to reach every master; the first call meets NOSCRIPT, and the load reaches all.
    for (int i = 0; i < 30; i++) {
      assertThat(store.acquire(policy, "k" + i, 1, null).remaining()).isEqualTo(1);
      assertThat(store.acquire(policy, "k" + i, 1, null).remaining()).isZero();
      assertThat(store.acquire(policy, "k" + i, 1, null).allowed()).isFalse();
    }
    for (RedisClusterNode master : masters) {
      assertThat(node(master).scriptExists(RedisLimitStore.SHA)).as("%s", master.getUri()).containsExactly(true);
    }
    // Flushed again on one node only: the next decision there recovers by itself.
    RedisClusterNode one = masters.get(1);
    node(one).scriptFlush();
    String onThatNode = null;
    for (int i = 0; onThatNode == null; i++) {
      if (one.hasSlot(SlotHash.getSlot("{8:noscript:x" + i + "}"))) {
        onThatNode = "x" + i;
      }
    }
    assertThat(store.acquire(policy, onThatNode, 2, null).remaining()).isZero();
    assertThat(node(one).scriptExists(RedisLimitStore.SHA)).containsExactly(true);
    store.reset(policy, onThatNode);
    assertThat(store.acquire(policy, onThatNode, 1, null).remaining()).isEqualTo(1);
  }
}
