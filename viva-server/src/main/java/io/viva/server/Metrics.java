package io.viva.server;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.http.HttpMethod;
import io.viva.core.LimitStore;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.ToDoubleFunction;

/**
 * The service's Prometheus metrics (Micrometer). Every meter on the request path is created once
 * and cached, so recording is an increment, never a registry lookup. Labels are bounded: route
 * templates (not raw paths), a fixed set of methods, configured namespaces.
 *
 * <ul>
 *   <li>{@code rate_limit_checks_total{namespace,result}}, result {@code allowed|denied|shadow_denied}</li>
 *   <li>{@code rate_limit_exceeded_total{namespace}}: denials, enforced or shadow</li>
 *   <li>{@code rate_limit_check_duration_seconds{namespace}}: the engine's decision time, a histogram</li>
 *   <li>{@code rate_limit_active_keys}: keys with state in the in-memory store (absent with Redis)</li>
 *   <li>{@code viva_store_degraded}, {@code viva_store_fallbacks_total}, {@code viva_store_failures_total},
 *       {@code viva_store_failure_mode{mode}}: the Redis store's health (absent in memory);
 *       {@code viva_store_short_circuits_total}: denials answered by the Redis store's local
 *       short-circuit without a round trip</li>
 *   <li>{@code api_requests_total{route,method,status}}</li>
 *   <li>{@code viva_config_reloads_total{result,source}}; {@code viva_policies} (namespaces loaded)</li>
 *   <li>JVM and process metrics ({@code jvm_*}, {@code process_*}, {@code system_*}), bound on the
 *       first scrape</li>
 * </ul>
 *
 * <p>See docs/operations.md for each metric's meaning.
 */
final class Metrics implements AutoCloseable {

  /** Histogram bucket bounds of the check duration: an in-memory decision takes microseconds. */
  private static final Duration[] CHECK_BUCKETS = {
      Duration.ofNanos(1_000), Duration.ofNanos(2_500), Duration.ofNanos(5_000), Duration.ofNanos(10_000),
      Duration.ofNanos(25_000), Duration.ofNanos(50_000), Duration.ofNanos(100_000), Duration.ofNanos(250_000),
      Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofMillis(25),
      Duration.ofMillis(100)};

