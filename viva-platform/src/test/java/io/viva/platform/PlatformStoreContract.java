package io.viva.platform;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.viva.core.InMemoryLimitStore;
import io.viva.core.Limit;
import io.viva.core.ManualClock;
import io.viva.core.Policy;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The repository and verifier contract, run against every database: embedded H2
 * ({@link H2PlatformStoreTest}) and the real PostgreSQL ({@link PostgresPlatformStoreIT}).
 */
abstract class PlatformStoreContract {

  static final Actor ACTOR = new Actor("token:tok_test", "10.0.0.1");
  static final SecretHasher HASHER = SecretHasher.of("a-test-pepper-of-enough-bytes");

  ManualClock clock;
  PlatformDatabase db;
  PlatformStore store;
  InMemoryLimitStore limits;

  private final ThrowawayDatabase database;

  PlatformStoreContract(ThrowawayDatabase database) {
    this.database = database;
  }

  @BeforeEach
  void setUp() {
    clock = ManualClock.at(Instant.parse("2026-11-01T00:00:00Z"));
    db = database.open();
    store = new PlatformStore(db.dataSource(), clock);
    limits = InMemoryLimitStore.builder().clock(clock).build();
  }

  @AfterEach
  void tearDown() {
    db.close();
    database.dispose();
  }

  Instant now() {
    return PlatformStore.instantOf(clock.micros());
  }

  record Created(ApiKey key, String secret) {}

  Created create(String owner, String tier) {
    String secret = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
    ApiKey key = store.createKey(new PlatformStore.NewKey("k " + owner, owner, tier, "live", null, null,
        "{\"plan\":\"x\"}", null), HASHER.hash(secret), KeyFormat.visibleStart(secret), ACTOR);
    return new Created(key, secret);
  }

  KeyVerifier verifier() {
    KeyVerifier v = KeyVerifier.builder(store, HASHER, limits).clock(clock)
        .overrideParser(json -> List.of(Limit.fixedWindow(Long.parseLong(json.replaceAll("[^0-9]", "")),
            Duration.ofMinutes(1))))
        .pollInterval(Duration.ofHours(1)).lastUsedFlush(Duration.ofHours(1)).build();
    v.setTiers(Map.of("free", new Tier("free", Policy.of(Tier.policyName("free"),
        Limit.fixedWindow(3, Duration.ofMinutes(1))), 1000)));
    return v;
  }

  @Test
  void createdKeyIsStoredWithoutItsSecretAndFoundByHash() {
    Created c = create("cus_1", "free");
    assertThat(c.key().id()).startsWith("key_");
    assertThat(c.key().visibleStart()).isEqualTo(c.secret().substring(0, 16));
    assertThat(c.key().state(now())).isEqualTo(KeyState.ACTIVE);
    assertThat(c.key().metadata()).isEqualTo("{\"plan\":\"x\"}");
    assertThat(store.getKey(c.key().id())).contains(c.key());
    assertThat(store.findByHash(HASHER.hash(c.secret()))).map(PlatformStore.Found::key).contains(c.key());
    assertThat(store.findByHash(HASHER.hash(KeyFormat.generate(KeyFormat.LIVE_PREFIX)))).isEmpty();
  }

  @Test
  void listFiltersByOwnerTierAndStateAndPages() {
    Created a = create("cus_a", "free");
    clock.advance(Duration.ofSeconds(1));
    Created b = create("cus_b", "pro");
    clock.advance(Duration.ofSeconds(1));
    Created c = create("cus_a", "pro");
    store.revokeKey(c.key().id(), ACTOR);
    store.expireKey(b.key().id(), now(), ACTOR);
    var all = new PlatformStore.KeyFilter(null, null, null);
    assertThat(store.listKeys(all, 10, 0)).extracting(ApiKey::id)
        .containsExactly(c.key().id(), b.key().id(), a.key().id());
    assertThat(store.listKeys(all, 2, 2)).extracting(ApiKey::id).containsExactly(a.key().id());
    assertThat(store.listKeys(new PlatformStore.KeyFilter("cus_a", null, null), 10, 0)).hasSize(2);
    assertThat(store.listKeys(new PlatformStore.KeyFilter(null, "pro", null), 10, 0)).hasSize(2);
    assertThat(store.listKeys(new PlatformStore.KeyFilter(null, null, KeyState.ACTIVE), 10, 0))
        .extracting(ApiKey::id).containsExactly(a.key().id());
    assertThat(store.listKeys(new PlatformStore.KeyFilter(null, null, KeyState.EXPIRED), 10, 0))
        .extracting(ApiKey::id).containsExactly(b.key().id());
    assertThat(store.listKeys(new PlatformStore.KeyFilter(null, null, KeyState.REVOKED), 10, 0))
        .extracting(ApiKey::id).containsExactly(c.key().id());
  }

