package io.viva.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.Delay;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Lettuce clients set up for a {@link RedisLimitStore}: what Lettuce's defaults get wrong for a
 * rate limiter that must go back to Redis soon after an outage.
 *
 * <ul>
 *   <li>Reconnect attempts back off exponentially up to {@link #MAX_RECONNECT_DELAY} (Lettuce's
 *       default goes up to 30 s, so a Redis back after a minute's outage could wait 30 s more).
 *   <li>Cluster topology is refreshed every {@link #TOPOLOGY_REFRESH_PERIOD} and also on every
 *       adaptive trigger (MOVED and ASK redirects, repeated reconnects, an unknown node), at most
 *       once per {@link #ADAPTIVE_REFRESH_MIN_INTERVAL}: a master failover or a resharding is
 *       picked up without a restart.
 *   <li>TCP keep-alive after {@link #KEEP_ALIVE_IDLE} of silence.
 * </ul>
 *
 * <p>The caller owns the {@link ClientResources} it passes and shuts them down after the client.
 */
public final class RedisClients {

  /** The longest wait between two reconnect attempts. */
  public static final Duration MAX_RECONNECT_DELAY = Duration.ofMillis(500);

  /** How often a cluster client re-reads the topology even without a trigger. */
  public static final Duration TOPOLOGY_REFRESH_PERIOD = Duration.ofSeconds(10);

  /** The shortest interval between two topology refreshes on adaptive triggers. */
  public static final Duration ADAPTIVE_REFRESH_MIN_INTERVAL = Duration.ofSeconds(1);

  /**
   * TCP keep-alive probes start after this much silence (then every second, three times), so an
   * idle connection to a Redis that vanished without closing it is noticed in seconds, not hours.
   */
  public static final Duration KEEP_ALIVE_IDLE = Duration.ofSeconds(5);

  private RedisClients() {}

  /** Client resources whose reconnect delay grows from 1 ms to {@link #MAX_RECONNECT_DELAY}. */
  public static ClientResources resources() {
    return ClientResources.builder()
        .reconnectDelay(Delay.exponential(Duration.ofMillis(1), MAX_RECONNECT_DELAY, 2, TimeUnit.MILLISECONDS))
        .build();
  }

  /** A client for a standalone or Sentinel ({@code redis-sentinel://}) URI. */
  public static RedisClient standalone(ClientResources resources, RedisURI uri, Duration connectTimeout) {
    RedisClient client = RedisClient.create(resources, uri);
    client.setOptions(ClientOptions.builder().socketOptions(socket(connectTimeout)).build());
    return client;
  }

  /** A Redis Cluster client from its seed nodes, refreshing its topology as described above. */
  public static RedisClusterClient cluster(ClientResources resources, List<RedisURI> seeds, Duration connectTimeout) {
    RedisClusterClient client = RedisClusterClient.create(resources, seeds);
    client.setOptions(ClusterClientOptions.builder()
        .socketOptions(socket(connectTimeout))
        .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
            .enablePeriodicRefresh(TOPOLOGY_REFRESH_PERIOD)
            .enableAllAdaptiveRefreshTriggers()
            .adaptiveRefreshTriggersTimeout(ADAPTIVE_REFRESH_MIN_INTERVAL)
            .refreshTriggersReconnectAttempts(3)
            .build())
        .build());
    return client;
  }

  private static SocketOptions socket(Duration connectTimeout) {
    return SocketOptions.builder()
        .connectTimeout(connectTimeout)
        .keepAlive(SocketOptions.KeepAliveOptions.builder().enable().idle(KEEP_ALIVE_IDLE)
            .interval(Duration.ofSeconds(1)).count(3).build())
        .build();
  }
}
