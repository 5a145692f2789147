package io.viva.server;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.micrometer.core.instrument.Counter;
import io.viva.core.Clock;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import io.viva.platform.Actor;
import io.viva.platform.AdminToken;
import io.viva.platform.ApiKey;
import io.viva.platform.Billing;
import io.viva.platform.BillingCloser;
import io.viva.platform.Pricing;
import io.viva.platform.RabbitUsagePipeline;
import io.viva.platform.RabbitUsageWorker;
import io.viva.platform.UsageMeter;
import io.viva.platform.UsageOutcome;
import io.viva.platform.UsagePipeline;
import io.viva.platform.UsageShipper;
import io.viva.platform.UsageStore;
import io.viva.platform.WebhookDispatcher;
import io.viva.platform.WebhookStore;
import io.viva.platform.KeyFormat;
import io.viva.platform.KeyVerifier;
import io.viva.platform.PlatformDatabase;
import io.viva.platform.PlatformStore;
import io.viva.platform.Role;
import io.viva.platform.SecretHasher;
import io.viva.platform.StorageUnavailableException;
import io.viva.platform.Tier;
import io.viva.platform.Verification;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Full mode's running parts inside the server: the database, the key repository, the verifier
 * (cache, change log, last-used batching), the tiers in force, admin authentication and the
 * blocking pool on which every database call of the admin API runs (never on an event loop).
 */
