package io.viva.platform;

import com.github.benmanes.caffeine.cache.AsyncLoadingCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import io.viva.core.Clock;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import io.viva.core.RateLimiter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Verifies API keys on the hot path without touching the database.
 *
 * <p>Order of the checks, fixed: the key exists (well-formed, then known) → it is enabled and not
 * revoked → it is not expired (time from the injected {@link Clock}) → it is within its monthly
 * quota ({@link QuotaGuard}) → it is within its rate limits (the tier's policy, or the key's own
 * overrides, in the shared {@link LimitStore}, with the key id as identifier). The first failing
 * step decides the {@link Verification.Code}.
 *
 * <p><b>Cache.</b> Keys are cached by the hash of their secret (Caffeine, bounded; unknown hashes
 * too, for {@link #NEGATIVE_TTL}). A miss loads from the database on a small bounded pool, never on
 * the caller's thread; a hit is answered from memory. Every change of a key appends to the
 * database's change log in its own transaction; each instance polls that log every {@code
 * pollInterval} and drops what changed, so a revocation made anywhere stops verifying everywhere
 * within one poll interval plus one query (about 1 s by default), and at once on the instance that
 * made it.
 *
 * <p><b>Last used.</b> A valid verification marks the key; a background task writes every marked
 * key's time in one batch every {@code lastUsedFlush} (never a write per request). While the
 * database is down the marks wait for the next successful flush.
 */
public final class KeyVerifier implements AutoCloseable {

  /** How long "no such key" is remembered. */
  static final Duration NEGATIVE_TTL = Duration.ofSeconds(60);
  /** How long a hole in the change log's sequence is waited for before it is taken as a rolled back insert. */
  static final Duration GAP_TIMEOUT = Duration.ofSeconds(10);
  /** The name of the tier used for requests without a key. */
  public static final String ANONYMOUS_TIER = "anonymous";

  private static final Logger LOG = LoggerFactory.getLogger(KeyVerifier.class);
  private static final Entry MISSING = new Entry(null, false, null);
  /** A lookup the database could not answer: never served, dropped by whoever sees it first. */
  private static final Entry FAILED = new Entry(null, false, null);

  private final PlatformStore store;
  private final SecretHasher hasher;
  private final Clock clock;
  private final LimitStore limitStore;
  private final Function<String, List<Limit>> overrideParser;
  private final QuotaGuard quota;
  private final ThreadPoolExecutor loader;
  private final ScheduledExecutorService scheduler;
  private final AsyncLoadingCache<String, Entry> cache;
  private final AtomicReference<Map<String, TierBinding>> tiers = new AtomicReference<>(Map.of());
  private volatile Runnable tokenListener = () -> {};
  private final ConcurrentLinkedQueue<Entry> dirty = new ConcurrentLinkedQueue<>();
  private final AtomicLong hits = new AtomicLong();
  private final AtomicLong misses = new AtomicLong();
  private final AtomicLong invalidations = new AtomicLong();
  /**
   * Key id to the lookups cached for it (by hash: its current and previous secret), so that a
   * change drops exactly those, whatever the cache size. May hold a few entries no longer cached
   * (harmless); an evicted entry is removed only if still the one indexed, so a concurrent reload
   * is never unindexed.
   */
  private final ConcurrentHashMap<String, ConcurrentHashMap<String, Entry>> byKey = new ConcurrentHashMap<>();
  /** Bumped by every invalidation; a load that overlaps one reads again (see {@link #load}). */
  private final AtomicLong epoch = new AtomicLong();
  private final AtomicBoolean feedHealthy = new AtomicBoolean(true);
  private final AtomicBoolean closed = new AtomicBoolean();
  private final Map<Long, Long> gaps = new HashMap<>();
  private final Set<Long> seenAbove = new HashSet<>();
  private long safeSeq;

  /** A cached lookup: the key (null when unknown), whether the secret was the previous one, its override limiter. */
  private static final class Entry {
    final ApiKey key;
    final boolean previous;
    final RateLimiter overrides;
    volatile long lastUsedMicros;
    final AtomicBoolean marked = new AtomicBoolean();

    Entry(ApiKey key, boolean previous, RateLimiter overrides) {
      this.key = key;
      this.previous = previous;
      this.overrides = overrides;
    }
  }

  private record TierBinding(Tier tier, RateLimiter limiter) {}

  private KeyVerifier(Builder b) {
    this.store = b.store;
    this.hasher = b.hasher;
    this.clock = b.clock;
    this.limitStore = b.limitStore;
    this.overrideParser = b.overrideParser;
    this.quota = b.quota;
    this.loader = new ThreadPoolExecutor(b.loadThreads, b.loadThreads, 30, TimeUnit.SECONDS,
        new ArrayBlockingQueue<>(b.loadQueue), daemon("viva-key-loader"), new ThreadPoolExecutor.AbortPolicy());
    this.cache = Caffeine.newBuilder()
        .maximumSize(b.cacheSize)
        .executor(Runnable::run)
        .removalListener((String hash, Entry e, com.github.benmanes.caffeine.cache.RemovalCause cause) -> {
          if (hash != null && e != null && e.key != null) {
            byKey.computeIfPresent(e.key.id(), (id, m) -> {
              m.remove(hash, e);
              return m.isEmpty() ? null : m;
            });
          }
        })
        .expireAfter(new Expiry<String, Entry>() {
          @Override
          public long expireAfterCreate(String k, Entry e, long now) {
            return e.key == null ? NEGATIVE_TTL.toNanos() : Long.MAX_VALUE;
          }

          @Override
          public long expireAfterUpdate(String k, Entry e, long now, long current) {
            return expireAfterCreate(k, e, now);
          }

          @Override
          public long expireAfterRead(String k, Entry e, long now, long current) {
            return current;
          }
        })
        .buildAsync((hash, executor) -> CompletableFuture.supplyAsync(() -> load(hash), loader));
    this.scheduler = Executors.newSingleThreadScheduledExecutor(daemon("viva-key-changes"));
    this.safeSeq = store.lastChange();
    long poll = b.pollInterval.toMillis();
    scheduler.scheduleWithFixedDelay(this::pollSafely, poll, poll, TimeUnit.MILLISECONDS);
    long flush = b.lastUsedFlush.toMillis();
    scheduler.scheduleWithFixedDelay(this::flushSafely, flush, flush, TimeUnit.MILLISECONDS);
    scheduler.scheduleWithFixedDelay(this::pruneSafely, 1, 60, TimeUnit.MINUTES);
  }

  /** A builder over the repository, the hasher and the rate limit store. */
  public static Builder builder(PlatformStore store, SecretHasher hasher, LimitStore limitStore) {
    return new Builder(store, hasher, limitStore);
  }

  /** Replaces the tiers; applies to every key on them from the next verification. */
  public void setTiers(Map<String, Tier> next) {
    Map<String, TierBinding> bound = new HashMap<>();
    for (Tier t : next.values()) {
      bound.put(t.name(), new TierBinding(t, RateLimiter.builder(t.policy()).store(limitStore).build()));
    }
    tiers.set(Map.copyOf(bound));
  }

  /** The tiers in force. */
  public Map<String, Tier> tiers() {
    Map<String, Tier> out = new HashMap<>();
    tiers.get().forEach((k, v) -> out.put(k, v.tier()));
    return Map.copyOf(out);
  }

  /**
   * Verifies {@code secret} for a request of {@code cost} permits. Completes at once on a cache hit;
   * after one database lookup on a miss (on the loader pool). Completes exceptionally with {@link
   * StorageUnavailableException} only when the key is not cached and the database cannot answer.
   */
  public CompletableFuture<Verification> verify(String secret, long cost) {
    String prefix = KeyFormat.prefixOf(secret);
    if (prefix == null || prefix.equals(KeyFormat.ADMIN_PREFIX)) {
      return CompletableFuture.completedFuture(Verification.of(Verification.Code.NOT_FOUND));
    }
    String hash = hasher.hash(secret);
    CompletableFuture<Entry> f = cache.getIfPresent(hash);
    if (f != null && f.isDone() && !f.isCompletedExceptionally() && f.join() != FAILED) {
      hits.incrementAndGet();
      return decide(f.join(), cost);
    }
    misses.incrementAndGet();
    try {
      f = cache.get(hash);
    } catch (RuntimeException e) {
      // The loader pool's queue is full (a flood of unknown keys): shed the lookup instead of queueing without bound.
      return CompletableFuture.failedFuture(new StorageUnavailableException("key lookups: too many pending", e));
    }
    CompletableFuture<Entry> loading = f;
    return f.thenCompose(e -> {
      if (e == FAILED) {
        cache.asMap().remove(hash, loading);
        return CompletableFuture.failedFuture(new StorageUnavailableException("key database unreachable", null));
      }
      return decide(e, cost);
    });
  }

  /** Rate limits a request without a key under the anonymous tier, by {@code identifier} (e.g. the client address). */
  public CompletableFuture<Verification> verifyAnonymous(String identifier, long cost) {
    TierBinding t = tiers.get().get(ANONYMOUS_TIER);
    if (t == null) {
      return CompletableFuture.completedFuture(Verification.of(Verification.Code.NOT_FOUND));
    }
    return t.limiter().tryAcquireAsync("anon:" + identifier, cost, null).toCompletableFuture()
        .thenApply(d -> new Verification(d.allowed() ? Verification.Code.VALID : Verification.Code.RATE_LIMITED,
            null, ANONYMOUS_TIER, t.limiter().policy(), d));
  }

  private CompletableFuture<Verification> decide(Entry e, long cost) {
    ApiKey key = e.key;
    if (key == null) {
      return done(Verification.Code.NOT_FOUND, null);
    }
    long now = clock.micros();
    if (e.previous && (key.previousValidUntil() == null || now >= PlatformStore.micros(key.previousValidUntil()))) {
      return done(Verification.Code.NOT_FOUND, null);
    }
    if (key.revokedAt() != null || !key.enabled()) {
      return done(Verification.Code.DISABLED, key);
    }
    if (key.expiresAt() != null && now >= PlatformStore.micros(key.expiresAt())) {
      return done(Verification.Code.EXPIRED, key);
    }
    Map<String, TierBinding> bound = tiers.get();
    TierBinding tier = bound.get(key.tier());
    if (tier == null) {
      // A tier removed from the configuration while keys are still on it: the anonymous tier's limits
      // apply (the most restrictive by convention) until the keys are moved.
      tier = bound.get(ANONYMOUS_TIER);
      if (tier == null) {
        return done(Verification.Code.DISABLED, key);
      }
    }
    long monthly = key.monthlyQuota() != null ? key.monthlyQuota() : tier.tier().monthlyQuota();
    if (!quota.withinQuota(key, monthly)) {
      return CompletableFuture.completedFuture(new Verification(Verification.Code.USAGE_EXCEEDED, key,
          tier.tier().name(), null, null));
    }
    RateLimiter limiter = e.overrides != null ? e.overrides : tier.limiter();
    String tierName = tier.tier().name();
    CompletableFuture<Decision> d = limiter.tryAcquireAsync(key.id(), cost, null).toCompletableFuture();
    if (d.isDone() && !d.isCompletedExceptionally()) {
      return CompletableFuture.completedFuture(result(e, key, tierName, limiter, d.join(), now));
    }
    return d.thenApply(decision -> result(e, key, tierName, limiter, decision, now));
  }

  private Verification result(Entry e, ApiKey key, String tierName, RateLimiter limiter, Decision d, long now) {
    if (d.allowed()) {
      e.lastUsedMicros = now;
      if (!e.marked.get() && e.marked.compareAndSet(false, true)) {
        dirty.add(e);
      }
    }
    return new Verification(d.allowed() ? Verification.Code.VALID : Verification.Code.RATE_LIMITED, key, tierName,
        limiter.policy(), d);
  }

  private static CompletableFuture<Verification> done(Verification.Code code, ApiKey key) {
    return CompletableFuture.completedFuture(new Verification(code, key, key == null ? null : key.tier(), null, null));
  }

  /**
   * Reads the key of {@code hash}. The result is indexed under its key id before it is returned,
   * and read again if an invalidation ran meanwhile: an invalidation either finds the index entry
   * (and drops the cached lookup) or happened before the last read, which then saw the change.
   */
  private Entry load(String hash) {
    for (int attempt = 0; ; attempt++) {
      long before = epoch.get();
      PlatformStore.Found found;
      try {
        found = store.findByHash(hash).orElse(null);
      } catch (StorageUnavailableException e) {
        // Returned, not thrown: a failed load is the caller's 503, not a stack trace in Caffeine's log.
        return FAILED;
      }
      if (found == null) {
        return MISSING;
      }
      Entry entry = entryOf(found);
      byKey.compute(found.key().id(), (id, m) -> {
        ConcurrentHashMap<String, Entry> map = m != null ? m : new ConcurrentHashMap<>();
        map.put(hash, entry);
        return map;
      });
      if (epoch.get() == before || attempt == 2) {
        return entry;
      }
    }
  }

  private Entry entryOf(PlatformStore.Found found) {
    ApiKey key = found.key();
    RateLimiter overrides = null;
    if (key.limits() != null) {
      try {
        List<Limit> limits = overrideParser.apply(key.limits());
        Policy p = Policy.builder("key:" + key.id()).limits(limits).build();
        overrides = RateLimiter.builder(p).store(limitStore).build();
      } catch (RuntimeException ex) {
        // Validated when stored; a limit the engine no longer accepts falls back to the tier's.
        LOG.warn("key {}: stored limits not usable ({}); the tier's limits apply", key.id(), ex.getMessage());
      }
    }
    return new Entry(key, found.previousSecret(), overrides);
  }

  /**
   * Runs {@code listener} whenever the change log shows an admin token created or revoked (on any
   * instance), so that token caches follow within the same bound as keys.
   */
  public void onTokenChange(Runnable listener) {
    this.tokenListener = Objects.requireNonNull(listener, "listener");
  }

  /** Drops the cached lookups of key {@code id} now, on this instance. */
  public void invalidate(String id) {
    invalidations.incrementAndGet();
    Set<String> ids = Set.of(id);
    dropKeys(ids);
  }

  /**
   * Drops the cached lookups of keys {@code ids}: O(changed keys), whatever the cache size.
   * "No such key" entries need no invalidation: no change gives a key a hash that someone could
   * have presented before (a new secret is fresh randomness).
   */
  private void dropKeys(Set<String> ids) {
    epoch.incrementAndGet();
    for (String id : ids) {
      ConcurrentHashMap<String, Entry> cached = byKey.remove(id);
      if (cached != null) {
        cache.synchronous().invalidateAll(cached.keySet());
      }
    }
  }

  // ---- background -------------------------------------------------------------------------------

  private void pollSafely() {
    try {
      pollChanges();
      if (!feedHealthy.getAndSet(true)) {
        LOG.info("key change log reachable again; caught up to change {}", safeSeq);
      }
    } catch (RuntimeException e) {
      if (feedHealthy.getAndSet(false)) {
        LOG.warn("key change log unreachable ({}); verifying from the cache, catching up when it returns",
            e.getMessage());
      }
    }
  }

  /** Reads the change log once and drops what changed; handles sequence holes left by concurrent or rolled back transactions. */
  synchronized void pollChanges() {
    while (true) {
      List<PlatformStore.Change> changes = store.changesSince(safeSeq, 1000);
      Set<String> keyIds = new HashSet<>();
      boolean tokens = false;
      for (PlatformStore.Change c : changes) {
        if (seenAbove.add(c.seq())) {
          if (c.kind().equals("key")) {
            keyIds.add(c.targetId());
          } else if (c.kind().equals("token")) {
            tokens = true;
          }
        }
      }
      if (tokens) {
        tokenListener.run();
      }
      if (!keyIds.isEmpty()) {
        invalidations.addAndGet(keyIds.size());
        dropKeys(keyIds);
      }
      long nowNanos = System.nanoTime();
      long max = seenAbove.stream().mapToLong(Long::longValue).max().orElse(safeSeq);
      while (safeSeq < max) {
        long next = safeSeq + 1;
        if (seenAbove.remove(next)) {
          gaps.remove(next);
          safeSeq = next;
          continue;
        }
        long first = gaps.computeIfAbsent(next, k -> nowNanos);
        if (nowNanos - first >= GAP_TIMEOUT.toNanos()) {
          gaps.remove(next);
          safeSeq = next;
          continue;
        }
        break;
      }
      if (changes.size() < 1000) {
        return;
      }
    }
  }

  private void flushSafely() {
    try {
      flushLastUsed();
    } catch (RuntimeException e) {
      LOG.debug("last_used_at flush failed: {}", e.getMessage());
    }
  }

  /** Writes every marked key's last use in one batch; on failure the marks stay for the next flush. */
  void flushLastUsed() {
    Map<String, Long> batch = new HashMap<>();
    List<Entry> taken = new ArrayList<>();
    Entry e;
    while ((e = dirty.poll()) != null) {
      e.marked.set(false);
      taken.add(e);
      batch.merge(e.key.id(), e.lastUsedMicros, Math::max);
    }
    try {
      store.touchLastUsed(batch);
    } catch (RuntimeException ex) {
      for (Entry t : taken) {
        if (t.marked.compareAndSet(false, true)) {
          dirty.add(t);
        }
      }
      throw ex;
    }
  }

  private void pruneSafely() {
    try {
      store.pruneChanges(clock.micros() - Duration.ofDays(1).toNanos() / 1000);
    } catch (RuntimeException e) {
      LOG.debug("change log prune failed: {}", e.getMessage());
    }
  }

  // ---- stats ------------------------------------------------------------------------------------

  /** Verifications answered from the cache. */
  public long cacheHits() {
    return hits.get();
  }

  /** Verifications that had to look the key up. */
  public long cacheMisses() {
    return misses.get();
  }

  /** Keys cached now (known and unknown). */
  public long cacheSize() {
    return cache.synchronous().estimatedSize();
  }

  /** Cache invalidations (per changed key). */
  public long invalidations() {
    return invalidations.get();
  }

  /** Whether the last poll of the change log succeeded. */
  public boolean changeFeedHealthy() {
    return feedHealthy.get();
  }

  /** Stops the background tasks after a last flush of {@code last_used_at}. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    scheduler.shutdownNow();
    loader.shutdownNow();
    try {
      // Let a poll or load in flight finish before the caller closes the pool under it.
      scheduler.awaitTermination(2, TimeUnit.SECONDS);
      loader.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    flushSafely();
  }

  private static java.util.concurrent.ThreadFactory daemon(String name) {
    AtomicLong n = new AtomicLong();
    return r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** Settings of a {@link KeyVerifier}. */
  public static final class Builder {
    private final PlatformStore store;
    private final SecretHasher hasher;
    private final LimitStore limitStore;
    private Clock clock = Clock.system();
    private Function<String, List<Limit>> overrideParser = s -> {
      throw new IllegalArgumentException("no parser for per-key limits");
    };
    private QuotaGuard quota = QuotaGuard.UNLIMITED;
    private long cacheSize = 1_000_000;
    private Duration pollInterval = PlatformDatabase.DEFAULT_POLL;
    private Duration lastUsedFlush = Duration.ofSeconds(10);
    private int loadThreads = 4;
    private int loadQueue = 10_000;

    private Builder(PlatformStore store, SecretHasher hasher, LimitStore limitStore) {
      this.store = Objects.requireNonNull(store, "store");
      this.hasher = Objects.requireNonNull(hasher, "hasher");
      this.limitStore = Objects.requireNonNull(limitStore, "limitStore");
    }

    /** The clock for expiry and last use; default the system clock. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Turns a key's stored limits (JSON text) into engine limits. */
    public Builder overrideParser(Function<String, List<Limit>> parser) {
      this.overrideParser = Objects.requireNonNull(parser, "parser");
      return this;
    }

    /** The quota step; default {@link QuotaGuard#UNLIMITED}. */
    public Builder quota(QuotaGuard quota) {
      this.quota = Objects.requireNonNull(quota, "quota");
      return this;
    }

    /** The most cached lookups; default 1,000,000. */
    public Builder cacheSize(long size) {
      if (size < 1) {
        throw new IllegalArgumentException("cacheSize: " + size + " (expected: > 0)");
      }
      this.cacheSize = size;
      return this;
    }

    /** The pause between polls of the change log: the bound on cross-instance invalidation; default 1 s. */
    public Builder pollInterval(Duration d) {
      this.pollInterval = positive(d, "pollInterval");
      return this;
    }

    /** The pause between batched writes of {@code last_used_at}; default 10 s. */
    public Builder lastUsedFlush(Duration d) {
      this.lastUsedFlush = positive(d, "lastUsedFlush");
      return this;
    }

    /** Builds and starts the background tasks. */
    public KeyVerifier build() {
      return new KeyVerifier(this);
    }

    private static Duration positive(Duration d, String what) {
      if (d == null || d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(what + ": " + d + " (expected: a positive duration)");
      }
      return d;
    }
  }
}
