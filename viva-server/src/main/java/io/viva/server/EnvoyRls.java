package io.viva.server;

import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import io.micrometer.core.instrument.Counter;
import io.viva.core.Algorithm;
import io.viva.core.Clock;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import io.viva.core.RateLimiter;
import io.viva.server.envoy.Entries;
import io.viva.server.envoy.RuleSet;
import io.viva.server.envoy.RuleSpec;
import io.viva.server.envoy.Unit;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Envoy's rate limit service (RLS v3, {@code ShouldRateLimit}) over envoyproxy/ratelimit's rule
 * files, with upstream's semantics: each descriptor is matched to its rule ({@link RuleSet}) and
 * counted independently; the response has one status per descriptor and an overall code that is
 * OVER_LIMIT if any descriptor is (unless in global shadow mode).
 *
 * <ul>
 *   <li>no rule, or a rule replaced by another matched rule ({@code replaces}): OK, no limit;</li>
 *   <li>{@code unlimited}: OK, {@code limit_remaining} 4294967295, nothing counted;</li>
 *   <li>{@code requests_per_unit: 0}: OVER_LIMIT, nothing counted;</li>
 *   <li>{@code shadow_mode}: counted, never OVER_LIMIT; {@code quota_mode}: counted, OK, and the
 *       index listed in the response's dynamic metadata ({@code quotaModeViolations});</li>
 *   <li>a descriptor's {@code limit} override: a fixed window of that many per unit, for domains
 *       that have rules;</li>
 *   <li>hits: the descriptor's {@code hits_addend}, else the request's; 0 (unset) means 1. Hits
 *       above the limit are OVER_LIMIT without counting.</li>
 * </ul>
 *
 * <p>Each rule is bound to a {@link RateLimiter} when the files are loaded (policy {@code
 * envoy/<full key>}); the counter's identifier is upstream's descriptor key ({@code
 * domain.key_value.key2_value2}), so a valueless key counts each value apart. A reload keeps the
 * counters of unchanged rules.
 */
final class EnvoyRls {

  private static final Logger LOG = LoggerFactory.getLogger(EnvoyRls.class);
  private static final long MAX_UINT32 = 0xFFFF_FFFFL;
  private static final int MAX_OVERRIDES = 4096;
  static final String LIMIT_HEADER = "RateLimit-Limit";
  static final String REMAINING_HEADER = "RateLimit-Remaining";
  static final String RESET_HEADER = "RateLimit-Reset";

  private final LimitStore store;
  private final Clock clock;
  private final Metrics metrics;
  private final EnvoySettings settings;
  private final int maxDescriptors;
  private final AtomicReference<RuleSet<Bound>> rules = new AtomicReference<>(RuleSet.empty());
  private final ConcurrentHashMap<Long, Bound> overrides = new ConcurrentHashMap<>();
  private final Counter requestsOk;
  private final Counter requestsOver;
  private final Counter requestsShadow;

  EnvoyRls(LimitStore store, Clock clock, Metrics metrics, EnvoySettings settings, int maxDescriptors) {
    this.store = store;
    this.clock = clock;
    this.metrics = metrics;
    this.settings = settings;
    this.maxDescriptors = maxDescriptors;
    this.requestsOk = metrics.envoyRequest("ok");
    this.requestsOver = metrics.envoyRequest("over_limit");
    this.requestsShadow = metrics.envoyRequest("shadow_mode");
  }

  /** A rule bound to its limiter, with its constant response parts and meters. */
  static final class Bound {
    final RuleSpec spec;
    final RateLimiter limiter;
    final RateLimitResponse.RateLimit currentLimit;
    final long windowMicros;
    final Counter ok;
    final Counter over;
    final Counter shadow;
    final Counter quota;

    Bound(RuleSpec spec, LimitStore store, Metrics metrics) {
      this.spec = spec;
      this.limiter = spec.policy() == null ? null : RateLimiter.builder(spec.policy()).store(store).build();
      RateLimitResponse.RateLimit.Builder cl = RateLimitResponse.RateLimit.newBuilder()
          .setRequestsPerUnit((int) spec.requestsPerUnit())
          .setUnitValue(spec.unit() == null ? 0 : spec.unit().protoNumber());
      if (spec.name() != null) {
        cl.setName(spec.name());
      }
      this.currentLimit = spec.unlimited() ? null : cl.build();
      this.windowMicros = spec.policy() != null ? spec.policy().limits().get(0).windowMicros()
          : spec.unit() != null ? spec.unit().duration().toNanos() / 1_000 : 1_000_000;
      this.ok = metrics.envoyRule(spec.fullKey(), "ok");
      this.over = metrics.envoyRule(spec.fullKey(), "over_limit");
      this.shadow = metrics.envoyRule(spec.fullKey(), "shadow_mode");
      this.quota = metrics.envoyRule(spec.fullKey(), "quota_mode");
    }
  }

