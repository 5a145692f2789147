package io.viva.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisKeyAsyncCommands;
import io.lettuce.core.api.async.RedisScriptingAsyncCommands;
import io.viva.core.Clock;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;

/**
 * A {@link LimitStore} in Redis, shared by every process that uses the same Redis and key prefix.
 *
 * <p>Each decision is one {@code EVALSHA} of {@code viva.lua}, the Lua twin of the engine's
 * algorithms: it evaluates every limit of the policy, charges all or none, and records or replays
 * the idempotency decision, atomically. The store makes exactly the decisions of
 * {@link io.viva.core.InMemoryLimitStore} for the same timeline (the {@code LimitStoreContract}
 * suite checks it, decision for decision).
 *
 * <p>Time is this store's {@link Clock} (passed to the script with every call), so every client
 * of one Redis should run on a synchronized clock. State keys carry a {@code PEXPIRE} to when
 * their state lapses, so Redis holds only live state.
 *
 * <p>Keys: {@code <prefix>{<len>:<policy>:<key>}:<limit>} per limit and
 * {@code <prefix>{<len>:<policy>:<key>}:idem} for idempotency replays; the hash tag puts all keys
 * of one decision in one Redis Cluster slot. A limit's key names its algorithm and parameters, so
 * changing a policy keeps the state of its unchanged limits, as the in-memory store does.
 *
 * <p>Thread-safe. Works on a standalone connection now; the commands used (EVALSHA, SCRIPT LOAD,
 * DEL on keys of one slot) are those a Redis Cluster connection offers too.
 */
public final class RedisLimitStore implements LimitStore {

  /** The default key prefix. */
  public static final String DEFAULT_PREFIX = "viva:";

  static final String SCRIPT = loadScript();
  static final String SHA = sha1(SCRIPT);

  private final RedisScriptingAsyncCommands<String, String> scripting;
  private final RedisKeyAsyncCommands<String, String> keyCommands;
  private final AutoCloseable owned;
  private final String prefix;
  private final Clock clock;
  private final Map<Policy, Compiled> compiled = new ConcurrentHashMap<>();

  private RedisLimitStore(Builder b) {
    this.scripting = b.connection.async();
    this.keyCommands = b.connection.async();
    this.owned = b.owned;
    this.prefix = b.prefix;
    this.clock = b.clock;
  }

  /** Starts a store on {@code connection}, which the caller keeps and closes. */
  public static Builder builder(StatefulRedisConnection<String, String> connection) {
    return new Builder(Objects.requireNonNull(connection, "connection"), null);
  }

  /** Starts a store on a new connection from {@code client}; the store closes that connection. */
  public static Builder builder(RedisClient client) {
    StatefulRedisConnection<String, String> connection = Objects.requireNonNull(client, "client").connect();
    return new Builder(connection, connection);
  }

  @Override
  public Decision acquire(Policy policy, String key, long cost, String idempotencyKey) {
    try {
      return acquireAsync(policy, key, cost, idempotencyKey).toCompletableFuture().get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RedisStoreException("interrupted while waiting for Redis", e);
    } catch (ExecutionException e) {
      throw unwrap(e.getCause());
    }
  }

  @Override
  public CompletionStage<Decision> acquireAsync(Policy policy, String key, long cost, String idempotencyKey) {
    Compiled c = compiled.computeIfAbsent(policy, Compiled::new);
    long now = clock.micros();
    String base = base(policy, key);
    String[] keys = new String[c.suffixes.length + 1];
    for (int i = 0; i < c.suffixes.length; i++) {
      keys[i] = base + c.suffixes[i];
    }
    keys[keys.length - 1] = base + "idem";
    String[] args = c.args.clone();
    args[0] = Long.toString(now);
    args[1] = Long.toString(cost);
    args[4] = idempotencyKey == null ? "" : idempotencyKey;
    return run(keys, args).thenApply(reply -> decide(c.limits, reply));
  }

  private CompletableFuture<List<Object>> run(String[] keys, String[] args) {
    CompletableFuture<List<Object>> first =
        scripting.<List<Object>>evalsha(SHA, ScriptOutputType.MULTI, keys, args).toCompletableFuture();
    return first.exceptionallyCompose(e -> {
      if (!isNoScript(e)) {
        return CompletableFuture.failedFuture(e);
      }
      // The script cache was flushed (or this is a new server): load it and try once more.
      return scripting.scriptLoad(SCRIPT).toCompletableFuture()
          .thenCompose(sha -> scripting.<List<Object>>evalsha(sha, ScriptOutputType.MULTI, keys, args));
    });
  }

  private static boolean isNoScript(Throwable e) {
    Throwable t = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    return t instanceof RedisNoScriptException
        || (t.getMessage() != null && t.getMessage().startsWith("NOSCRIPT"));
  }