  @Test
  void updateChangesOnlyTheGivenFieldsAndRevokedKeysAreFinal() {
    Created c = create("cus_1", "free");
    ApiKey u = store.updateKey(c.key().id(), new PlatformStore.KeyUpdate(null, "pro", Optional.of("[{\"limit\":5}]"),
        Optional.of(42L), Optional.empty(), false, null), ACTOR).orElseThrow();
    assertThat(u.tier()).isEqualTo("pro");
    assertThat(u.limits()).isEqualTo("[{\"limit\":5}]");
    assertThat(u.monthlyQuota()).isEqualTo(42L);
    assertThat(u.metadata()).isNull();
    assertThat(u.enabled()).isFalse();
    assertThat(u.name()).isEqualTo(c.key().name());
    assertThat(u.version()).isEqualTo(c.key().version() + 1);
    assertThat(store.updateKey("key_nope", new PlatformStore.KeyUpdate("x", null, null, null, null, null, null),
        ACTOR)).isEmpty();
    store.revokeKey(c.key().id(), ACTOR);
    assertThatThrownBy(() -> store.updateKey(c.key().id(), new PlatformStore.KeyUpdate(null, null, null, null, null,
        true, null), ACTOR)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void everyChangeIsAuditedWithoutSecrets() {
    Created c = create("cus_1", "free");
    store.rotateKey(c.key().id(), HASHER.hash(KeyFormat.generate(KeyFormat.LIVE_PREFIX)), "viva_live_abcdef",
        null, ACTOR);
    store.revokeKey(c.key().id(), ACTOR);
    store.audit(new Actor("token:tok_x", "10.0.0.2"), "key.revoke", "key_missing", "not_found", null);
    List<AuditEntry> entries = store.listAudit(null, null, null, 10);
    assertThat(entries).extracting(AuditEntry::action)
        .containsExactly("key.revoke", "key.revoke", "key.rotate", "key.create");
    assertThat(entries.get(1).target()).isEqualTo(c.key().id());
    assertThat(entries.get(1).actor()).isEqualTo("token:tok_test");
    assertThat(entries.get(1).sourceIp()).isEqualTo("10.0.0.1");
    assertThat(entries.get(1).result()).isEqualTo("success");
    assertThat(entries.get(0).result()).isEqualTo("not_found");
    assertThat(store.listAudit(entries.get(1).id(), null, null, 10)).hasSize(2);
    assertThat(store.listAudit(null, c.key().id(), null, 10)).hasSize(3);
    assertThat(entries).allSatisfy(e -> assertThat(String.valueOf(e.detail())).doesNotContain(c.secret()));
  }

  @Test
  void adminTokensAreStoredHashedAndRevocable() {
    String secret = KeyFormat.generate(KeyFormat.ADMIN_PREFIX);
    AdminToken t = store.createToken("ci", Role.OPERATOR, HASHER.hash(secret), KeyFormat.visibleStart(secret), ACTOR);
    assertThat(store.findToken(HASHER.hash(secret))).map(AdminToken::role).contains(Role.OPERATOR);
    assertThat(store.listTokens()).extracting(AdminToken::id).containsExactly(t.id());
    store.revokeToken(t.id(), ACTOR);
    assertThat(store.findToken(HASHER.hash(secret))).isEmpty();
    assertThat(store.revokeToken("tok_nope", ACTOR)).isEmpty();
  }

  @Test
  void lastUsedIsWrittenInBatchesAndNeverMovesBack() {
    Created c = create("cus_1", "free");
    store.touchLastUsed(Map.of(c.key().id(), 2_000_000L));
    store.touchLastUsed(Map.of(c.key().id(), 1_000_000L));
    assertThat(store.getKey(c.key().id()).orElseThrow().lastUsedAt()).isEqualTo(Instant.ofEpochSecond(2));
  }

  @Test
  void verificationRunsItsStepsInOrder() {
    try (KeyVerifier v = verifier()) {
      Created c = create("cus_1", "free");
      assertThat(v.verify("viva_live_garbage", 1).join().code()).isEqualTo(Verification.Code.NOT_FOUND);
      assertThat(v.verify(KeyFormat.generate(KeyFormat.LIVE_PREFIX), 1).join().code())
          .isEqualTo(Verification.Code.NOT_FOUND);
      for (int i = 0; i < 3; i++) {
        Verification r = v.verify(c.secret(), 1).join();
        assertThat(r.code()).isEqualTo(Verification.Code.VALID);
        assertThat(r.key().id()).isEqualTo(c.key().id());
        assertThat(r.decision().remaining()).isEqualTo(2 - i);
      }
      assertThat(v.verify(c.secret(), 1).join().code()).isEqualTo(Verification.Code.RATE_LIMITED);
      assertThat(v.cacheHits()).isGreaterThanOrEqualTo(3);

      v.flushLastUsed();
      assertThat(store.getKey(c.key().id()).orElseThrow().lastUsedAt()).isEqualTo(now());

      store.expireKey(c.key().id(), now().plusSeconds(60), ACTOR);
      v.pollChanges();
      clock.advance(Duration.ofSeconds(59));
      assertThat(v.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.VALID);
      clock.advance(Duration.ofSeconds(1));
      assertThat(v.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.EXPIRED);

      store.updateKey(c.key().id(), new PlatformStore.KeyUpdate(null, null, null, null, null, false,
          Optional.empty()), ACTOR);
      v.pollChanges();
      assertThat(v.verify(c.secret(), 1).join().code()).isEqualTo(Verification.Code.DISABLED);
    }
  }

  @Test
  void quotaStepComesBeforeTheRateLimit() {
    try (KeyVerifier v = KeyVerifier.builder(store, HASHER, limits).clock(clock)
        .quota((key, quota) -> quota > 5000).build()) {
      v.setTiers(Map.of("free", new Tier("free", Policy.of("tier:free", Limit.fixedWindow(1, Duration.ofMinutes(1))),
          1000)));
      Created c = create("cus_1", "free");
      assertThat(v.verify(c.secret(), 1).join().code()).isEqualTo(Verification.Code.USAGE_EXCEEDED);
      assertThat(limits.keyCount()).isZero();
    }
  }

  @Test
  void rotationKeepsTheOldSecretForTheGracePeriodOnly() {
    try (KeyVerifier v = verifier()) {
      Created c = create("cus_1", "free");
      assertThat(v.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.VALID);
      String fresh = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
      ApiKey rotated = store.rotateKey(c.key().id(), HASHER.hash(fresh), KeyFormat.visibleStart(fresh),
          now().plus(Duration.ofMinutes(5)), ACTOR).orElseThrow();
      assertThat(rotated.id()).isEqualTo(c.key().id());
      v.pollChanges();
      assertThat(v.verify(fresh, 0).join().code()).isEqualTo(Verification.Code.VALID);
      assertThat(v.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.VALID);
      clock.advance(Duration.ofMinutes(5));
      assertThat(v.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.NOT_FOUND);
      assertThat(v.verify(fresh, 0).join().code()).isEqualTo(Verification.Code.VALID);
    }
  }

  @Test
  void revocationOnOneInstanceReachesAnotherThroughTheChangeLog() {
    try (KeyVerifier a = verifier(); KeyVerifier b = verifier()) {
      Created c = create("cus_1", "free");
      assertThat(b.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.VALID);
      store.revokeKey(c.key().id(), ACTOR);
      a.invalidate(c.key().id());
      assertThat(a.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.DISABLED);
      // b still answers from its cache until it reads the change log
      assertThat(b.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.VALID);
      b.pollChanges();
      assertThat(b.verify(c.secret(), 0).join().code()).isEqualTo(Verification.Code.DISABLED);
    }
  }

  @Test
  void aChangeCommittedLateBehindAHoleInTheChangeLogIsNotMissed() throws Exception {
    try (KeyVerifier v = verifier()) {
      Created x = create("cus_x", "free");
      Created y = create("cus_y", "free");
      v.pollChanges();
      assertThat(v.verify(x.secret(), 0).join().code()).isEqualTo(Verification.Code.VALID);
      assertThat(v.verify(y.secret(), 0).join().code()).isEqualTo(Verification.Code.VALID);
      long last = store.lastChange();
      // Two concurrent transactions: the one that drew seq last+2 commits before the one with last+1.
      disableBehindTheStoresBack(x.key().id(), last + 2);
      v.pollChanges();
      assertThat(v.verify(x.secret(), 0).join().code()).isEqualTo(Verification.Code.DISABLED);
      assertThat(v.verify(y.secret(), 0).join().code()).as("y's change is not committed yet")
          .isEqualTo(Verification.Code.VALID);
      disableBehindTheStoresBack(y.key().id(), last + 1);
      v.pollChanges();
      assertThat(v.verify(y.secret(), 0).join().code()).as("the late commit filled the hole and was seen")
          .isEqualTo(Verification.Code.DISABLED);
    }
  }

  private void disableBehindTheStoresBack(String id, long seq) throws java.sql.SQLException {
    try (var c = db.dataSource().getConnection()) {
      try (var ps = c.prepareStatement("UPDATE api_keys SET enabled = FALSE WHERE id = ?")) {
        ps.setString(1, id);
        ps.executeUpdate();
      }
      try (var ps = c.prepareStatement("INSERT INTO change_log (seq, kind, target_id, at) VALUES (?, 'key', ?, 0)")) {
        ps.setLong(1, seq);
        ps.setString(2, id);
        ps.executeUpdate();
      }
    }
  }

  @Test
  void aChangeDropsOnlyThatKeysCachedLookups() {
    try (KeyVerifier v = verifier()) {
      Created a = create("cus_a", "free");
      Created b = create("cus_b", "free");
      String fresh = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
      store.rotateKey(a.key().id(), HASHER.hash(fresh), KeyFormat.visibleStart(fresh), now().plusSeconds(600), ACTOR);
      v.pollChanges();
      for (String s : List.of(a.secret(), fresh, b.secret())) {
        assertThat(v.verify(s, 0).join().code()).isEqualTo(Verification.Code.VALID);
      }
      long misses = v.cacheMisses();
      store.revokeKey(a.key().id(), ACTOR);
      v.pollChanges();
      assertThat(v.verify(b.secret(), 0).join().code()).isEqualTo(Verification.Code.VALID);
      assertThat(v.cacheMisses()).as("b stayed cached").isEqualTo(misses);
      assertThat(v.verify(fresh, 0).join().code()).isEqualTo(Verification.Code.DISABLED);
      assertThat(v.verify(a.secret(), 0).join().code()).as("the grace secret is gone with the revocation")
          .isEqualTo(Verification.Code.NOT_FOUND);
      assertThat(v.cacheMisses()).as("both of a's secrets were dropped").isEqualTo(misses + 2);
    }
  }

  @Test
  void perKeyLimitsOverrideTheTier() {
    try (KeyVerifier v = verifier()) {
      Created c = create("cus_1", "free");
      store.updateKey(c.key().id(), new PlatformStore.KeyUpdate(null, null, Optional.of("[{\"limit\":5}]"), null,
          null, null, null), ACTOR);
      v.pollChanges();
      for (int i = 0; i < 5; i++) {
        assertThat(v.verify(c.secret(), 1).join().code()).isEqualTo(Verification.Code.VALID);
      }
      assertThat(v.verify(c.secret(), 1).join().code()).isEqualTo(Verification.Code.RATE_LIMITED);
    }
  }

  @Test
  void tierChangeAppliesToCachedKeysAtOnce() {
    try (KeyVerifier v = verifier()) {
      Created c = create("cus_1", "free");
      assertThat(v.verify(c.secret(), 3).join().code()).isEqualTo(Verification.Code.VALID);
      assertThat(v.verify(c.secret(), 1).join().code()).isEqualTo(Verification.Code.RATE_LIMITED);
      v.setTiers(Map.of("free", new Tier("free", Policy.of(Tier.policyName("free"),
          Limit.fixedWindow(10, Duration.ofMinutes(1))), 1000)));
      assertThat(v.verify(c.secret(), 1).join().code()).isEqualTo(Verification.Code.VALID);
    }
  }
}
