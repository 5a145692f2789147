package io.viva.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.metrics.CommandLatencyRecorder;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.Delay;
import io.lettuce.core.resource.EventLoopGroupProvider;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.Future;
import java.time.Duration;
import java.util.ArrayList;
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
 *   <li>No command-latency recorder: Lettuce turns one on whenever LatencyUtils is on the classpath
 *       (a histogram update per command, pause-detector threads waking every millisecond).
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
        .commandLatencyRecorder(CommandLatencyRecorder.disabled())
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

  /**
   * One standalone client per event loop of {@code loops}, each doing its network I/O on its own
   * loop rather than on threads of Lettuce's. For a server whose requests already run on those loops
   * (Vert.x's): with a store built on their connections ({@link RedisLimitStore#builder(List)}) a
   * request is decided, written to Redis, read back and answered on one thread. The loops stay their
   * owner's: Lettuce neither starts nor stops them. The clients share {@code base}'s other threads
   * (its timer and executor); close the returned clients before {@code base} and the loops.
   */
  public static PerEventLoop perEventLoop(ClientResources base, Iterable<? extends EventExecutor> loops, RedisURI uri,
      Duration connectTimeout) {
    List<ClientResources> resources = new ArrayList<>();
    List<RedisClient> clients = new ArrayList<>();
    for (EventExecutor loop : loops) {
      if (!(loop instanceof EventLoop eventLoop)) {
        throw new IllegalArgumentException("not an event loop: " + loop);
      }
      ClientResources lent = base.mutate().eventLoopGroupProvider(new LentEventLoop(eventLoop)).build();
      resources.add(lent);
      clients.add(standalone(lent, uri, connectTimeout));
    }
    if (clients.isEmpty()) {
      throw new IllegalArgumentException("no event loops");
    }
    return new PerEventLoop(clients, resources);
  }

  /** The clients of {@link #perEventLoop}, one per event loop, in the loops' order. */
  public static final class PerEventLoop implements AutoCloseable {
    private final List<RedisClient> clients;
    private final List<ClientResources> resources;

    private PerEventLoop(List<RedisClient> clients, List<ClientResources> resources) {
      this.clients = List.copyOf(clients);
      this.resources = List.copyOf(resources);
    }

    /** The clients. */
    public List<RedisClient> clients() {
      return clients;
    }

    /** Connects every client, or none: on a failure the connections made are closed and it is thrown. */
    public List<StatefulRedisConnection<String, String>> connect() {
      List<StatefulRedisConnection<String, String>> connections = new ArrayList<>();
      try {
        for (RedisClient client : clients) {
          connections.add(client.connect());
        }
      } catch (RuntimeException e) {
        connections.forEach(StatefulRedisConnection::close);
        throw e;
      }
      return connections;
    }

    /** Shuts the clients down (closing their connections), leaving the loops and the base resources alone. */
    @Override
    public void close() {
      for (RedisClient client : clients) {
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      }
      for (ClientResources r : resources) {
        r.shutdown(0, 2, TimeUnit.SECONDS);
      }
    }
  }

  /** Lends an event loop someone else owns to Lettuce, which then never shuts it down. */
  private record LentEventLoop(EventLoop loop) implements EventLoopGroupProvider {
    @Override
    @SuppressWarnings("unchecked")
    public <T extends EventLoopGroup> T allocate(Class<T> type) {
      // Lettuce asks for its transport's group class but only uses the result as an EventLoopGroup.
      return (T) loop;
    }

    @Override
    public int threadPoolSize() {
      return 1;
    }

    @Override
    public Future<Boolean> release(EventExecutorGroup group, long quietPeriod, long timeout, TimeUnit unit) {
      return loop.newSucceededFuture(true);
    }

    @Override
    public Future<Boolean> shutdown(long quietPeriod, long timeout, TimeUnit unit) {
      return loop.newSucceededFuture(true);
    }
  }

  private static SocketOptions socket(Duration connectTimeout) {
    return SocketOptions.builder()
        .connectTimeout(connectTimeout)
        .keepAlive(SocketOptions.KeepAliveOptions.builder().enable().idle(KEEP_ALIVE_IDLE)
            .interval(Duration.ofSeconds(1)).count(3).build())
        .build();
  }
}