  private static final HttpMethod[] METHODS = {HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.DELETE,
      HttpMethod.PATCH, HttpMethod.HEAD, HttpMethod.OPTIONS};
  private static final String[] METHOD_LABELS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "other"};

  private final PrometheusMeterRegistry registry;
  /** Whether {@link #bindJvmMetrics()} has run; the binders are created on the first scrape. */
  private volatile boolean jvmBound;
  /** Guarded by this; null until the first scrape. */
  private JvmGcMetrics gcMetrics;
  private final ConcurrentHashMap<String, NamespaceMeters> namespaces = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, RouteMeters> routes = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Counter> envoy = new ConcurrentHashMap<>();

  Metrics(LimitStore store) {
    registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    if (store instanceof RedisBackend redis) {
      // Redis holds the keys (and expires them itself): no active-keys gauge, but the store's health.
      gauge(registry, "viva_store_degraded",
          "1 while the Redis store's failure mode answers decisions (not connected, or breaker open)", redis,
          r -> r.isDegraded() ? 1 : 0);
      counter(registry, "viva_store_fallbacks", "Decisions answered by the Redis store's failure mode instead of Redis",
          redis, RedisBackend::fallbackCount);
      counter(registry, "viva_store_failures", "Redis calls (and connection attempts) that failed or timed out", redis,
          RedisBackend::failureCount);
      // Constant 1 labelled with the configured failure mode, so alerts can tell fail-open apart.
      Gauge.builder("viva_store_failure_mode", () -> 1).tag("mode", redis.failureMode())
          .description("The Redis store's failure mode (label mode: local, fail_open or fail_closed); always 1")
          .strongReference(true).register(registry);
      counter(registry, "viva_store_short_circuits",
          "Denials answered by the Redis store's local short-circuit, without a round trip to Redis", redis,
          RedisBackend::shortCircuitCount);
    } else {
      gauge(registry, "rate_limit_active_keys", "Keys holding rate limit state in the store", store,
          s -> Math.max(0, s.keyCount()));
    }
    for (String result : new String[] {"success", "failure"}) {
      for (String source : new String[] {"file", "admin", "envoy"}) {
        reloadCounter(result, source);
      }
    }
  }

  /**
   * The counter of Envoy RLS decisions of one rule ({@code viva_envoy_rule_decisions_total{key,result}}),
   * result {@code ok|over_limit|shadow_mode|quota_mode}; created on first use, then cached.
   */
  Counter envoyRule(String key, String result) {
    return envoy.computeIfAbsent(key + '\u0000' + result, k -> Counter.builder("viva_envoy_rule_decisions")
        .description("Envoy RLS descriptor decisions per rule (the rule's full key)")
        .tag("key", key).tag("result", result).register(registry));
  }

  /** The counter of Envoy RLS requests by overall result ({@code viva_envoy_requests_total{result}}). */
  Counter envoyRequest(String result) {
    return envoy.computeIfAbsent("\u0000request\u0000" + result, k -> Counter.builder("viva_envoy_requests")
        .description("Envoy RLS ShouldRateLimit requests by overall code (shadow_mode: over limit, allowed by"
            + " global shadow mode)")
        .tag("result", result).register(registry));
  }

  /** The meters of one namespace, created on first use. */
  NamespaceMeters namespace(String namespace) {
    return namespaces.computeIfAbsent(namespace, n -> new NamespaceMeters(this, n));
  }

  /** The request counter of one route template, created on first use. */
  RouteMeters route(String template) {
    return routes.computeIfAbsent(template, t -> new RouteMeters(this, t));
  }

  /** Counts one configuration reload. */
  void configReload(boolean success, String source) {
    reloadCounter(success ? "success" : "failure", source).increment();
  }

  /** Publishes the number of namespaces loaded. */
  void policies(java.util.function.Supplier<Number> count) {
    Gauge.builder("viva_policies", count).description("Namespaces currently loaded").strongReference(true)
        .register(registry);
  }

  private Counter reloadCounter(String result, String source) {
    return Counter.builder("viva_config_reloads")
        .description("Policy reloads from the configuration file or the admin API, by result")
        .tag("result", result).tag("source", source)
        .register(registry);
  }

  /**
   * Registers a counter whose count {@code source} keeps, read at each scrape; {@code tags} are
   * label names and values, alternating.
   */
  static <T> void counter(MeterRegistry registry, String name, String description, T source,
      ToDoubleFunction<T> count, String... tags) {
    FunctionCounter.builder(name, source, count).description(description).tags(tags).register(registry);
  }

  /** Registers a gauge whose value {@code source} keeps, read at each scrape. */
  static <T> void gauge(MeterRegistry registry, String name, String description, T source,
      ToDoubleFunction<T> value) {
    Gauge.builder(name, source, value).description(description).register(registry);
  }

  /** The Prometheus text exposition of every meter. */
  String scrape() {
    if (!jvmBound) {
      bindJvmMetrics();
    }
    return registry.scrape();
  }

  /**
   * Binds the JVM and process meters ({@code jvm_*}, {@code process_*}, {@code system_*}). Done on
   * the first scrape rather than at start: the binders and the management beans behind them are
   * ~250 classes that a server nobody scrapes never needs (docs/decisions/0005-idle-memory.md). The
   * GC counters therefore count from the first scrape on, which Prometheus's rate() does not mind.
   */
  private synchronized void bindJvmMetrics() {
    if (jvmBound) {
      return;
    }
    new JvmMemoryMetrics().bindTo(registry);
    gcMetrics = new JvmGcMetrics();
    gcMetrics.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
    jvmBound = true;
  }

  PrometheusMeterRegistry registry() {
    return registry;
  }

  @Override
  public void close() {
    synchronized (this) {
      if (gcMetrics != null) {
        gcMetrics.close();
      }
    }
    registry.close();
  }

  /** The meters of one namespace. */
  static final class NamespaceMeters {
    final Counter allowed;
    final Counter denied;
    final Counter shadowDenied;
    final Counter exceeded;
    final Timer duration;

    private NamespaceMeters(Metrics m, String namespace) {
      allowed = checks(m, namespace, "allowed");
      denied = checks(m, namespace, "denied");
      shadowDenied = checks(m, namespace, "shadow_denied");
      exceeded = Counter.builder("rate_limit_exceeded")
          .description("Checks that exceeded a limit, enforced (429) or in shadow mode")
          .tag("namespace", namespace).register(m.registry);
      duration = Timer.builder("rate_limit_check_duration")
          .description("Time the engine took to decide one check")
          .tag("namespace", namespace)
          .serviceLevelObjectives(CHECK_BUCKETS)
          .register(m.registry);
    }

    private static Counter checks(Metrics m, String namespace, String result) {
      return Counter.builder("rate_limit_checks")
          .description("Rate limit checks by namespace and result")
          .tag("namespace", namespace).tag("result", result)
          .register(m.registry);
    }

    /** Records one decision. */
    void record(boolean allowed, boolean shadowDenied, long nanos) {
      duration.record(nanos, TimeUnit.NANOSECONDS);
      if (shadowDenied) {
        this.shadowDenied.increment();
        exceeded.increment();
      } else if (allowed) {
        this.allowed.increment();
      } else {
        denied.increment();
        exceeded.increment();
      }
    }
  }

  /** The {@code api_requests_total} counters of one route template, by method and status. */
  static final class RouteMeters {
    private final Metrics metrics;
    private final String route;
    private final AtomicReferenceArray<Counter> counters = new AtomicReferenceArray<>(METHOD_LABELS.length * 500);

    private RouteMeters(Metrics metrics, String route) {
      this.metrics = metrics;
      this.route = route;
    }

    /** Counts one request. */
    void increment(HttpMethod method, int status) {
      int s = status >= 100 && status < 600 ? status - 100 : 499;
      int index = methodIndex(method) * 500 + s;
      Counter c = counters.get(index);
      if (c == null) {
        c = Counter.builder("api_requests")
            .description("HTTP requests by route template, method and status")
            .tag("route", route).tag("method", METHOD_LABELS[methodIndex(method)])
            .tag("status", Integer.toString(s + 100))
            .register(metrics.registry);
        counters.set(index, c);
      }
      c.increment();
    }

    private static int methodIndex(HttpMethod method) {
      for (int i = 0; i < METHODS.length; i++) {
        if (METHODS[i].equals(method)) {
          return i;
        }
      }
      return METHODS.length;
    }
  }
}