  /** Loads the rule files (path to bytes); returns a summary for the log. */
  String load(Map<Path, byte[]> files) throws ConfigException {
    List<RuleSet.Source> sources = new ArrayList<>(files.size());
    for (Map.Entry<Path, byte[]> e : files.entrySet()) {
      sources.add(new RuleSet.Source(e.getKey().toString(), e.getValue()));
    }
    RuleSet<Bound> next = RuleSet.parse(sources, settings.extensions(), settings.mergeDomains(),
        spec -> new Bound(spec, store, metrics));
    for (String warning : next.warnings()) {
      LOG.warn("envoy rules: {}", warning);
    }
    rules.set(next);
    return next.domains().size() + " domains, " + next.rules().size() + " rules";
  }

  /** The rules in force. */
  RuleSet<Bound> rules() {
    return rules.get();
  }

  /**
   * Decides a request. Completes at once with the in-memory store; with Redis on Lettuce's thread.
   *
   * @throws ApiError (400) for an empty domain, no descriptors, too many, or a key too long
   */
  CompletableFuture<RateLimitResponse> shouldRateLimit(RateLimitRequest request) {
    String domain = request.getDomain();
    if (domain.isEmpty()) {
      throw ApiError.invalid("domain: empty (expected: the domain of a rule file, e.g. edge)");
    }
    int n = request.getDescriptorsCount();
    if (n == 0) {
      throw ApiError.invalid("descriptors: empty (expected: at least one descriptor)");
    }
    if (n > maxDescriptors) {
      throw ApiError.invalid("descriptors: " + n + " (expected: at most " + maxDescriptors + ")");
    }
    RuleSet<Bound> rs = rules.get();
    long requestHits = Integer.toUnsignedLong(request.getHitsAddend());
    if (requestHits == 0) {
      requestHits = 1;
    }
    Bound[] bound = new Bound[n];
    Set<String> replaced = null;
    DescriptorEntries entries = new DescriptorEntries();
    for (int i = 0; i < n; i++) {
      RateLimitDescriptor d = request.getDescriptors(i);
      if (d.hasLimit()) {
        bound[i] = rs.hasDomain(domain) ? override(d.getLimit()) : null;
      } else {
        entries.descriptor = d;
        bound[i] = rs.match(domain, entries);
      }
      if (bound[i] != null && !bound[i].spec.replaces().isEmpty()) {
        if (replaced == null) {
          replaced = new HashSet<>();
        }
        replaced.addAll(bound[i].spec.replaces());
      }
    }
    if (replaced != null) {
      for (int i = 0; i < n; i++) {
        if (bound[i] != null && bound[i].spec.name() != null && replaced.contains(bound[i].spec.name())) {
          bound[i] = null;
        }
      }
    }
    @SuppressWarnings("unchecked")
    CompletableFuture<Decision>[] decisions = new CompletableFuture[n];
    String[] keys = null;
    boolean pending = false;
    for (int i = 0; i < n; i++) {
      Bound b = bound[i];
      if (b == null || b.limiter == null) {
        continue;
      }
      RateLimitDescriptor d = request.getDescriptors(i);
      long hits = requestHits;
      if (d.hasHitsAddend()) {
        hits = d.getHitsAddend().getValue();
        if (hits == 0) {
          hits = 1;
        }
      }
      if (hits < 0 || hits > b.spec.policy().maxCost()) {
        continue; // can never be admitted: OVER_LIMIT without counting
      }
      String key = descriptorKey(domain, d);
      if (key.length() > RateLimiter.MAX_KEY_LENGTH) {
        throw ApiError.invalid("descriptors[" + i + "]: a key of " + key.length() + " characters (expected: the"
            + " domain, keys and values together at most " + RateLimiter.MAX_KEY_LENGTH + ")");
      }
      if (b.spec.detailedMetric()) {
        if (keys == null) {
          keys = new String[n];
        }
        keys[i] = d.getEntriesCount() == 0 ? b.spec.fullKey()
            : b.spec.fullKey() + "_" + d.getEntries(d.getEntriesCount() - 1).getValue();
      }
      decisions[i] = b.limiter.tryAcquireAsync(key, hits, null).toCompletableFuture();
      pending |= !decisions[i].isDone();
    }
    String[] metricKeys = keys;
    if (!pending) {
      return CompletableFuture.completedFuture(respond(bound, decisions, metricKeys));
    }
    return CompletableFuture.allOf(java.util.Arrays.stream(decisions).filter(java.util.Objects::nonNull)
        .toArray(CompletableFuture[]::new)).thenApply(v -> respond(bound, decisions, metricKeys));
  }