  private static Decision decide(Limit[] limits, List<Object> reply) {
    long now = (Long) reply.get(1);
    int n = ((Long) reply.get(2)).intValue();
    if (n != limits.length) {
      throw new RedisStoreException("unexpected reply from viva.lua: " + n + " limits, expected " + limits.length);
    }
    List<Decision> parts = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      int at = 3 + 6 * i;
      boolean allowed = (Long) reply.get(at) != 0;
      long remaining = (Long) reply.get(at + 1);
      double available = (double) (Long) reply.get(at + 2) / (double) (Long) reply.get(at + 3);
      long resetAt = (Long) reply.get(at + 4);
      long retryAfter = (Long) reply.get(at + 5);
      parts.add(Decision.of(limits[i], allowed, remaining, available, resetAt, retryAfter, now));
    }
    return n == 1 ? parts.get(0) : Decision.combine(parts);
  }

  @Override
  public void reset(Policy policy, String key) {
    Compiled c = compiled.computeIfAbsent(policy, Compiled::new);
    String base = base(policy, key);
    String[] keys = new String[c.suffixes.length + 1];
    for (int i = 0; i < c.suffixes.length; i++) {
      keys[i] = base + c.suffixes[i];
    }
    keys[keys.length - 1] = base + "idem";
    try {
      keyCommands.del(keys).toCompletableFuture().get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RedisStoreException("interrupted while waiting for Redis", e);
    } catch (ExecutionException e) {
      throw unwrap(e.getCause());
    }
  }

  /** The key prefix up to and including the hash tag and its separator. */
  private String base(Policy policy, String key) {
    String name = policy.name();
    return prefix + '{' + name.length() + ':' + name + ':' + key + "}:";
  }

  private static RuntimeException unwrap(Throwable t) {
    if (t instanceof CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    return t instanceof RuntimeException r ? r : new RedisStoreException("Redis call failed", t);
  }

  @Override
  public Clock clock() {
    return clock;
  }

  /** Closes the connection if this store opened it. */
  @Override
  public void close() {
    if (owned != null) {
      try {
        owned.close();
      } catch (Exception e) {
        throw new RedisStoreException("closing the Redis connection failed", e);
      }
    }
  }

  @Override
  public String toString() {
    return "RedisLimitStore[prefix=" + prefix + "]";
  }

  /** A policy's per-limit key suffixes and the constant part of the script's arguments. */
  private static final class Compiled {
    final Limit[] limits;
    final String[] suffixes;
    final String[] args;

    Compiled(Policy policy) {
      List<Limit> list = policy.limits();
      int n = list.size();
      limits = list.toArray(new Limit[0]);
      suffixes = new String[n];
      args = new String[5 + 6 * n];
      args[2] = Long.toString(policy.idempotencyTtlMicros());
      args[3] = Integer.toString(n);
      Map<String, Integer> seen = new HashMap<>();
      for (int i = 0; i < n; i++) {
        Limit limit = limits[i];
        String id = limit.algorithm().configName() + ':' + limit.limit() + ':' + limit.windowMicros() + ':'
            + limit.burst();
        // Two equal limits in one policy keep separate state, as they do in the engine.
        int k = seen.merge(id, 1, Integer::sum);
        suffixes[i] = k == 1 ? id : id + '#' + k;
        long[] p = LimitParams.of(limit);
        for (int j = 0; j < 6; j++) {
          args[5 + 6 * i + j] = Long.toString(p[j]);
        }
      }
    }
  }

  private static String loadScript() {
    try (InputStream in = RedisLimitStore.class.getResourceAsStream("viva.lua")) {
      if (in == null) {
        throw new IllegalStateException("viva.lua missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String sha1(String text) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Configures a {@link RedisLimitStore}. */
  public static final class Builder {
    private final StatefulRedisConnection<String, String> connection;
    private final AutoCloseable owned;
    private String prefix = DEFAULT_PREFIX;
    private Clock clock = Clock.system();

    private Builder(StatefulRedisConnection<String, String> connection, AutoCloseable owned) {
      this.connection = connection;
      this.owned = owned;
    }

    /** The prefix of every key; default {@value #DEFAULT_PREFIX}. Must not contain braces. */
    public Builder keyPrefix(String prefix) {
      Objects.requireNonNull(prefix, "prefix");
      if (prefix.indexOf('{') >= 0 || prefix.indexOf('}') >= 0) {
        throw new IllegalArgumentException("keyPrefix: " + prefix
            + " (expected: no '{' or '}'; the store adds its own hash tag)");
      }
      this.prefix = prefix;
      return this;
    }

    /** The clock to decide by; default {@link Clock#system()}. Clients of one Redis should agree on it. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Builds the store. */
    public RedisLimitStore build() {
      return new RedisLimitStore(this);
    }
  }
}
