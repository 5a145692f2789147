package io.viva.server;

import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.cluster.RedisClusterClient;
import io.netty.channel.EventLoopGroup;
import io.viva.core.Clock;
import io.viva.core.Decision;
import io.viva.core.InMemoryLimitStore;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import io.viva.redis.FailureMode;
import io.viva.redis.RedisClients;
import io.viva.redis.RedisLimitStore;
import io.viva.redis.TimeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's Redis store: a {@link RedisLimitStore} with a failure mode, built once Redis can be
 * reached. Lettuce's {@code connect()} is eager, so when Redis is down at startup the server does
 * not fail: until the first connection succeeds (retried in the background every second), every
 * decision is answered by the failure mode here, exactly as the store would answer it. From then
 * on the store handles outages itself (Lettuce reconnects; timeouts, breaker and fallback as in
 * docs/redis.md).
 */
final class RedisBackend implements LimitStore {

  private static final Logger LOG = LoggerFactory.getLogger(RedisBackend.class);
  static final Duration RETRY_INTERVAL = Duration.ofSeconds(1);
  static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);

  private final ServerConfig.Redis settings;
  private final Clock clock;
  private final FailureMode mode;
  /** A Cluster's client; null for standalone and Sentinel. */
  private final RedisClusterClient cluster;
  /** Standalone and Sentinel: a client per event loop of the server's; null for a Cluster. */
  private final RedisClients.PerEventLoop perLoop;
  private final ClientResources resources;
  private final InMemoryLimitStore local;
  private final ScheduledExecutorService retry;
  private final LongAdder failures = new LongAdder();
  private final LongAdder fallbacks = new LongAdder();
  private volatile RedisLimitStore store;
  private volatile boolean closed;

  /**
   * A store on Redis whose standalone (or Sentinel) connections are served by {@code loops}, one
   * connection per loop, so that a request handled on a loop is decided on that loop's connection
   * without a hand-off between threads (see {@link RedisClients#perEventLoop}). A Cluster client
   * keeps Lettuce's own threads: its connections, one per node, are not tied to a caller.
   */
  RedisBackend(ServerConfig.Redis settings, Clock clock, EventLoopGroup loops) {
    this.settings = settings;
    this.clock = clock;
    this.mode = FailureMode.valueOf(settings.failureMode().toUpperCase(Locale.ROOT));
    this.local = mode == FailureMode.LOCAL ? InMemoryLimitStore.builder().clock(clock).build() : null;
    resources = RedisClients.resources();
    if (settings.cluster()) {
      List<RedisURI> seeds = new ArrayList<>();
      for (String node : settings.clusterNodes()) {
        seeds.add(RedisURI.create(node.contains("://") ? node : "redis://" + node));
      }
      cluster = RedisClients.cluster(resources, seeds, CONNECT_TIMEOUT);
      perLoop = null;
    } else {
      cluster = null;
      perLoop = RedisClients.perEventLoop(resources, loops, RedisURI.create(settings.url()), CONNECT_TIMEOUT);
    }
    retry = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "viva-redis-connect");
      t.setDaemon(true);
      return t;
    });
    if (!tryConnect(true)) {
      retry.schedule(this::retryConnect, RETRY_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  private void retryConnect() {
    if (closed || tryConnect(false)) {
      return;
    }
    retry.schedule(this::retryConnect, RETRY_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
  }

  private synchronized boolean tryConnect(boolean first) {
    if (closed) {
      return true;
    }
    List<StatefulRedisConnection<String, String>> connections = null;
    try {
      RedisLimitStore.Builder b;
      if (perLoop == null) {
        b = RedisLimitStore.builder(cluster);
      } else {
        connections = perLoop.connect();
        b = RedisLimitStore.builder(connections);
      }
      store = b.keyPrefix(settings.keyPrefix()).clock(clock).failureMode(mode)
          .timeSource("local".equals(settings.clock()) ? TimeSource.LOCAL : TimeSource.REDIS)
          .formatVersion(settings.formatVersion()).shortCircuitKeys(settings.shortCircuitKeys())
          .decisionTimeout(settings.timeout()).build();
      connections = null;
      LOG.info("redis store connected: {} (key prefix \"{}\", failure mode {}, timeout {}, clock {}, short-circuit {})",
          where(), settings.keyPrefix(), settings.failureMode(), DurationParser.format(settings.timeout()),
          settings.clock(), settings.shortCircuitKeys() > 0 ? settings.shortCircuitKeys() + " keys" : "off");
      return true;
    } catch (RuntimeException e) {
      if (connections != null) {
        // Made, but no store took them: the next attempt makes its own.
        connections.forEach(StatefulRedisConnection::close);
      }
      failures.increment();
      if (first) {
        LOG.warn("redis store: cannot connect to {} ({}); answering per failure mode {} and retrying every {}",
            where(), e.getMessage(), settings.failureMode(), DurationParser.format(RETRY_INTERVAL));
      } else {
        LOG.debug("redis store: still cannot connect to {}: {}", where(), e.getMessage());
      }
      return false;
    }
  }

  /** Where Redis is, for logs (without a password). */
  String where() {
    return settings.cluster() ? "cluster " + String.join(",", settings.clusterNodes())
        : ServerConfig.Layer.redact(settings.url());
  }

  /** Whether a connection to Redis has been made (the store then handles outages itself). */
  boolean connected() {
    return store != null;
  }

  /** Whether decisions are being answered by the failure mode: not connected yet, or the breaker is open. */
  boolean isDegraded() {
    RedisLimitStore s = store;
    return s == null || s.isDegraded();
  }

  /** Failed connection attempts plus Redis calls that failed or timed out. */
  long failureCount() {
    RedisLimitStore s = store;
    return failures.sum() + (s == null ? 0 : s.failureCount());
  }

  /** Decisions answered by the failure mode. */
  long fallbackCount() {
    RedisLimitStore s = store;
    return fallbacks.sum() + (s == null ? 0 : s.fallbackCount());
  }

  String failureMode() {
    return settings.failureMode();
  }

  @Override
  public Decision acquire(Policy policy, String key, long cost, String idempotencyKey) {
    RedisLimitStore s = store;
    return s != null ? s.acquire(policy, key, cost, idempotencyKey) : fallback(policy, key, cost, idempotencyKey);
  }

  @Override
  public CompletionStage<Decision> acquireAsync(Policy policy, String key, long cost, String idempotencyKey) {
    RedisLimitStore s = store;
    return s != null ? s.acquireAsync(policy, key, cost, idempotencyKey)
        : CompletableFuture.completedFuture(fallback(policy, key, cost, idempotencyKey));
  }

  @Override
  public List<CompletionStage<Decision>> acquireAllAsync(List<Request> requests) {
    RedisLimitStore s = store;
    return s != null ? s.acquireAllAsync(requests) : LimitStore.super.acquireAllAsync(requests);
  }

  /** Decisions denied by the store's local short-circuit. */
  long shortCircuitCount() {
    RedisLimitStore s = store;
    return s == null ? 0 : s.shortCircuitCount();
  }

  /** What {@link RedisLimitStore} answers on a failure, for the time before the first connection. */
  private Decision fallback(Policy policy, String key, long cost, String idempotencyKey) {
    fallbacks.increment();
    if (mode == FailureMode.LOCAL) {
      return local.acquire(policy, key, cost, idempotencyKey);
    }
    long now = clock.micros();
    List<Decision> parts = new ArrayList<>();
    for (Limit limit : policy.limits()) {
      if (mode == FailureMode.FAIL_OPEN) {
        parts.add(Decision.of(limit, true, limit.burst(), limit.burst(), now, 0, now));
      } else {
        long retryAfter = RedisLimitStore.FAIL_CLOSED_RETRY_MICROS;
        parts.add(Decision.of(limit, false, 0, 0, now + retryAfter, retryAfter, now));
      }
    }
    return parts.size() == 1 ? parts.get(0) : Decision.combine(parts);
  }

  @Override
  public void reset(Policy policy, String key) {
    if (local != null) {
      local.reset(policy, key);
    }
    RedisLimitStore s = store;
    if (s != null) {
      s.reset(policy, key);
    }
  }

  @Override
  public Clock clock() {
    return clock;
  }

  @Override
  public synchronized void close() {
    closed = true;
    retry.shutdownNow();
    RedisLimitStore s = store;
    try {
      if (s != null) {
        s.close();
      }
    } catch (RuntimeException e) {
      LOG.warn("closing the redis store: {}", e.toString());
    }
    if (local != null) {
      local.close();
    }
    if (perLoop != null) {
      // Closes the connections, which a store built on a list of them leaves to its caller.
      perLoop.close();
    } else {
      cluster.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
    resources.shutdown(0, 2, TimeUnit.SECONDS);
  }

  @Override
  public String toString() {
    return "RedisBackend[" + where() + "]";
  }
}
