package io.viva.platform;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.core.ManualClock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Usage counting, idempotent batches, quotas and invoices against every database: embedded H2
 * ({@link H2UsageTest}) and the real PostgreSQL ({@link PostgresUsageIT}).
 */
abstract class UsageContract {

  static final Actor ACTOR = PlatformStoreContract.ACTOR;
  static final SecretHasher HASHER = PlatformStoreContract.HASHER;

  ManualClock clock;
  PlatformDatabase db;
  PlatformStore store;
  UsageStore usage;
  Billing billing;

  private final ThrowawayDatabase database;

  UsageContract(ThrowawayDatabase database) {
    this.database = database;
  }

  record Created(ApiKey key, String secret) {}

  Created create(String owner, String tier) {
    String secret = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
    ApiKey key = store.createKey(new PlatformStore.NewKey("k", owner, tier, "live", null, null, null, null),
        HASHER.hash(secret), KeyFormat.visibleStart(secret), ACTOR);
    return new Created(key, secret);
  }

  static final Pricing PRO = new Pricing("USD", 4_900, 1_000, List.of(new Pricing.Step(3_000L, 50),
      new Pricing.Step(null, 30)));
  static final Pricing BASIC = new Pricing("USD", 900, 500, List.of(new Pricing.Step(null, 100)));

  @BeforeEach
  void setUp() {
    clock = ManualClock.at(Instant.parse("2026-11-01T00:00:00Z"));
    db = database.open();
    store = new PlatformStore(db.dataSource(), clock);
    usage = new UsageStore(store, db.isPostgres(), clock);
    billing = new Billing(store, usage, clock);
  }

  @AfterEach
  void tearDown() {
    db.close();
    database.dispose();
  }

  private static UsageBatch batch(String id, UsageBatch.Count... counts) {
    return new UsageBatch(id, "test", List.of(counts));
  }

  private static long minute(String t) {
    return UsageMeter.minuteOf(PlatformStore.micros(Instant.parse(t)));
  }

  @Test
  void aBatchAppliesOnceHoweverOftenItIsDelivered() {
    String key = create("cus_1", "pro").key().id();
    UsageBatch b = batch("b-1", new UsageBatch.Count(key, minute("2026-11-01T00:00:00Z"), UsageOutcome.ALLOWED, "pro", 7),
        new UsageBatch.Count(key, minute("2026-11-01T00:00:00Z"), UsageOutcome.RATE_LIMITED, "pro", 2));
    assertThat(usage.apply(b)).isTrue();
    assertThat(usage.apply(b)).isFalse();
    assertThat(usage.apply(UsageBatch.decode(b.encode()))).isFalse();
    assertThat(usage.apply(batch("b-2", new UsageBatch.Count(key, minute("2026-11-01T00:00:30Z"),
        UsageOutcome.ALLOWED, "pro", 5)))).isTrue();
    assertThat(usage.applied("b-1")).isTrue();
    assertThat(usage.allowedSince(List.of(key), minute("2026-11-01T00:00:00Z"))).containsEntry(key, 12L);
    List<UsageStore.Bucket> s = usage.series(key, minute("2026-11-01T00:00:00Z"), minute("2026-11-02T00:00:00Z"), 60);
    assertThat(s).hasSize(1);
    assertThat(s.get(0).requests()).containsEntry(UsageOutcome.ALLOWED, 12L).containsEntry(UsageOutcome.RATE_LIMITED, 2L);
  }

