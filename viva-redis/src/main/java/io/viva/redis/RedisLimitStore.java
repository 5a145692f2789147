package io.viva.redis;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.output.CommandOutput;
import io.lettuce.core.protocol.AsyncCommand;
import io.lettuce.core.protocol.Command;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import io.lettuce.core.protocol.RedisCommand;
import io.viva.core.Algorithm;
import io.viva.core.Clock;
import io.viva.core.Decision;
import io.viva.core.InMemoryLimitStore;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
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
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
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
 * <p>Time is Redis {@code TIME} by default ({@link TimeSource#REDIS}), read by the script, so
 * processes with skewed clocks agree; {@link Builder#timeSource} {@link TimeSource#LOCAL} decides
 * by this store's {@link Clock} instead. State keys carry a {@code PEXPIRE} to when their state
 * lapses, so Redis holds only live state.
 *
 * <p>Keys: {@code <prefix>{<len>:<policy>:<key>}:v<format>:<limit>} per limit and
 * {@code <prefix>{<len>:<policy>:<key>}:v<format>:idem} for idempotency replays; the hash tag puts
 * all keys of one decision in one Redis Cluster slot. A limit's key names its algorithm and
 * parameters, so changing a policy keeps the state of its unchanged limits, as the in-memory store
 * does.
 *
 * <p>Works on a standalone connection ({@link #builder(RedisClient)}) and on a Redis Cluster
 * connection ({@link #builder(RedisClusterClient)}) alike: the commands used (EVALSHA, SCRIPT LOAD,
 * DEL on keys of one slot) are routed by Lettuce to the master of the keys' slot. A node that has
 * not seen the script answers NOSCRIPT; the store then loads it (on a cluster connection Lettuce
 * sends SCRIPT LOAD to every node) and retries once. Concurrent decisions share the connection
 * and so are pipelined; {@link #acquireAllAsync} writes a whole batch with one flush. On a standalone
 * connection the decisions of all threads are written from the connection's event loop, those that
 * queued meanwhile in one flush; with one connection per event loop ({@link #builder(List)}) a
 * caller on such a loop never hands a decision to another thread.
 *
 * <p><b>Failures.</b> Without a {@link Builder#failureMode failure mode} a Redis error reaches the
 * caller (as a {@link RedisStoreException} or Lettuce's exception). With one, the store never
 * throws from {@link #acquire}, {@link #acquireAsync} or {@link #reset}: a decision that fails, or
 * gets no reply within {@link Builder#decisionTimeout} (default 50 ms), is answered per the
 * {@link FailureMode}. A circuit breaker skips Redis after {@link Builder#failureThreshold}
 * consecutive failures (default 5) for {@link Builder#coolDown} (default 250 ms), then lets one probe
 * through: a success closes it, a failure opens it again. {@link #isHealthy()},
 * {@link #failureCount()} and {@link #fallbackCount()} report on it.
 *
 * <p><b>Local short-circuit</b> (off by default, {@link Builder#shortCircuitKeys}): after Redis
 * denies a key a cost until time T, a request for that key with at least that cost (and no
 * idempotency key) before T is denied here without a round trip; see docs/redis.md.
 *
 * <p>Thread-safe.
 */
public final class RedisLimitStore implements LimitStore {

  /** The default key prefix. */
  public static final String DEFAULT_PREFIX = "viva:";

  /** The stored-state format this version writes (and the only one it reads). */
  public static final int FORMAT_VERSION = 1;

  /** The default {@link Builder#decisionTimeout}. */
  public static final Duration DEFAULT_DECISION_TIMEOUT = Duration.ofMillis(50);

  /** The default {@link Builder#failureThreshold}. */
  public static final int DEFAULT_FAILURE_THRESHOLD = 5;

  /** The default {@link Builder#coolDown}. */
  public static final Duration DEFAULT_COOL_DOWN = Duration.ofMillis(250);

  /** The retry-after of a {@link FailureMode#FAIL_CLOSED} decision: one second. */
  public static final long FAIL_CLOSED_RETRY_MICROS = 1_000_000L;

  /** Resends of a decision answered TRYAGAIN (a Cluster slot being migrated), 5 ms apart: a second at most. */
  static final int TRY_AGAIN_ATTEMPTS = 200;
  static final long TRY_AGAIN_DELAY_MICROS = 5_000;

  static final String SCRIPT = loadScript();
  static final String SHA = sha1(SCRIPT);
  /** Decision timeouts and TRYAGAIN delays, for every store: cheap tasks, one daemon thread. */
  private static final ScheduledThreadPoolExecutor TIMER = timer();

  private final StatefulConnection<Object, Object> connection;
  /**
   * The connections decisions are written on (standalone: the connection, or one per event loop,
   * see {@link #builder(List)}); null on a Cluster, whose decisions are dispatched directly.
   */
  private final Lane[] lanes;
  private final RedisClusterAsyncCommands<String, String> commands;
  private final AutoCloseable owned;
  private final String prefix;
  private final int formatVersion;
  private final TimeSource timeSource;
  private final Clock localClock;
  private final Clock clock;
  /** Redis TIME minus the local clock, as last seen (conservatively: Redis time is at least this far ahead). */
  private volatile long offsetMicros;
  private final Map<Policy, Compiled> compiled = new ConcurrentHashMap<>();
  private volatile Compiled lastCompiled;
  private final FailureMode failureMode;
  private final long timeoutNanos;
  private final InMemoryLimitStore local;
  private final Breaker breaker;
  private final Cache<DenialKey, Denial> denials;
  private final AtomicReference<CompletableFuture<String>> scriptLoad = new AtomicReference<>();
  private final LongAdder failures = new LongAdder();
  private final LongAdder fallbacks = new LongAdder();
  private final LongAdder shortCircuits = new LongAdder();

  private RedisLimitStore(Builder b) {
    this.connection = anyCodec(b.connection);
    if (b.connection instanceof StatefulRedisClusterConnection<?, ?>) {
      this.lanes = null;
    } else {
      List<? extends StatefulConnection<?, ?>> all = b.lanes != null ? b.lanes : List.of(b.connection);
      this.lanes = new Lane[all.size()];
      for (int i = 0; i < lanes.length; i++) {
        lanes[i] = new Lane(anyCodec(all.get(i)));
        lanes[i].learnLoop();
      }
    }
    this.commands = b.commands;
    this.owned = b.owned;
    this.prefix = b.prefix;
    this.formatVersion = b.formatVersion;
    this.timeSource = b.timeSource;
    this.localClock = b.clock;
    this.clock = b.timeSource == TimeSource.REDIS ? new RedisTimeEstimate() : b.clock;
    this.failureMode = b.failureMode;
    this.timeoutNanos = b.decisionTimeout.toNanos();
    this.local = b.failureMode == FailureMode.LOCAL ? InMemoryLimitStore.builder().clock(clock).build() : null;
    this.breaker = new Breaker(b.failureThreshold, b.coolDown.toNanos());
    this.denials = b.shortCircuitKeys > 0 ? Caffeine.newBuilder().maximumSize(b.shortCircuitKeys).build() : null;
  }

  /** Starts a store on {@code connection}, which the caller keeps and closes. */
  public static Builder builder(StatefulRedisConnection<String, String> connection) {
    Objects.requireNonNull(connection, "connection");
    return new Builder(connection, connection.async(), null);
  }

  /** Starts a store on a new connection from {@code client}; the store closes that connection. */
  public static Builder builder(RedisClient client) {
    StatefulRedisConnection<String, String> connection = Objects.requireNonNull(client, "client").connect();
    return new Builder(connection, connection.async(), connection);
  }

  /**
   * Starts a store on several standalone connections to one Redis, which the caller keeps and
   * closes: a decision goes out on the connection whose event loop is the calling thread's, so a
   * caller running on an event loop it shares with Lettuce ({@link RedisClients#perEventLoop})
   * decides without handing work to another thread; any other thread keeps to one connection chosen
   * by its id. The first connection also carries the rest ({@link #reset}, loading the script).
   *
   * <p>On such a loop only the asynchronous calls may be used: {@link #acquire} and {@link #reset}
   * there would wait for a reply that the waiting thread itself must read, so they throw
   * {@link IllegalStateException} instead.
   */
  public static Builder builder(List<? extends StatefulRedisConnection<String, String>> connections) {
    if (connections.isEmpty()) {
      throw new IllegalArgumentException("at least one connection");
    }
    StatefulRedisConnection<String, String> first = Objects.requireNonNull(connections.get(0), "connection");
    Builder b = new Builder(first, first.async(), null);
    b.lanes = List.copyOf(connections);
    return b;
  }

  /** Starts a store on a Redis Cluster {@code connection}, which the caller keeps and closes. */
  public static Builder builder(StatefulRedisClusterConnection<String, String> connection) {
    Objects.requireNonNull(connection, "connection");
    return new Builder(connection, connection.async(), null);
  }

  /** Starts a store on a new Redis Cluster connection from {@code client}; the store closes that connection. */
  public static Builder builder(RedisClusterClient client) {
    StatefulRedisClusterConnection<String, String> connection = Objects.requireNonNull(client, "client").connect();
    return new Builder(connection, connection.async(), connection);
  }

  @Override
  public Decision acquire(Policy policy, String key, long cost, String idempotencyKey) {
    checkNotOnLane();
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
    Compiled c = compiled(policy);
    Decision answered = answerLocally(c, key, cost, idempotencyKey);
    if (answered != null) {
      return CompletableFuture.completedFuture(answered);
    }
    Call call = new Call(c, key, cost, idempotencyKey);
    write(call.current);
    call.startTimer();
    return call;
  }

  /**
   * Decides every request as {@link #acquireAsync} would, writing all their commands to Redis at
   * once (one write and flush on a standalone connection; on a Cluster, routed per slot without
   * waiting for replies).
   */
  @Override
  public List<CompletionStage<Decision>> acquireAllAsync(List<Request> requests) {
    int n = requests.size();
    List<CompletionStage<Decision>> out = new ArrayList<>(n);
    List<Call> calls = new ArrayList<>(n);
    List<RedisCommand<Object, Object, ?>> batch = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      Request r = requests.get(i);
      Compiled c = compiled(r.policy());
      Decision answered = answerLocally(c, r.key(), r.cost(), r.idempotencyKey());
      if (answered != null) {
        out.add(CompletableFuture.completedFuture(answered));
      } else {
        Call call = new Call(c, r.key(), r.cost(), r.idempotencyKey());
        calls.add(call);
        batch.add(raw(call.current));
        out.add(call);
      }
    }
    if (!batch.isEmpty()) {
      if (lanes != null) {
        Lane lane = lane();
        for (Call call : calls) {
          call.current.lane = lane;
        }
        lane.writeAll(batch);
      } else {
        try {
          connection.dispatch(batch);
        } catch (RuntimeException e) {
          for (Call call : calls) {
            call.current.completeExceptionally(e);
          }
        }
      }
      for (Call call : calls) {
        call.startTimer();
      }
    }
    return out;
  }

  /** Sends one EVALSHA; a failure to write fails the command (and so its call), never the caller. */
  private void write(EvalCommand command) {
    if (lanes != null) {
      Lane lane = lane();
      command.lane = lane;
      lane.write(raw(command));
      return;
    }
    try {
      connection.dispatch(raw(command));
    } catch (RuntimeException e) {
      command.completeExceptionally(e);
    }
  }

  /**
   * The connection served by the calling thread's event loop, if one is; else one chosen by the
   * thread, so that each thread keeps to one connection (its decisions stay in order) and many
   * threads spread over all of them.
   */
  private Lane lane() {
    Lane[] all = lanes;
    if (all.length == 1) {
      return all[0];
    }
    Lane own = laneOfThisThread();
    return own != null ? own : all[(int) Long.remainderUnsigned(Thread.currentThread().threadId(), all.length)];
  }

  /** The connection whose event loop the calling thread is, or null. */
  private Lane laneOfThisThread() {
    EventExecutor current = ThreadExecutorMap.currentExecutor();
    if (current != null) {
      for (Lane lane : lanes) {
        if (lane.loop() == current) {
          return lane;
        }
      }
    }
    return null;
  }

  /** Blocking calls on an event loop that reads Redis replies would wait for themselves. */
  private void checkNotOnLane() {
    if (lanes != null && laneOfThisThread() != null) {
      throw new IllegalStateException("a blocking Redis call on the event loop that reads its replies would never"
          + " return: use acquireAsync, or call from another thread");
    }
  }

  /** Decisions written so far on each connection, in the order given to {@link #builder(List)}; for tests. */
  long[] writtenPerConnection() {
    long[] out = new long[lanes == null ? 0 : lanes.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = lanes[i].written();
    }
    return out;
  }

  private Compiled compiled(Policy policy) {
    // The caller usually passes the same Policy object again: an identity check spares hashing it.
    Compiled last = lastCompiled;
    if (last != null && last.policy == policy) {
      return last;
    }
    Compiled c = compiled.get(policy);
    if (c == null) {
      c = compiled.computeIfAbsent(policy, p -> new Compiled(p, prefix, formatVersion));
    }
    lastCompiled = c;
    return c;
  }

  /**
   * A decision made without Redis, or null to ask Redis: a short-circuited denial, or the failure
   * mode's answer while the breaker is open.
   */
  private Decision answerLocally(Compiled c, String key, long cost, String idempotencyKey) {
    if (denials != null && cost > 0 && idempotencyKey == null) {
      Denial denial = denials.getIfPresent(new DenialKey(c, key));
      if (denial != null && cost >= denial.cost) {
        long now = clock.micros();
        if (now < denial.until) {
          shortCircuits.increment();
          return denial.at(now);
        }
      }
    }
    if (failureMode != null && !breaker.tryPass()) {
      return fallback(c.policy, key, cost, idempotencyKey);
    }
    return null;
  }

  /** The script, loaded once for all calls that hit NOSCRIPT together. */
  private CompletableFuture<String> scriptLoaded() {
    CompletableFuture<String> load = scriptLoad.get();
    if (load == null || load.isDone()) {
      CompletableFuture<String> fresh = new CompletableFuture<>();
      if (scriptLoad.compareAndSet(load, fresh)) {
        commands.scriptLoad(SCRIPT).whenComplete((sha, e) -> {
          if (e != null) {
            fresh.completeExceptionally(e);
          } else {
            fresh.complete(sha);
          }
        });
      }
      load = scriptLoad.get();
    }
    return load;
  }

  private static boolean isNoScript(Throwable e) {
    Throwable t = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    return t instanceof RedisNoScriptException
        || (t.getMessage() != null && t.getMessage().startsWith("NOSCRIPT"));
  }

  /** The reply of viva.lua, decoded straight into a decision (see the script's header for the layout). */
  private Decision decide(Call call, long[] reply) {
    Compiled c = call.compiled;
    Limit[] limits = c.limits;
    int n = limits.length;
    if (reply == null || reply.length != 3 + 6 * n || reply[2] != n) {
      throw new RedisStoreException("unexpected reply from viva.lua: " + Arrays.toString(reply)
          + " (expected " + (3 + 6 * n) + " integers for " + n + " limits)");
    }
    boolean replayed = reply[0] != 0;
    long now = reply[1];
    if (!replayed && timeSource == TimeSource.REDIS) {
      // Redis ran the script after we sent it, so this overestimates Redis time a little: a
      // short-circuit then ends early rather than late.
      offsetMicros = now - call.sentAt;
    }
    Decision d;
    if (n == 1) {
      d = part(limits[0], reply, 3, now);
    } else {
      List<Decision> parts = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        parts.add(part(limits[i], reply, 3 + 6 * i, now));
      }
      d = Decision.combine(parts);
    }
    if (denials != null && !replayed && !d.allowed() && call.cost > 0) {
      denials.put(new DenialKey(c, call.key), new Denial(d, call.cost, now + d.retryAfterMicros()));
    }
    return d;
  }

  private static Decision part(Limit limit, long[] r, int at, long now) {
    return Decision.of(limit, r[at] != 0, r[at + 1], (double) r[at + 2] / (double) r[at + 3], r[at + 4], r[at + 5],
        now);
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

  @Override
  public void reset(Policy policy, String key) {
    checkNotOnLane();
    Compiled c = compiled(policy);
    byte[] k = key.getBytes(StandardCharsets.UTF_8);
    String[] keys = new String[c.tails.length];
    for (int i = 0; i < keys.length; i++) {
      keys[i] = new String(c.key(k, i), StandardCharsets.UTF_8);
    }
    if (denials != null) {
      denials.invalidate(new DenialKey(c, key));
    }
    if (local != null) {
      local.reset(policy, key);
    }
    if (failureMode != null) {
      if (!breaker.tryPass()) {
        return;
      }
      CompletableFuture<Long> del = null;
      try {
        del = commands.del(keys).toCompletableFuture();
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
      commands.del(keys).toCompletableFuture().get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RedisStoreException("interrupted while waiting for Redis", e);
    } catch (ExecutionException e) {
      throw unwrap(e.getCause());
    }
  }

  private static RuntimeException unwrap(Throwable t) {
    if (t instanceof CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    return t instanceof RuntimeException r ? r : new RedisStoreException("Redis call failed", t);
  }

  /**
   * The clock this store decides by: with {@link TimeSource#LOCAL} the configured clock; with
   * {@link TimeSource#REDIS} an estimate of Redis time (the configured clock plus the offset seen in
   * the last reply), which the failure mode and the short-circuit use between round trips.
   */
  @Override
  public Clock clock() {
    return clock;
  }

  /** Whose clock decisions are made by. */
  public TimeSource timeSource() {
    return timeSource;
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

  /** Decisions denied by the local short-circuit without a round trip to Redis. */
  public long shortCircuitCount() {
    return shortCircuits.sum();
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
    return "RedisLimitStore[prefix=" + prefix + ", time=" + timeSource + "]";
  }

  /**
   * Our commands are typed on byte arrays (keys and arguments are encoded here, and the reply is
   * decoded by {@link Reply}), whatever the connection's codec: the connection never re-encodes a
   * dispatched command, so the cast only satisfies the compiler.
   */
  @SuppressWarnings("unchecked")
  private static RedisCommand<Object, Object, ?> raw(RedisCommand<byte[], byte[], ?> command) {
    return (RedisCommand<Object, Object, ?>) (RedisCommand<?, ?, ?>) command;
  }

  @SuppressWarnings("unchecked")
  private static StatefulConnection<Object, Object> anyCodec(StatefulConnection<?, ?> connection) {
    return (StatefulConnection<Object, Object>) connection;
  }

  /** Redis time as estimated here: the local clock plus the offset seen in the latest reply. */
  private final class RedisTimeEstimate implements Clock {
    @Override
    public long micros() {
      return localClock.micros() + offsetMicros;
    }

    @Override
    public String toString() {
      return "RedisTime[" + localClock + "]";
    }
  }

  /**
   * One decision on its way to Redis, and its answer (this future): completed from Lettuce's I/O
   * thread by the command's reply, or by the failure mode on an error or the timer. Retries what
   * Redis asks to retry: NOSCRIPT (once, after loading the script) and TRYAGAIN (a multi-key script
   * on a Cluster slot in the middle of a migration; resent every {@link #TRY_AGAIN_DELAY_MICROS}
   * until the migration ends, at most {@link #TRY_AGAIN_ATTEMPTS} times).
   */
  private final class Call extends CompletableFuture<Decision> implements Runnable {
    private static final VarHandle SETTLED;

    static {
      try {
        SETTLED = MethodHandles.lookup().findVarHandle(Call.class, "settled", int.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    final Compiled compiled;
    final String key;
    final long cost;
    final String idempotencyKey;
    final EvalArgs args;
    final long sentAt;
    volatile EvalCommand current;
    private boolean reloaded;
    private int attempts;
    /** Answered by the failure mode: send nothing more. */
    private volatile boolean abandoned;
    private volatile int settled;
    private volatile ScheduledFuture<?> timer;

    Call(Compiled c, String key, long cost, String idempotencyKey) {
      this.compiled = c;
      this.key = key;
      this.cost = cost;
      this.idempotencyKey = idempotencyKey;
      this.sentAt = localClock.micros();
      this.args = new EvalArgs(c, key, timeSource == TimeSource.LOCAL ? sentAt : -1, cost, idempotencyKey);
      this.current = new EvalCommand(this);
    }

    /** With a failure mode, the decision timeout starts once the command is handed to the connection. */
    void startTimer() {
      if (failureMode != null && !isDone()) {
        timer = TIMER.schedule(this, timeoutNanos, TimeUnit.NANOSECONDS);
        if (isDone()) {
          timer.cancel(false);
        }
      }
    }

    /** The timeout. */
    @Override
    public void run() {
      failed(new TimeoutException("no reply from Redis within " + Duration.ofNanos(timeoutNanos).toMillis() + " ms"));
    }

    /** The reply to the command in flight, or its failure. */
    void replied(long[] reply, Throwable error) {
      if (error == null) {
        Decision d;
        try {
          d = decide(this, reply);
        } catch (RuntimeException e) {
          failed(e);
          return;
        }
        succeeded(d);
        return;
      }
      Throwable e = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
      if (isNoScript(e) && !reloaded) {
        reloaded = true;
        scriptLoaded().whenComplete((sha, loadError) -> {
          if (loadError != null) {
            failed(loadError);
          } else {
            resend();
          }
        });
        return;
      }
      if (e.getMessage() != null && e.getMessage().startsWith("TRYAGAIN") && attempts < TRY_AGAIN_ATTEMPTS
          && !abandoned && !isDone()) {
        attempts++;
        TIMER.schedule(this::resend, TRY_AGAIN_DELAY_MICROS, TimeUnit.MICROSECONDS);
        return;
      }
      failed(e);
    }

    private void resend() {
      if (abandoned || isDone()) {
        return;
      }
      EvalCommand retry = new EvalCommand(this);
      current = retry;
      write(retry);
    }

    private boolean settle() {
      if (!SETTLED.compareAndSet(this, 0, 1)) {
        return false;
      }
      ScheduledFuture<?> t = timer;
      if (t != null) {
        t.cancel(false);
      }
      return true;
    }

    private void succeeded(Decision d) {
      if (!settle()) {
        return;
      }
      if (failureMode != null) {
        breaker.success();
      }
      complete(d);
    }

    private void failed(Throwable e) {
      if (!settle()) {
        return;
      }
      if (failureMode == null) {
        completeExceptionally(e);
        return;
      }
      // Do not let a command buffered during a disconnect charge Redis after we answered.
      abandoned = true;
      current.cancel(false);
      failures.increment();
      breaker.failure();
      Decision d;
      try {
        d = fallback(compiled.policy, key, cost, idempotencyKey);
      } catch (RuntimeException fallbackError) {
        completeExceptionally(fallbackError);
        return;
      }
      complete(d);
    }
  }

  /** An EVALSHA of viva.lua that tells its {@link Call} how it ended. */
  private static final class EvalCommand extends AsyncCommand<byte[], byte[], long[]> implements Runnable {
    private final Call call;
    /** The connection it was written on; null on a Cluster. */
    Lane lane;
    private boolean notified;

    EvalCommand(Call call) {
      super(new Command<>(CommandType.EVALSHA, new Reply(), call.args));
      this.call = call;
    }

    /** Redis answered (a reply or an error reply): Lettuce completes this future here. */
    @Override
    protected void completeResult() {
      super.completeResult();
      if (lane != null) {
        lane.replying(this);
      } else {
        notifyCall();
      }
    }

    /** The connection failed or closed (errors from Redis come through {@link #completeResult()}). */
    @Override
    public boolean completeExceptionally(Throwable error) {
      boolean done = super.completeExceptionally(error);
      notifyCall();
      return done;
    }

    /** Tells the call, as {@link Lane#replying} runs it. */
    @Override
    public void run() {
      notifyCall();
    }

    private void notifyCall() {
      synchronized (this) {
        if (notified || !isDone() || isCancelled()) {
          return;
        }
        notified = true;
      }
      if (isCompletedExceptionally()) {
        call.replied(null, exceptionNow());
      } else {
        call.replied(resultNow(), null);
      }
    }
  }

  /**
   * The arguments of one EVALSHA, written straight into Lettuce's buffer in RESP: the constant
   * parts come pre-encoded from the {@link Compiled} policy, the keys are written without building
   * them, and integers without Strings. Replaces Lettuce's per-argument objects.
   */
  private static final class EvalArgs extends CommandArgs<byte[], byte[]> {
    private final Compiled compiled;
    private final String key;
    private final int keyLength;
    private final long now;
    private final long cost;
    private final String idempotencyKey;

    /** {@code now} < 0: Redis TIME (an empty argument). */
    EvalArgs(Compiled compiled, String key, long now, long cost, String idempotencyKey) {
      super(ByteArrayCodec.INSTANCE);
      this.compiled = compiled;
      this.key = key;
      this.keyLength = ByteBufUtil.utf8Bytes(key);
      this.now = now;
      this.cost = cost;
      this.idempotencyKey = idempotencyKey;
    }

    @Override
    public int count() {
      return compiled.argCount;
    }

    @Override
    public void encode(ByteBuf buf) {
      Compiled c = compiled;
      buf.writeBytes(c.encodedHead);
      for (byte[] tail : c.tails) {
        buf.writeByte('$');
        writeLong(buf, c.head.length + keyLength + tail.length);
        buf.writeShort(CRLF);
        buf.writeBytes(c.head);
        ByteBufUtil.writeUtf8(buf, key);
        buf.writeBytes(tail);
        buf.writeShort(CRLF);
      }
      if (now < 0) {
        buf.writeBytes(EMPTY_BULK);
      } else {
        writeBulk(buf, now);
      }
      writeBulk(buf, cost);
      buf.writeBytes(c.encodedMiddle);
      if (idempotencyKey == null) {
        buf.writeBytes(EMPTY_BULK);
      } else {
        buf.writeByte('$');
        writeLong(buf, ByteBufUtil.utf8Bytes(idempotencyKey));
        buf.writeShort(CRLF);
        ByteBufUtil.writeUtf8(buf, idempotencyKey);
        buf.writeShort(CRLF);
      }
      buf.writeBytes(c.encodedParams);
    }

    /** The first key, by which a Cluster connection routes the command to its slot's master. */
    @Override
    public ByteBuffer getFirstEncodedKey() {
      return ByteBuffer.wrap(compiled.key(key.getBytes(StandardCharsets.UTF_8), 0));
    }

    @Override
    public String toCommandString() {
      return SHA + " " + compiled.tails.length + " " + new String(compiled.head, StandardCharsets.UTF_8) + key
          + "... (" + compiled.argCount + " arguments)";
    }

    @Override
    public String toString() {
      return "EvalArgs[" + toCommandString() + "]";
    }

    private static final short CRLF = ('\r' << 8) | '\n';
    private static final byte[] EMPTY_BULK = "$0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private static void writeBulk(ByteBuf buf, long value) {
      buf.writeByte('$');
      writeLong(buf, digits(value));
      buf.writeShort(CRLF);
      writeLong(buf, value);
      buf.writeShort(CRLF);
    }

    /** The decimal digits of {@code value} >= 0. */
    static int digits(long value) {
      int d = 1;
      while (value >= 10) {
        value /= 10;
        d++;
      }
      return d;
    }

    /** Writes {@code value} >= 0 in decimal ASCII, without a String. */
    static void writeLong(ByteBuf buf, long value) {
      int d = digits(value);
      int at = buf.writerIndex();
      buf.ensureWritable(d);
      for (int i = d - 1; i >= 0; i--) {
        buf.setByte(at + i, (int) ('0' + value % 10));
        value /= 10;
      }
      buf.writerIndex(at + d);
    }
  }

  /** The script's reply, a flat array of integers, read without boxing. */
  private static final class Reply extends CommandOutput<byte[], byte[], long[]> {
    private int size;

    Reply() {
      super(ByteArrayCodec.INSTANCE, null);
    }

    @Override
    public void multi(int count) {
      if (output == null && count >= 0) {
        output = new long[count];
      }
    }

    @Override
    public void set(long value) {
      if (output == null) {
        output = new long[8];
      } else if (size == output.length) {
        output = Arrays.copyOf(output, size * 2 + 1);
      }
      output[size++] = value;
    }

    @Override
    public void set(ByteBuffer bytes) {
      if (error == null) {
        error = "unexpected reply from viva.lua: a string or nil where integers were expected";
      }
    }

    @Override
    public long[] get() {
      return output != null && size != output.length ? Arrays.copyOf(output, size) : output;
    }
  }

  /** The identity of a (compiled policy, key) pair, for the short-circuit cache. */
  private record DenialKey(Compiled compiled, String key) {}

  /** Redis denied {@code cost} (or more) until {@code until}, the time of the decision plus its retry-after. */
  private record Denial(Decision decision, long cost, long until) {

    /**
     * The denial as of {@code now}: the same numbers, the retry-after counted down. A limit whose own
     * retry-after has passed is shown as admitting (the binding one has not: now is before until).
     */
    Decision at(long now) {
      List<Decision> parts = decision.perLimit();
      List<Decision> out = new ArrayList<>(parts.size());
      for (Decision p : parts) {
        long due = p.allowed() ? now : p.nowMicros() + p.retryAfterMicros();
        out.add(Decision.of(p.source(), due <= now, p.remaining(), p.available(), p.resetAtMicros(),
            Math.max(0, due - now), now));
      }
      return Decision.combine(out);
    }
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

  /**
   * A policy made ready for the wire: its keys' fixed parts and the constant arguments of the
   * script, encoded once.
   */
  private static final class Compiled {
    final Policy policy;
    final Limit[] limits;
    /** {@code <prefix>{<len>:<policy>:}: the key goes after it. */
    final byte[] head;
    /** Per limit, then the idempotency hash: what follows the key, from the closing brace. */
    final byte[][] tails;
    /** The number of EVALSHA arguments after the command name. */
    final int argCount;
    /** In RESP: the script's SHA and the number of keys. */
    final byte[] encodedHead;
    /** In RESP: the idempotency TTL and the number of limits (ARGV[3], ARGV[4]). */
    final byte[] encodedMiddle;
    /** In RESP: per limit, the algorithm's code and its five parameters. */
    final byte[] encodedParams;

    Compiled(Policy policy, String prefix, int formatVersion) {
      this.policy = policy;
      List<Limit> list = policy.limits();
      int n = list.size();
      limits = list.toArray(new Limit[0]);
      String name = policy.name();
      head = bytes(prefix + '{' + name.length() + ':' + name + ':');
      String version = "}:v" + formatVersion + ':';
      tails = new byte[n + 1][];
      argCount = 2 + (n + 1) + 5 + 6 * n;
      encodedHead = bulks(SHA, Integer.toString(n + 1));
      encodedMiddle = bulks(Long.toString(policy.idempotencyTtlMicros()), Integer.toString(n));
      List<String> params = new ArrayList<>(6 * n);
      Map<String, Integer> seen = new HashMap<>();
      for (int i = 0; i < n; i++) {
        Limit limit = limits[i];
        String id = limit.algorithm().configName() + ':' + limit.limit() + ':' + limit.windowMicros() + ':'
            + limit.burst();
        // Two equal limits in one policy keep separate state, as they do in the engine.
        int k = seen.merge(id, 1, Integer::sum);
        tails[i] = bytes(version + (k == 1 ? id : id + '#' + k));
        params.add(Integer.toString(scriptCode(limit.algorithm())));
        for (long p : limit.algorithmImpl().parameters()) {
          params.add(Long.toString(p));
        }
      }
      tails[n] = bytes(version + "idem");
      encodedParams = bulks(params.toArray(new String[0]));
    }

    /** {@code values} as RESP bulk strings, one after the other. */
    private static byte[] bulks(String... values) {
      StringBuilder sb = new StringBuilder();
      for (String v : values) {
        sb.append('$').append(bytes(v).length).append("\r\n").append(v).append("\r\n");
      }
      return bytes(sb.toString());
    }

    /** Key {@code i} (limits, then the idempotency hash) for the UTF-8 key {@code k}. */
    byte[] key(byte[] k, int i) {
      byte[] tail = tails[i];
      byte[] out = new byte[head.length + k.length + tail.length];
      System.arraycopy(head, 0, out, 0, head.length);
      System.arraycopy(k, 0, out, head.length, k.length);
      System.arraycopy(tail, 0, out, head.length + k.length, tail.length);
      return out;
    }

    private static byte[] bytes(String s) {
      return s.getBytes(StandardCharsets.UTF_8);
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

  private static ScheduledThreadPoolExecutor timer() {
    ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "viva-redis-timer");
      t.setDaemon(true);
      return t;
    });
    // Most decisions answer in time: drop their cancelled timeouts from the queue at once.
    timer.setRemoveOnCancelPolicy(true);
    return timer;
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
    private final StatefulConnection<?, ?> connection;
    private final RedisClusterAsyncCommands<String, String> commands;
    private final AutoCloseable owned;
    private String prefix = DEFAULT_PREFIX;
    private int formatVersion = FORMAT_VERSION;
    private TimeSource timeSource = TimeSource.REDIS;
    private Clock clock = Clock.system();
    private List<? extends StatefulConnection<?, ?>> lanes;
    private FailureMode failureMode;
    private Duration decisionTimeout = DEFAULT_DECISION_TIMEOUT;
    private int failureThreshold = DEFAULT_FAILURE_THRESHOLD;
    private Duration coolDown = DEFAULT_COOL_DOWN;
    private long shortCircuitKeys;

    /** Standalone ({@code RedisAsyncCommands}) and Cluster commands share this interface. */
    private Builder(StatefulConnection<?, ?> connection, RedisClusterAsyncCommands<String, String> commands,
        AutoCloseable owned) {
      this.connection = connection;
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

    /**
     * How long an open breaker skips Redis before one probe; default 250 ms (a probe to a dead
     * Redis costs one decision timeout, so probing often is cheap and recovery quick).
     */
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

    /**
     * The stored-state format to write and read, part of every key; default (and, in this
     * version, the only one) {@value #FORMAT_VERSION}. A later version that changes the format
     * can be pinned to the old one until every instance runs it.
     */
    public Builder formatVersion(int version) {
      if (version != FORMAT_VERSION) {
        throw new IllegalArgumentException("formatVersion: " + version + " (expected: " + FORMAT_VERSION
            + ", the only stored-state format this version knows)");
      }
      this.formatVersion = version;
      return this;
    }

    /** Whose clock decides: {@link TimeSource#REDIS} (default) or {@link TimeSource#LOCAL} ({@link #clock}). */
    public Builder timeSource(TimeSource source) {
      this.timeSource = Objects.requireNonNull(source, "source");
      return this;
    }

    /**
     * The local clock; default {@link Clock#system()}. With {@link TimeSource#LOCAL} it decides
     * (clients of one Redis should then agree on it); with {@link TimeSource#REDIS} it only tells
     * time between replies, for the failure mode and the short-circuit.
     */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Turns the local short-circuit on, remembering denials for at most {@code keys} keys (least
     * recently used first out); default 0, off.
     */
    public Builder shortCircuitKeys(long keys) {
      if (keys < 0) {
        throw new IllegalArgumentException("shortCircuitKeys: " + keys + " (expected: >= 0; 0 turns it off)");
      }
      this.shortCircuitKeys = keys;
      return this;
    }

    /** Builds the store. */
    public RedisLimitStore build() {
      return new RedisLimitStore(this);
    }
  }
}