final class FullMode implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(FullMode.class);

  /** Who is calling the admin API. */
  record Principal(String actor, Role role) {}

  final PlatformConfig config;
  /** Proxies whose X-Forwarded-For names an anonymous client (the anonymous tier's identifier). */
  private final io.viva.server.gateway.TrustedProxies proxies;
  final PlatformDatabase db;
  final PlatformStore store;
  final KeyVerifier verifier;
  final SecretHasher hasher;
  final ExecutorService blocking;
  private final byte[] bootstrapDigest;
  private final Cache<String, Optional<AdminToken>> tokens;
  private final AtomicReference<List<TierFile.TierSpec>> tierSpecs = new AtomicReference<>();
  private final AtomicBoolean databaseUp = new AtomicBoolean(true);
  private final ScheduledExecutorService health;
  private final Map<Verification.Code, Counter> outcomes = new EnumMap<>(Verification.Code.class);
  private final Counter anonymous;
  /** RateLimit-Policy values by policy name; checked by identity, so a reloaded policy gets a fresh value. */
  private final ConcurrentHashMap<String, PolicyHeader> policyHeaders = new ConcurrentHashMap<>();

  private record PolicyHeader(Policy policy, String value) {}

  private final Clock clock;
  /** Usage counting, quotas and billing (issue 7); see docs/full-mode.md#usage. */
  final UsageConfig usageConfig;
  final UsageMeter meter;
  final UsageStore usage;
  final Billing billing;
  private final UsageShipper shipper;
  private final RabbitUsageWorker consumer;
  private final ScheduledExecutorService billingTimer;
  final WebhookStore webhooks;
  final WebhookEvents events;
  private final WebhookDispatcher dispatcher;

  private FullMode(ServerConfig server, LimitStore limitStore, Metrics metrics, Clock clock) {
    this.clock = clock;
    this.config = server.platform();
    this.proxies = io.viva.server.gateway.TrustedProxies.of(config.trustedProxies());
    this.hasher = new SecretHasher(pepper(config));
    this.db = PlatformDatabase.open(config.databaseUrl(), config.dataDir());
    try {
      this.store = new PlatformStore(db.dataSource(), clock);
      this.usageConfig = server.usage();
      this.meter = new UsageMeter(clock, "i" + Long.toString(new SecureRandom().nextLong() >>> 1, 36));
      this.usage = new UsageStore(store, db.isPostgres(), clock);
      this.billing = new Billing(store, usage, clock);
      this.verifier = KeyVerifier.builder(store, hasher, limitStore).clock(clock)
          .overrideParser(TierFile::keyLimits)
          // Without counting (USAGE_COUNTING=off) only a quota of 0 can be known to be used up.
          .quota(usageConfig.counting() ? meter : (key, quota) -> quota > 0)
          .cacheSize(config.keyCacheSize())
          .pollInterval(config.changePoll())
          .lastUsedFlush(config.lastUsedFlush())
          .build();
    } catch (RuntimeException e) {
      db.close();
      throw e;
    }
    List<TierFile.TierSpec> tiers = server.tiers() != null ? server.tiers() : TierFile.defaults();
    applyTiers(tiers);
    this.bootstrapDigest = server.adminToken() == null ? null : sha256(server.adminToken());
    // Token revocations reach every instance through the change log (within change_poll_interval);
    // the expiry only bounds how long a lookup survives if that feed is down.
    this.tokens = Caffeine.newBuilder().maximumSize(10_000).expireAfterWrite(Duration.ofSeconds(30)).build();
    verifier.onTokenChange(tokens::invalidateAll);
    this.blocking = Executors.newFixedThreadPool(4, Thread.ofPlatform().name("viva-admin-", 1).daemon().factory());
    UsagePipeline pipeline = usageConfig.rabbitUrl() == null ? UsagePipeline.inProcess(usage)
        : new RabbitUsagePipeline(usageConfig.rabbitUrl(), usageConfig.queue(), "viva-usage-" + meter.source());
    try {
      this.shipper = usageConfig.counting() ? new UsageShipper(meter, pipeline, usage, new UsageShipper.Settings(
          usageConfig.flushInterval(), usageConfig.flushEvents(), usageConfig.quotaRefresh(),
          usageConfig.spool(config.dataDir()), usageConfig.spoolMaxBatches())) : null;
    } catch (IOException e) {
      verifier.close();
      db.close();
      throw new UncheckedIOException("usage spool " + usageConfig.spool(config.dataDir()) + ": cannot open", e);
    }
    boolean appliesUsage = usageConfig.rabbitUrl() == null || usageConfig.consumer();
    this.consumer = usageConfig.rabbitUrl() != null && usageConfig.consumer()
        ? new RabbitUsageWorker(usageConfig.rabbitUrl(), usageConfig.queue(), usage) : null;
    this.webhooks = new WebhookStore(store, clock);
    this.events = new WebhookEvents(webhooks, blocking, clock, usageConfig.webhookDebounce());
    meter.onQuota(events::quota);
    this.dispatcher = new WebhookDispatcher(webhooks, clock, usageConfig.webhookRetryInitial(),
        usageConfig.webhookRetryMax(), usageConfig.webhookRetryFor(), Duration.ofMillis(500));
    this.billingTimer = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().name("viva-billing").daemon().factory());
    if (appliesUsage) {
      billingTimer.scheduleWithFixedDelay(new BillingCloser(billing, clock, usageConfig.billingCloseDelay(),
          this::pricing, events::invoice), 1, 60, TimeUnit.SECONDS);
    }
    this.health = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().name("viva-db-health").daemon().factory());
    health.scheduleWithFixedDelay(this::checkHealth, 2, 2, TimeUnit.SECONDS);
    var registry = metrics.registry();
    for (Verification.Code c : Verification.Code.values()) {
      outcomes.put(c, Counter.builder("viva_key_verifications").description("API key verifications by outcome")
          .tag("outcome", c.name().toLowerCase(java.util.Locale.ROOT)).register(registry));
    }
    anonymous = Counter.builder("viva_key_verifications_anonymous")
        .description("Checks without an API key, rate limited under the anonymous tier").register(registry);
    Metrics.counter(registry, "viva_key_cache_hits", "Key verifications answered from the cache", verifier,
        KeyVerifier::cacheHits);
    Metrics.counter(registry, "viva_key_cache_misses", "Key verifications that looked the key up in the database",
        verifier, KeyVerifier::cacheMisses);
    Metrics.counter(registry, "viva_key_cache_invalidations",
        "Cached keys dropped because they changed (here or on another instance)", verifier, KeyVerifier::invalidations);
    Metrics.gauge(registry, "viva_key_cache_size", "Key lookups cached (known and unknown keys)", verifier,
        KeyVerifier::cacheSize);
    Metrics.gauge(registry, "viva_database_up", "1 while the key database answers (checked every 2 s)", databaseUp,
        b -> b.get() ? 1 : 0);
    if (shipper != null) {
      Metrics.counter(registry, "viva_usage_batches_flushed", "Usage batches handed to the pipeline", shipper,
          UsageShipper::flushed);
      Metrics.counter(registry, "viva_usage_batches_spooled",
          "Usage batches written to the disk spool while the pipeline was down", shipper, UsageShipper::spooled);
      Metrics.counter(registry, "viva_usage_batches_replayed", "Spooled usage batches handed to the pipeline later",
          shipper, UsageShipper::replayed);
      Metrics.counter(registry, "viva_usage_events_shipped", "Counted requests shipped (published or spooled)",
          shipper, UsageShipper::events);
      Metrics.gauge(registry, "viva_usage_spool_batches", "Usage batches waiting in the disk spool", shipper,
          UsageShipper::spoolSize);
      Metrics.gauge(registry, "viva_usage_pipeline_up", "1 while the usage pipeline takes batches", shipper,
          s -> s.healthy() ? 1 : 0);
      Metrics.gauge(registry, "viva_usage_pending_events", "Counted requests not yet flushed", meter,
          UsageMeter::pending);
    }
    if (consumer != null) {
      Metrics.counter(registry, "viva_usage_batches_applied", "Usage batches written to the database by this consumer",
          consumer, RabbitUsageWorker::applied);
      Metrics.counter(registry, "viva_usage_batches_duplicate", "Redelivered usage batches skipped (already applied)",
          consumer, RabbitUsageWorker::duplicates);
    }
    Metrics.counter(registry, "viva_webhook_deliveries", "Webhook deliveries by result", dispatcher,
        WebhookDispatcher::delivered, "result", "delivered");
    Metrics.counter(registry, "viva_webhook_deliveries", "Webhook deliveries by result", dispatcher,
        WebhookDispatcher::failedAttempts, "result", "failed_attempt");
    Metrics.counter(registry, "viva_webhook_deliveries", "Webhook deliveries by result", dispatcher,
        WebhookDispatcher::givenUp, "result", "given_up");
    LOG.info("usage: counting {}, pipeline {}, flush every {} or {} requests{}", usageConfig.counting() ? "on" : "off",
        pipeline.description(), DurationParser.format(usageConfig.flushInterval()), usageConfig.flushEvents(),
        consumer != null ? ", consuming here" : "");
    LOG.info("full mode: database {}, {} tiers ({}), key cache {} entries, change poll {}", db.description(),
        tiers.size(), server.tiers() != null ? "from file" : "built-in", config.keyCacheSize(),
        DurationParser.format(config.changePoll()));
  }

  static FullMode start(ServerConfig server, LimitStore limitStore, Metrics metrics, Clock clock) {
    return new FullMode(server, limitStore, metrics, clock);
  }

  /** The clock of expiry and rotation grace. */
  Clock clock() {
    return clock;
  }

  /**
   * Who an anonymous verified check is, over HTTP and gRPC alike: the peer's address, or the client
   * a trusted proxy names in {@code forwardedFor} (an X-Forwarded-For value, or null).
   */
  String anonymousClient(io.vertx.core.net.SocketAddress peer, String forwardedFor) {
    return proxies.clientIp(peer == null ? null : peer.hostAddress(), forwardedFor);
  }

  /**
   * The verified check of one request, shared by {@code POST /api/v1/rate-limit/check} and gRPC
   * {@code viva.v1.KeyService/VerifyKey}, so both count and refuse alike: verifies {@code secret}
   * (null: no key, rate limited under the anonymous tier by {@code client}, the caller's address)
   * for {@code cost} permits, and counts the outcome ({@link #count}) once it is known.
   *
   * <p>Completes with the verification, or exceptionally with an {@link ApiError}: 400 for a cost
   * above the capacity of the policy that applies (known only once the key is), 503 {@code
   * database_unavailable} when the key is not cached here and the database cannot answer. A cached
   * key completes at once, without an extra stage.
   */
  CompletableFuture<Verification> verify(String secret, String client, long cost) {
    CompletableFuture<Verification> f;
    try {
      f = secret == null ? verifier.verifyAnonymous(client == null ? "unknown" : client, cost)
          : verifier.verify(secret.trim(), cost);
    } catch (IllegalArgumentException e) {
      throw badCost(e);
    }
    if (f.isDone() && !f.isCompletedExceptionally()) {
      count(f.join(), secret == null);
      return f;
    }
    return f.handle((v, error) -> {
      if (error == null) {
        count(v, secret == null);
        return v;
      }
      Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
      if (cause instanceof IllegalArgumentException e) {
        throw badCost(e);
      }
      databaseFailed();
      throw new ApiError(503, "database_unavailable", "the key is not cached and the key database is unreachable"
          + " (retry later)", "Retry-After", "5", false);
    });
  }

  /**
   * The engine's refusal of a cost above the capacity of the key's policy ({@code Policy.checkCost}:
   * the message names the cost, the capacity and the policy, a key id at most): a bad request, as
   * on {@code /v1/check}, not a failure of the server.
   */
  private static ApiError badCost(IllegalArgumentException e) {
    return ApiError.invalid(e.getMessage());
  }

  /**
   * The {@code RateLimit-Policy} value of {@code policy} (cached), as the verified check over HTTP,
   * over gRPC and in the gateway ({@link PlatformKeys}) report it.
   */
  String policyHeader(Policy policy) {
    PolicyHeader h = policyHeaders.get(policy.name());
    if (h == null || h.policy() != policy) {
      if (policyHeaders.size() > 100_000) {
        policyHeaders.clear(); // per-key policies of keys long gone; rebuilt on demand
      }
      h = new PolicyHeader(policy, PolicyRegistry.policyHeader(policy));
      policyHeaders.put(policy.name(), h);
    }
    return h.value();
  }

  /** Counts one verification (metrics, and usage per key). */
  void count(Verification v, boolean anonymousCheck) {
    outcomes.get(v.code()).increment();
    ApiKey key = v.key();
    if (key != null && shipper != null) {
      UsageOutcome o = UsageOutcome.of(v.code());
      if (o != null) {
        meter.record(key.id(), v.tier() != null ? v.tier() : key.tier(), o);
      }
      if (o == UsageOutcome.RATE_LIMITED) {
        events.rateLimited(key, v.tier());
      } else if (o == UsageOutcome.EXPIRED) {
        events.expiredSeen(key);
      }
    }
    if (anonymousCheck) {
      anonymous.increment();
    }
  }

  /** The pricing of tier {@code name} (free when it has none or no longer exists). */
  Pricing pricing(String name) {
    for (TierFile.TierSpec t : tierSpecs.get()) {
      if (t.name().equals(name)) {
        return t.pricing();
      }
    }
    return Pricing.FREE;
  }

  /** Ships counted usage now (tests, and the admin flush endpoint). */
  void flushUsage() {
    if (shipper != null) {
      shipper.flush();
    }
  }

  /** The tiers as configured. */
  List<TierFile.TierSpec> tierSpecs() {
    return tierSpecs.get();
  }

  /** Whether tier {@code name} exists now. */
  boolean hasTier(String name) {
    return tierSpecs.get().stream().anyMatch(t -> t.name().equals(name));
  }

  /** Applies a new tier list to every key from the next verification; audited. */
  void reloadTiers(List<TierFile.TierSpec> tiers, String source) {
    applyTiers(tiers);
    try {
      store.audit(new Actor(source, null), "tier.reload", null, "success",
          "tiers=" + String.join(",", tiers.stream().map(TierFile.TierSpec::name).toList()));
    } catch (StorageUnavailableException e) {
      LOG.warn("tier reload applied but not audited: {}", e.getMessage());
    }
    LOG.info("tiers reloaded from {}: {}", source, tiers.stream().map(TierFile.TierSpec::name).toList());
  }

  private void applyTiers(List<TierFile.TierSpec> tiers) {
    Map<String, Tier> map = new LinkedHashMap<>();
    for (TierFile.TierSpec t : tiers) {
      map.put(t.name(), t.tier());
    }
    verifier.setTiers(map);
    tierSpecs.set(tiers);
  }

  /**
   * Who presents {@code authorization} (an {@code Authorization} header value), or null if nobody
   * known. Blocking: may look the token up in the database.
   */
  Principal authenticate(String authorization) {
    if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return null;
    }
    String token = authorization.substring(7).trim();
    if (token.isEmpty() || token.length() > 512) {
      return null;
    }
    if (bootstrapDigest != null && MessageDigest.isEqual(bootstrapDigest, sha256(token))) {
      return new Principal("bootstrap", Role.ADMIN);
    }
    if (!KeyFormat.ADMIN_PREFIX.equals(KeyFormat.prefixOf(token))) {
      return null;
    }
    String hash = hasher.hash(token);
    Optional<AdminToken> found = tokens.get(hash, store::findToken);
    return found.map(t -> new Principal("token:" + t.id(), t.role())).orElse(null);
  }

  /** Drops cached admin token lookups (after a revocation on this instance). */
  void forgetTokens() {
    tokens.invalidateAll();
  }

  boolean databaseUp() {
    return databaseUp.get();
  }

  private void checkHealth() {
    boolean up = db.healthy();
    if (databaseUp.getAndSet(up) != up) {
      if (up) {
        LOG.info("key database {} reachable again", db.description());
      } else {
        LOG.warn("key database {} unreachable: verifying from the cache, admin writes answer 503", db.description());
      }
    }
  }

  /** Marks the database down at once (a failed call), ahead of the next health check. */
  void databaseFailed() {
    if (databaseUp.getAndSet(false)) {
      LOG.warn("key database {} unreachable: verifying from the cache, admin writes answer 503", db.description());
    }
  }

  @Override
  public void close() {
    health.shutdownNow();
    billingTimer.shutdownNow();
    dispatcher.close();
    blocking.shutdown();
    try {
      blocking.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    verifier.close();
    if (shipper != null) {
      shipper.close();
    }
    if (consumer != null) {
      consumer.close();
    }
    db.close();
  }

  /**
   * The pepper: configured, or (embedded H2 only) generated once into {@code <data_dir>/key-pepper}
   * readable by the owner only. With a shared database every instance must use the same pepper, so
   * it must be configured.
   */
  private static byte[] pepper(PlatformConfig config) {
    if (config.keyPepper() != null) {
      return config.keyPepper().getBytes(StandardCharsets.UTF_8);
    }
    if (config.databaseUrl() != null) {
      throw new IllegalStateException("API_KEY_PEPPER: not set (expected: a secret of at least "
          + SecretHasher.MIN_PEPPER_BYTES + " bytes, the same on every instance, when DATABASE_URL is set;"
          + " e.g. openssl rand -hex 32)");
    }
    Path file = config.dataDir().resolve("key-pepper");
    try {
      Files.createDirectories(config.dataDir());
      if (!Files.exists(file)) {
        byte[] random = new byte[32];
        new SecureRandom().nextBytes(random);
        Path tmp = Files.createTempFile(config.dataDir(), "key-pepper", ".tmp");
        try {
          Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
          // not a POSIX file system: the directory's permissions protect it
        }
        Files.writeString(tmp, HexFormat.of().formatHex(random));
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        LOG.info("generated the API key pepper in {} (keep it with the database; keys do not verify without it)",
            file);
      }
      return Files.readString(file).trim().getBytes(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("data dir " + config.dataDir() + ": cannot read or create key-pepper", e);
    }
  }

  static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
