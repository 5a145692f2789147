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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Resharding under a live store: the slot holding a used key moves to another master (IMPORTING /
 * MIGRATING, MIGRATE, SETSLOT NODE, as {@code redis-cli --cluster reshard} does). The store has
 * no failure mode, so any error would reach the test: ASK and MOVED redirects, and NOSCRIPT on
 * the new master, and TRYAGAIN during the move are handled, and the key's state moves with it.
 */
class RedisClusterReshardIT {

  @RegisterExtension
  static final RedisClusterProcess CLUSTER = new RedisClusterProcess();

  private static final Policy POLICY = Policy.of("rs", Limit.slidingLog(100, Duration.ofHours(1)));

  @Test
  void followsASlotToItsNewMaster() throws Exception {
    ClientResources resources = RedisClients.resources();
    RedisClusterClient client = RedisClients.cluster(resources,
        List.of(RedisURI.create("redis://127.0.0.1:" + CLUSTER.ports().get(0))), Duration.ofSeconds(2));
    try (RedisLimitStore store = RedisLimitStore.builder(client).keyPrefix("rs:").build()) {
      for (int i = 0; i < 3; i++) {
        store.acquire(POLICY, "moving", 1, null);
      }
      String stateKey = "rs:{2:rs:moving}:v1:sliding_log:100:3600000000:100";
      int slot = SlotHash.getSlot(stateKey);
      int any = CLUSTER.ports().get(0);
      int source = RedisClusterProcess.masterOf(any, slot);
      int target = CLUSTER.ports().stream().filter(p -> p != source).findFirst().orElseThrow();
      String sourceId = RedisClusterProcess.nodeId(source);
      String targetId = RedisClusterProcess.nodeId(target);

      RedisClusterProcess.cli(target, "cluster", "setslot", Integer.toString(slot), "importing", sourceId);
      RedisClusterProcess.cli(source, "cluster", "setslot", Integer.toString(slot), "migrating", targetId);
      List<String> migrate = new ArrayList<>(List.of("migrate", "127.0.0.1", Integer.toString(target), "", "0",
          "5000", "KEYS"));
      for (String key : RedisClusterProcess.cli(source, "cluster", "getkeysinslot", Integer.toString(slot), "100")
          .trim().split("\\n")) {
        migrate.add(key.trim());
      }
      assertThat(migrate).contains(stateKey);
      assertThat(RedisClusterProcess.cli(source, migrate.toArray(new String[0])).trim()).isEqualTo("OK");

      // Mid-migration: the source answers ASK; the target, which has never run the script, answers
      // NOSCRIPT and then TRYAGAIN (a multi-key script while its keys are not all there) until the
      // slot is its own.
      CompletableFuture<Decision> during = store.acquireAsync(POLICY, "moving", 1, null).toCompletableFuture();
      Thread.sleep(100);
      for (int port : CLUSTER.ports()) {
        RedisClusterProcess.cli(port, "cluster", "setslot", Integer.toString(slot), "node", targetId);
      }
      assertThat(during.get(10, TimeUnit.SECONDS).remaining()).isEqualTo(96);
      assertThat(RedisClusterProcess.masterOf(source, slot)).isEqualTo(target);
      // Done: the source answers MOVED; Lettuce follows it and refreshes its topology.
      assertThat(store.acquire(POLICY, "moving", 1, null).remaining()).isEqualTo(95);
      assertThat(store.acquire(POLICY, "moving", 1, null).remaining()).isEqualTo(94);
      assertThat(RedisClusterProcess.cli(target, "llen", stateKey).trim()).isNotEqualTo("0");
      assertThat(RedisClusterProcess.cli(source, "cluster", "countkeysinslot", Integer.toString(slot)).trim())
          .isEqualTo("0");
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      resources.shutdown(0, 2, TimeUnit.SECONDS);
    }
  }
}