  @Test
  void concurrentCountingAndDrainingLosesAndDoublesNothing() throws Exception {
    String key = create("cus_1", "pro").key().id();
    UsageMeter meter = new UsageMeter(clock, "t1");
    int threads = 4;
    int perThread = 50_000;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> fs = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      fs.add(pool.submit(() -> {
        start.await();
        for (int i = 0; i < perThread; i++) {
          meter.record(key, "pro", i % 10 == 0 ? UsageOutcome.RATE_LIMITED : UsageOutcome.ALLOWED);
        }
        return null;
      }));
    }
    AtomicBoolean done = new AtomicBoolean();
    start.countDown();
    long drainedAllowed = 0;
    long drainedAll = 0;
    int drains = 0;
    while (!done.get()) {
      done.set(fs.stream().allMatch(Future::isDone));
      for (UsageBatch b : meter.drain()) {
        usage.apply(b);
        drainedAll += b.events();
        drainedAllowed += b.counts().stream().filter(c -> c.outcome() == UsageOutcome.ALLOWED)
            .mapToLong(UsageBatch.Count::requests).sum();
      }
      drains++;
    }
    for (UsageBatch b : meter.drain()) {
      usage.apply(b);
      drainedAll += b.events();
    }
    pool.shutdown();
    assertThat(drains).isGreaterThan(1);
    assertThat(drainedAll).isEqualTo((long) threads * perThread);
    assertThat(drainedAllowed).isLessThanOrEqualTo((long) threads * perThread * 9 / 10);
    assertThat(meter.pending()).isZero();
    assertThat(usage.allowedSince(List.of(key), 0)).containsEntry(key, (long) threads * perThread * 9 / 10);
  }

  @Test
  void quotaCountsTheDatabaseAndWhatIsNotYetFlushed() {
    ApiKey key = create("cus_1", "pro").key();
    UsageMeter meter = new UsageMeter(clock, "t1");
    usage.apply(batch("other-instance", new UsageBatch.Count(key.id(), UsageMeter.minuteOf(clock.micros()),
        UsageOutcome.ALLOWED, "pro", 8)));
    assertThat(meter.withinQuota(key, 10)).isTrue();
    meter.refreshQuotas(usage);
    assertThat(meter.withinQuota(key, 10)).isTrue();
    meter.record(key.id(), "pro", UsageOutcome.ALLOWED);
    assertThat(meter.withinQuota(key, 10)).isTrue();
    meter.record(key.id(), "pro", UsageOutcome.ALLOWED);
    assertThat(meter.withinQuota(key, 10)).as("8 in the database + 2 here").isFalse();
    // Flushed but not yet refreshed: not counted twice, possibly not at all (the documented overshoot).
    for (UsageBatch b : meter.drain()) {
      usage.apply(b);
    }
    meter.refreshQuotas(usage);
    assertThat(meter.withinQuota(key, 10)).isFalse();
    assertThat(meter.withinQuota(key, 11)).isTrue();
    // Spooled (the pipeline down): a refresh does not forget them; replayed and applied: in the database.
    meter.record(key.id(), "pro", UsageOutcome.ALLOWED);
    List<UsageBatch> held = meter.drain();
    held.forEach(b -> meter.spooled(b, true));
    meter.refreshQuotas(usage);
    assertThat(meter.withinQuota(key, 11)).as("10 in the database + 1 spooled").isFalse();
    held.forEach(b -> {
      usage.apply(b);
      meter.spooled(b, false);
    });
    meter.refreshQuotas(usage);
    assertThat(meter.withinQuota(key, 11)).isFalse();
    assertThat(meter.withinQuota(key, 12)).isTrue();
    // A new month starts from zero.
    clock.setMicros(PlatformStore.micros(Instant.parse("2026-12-01T00:00:00Z")));
    assertThat(meter.withinQuota(key, 10)).isTrue();
  }

  @Test
  void spooledBatchesSurviveAndReplayOnce() throws IOException {
    String key = create("cus_1", "pro").key().id();
    Path dir = Files.createTempDirectory("viva-spool-");
    UsageSpool spool = new UsageSpool(dir, 10);
    spool.write(batch("s-1", new UsageBatch.Count(key, 1, UsageOutcome.ALLOWED, "pro", 3)));
    spool.write(batch("s-2", new UsageBatch.Count(key, 2, UsageOutcome.ALLOWED, "pro", 4)));
    Files.writeString(dir.resolve("00000-half.tmp"), "viva-usage 1\nid x");
    UsageSpool reopened = new UsageSpool(dir, 10);
    assertThat(reopened.size()).isEqualTo(2);
    assertThat(Files.exists(dir.resolve("00000-half.tmp"))).isFalse();
    for (Path p : reopened.oldest(10)) {
      usage.apply(reopened.read(p));
      usage.apply(reopened.read(p)); // a crash between apply and remove replays it: still once
      reopened.remove(p);
    }
    assertThat(reopened.size()).isZero();
    assertThat(usage.allowedSince(List.of(key), 0)).containsEntry(key, 7L);
  }

  // ---- billing: hand-computed -------------------------------------------------------------------

  private void use(String keyId, String tier, String at, long allowed) {
    usage.apply(batch("u-" + keyId + "-" + tier + "-" + minute(at) + "-" + allowed,
        new UsageBatch.Count(keyId, minute(at), UsageOutcome.ALLOWED, tier, allowed)));
  }

  private static Pricing pricing(String tier) {
    return switch (tier) {
      case "pro" -> PRO;
      case "basic" -> BASIC;
      default -> null;
    };
  }

  @Test
  void invoicesForHandComputedCases() {
    String under = create("cus_under", "pro").key().id();
    String at = create("cus_at", "pro").key().id();
    String over = create("cus_over", "pro").key().id();
    String changed = create("cus_changed", "basic").key().id();
    String free = create("cus_free", "free").key().id();
    use(under, "pro", "2026-11-03T10:00:00Z", 999);
    use(at, "pro", "2026-11-03T10:00:00Z", 1_000);
    // 1,000 included; 2,000 at 50/1000 = 100.00 cents exactly; 1,234 at 30/1000 = 37.02 -> 37
    use(over, "pro", "2026-11-03T10:00:00Z", 2_500);
    use(over, "pro", "2026-11-29T23:59:00Z", 1_734);
    // basic for most of the month, pro at its end: billed at pro for the whole month (decision 0009)
    use(changed, "basic", "2026-11-02T00:00:00Z", 1_200);
    use(changed, "pro", "2026-11-30T12:00:00Z", 300);
    use(free, "free", "2026-11-05T00:00:00Z", 50);
    // another period's usage is not billed in November
    use(over, "pro", "2026-12-01T00:00:00Z", 999_999);
    use(over, "pro", "2026-10-31T23:59:00Z", 999_999);

    clock.setMicros(PlatformStore.micros(Instant.parse("2026-12-01T02:00:00Z")));
    List<Invoice> issued = billing.close(YearMonth.of(2026, 11), UsageContract::pricing);
    assertThat(issued).hasSize(5);
    Map<String, Invoice> byOwner = new java.util.HashMap<>();
    issued.forEach(i -> byOwner.put(i.ownerId(), i));

    assertThat(byOwner.get("cus_under").total()).isEqualTo(4_900);
    assertThat(byOwner.get("cus_under").lines()).extracting(Invoice.Line::kind).containsExactly("base", "included");
    assertThat(byOwner.get("cus_at").total()).isEqualTo(4_900);
    assertThat(byOwner.get("cus_at").lines().get(1).quantity()).isEqualTo(1_000);

    Invoice o = byOwner.get("cus_over");
    assertThat(o.requests()).isEqualTo(4_234);
    assertThat(o.lines()).extracting(Invoice.Line::quantity).containsExactly(1L, 1_000L, 2_000L, 1_234L);
    assertThat(o.lines()).extracting(Invoice.Line::amount).containsExactly(4_900L, 0L, 100L, 37L);
    assertThat(o.total()).isEqualTo(5_037);
    assertThat(o.currency()).isEqualTo("USD");

    Invoice ch = byOwner.get("cus_changed");
    // 1,500 requests at pro: 1,000 included, 500 at 50/1000 = 25
    assertThat(ch.lines()).allMatch(l -> l.tier().equals("pro"));
    assertThat(ch.total()).isEqualTo(4_900 + 25);

    assertThat(byOwner.get("cus_free").total()).isZero();

    // Deterministic: closing again issues nothing new and the stored invoice is what was issued.
    assertThat(billing.close(YearMonth.of(2026, 11), UsageContract::pricing)).isEmpty();
    Invoice stored = billing.get(o.id()).orElseThrow();
    assertThat(stored.lines()).isEqualTo(o.lines());
    assertThat(stored.total()).isEqualTo(o.total());
    assertThat(Billing.invoiceId("cus_over", "2026-11")).isEqualTo(o.id());
    assertThat(billing.list("2026-11", null)).hasSize(5);
    assertThat(billing.list("2026-11", "cus_over")).hasSize(1);
  }

  @Test
  void overageRoundsHalfUpOncePerLine() {
    assertThat(Billing.overage(1, 499)).isZero();
    assertThat(Billing.overage(1, 500)).isEqualTo(1);
    assertThat(Billing.overage(1_001, 1)).isEqualTo(1);
    assertThat(Billing.overage(1_499, 1)).isEqualTo(1);
    assertThat(Billing.overage(1_500, 1)).isEqualTo(2);
    assertThat(Billing.overage(3_000_000, 7)).isEqualTo(21_000);
  }

  @Test
  void aRotatedKeyIsOneLine() {
    Created c = create("cus_rot", "pro");
    use(c.key().id(), "pro", "2026-11-10T00:00:00Z", 600);
    store.rotateKey(c.key().id(), HASHER.hash(KeyFormat.generate(KeyFormat.LIVE_PREFIX)), "viva_live_x", null, ACTOR);
    use(c.key().id(), "pro", "2026-11-20T00:00:00Z", 600);
    clock.advance(Duration.ofDays(40));
    Invoice i = billing.close(YearMonth.of(2026, 11), UsageContract::pricing).get(0);
    assertThat(i.lines()).extracting(Invoice.Line::kind).containsExactly("base", "included", "overage");
    assertThat(i.lines().get(2).quantity()).isEqualTo(200);
    assertThat(i.total()).isEqualTo(4_900 + 10);
  }

  @Test
  void webhookEventsAreEnqueuedOnceLeasedOnceAndRetried() {
    WebhookStore hooks = new WebhookStore(store, clock);
    WebhookStore.Webhook w = hooks.create("http://127.0.0.1:1/x", List.of("quota.warning"), "s".repeat(16), ACTOR);
    hooks.create("http://127.0.0.1:1/y", List.of("key.created"), "s".repeat(16), ACTOR);
    assertThat(hooks.enqueue("quota.warning:key_a:2026-11", "quota.warning", "{}")).isEqualTo(1);
    assertThat(hooks.enqueue("quota.warning:key_a:2026-11", "quota.warning", "{}")).as("same event id").isZero();
    List<WebhookStore.Due> due = hooks.takeDue(10, 30_000_000);
    assertThat(due).hasSize(1);
    assertThat(due.get(0).secret()).hasSize(16);
    assertThat(hooks.takeDue(10, 30_000_000)).as("leased").isEmpty();
    long id = due.get(0).delivery().id();
    hooks.recordAttempt(id, 500, "HTTP 500", clock.micros() + 1_000_000);
    assertThat(hooks.takeDue(10, 30_000_000)).as("not due yet").isEmpty();
    clock.advance(Duration.ofSeconds(2));
    assertThat(hooks.takeDue(10, 30_000_000)).hasSize(1);
    hooks.recordAttempt(id, 204, null, null);
    WebhookStore.Delivery d = hooks.deliveries(w.id(), 10).get(0);
    assertThat(d.state()).isEqualTo("delivered");
    assertThat(d.attempts()).isEqualTo(2);
    assertThat(d.lastStatus()).isEqualTo(204);
    assertThat(hooks.delete(w.id(), ACTOR)).isTrue();
    assertThat(hooks.list()).hasSize(1);
    assertThat(store.listAudit(null, w.id(), null, 10)).extracting(AuditEntry::action)
        .containsExactly("webhook.delete", "webhook.create");
  }
}