  private RateLimitResponse respond(Bound[] bound, CompletableFuture<Decision>[] decisions, String[] metricKeys) {
    int n = bound.length;
    RateLimitResponse.Builder rb = RateLimitResponse.newBuilder();
    Code overall = Code.OK;
    boolean quotaEnabled = false;
    List<Integer> quotaViolations = null;
    int headerIndex = -1;
    long headerRemaining = Long.MAX_VALUE;
    long headerReset = 0;
    long now = -1;
    for (int i = 0; i < n; i++) {
      Bound b = bound[i];
      DescriptorStatus.Builder s = rb.addStatusesBuilder().setCode(Code.OK);
      if (b == null) {
        continue;
      }
      if (b.spec.unlimited()) {
        s.setLimitRemaining((int) MAX_UINT32);
        b.ok.increment();
        continue;
      }
      s.setCurrentLimit(b.currentLimit);
      boolean over;
      long remaining;
      long resetMicros;
      CompletableFuture<Decision> f = decisions[i];
      if (f == null) {
        // requests_per_unit 0, or more hits than the limit: over without counting.
        if (now < 0) {
          now = clock.micros();
        }
        over = true;
        remaining = 0;
        resetMicros = b.windowMicros - Math.floorMod(now, b.windowMicros);
      } else {
        Decision d = f.join();
        over = !d.allowed();
        remaining = d.remaining();
        resetMicros = d.resetAfterMicros();
      }
      quotaEnabled |= b.spec.quota();
      Counter counter = b.ok;
      if (over) {
        if (b.spec.quota()) {
          counter = b.quota;
          if (quotaViolations == null) {
            quotaViolations = new ArrayList<>();
          }
          quotaViolations.add(i);
        } else if (b.spec.shadow()) {
          counter = b.shadow;
        } else {
          counter = b.over;
          s.setCode(Code.OVER_LIMIT);
          overall = Code.OVER_LIMIT;
        }
      }
      if (metricKeys != null && metricKeys[i] != null) {
        counter = metrics.envoyRule(metricKeys[i], counter == b.ok ? "ok" : counter == b.over ? "over_limit"
            : counter == b.shadow ? "shadow_mode" : "quota_mode");
      }
      counter.increment();
      long resetSeconds = resetMicros <= 0 ? 0 : (resetMicros + 999_999) / 1_000_000;
      s.setLimitRemaining((int) Math.min(remaining, MAX_UINT32));
      s.setDurationUntilReset(com.google.protobuf.Duration.newBuilder().setSeconds(resetSeconds));
      if (remaining < headerRemaining) {
        headerRemaining = remaining;
        headerIndex = i;
        headerReset = resetSeconds;
      }
    }
    if (overall == Code.OVER_LIMIT && settings.shadowMode()) {
      overall = Code.OK;
      requestsShadow.increment();
    } else {
      (overall == Code.OK ? requestsOk : requestsOver).increment();
    }
    rb.setOverallCode(overall);
    if (settings.responseHeaders() && headerIndex >= 0) {
      rb.addResponseHeadersToAdd(header(LIMIT_HEADER, Long.toString(bound[headerIndex].spec.requestsPerUnit())));
      rb.addResponseHeadersToAdd(header(REMAINING_HEADER, Long.toString(headerRemaining)));
      rb.addResponseHeadersToAdd(header(RESET_HEADER, Long.toString(headerReset)));
    }
    if (quotaEnabled) {
      ListValue.Builder list = ListValue.newBuilder();
      if (quotaViolations != null) {
        for (int i : quotaViolations) {
          list.addValues(Value.newBuilder().setNumberValue(i));
        }
      }
      rb.setDynamicMetadata(Struct.newBuilder()
          .putFields("quotaModeEnabled", Value.newBuilder().setBoolValue(true).build())
          .putFields("quotaModeViolations", Value.newBuilder().setListValue(list).build()));
    }
    return rb.build();
  }

