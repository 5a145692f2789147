package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisHashCommands;
import io.lettuce.core.api.sync.RedisKeyCommands;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.viva.server.admin.HeavyHitters;
import io.viva.server.admin.TrafficRecorder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin views across every instance sharing a Redis store. Every {@link #PUBLISH_INTERVAL}
 * each instance writes its previous and current minute, and its previous and current hour, as
 * one field (its instance id) of a Redis hash per bucket:
 *
 * <pre>
 * {prefix}admin:m:{epoch minute}   instance id -> {"total","evicted","entries":[[key,count,error]..],"traffic":{ns:[a,d]}}
 * {prefix}admin:h:{epoch hour}     the same for the hour so far (final once the hour is over)
 * </pre>
 *
 * Minute hashes expire after 2 hours, hour hashes after 25. A view reads the hashes of the buckets
 * it covers ({@code HGETALL}), takes this instance's own buckets from memory (fresh), and merges
 * all: the instances' streams are disjoint, so the merged summary keeps the error bound with N the
 * denials of all instances. Other instances' data is at most one publish interval old. Reads and
 * writes are blocking (Lettuce sync, with the store's timeout): callers run them off the event loop.
 */
final class SharedTraffic implements TrafficRecorder.Parts, AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(SharedTraffic.class);
  static final Duration PUBLISH_INTERVAL = Duration.ofSeconds(2);
  static final long MINUTE_TTL_SECONDS = 2 * 3600;
  static final long HOUR_TTL_SECONDS = 25 * 3600;

  private final ServerConfig.Redis settings;
  private final TrafficRecorder local;
  private final String instanceId = UUID.randomUUID().toString();
  private final String prefix;
  private final AbstractRedisClient client;
  private final ScheduledExecutorService timer;
  private volatile StatefulConnection<String, String> connection;
  private volatile RedisHashCommands<String, String> hashes;
  private volatile RedisKeyCommands<String, String> keys;
  private volatile boolean closed;

  SharedTraffic(ServerConfig.Redis settings, TrafficRecorder local) {
    this.settings = settings;
    this.local = local;
    this.prefix = settings.keyPrefix() + "admin:";
    SocketOptions socket = SocketOptions.builder().connectTimeout(RedisBackend.CONNECT_TIMEOUT).build();
    if (settings.cluster()) {
      List<RedisURI> seeds = new ArrayList<>();
      for (String node : settings.clusterNodes()) {
        seeds.add(RedisURI.create(node.contains("://") ? node : "redis://" + node));
      }
      RedisClusterClient c = RedisClusterClient.create(seeds);
      c.setOptions(ClusterClientOptions.builder().socketOptions(socket).build());
      client = c;
    } else {
      RedisClient c = RedisClient.create(RedisURI.create(settings.url()));
      c.setOptions(ClientOptions.builder().socketOptions(socket).build());
      client = c;
    }
    timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "viva-admin-publish");
      t.setDaemon(true);
      return t;
    });
    timer.scheduleWithFixedDelay(this::publishQuietly, PUBLISH_INTERVAL.toMillis(), PUBLISH_INTERVAL.toMillis(),
        TimeUnit.MILLISECONDS);
  }

  /** This instance's id in the shared hashes. */
  String instanceId() {
    return instanceId;
  }

  private void publishQuietly() {
    try {
      publish();
    } catch (RuntimeException e) {
      LOG.debug("admin traffic not published to Redis: {}", e.toString());
      drop();
    }
  }

  /** Writes this instance's recent minutes and hours to Redis. */
  void publish() {
    if (closed) {
      return;
    }
    connect();
    long m = local.currentMinute();
    for (long i = m - 1; i <= m; i++) {
      write(prefix + "m:" + i, local.localMinute(i), MINUTE_TTL_SECONDS);
    }
    long h = Math.floorDiv(m, 60);
    for (long i = h - 1; i <= h; i++) {
      write(prefix + "h:" + i, local.localHour(i), HOUR_TTL_SECONDS);
    }
  }

  private void write(String key, TrafficRecorder.Part part, long ttlSeconds) {
    if (part == null) {
      return;
    }
    hashes.hset(key, instanceId, encode(part));
    keys.expire(key, ttlSeconds);
  }

  @Override
  public List<TrafficRecorder.Part> minute(long minute) {
    return read(prefix + "m:" + minute, local.localMinute(minute));
  }

  @Override
  public List<TrafficRecorder.Part> hour(long hour) {
    return read(prefix + "h:" + hour, local.localHour(hour));
  }

  /** Every other instance's part from Redis, plus this instance's own from memory. */
  private List<TrafficRecorder.Part> read(String key, TrafficRecorder.Part own) {
    connect();
    List<TrafficRecorder.Part> out = new ArrayList<>();
    if (own != null) {
      out.add(own);
    }
    for (Map.Entry<String, String> e : hashes.hgetall(key).entrySet()) {
      if (!e.getKey().equals(instanceId)) {
        out.add(decode(e.getValue()));
      }
    }
    return out;
  }

  /** How many instances published in the current or previous minute (this one included). */
  int instances() {
    connect();
    long m = local.currentMinute();
    java.util.Set<String> ids = new java.util.HashSet<>();
    ids.add(instanceId);
    for (long i = m - 1; i <= m; i++) {
      ids.addAll(hashes.hkeys(prefix + "m:" + i));
    }
    return ids.size();
  }

  private synchronized void connect() {
    if (hashes != null) {
      return;
    }
    if (closed) {
      throw new IllegalStateException("closed");
    }
    if (client instanceof RedisClusterClient c) {
      StatefulRedisClusterConnection<String, String> conn = c.connect();
      conn.setTimeout(settings.timeout());
      connection = conn;
      keys = conn.sync();
      hashes = conn.sync();
    } else {
      StatefulRedisConnection<String, String> conn = ((RedisClient) client).connect();
      conn.setTimeout(settings.timeout());
      connection = conn;
      keys = conn.sync();
      hashes = conn.sync();
    }
  }

  /** Forgets a broken connection; the next call connects again. */
  synchronized void drop() {
    StatefulConnection<String, String> c = connection;
    connection = null;
    hashes = null;
    keys = null;
    if (c != null) {
      try {
        c.close();
      } catch (RuntimeException ignored) {
        // Already broken.
      }
    }
  }

  static String encode(TrafficRecorder.Part part) {
    ObjectNode root = ConfigTree.json().createObjectNode();
    HeavyHitters h = part.offenders();
    root.put("total", h.total());
    root.put("evicted", h.evicted());
    ArrayNode entries = root.putArray("entries");
    for (HeavyHitters.Entry e : h.entries()) {
      entries.addArray().add(e.key()).add(e.count()).add(e.error());
    }
    ObjectNode traffic = root.putObject("traffic");
    part.traffic().forEach((ns, t) -> traffic.putArray(ns).add(t.allowed()).add(t.denied()));
    return root.toString();
  }

  TrafficRecorder.Part decode(String json) {
    try {
      JsonNode root = ConfigTree.json().readTree(json);
      List<HeavyHitters.Entry> entries = new ArrayList<>();
      for (JsonNode e : root.path("entries")) {
        entries.add(new HeavyHitters.Entry(e.get(0).asText(), e.get(1).asLong(), e.get(2).asLong()));
      }
      Map<String, TrafficRecorder.Traffic> traffic = new HashMap<>();
      root.path("traffic").fields().forEachRemaining(f ->
          traffic.put(f.getKey(), new TrafficRecorder.Traffic(f.getValue().get(0).asLong(), f.getValue().get(1).asLong())));
      return new TrafficRecorder.Part(traffic, HeavyHitters.of(local.capacity(), root.path("total").asLong(),
          root.path("evicted").asBoolean(), entries));
    } catch (java.io.IOException | RuntimeException e) {
      throw new IllegalStateException("unreadable admin traffic entry in Redis: " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    closed = true;
    timer.shutdownNow();
    drop();
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
  }
}
