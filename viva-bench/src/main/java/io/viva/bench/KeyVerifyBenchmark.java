package io.viva.bench;

import io.viva.core.InMemoryLimitStore;
import io.viva.core.Limit;
import io.viva.core.Policy;
import io.viva.core.RateLimiter;
import io.viva.platform.Actor;
import io.viva.platform.KeyFormat;
import io.viva.platform.KeyVerifier;
import io.viva.platform.PlatformDatabase;
import io.viva.platform.PlatformStore;
import io.viva.platform.SecretHasher;
import io.viva.platform.Tier;
import io.viva.platform.Verification;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Full mode's per-request cost in process, in nanoseconds: what {@code POST
 * /api/v1/rate-limit/check} adds to a plain rate limit check, without HTTP.
 *
 * <ul>
 *   <li>{@code checkOnly}: {@link RateLimiter#tryAcquire(String)} with the key id (what {@code
 *       /v1/check} does);</li>
 *   <li>{@code wellFormed}: the offline checksum test of {@link KeyFormat};</li>
 *   <li>{@code hash}: the HMAC-SHA-256 lookup hash;</li>
 *   <li>{@code verify}: {@link KeyVerifier#verify} on a cached key: checksum, hash, cache hit,
 *       state and expiry, quota, and the same rate limit check.</li>
 * </ul>
 *
 * {@code keys} keys (1 or 10,000) on one tier whose limit never binds, cycled in order, all cached
 * during setup, over an embedded H2 database in a temporary directory (not touched while
 * measuring).
 *
 * <pre>
 * java -jar viva-bench/target/benchmarks.jar KeyVerifyBenchmark -f 1 -wi 3 -w 2s -i 5 -r 2s
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class KeyVerifyBenchmark {

  @Param({"1", "10000"})
  int keys;

  private Path dir;
  private PlatformDatabase db;
  private KeyVerifier verifier;
  private KeyVerifier countedVerifier;
  private io.viva.platform.UsageMeter meter;
  private java.util.concurrent.ScheduledExecutorService drainer;
  private RateLimiter limiter;
  private SecretHasher hasher;
  private String[] secrets;
  private String[] ids;

  /** Per-thread cursor over the keys. */
  @State(Scope.Thread)
  public static class Cursor {
    int next;
  }

  @Setup(Level.Trial)
  public void setUp() throws IOException {
    dir = Files.createTempDirectory("viva-keyverify");
    db = PlatformDatabase.open(null, dir);
    PlatformStore store = new PlatformStore(db.dataSource(), io.viva.core.Clock.system());
    hasher = SecretHasher.of("benchmark-pepper-0123456789");
    InMemoryLimitStore limits = InMemoryLimitStore.builder().build();
    Policy policy = Policy.of(Tier.policyName("bench"), Limit.tokenBucket(1_000_000_000_000L, Duration.ofSeconds(1)));
    verifier = KeyVerifier.builder(store, hasher, limits).cacheSize(keys * 2L).build();
    verifier.setTiers(Map.of("bench", new Tier("bench", policy, Long.MAX_VALUE)));
    limiter = RateLimiter.builder(policy).store(limits).build();
    // Usage counting as full mode runs it: the quota step from the meter (a finite quota, so it is
    // evaluated), one record per verification, the counts drained every second off the measured thread.
    meter = new io.viva.platform.UsageMeter(io.viva.core.Clock.system(), "bench");
    countedVerifier = KeyVerifier.builder(store, hasher, limits).cacheSize(keys * 2L).quota(meter).build();
    countedVerifier.setTiers(Map.of("bench", new Tier("bench", policy, Long.MAX_VALUE / 2)));
    drainer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
    drainer.scheduleWithFixedDelay(meter::drain, 1, 1, TimeUnit.SECONDS);
    secrets = new String[keys];
    ids = new String[keys];
    Actor actor = new Actor("bench", null);
    for (int i = 0; i < keys; i++) {
      secrets[i] = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
      ids[i] = store.createKey(new PlatformStore.NewKey("k" + i, null, "bench", "live", null, null, null, null),
          hasher.hash(secrets[i]), KeyFormat.visibleStart(secrets[i]), actor).id();
      if (verifier.verify(secrets[i], 0).join().code() != Verification.Code.VALID
          || countedVerifier.verify(secrets[i], 0).join().code() != Verification.Code.VALID) {
        throw new IllegalStateException("key " + i + " does not verify");
      }
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    verifier.close();
    countedVerifier.close();
    drainer.shutdownNow();
    db.close();
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  private int next(Cursor c) {
    int i = c.next;
    c.next = i + 1 == keys ? 0 : i + 1;
    return i;
  }

  @Benchmark
  public boolean checkOnly(Cursor c) {
    return limiter.tryAcquire(ids[next(c)]).allowed();
  }

  @Benchmark
  public boolean wellFormed(Cursor c) {
    return KeyFormat.isWellFormed(secrets[next(c)]);
  }

  @Benchmark
  public String hash(Cursor c) {
    return hasher.hash(secrets[next(c)]);
  }

  @Benchmark
  public Verification.Code verify(Cursor c) {
    return verifier.verify(secrets[next(c)], 1).join().code();
  }

  /** {@link #verify} with usage counting on: the quota step from the meter and the record of the outcome. */
  @Benchmark
  public Verification.Code verifyCounted(Cursor c) {
    Verification v = countedVerifier.verify(secrets[next(c)], 1).join();
    io.viva.platform.UsageOutcome o = io.viva.platform.UsageOutcome.of(v.code());
    if (o != null) {
      meter.record(v.key().id(), v.tier(), o);
    }
    return v.code();
  }
}