  /**
   * envoyproxy/ratelimit's HTTP endpoint, {@code POST /json}: the request and response are the
   * RLS v3 messages in protobuf's JSON form; 200 when the overall code is OK, 429 when OVER_LIMIT.
   */
  void json(io.vertx.ext.web.RoutingContext ctx) {
    Exchange ex = Exchange.of(ctx);
    if (ex.bodyLength == 0) {
      throw ApiError.invalidJson("body: empty (expected: a RateLimitRequest in JSON, e.g. {\"domain\": \"edge\","
          + " \"descriptors\": [{\"entries\": [{\"key\": \"k\", \"value\": \"v\"}]}]})");
    }
    RateLimitRequest.Builder b = RateLimitRequest.newBuilder();
    try {
      com.google.protobuf.util.JsonFormat.parser().merge(
          new String(ex.body, 0, ex.bodyLength, java.nio.charset.StandardCharsets.UTF_8), b);
    } catch (com.google.protobuf.InvalidProtocolBufferException | RuntimeException e) {
      String m = String.valueOf(e.getMessage());
      throw ApiError.invalidJson("body: " + (m.length() > 200 ? m.substring(0, 200) + "..." : m)
          + " (expected: a RateLimitRequest in JSON)");
    }
    CompletableFuture<RateLimitResponse> f = shouldRateLimit(b.build());
    io.vertx.core.Context context = io.vertx.core.Vertx.currentContext();
    Runnable respond = () -> {
      RateLimitResponse r = f.join();
      String body;
      try {
        body = com.google.protobuf.util.JsonFormat.printer().omittingInsignificantWhitespace().print(r);
      } catch (com.google.protobuf.InvalidProtocolBufferException e) {
        throw new IllegalStateException(e);
      }
      Http.json(ctx, r.getOverallCode() == Code.OVER_LIMIT ? 429 : 200, body);
    };
    if (f.isDone()) {
      respond.run();
    } else {
      f.whenComplete((ok, error) -> context.runOnContext(v -> {
        try {
          respond.run();
        } catch (RuntimeException e) {
          ctx.fail(e instanceof java.util.concurrent.CompletionException && e.getCause() != null
              ? e.getCause() : e);
        }
      }));
    }
  }

  private static HeaderValue header(String name, String value) {
    return HeaderValue.newBuilder().setKey(name).setValue(value).build();
  }

  /** A fixed window of the override's requests per unit, shared by every descriptor with the same override. */
  private Bound override(RateLimitDescriptor.RateLimitOverride o) {
    long rpu = Integer.toUnsignedLong(o.getRequestsPerUnit());
    Unit unit = Unit.ofProtoNumber(o.getUnitValue());
    if (unit == null) {
      throw ApiError.invalid("descriptors[].limit.unit: " + o.getUnit() + " (expected: SECOND, MINUTE, HOUR, DAY,"
          + " WEEK, MONTH or YEAR)");
    }
    long cacheKey = ((long) unit.ordinal() << 32) | rpu;
    Bound b = overrides.get(cacheKey);
    if (b == null) {
      String fullKey = "override." + unit.name().toLowerCase(java.util.Locale.ROOT) + "." + rpu;
      Policy policy = rpu == 0 ? null : Policy.builder("envoy/" + fullKey)
          .limit(Limit.builder(Algorithm.FIXED_WINDOW, rpu, unit.duration()).name("limit").build()).build();
      b = new Bound(new RuleSpec("", fullKey, null, Set.of(), false, false, false, false, unit, rpu, policy),
          store, metrics);
      if (overrides.size() < MAX_OVERRIDES) {
        overrides.put(cacheKey, b);
      }
    }
    return b;
  }

  /** Upstream's descriptor key: {@code domain.key_value.key2_value2} (a key alone when its value is empty). */
  static String descriptorKey(String domain, RateLimitDescriptor d) {
    int n = d.getEntriesCount();
    StringBuilder sb = new StringBuilder(domain.length() + 1 + n * 24).append(domain).append('.');
    for (int i = 0; i < n; i++) {
      RateLimitDescriptor.Entry e = d.getEntries(i);
      if (i > 0) {
        sb.append('.');
      }
      sb.append(e.getKey());
      if (!e.getValue().isEmpty()) {
        sb.append('_').append(e.getValue());
      }
    }
    return sb.toString();
  }

  /** A protobuf descriptor read as {@link Entries}, reused across a request's descriptors. */
  private static final class DescriptorEntries implements Entries {
    RateLimitDescriptor descriptor;

    @Override
    public int size() {
      return descriptor.getEntriesCount();
    }

    @Override
    public String key(int i) {
      return descriptor.getEntries(i).getKey();
    }

    @Override
    public String value(int i) {
      return descriptor.getEntries(i).getValue();
    }
  }
}
