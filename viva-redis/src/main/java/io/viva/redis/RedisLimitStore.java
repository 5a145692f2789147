package io.viva.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisKeyAsyncCommands;
import io.lettuce.core.api.async.RedisScriptingAsyncCommands;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.viva.core.Algorithm;
import io.viva.core.Clock;
import io.viva.core.Decision;
import io.viva.core.InMemoryLimitStore;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
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
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

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
 * <p>Works on a standalone connection ({@link #builder(RedisClient)}) and on a Redis Cluster
 * connection ({@link #builder(RedisClusterClient)}) alike: the commands used (EVALSHA, SCRIPT LOAD,
 * DEL on keys of one slot) are routed by Lettuce to the master of the keys' slot. A node that has
 * not seen the script answers NOSCRIPT; the store then loads it (on a cluster connection Lettuce
 * sends SCRIPT LOAD to every node) and retries once.
 *
 * <p><b>Failures.</b> Without a {@link Builder#failureMode failure mode} a Redis error reaches the
 * caller (as a {@link RedisStoreException} or Lettuce's exception). With one, the store never
 * throws from {@link #acquire}, {@link #acquireAsync} or {@link #reset}: a decision that fails, or
 * gets no reply within {@link Builder#decisionTimeout} (default 50 ms), is answered per the
 * {@link FailureMode}. A circuit breaker skips Redis after {@link Builder#failureThreshold}
 * consecutive failures (default 5) for {@link Builder#coolDown} (default 1 s), then lets one probe
 * through: a success closes it, a failure opens it again. {@link #isHealthy()},
 * {@link #failureCount()} and {@link #fallbackCount()} report on it.
 *
 * <p>Thread-safe.
 */
public final class RedisLimitStore implements LimitStore {

  /** The default key prefix. */
  public static final String DEFAULT_PREFIX = "viva:";

  /** The default {@link Builder#decisionTimeout}. */
  public static final Duration DEFAULT_DECISION_TIMEOUT = Duration.ofMillis(50);

  /** The default {@link Builder#failureThreshold}. */
  public static final int DEFAULT_FAILURE_THRESHOLD = 5;

  /** The default {@link Builder#coolDown}. */
  public static final Duration DEFAULT_COOL_DOWN = Duration.ofSeconds(1);

  /** The retry-after of a {@link FailureMode#FAIL_CLOSED} decision: one second. */
  public static final long FAIL_CLOSED_RETRY_MICROS = 1_000_000L;

  static final String SCRIPT = loadScript();
  static final String SHA = sha1(SCRIPT);

  private final RedisScriptingAsyncCommands<String, String> scripting;
  private final RedisKeyAsyncCommands<String, String> keyCommands;
  private final AutoCloseable owned;
  private final String prefix;
  private final Clock clock;
  private final Map<Policy, Compiled> compiled = new ConcurrentHashMap<>();
  private final FailureMode failureMode;
  private final long timeoutNanos;
  private final InMemoryLimitStore local;
  private final Breaker breaker;
  private final LongAdder failures = new LongAdder();
  private final LongAdder fallbacks = new LongAdder();

  private RedisLimitStore(Builder b) {
    this.scripting = b.commands;
    this.keyCommands = b.commands;
    this.owned = b.owned;
    this.prefix = b.prefix;
    this.clock = b.clock;
    this.failureMode = b.failureMode;
    this.timeoutNanos = b.decisionTimeout.toNanos();
    this.local = b.failureMode == FailureMode.LOCAL ? InMemoryLimitStore.builder().clock(b.clock).build() : null;
    this.breaker = new Breaker(b.failureThreshold, b.coolDown.toNanos());
  }

  /** Starts a store on {@code connection}, which the caller keeps and closes. */
  public static Builder builder(StatefulRedisConnection<String, String> connection) {
    return new Builder(Objects.requireNonNull(connection, "connection").async(), null);
  }

  /** Starts a store on a new connection from {@code client}; the store closes that connection. */
  public static Builder builder(RedisClient client) {
    StatefulRedisConnection<String, String> connection = Objects.requireNonNull(client, "client").connect();
    return new Builder(connection.async(), connection);
  }

  /** Starts a store on a Redis Cluster {@code connection}, which the caller keeps and closes. */
  public static Builder builder(StatefulRedisClusterConnection<String, String> connection) {
    return new Builder(Objects.requireNonNull(connection, "connection").async(), null);
  }

  /** Starts a store on a new Redis Cluster connection from {@code client}; the store closes that connection. */
  public static Builder builder(RedisClusterClient client) {
    StatefulRedisClusterConnection<String, String> connection = Objects.requireNonNull(client, "client").connect();
    return new Builder(connection.async(), connection);
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
    if (failureMode == null) {
      return remote(policy, key, cost, idempotencyKey, new AtomicReference<>());
    }
    if (!breaker.tryPass()) {
      return CompletableFuture.completedFuture(fallback(policy, key, cost, idempotencyKey));
    }
    AtomicReference<Future<?>> inFlight = new AtomicReference<>();
    CompletableFuture<Decision> call;
    try {
      call = remote(policy, key, cost, idempotencyKey, inFlight);
    } catch (RuntimeException e) {
      call = CompletableFuture.failedFuture(e);
    }
    return call.orTimeout(timeoutNanos, TimeUnit.NANOSECONDS).handle((decision, error) -> {
      if (error == null) {
        breaker.success();
        return decision;
      }
      // Do not let a command buffered during a disconnect charge Redis after we answered.
      Future<?> pending = inFlight.get();
      if (pending != null) {
        pending.cancel(false);
      }
      failures.increment();
      breaker.failure();
      return fallback(policy, key, cost, idempotencyKey);
    });
  }

  private Decision fallback(Policy policy, String key, long cost, String idempotencyKey) {
    fallbacks.increment();
    if (failureMode == FailureMode.LOCAL) {
      return local.acquire(policy, key, cost, idempotencyKey);
    }
    long now = clock.micros();
    List<Limit> limits = policy.limits();
    List<Decision> parts = new ArrayList<>(limits.size());
    for (Limit limit : limits) {
      if (failureMode == FailureMode.FAIL_OPEN) {
        parts.add(Decision.of(limit, true, limit.burst(), limit.burst(), now, 0, now));
      } else {
        parts.add(Decision.of(limit, false, 0, 0, now + FAIL_CLOSED_RETRY_MICROS, FAIL_CLOSED_RETRY_MICROS, now));
      }
    }
    return Decision.combine(parts);
  }

  private CompletableFuture<Decision> remote(Policy policy, String key, long cost, String idempotencyKey,
      AtomicReference<Future<?>> inFlight) {
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
    return run(keys, args, inFlight).thenApply(reply -> decide(c.limits, reply));
  }

  private CompletableFuture<List<Object>> run(String[] keys, String[] args, AtomicReference<Future<?>> inFlight) {
    CompletableFuture<List<Object>> first =
        scripting.<List<Object>>evalsha(SHA, ScriptOutputType.MULTI, keys, args).toCompletableFuture();
    inFlight.set(first);
    return first.exceptionallyCompose(e -> {
      if (!isNoScript(e)) {
        return CompletableFuture.failedFuture(e);
      }
      // The script cache was flushed, or this node (a new server, a Cluster master that never ran
      // it) has not seen it: load it and try once more.
      CompletableFuture<String> load = scripting.scriptLoad(SCRIPT).toCompletableFuture();
      inFlight.set(load);
      return load.thenCompose(sha -> {
        CompletableFuture<List<Object>> retry =
            scripting.<List<Object>>evalsha(sha, ScriptOutputType.MULTI, keys, args).toCompletableFuture();
        inFlight.set(retry);
        return retry;
      });
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
    if (local != null) {
      local.reset(policy, key);
    }
    if (failureMode != null) {
      if (!breaker.tryPass()) {
        return;
      }
      CompletableFuture<Long> del = null;
      try {
        del = keyCommands.del(keys).toCompletableFuture();
        del.get(timeoutNanos, TimeUnit.NANOSECONDS);
        breaker.success();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        breaker.failure();
      } catch (ExecutionException | TimeoutException | RuntimeException e) {
        if (del != null) {
          del.cancel(false);
        }
        failures.increment();
        breaker.failure();
      }
      return;
    }
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

  /** The failure mode, or {@code null} if Redis errors reach the caller. */
  public FailureMode failureMode() {
    return failureMode;
  }

  /**
   * Whether Redis is being used: false while the circuit breaker is open (after
   * {@link Builder#failureThreshold} consecutive failures, until a probe succeeds).
   */
  public boolean isHealthy() {
    return breaker.closed();
  }

  /** The opposite of {@link #isHealthy()}: decisions are being answered by the failure mode. */
  public boolean isDegraded() {
    return !isHealthy();
  }

  /** Redis calls that failed or timed out since the store was built (failure mode only). */
  public long failureCount() {
    return failures.sum();
  }

  /**
   * Decisions answered by the failure mode instead of Redis since the store was built: failed or
   * timed-out calls and those skipped while the breaker was open.
   */
  public long fallbackCount() {
    return fallbacks.sum();
  }

  /** Closes the connection if this store opened it. */
  @Override
  public void close() {
    if (local != null) {
      local.close();
    }
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

  /**
   * Consecutive failures open the breaker for a cool-down; then one probe is let through, whose
   * outcome closes or reopens it. Real (monotonic) time, not the store's clock.
   */
  private static final class Breaker {
    private final int threshold;
    private final long coolDownNanos;
    private int consecutive;
    private long openUntil;
    private boolean probing;

    Breaker(int threshold, long coolDownNanos) {
      this.threshold = threshold;
      this.coolDownNanos = coolDownNanos;
    }

    synchronized boolean tryPass() {
      if (consecutive < threshold) {
        return true;
      }
      if (probing || System.nanoTime() - openUntil < 0) {
        return false;
      }
      probing = true;
      return true;
    }

    synchronized void success() {
      consecutive = 0;
      probing = false;
    }

    synchronized void failure() {
      if (consecutive < threshold) {
        consecutive++;
      }
      if (consecutive >= threshold) {
        probing = false;
        openUntil = System.nanoTime() + coolDownNanos;
      }
    }

    synchronized boolean closed() {
      return consecutive < threshold;
    }
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
        args[5 + 6 * i] = Integer.toString(scriptCode(limit.algorithm()));
        long[] p = limit.algorithmImpl().parameters();
        for (int j = 0; j < 5; j++) {
          args[6 + 6 * i + j] = Long.toString(p[j]);
        }
      }
    }
  }

  /** The algorithm codes of viva.lua's dispatch (see its header). */
  private static int scriptCode(Algorithm algorithm) {
    return switch (algorithm) {
      case TOKEN_BUCKET -> 1;
      case GCRA -> 2;
      case LEAKY_BUCKET -> 3;
      case FIXED_WINDOW -> 4;
      case SLIDING_WINDOW -> 5;
      case SLIDING_LOG -> 6;
    };
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
    private final RedisClusterAsyncCommands<String, String> commands;
    private final AutoCloseable owned;
    private String prefix = DEFAULT_PREFIX;
    private Clock clock = Clock.system();
    private FailureMode failureMode;
    private Duration decisionTimeout = DEFAULT_DECISION_TIMEOUT;
    private int failureThreshold = DEFAULT_FAILURE_THRESHOLD;
    private Duration coolDown = DEFAULT_COOL_DOWN;

    /** Standalone ({@code RedisAsyncCommands}) and Cluster commands share this interface. */
    private Builder(RedisClusterAsyncCommands<String, String> commands, AutoCloseable owned) {
      this.commands = commands;
      this.owned = owned;
    }

    /**
     * What to answer when Redis fails or is too slow; default {@code null}: errors reach the
     * caller and no timeout, breaker or fallback applies.
     */
    public Builder failureMode(FailureMode mode) {
      this.failureMode = mode;
      return this;
    }

    /** How long a decision waits for Redis before the failure mode answers; default 50 ms. */
    public Builder decisionTimeout(Duration timeout) {
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("decisionTimeout: " + timeout + " (expected: positive)");
      }
      this.decisionTimeout = timeout;
      return this;
    }

    /** Consecutive failures that open the circuit breaker; default 5. */
    public Builder failureThreshold(int failures) {
      if (failures < 1) {
        throw new IllegalArgumentException("failureThreshold: " + failures + " (expected: >= 1)");
      }
      this.failureThreshold = failures;
      return this;
    }

    /** How long an open breaker skips Redis before one probe; default 1 s. */
    public Builder coolDown(Duration coolDown) {
      if (coolDown.isNegative()) {
        throw new IllegalArgumentException("coolDown: " + coolDown + " (expected: >= 0)");
      }
      this.coolDown = coolDown;
      return this;
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
