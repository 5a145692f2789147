package io.viva.server.gateway;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.ToDoubleFunction;

/**
 * The gateway's meters, registered in the server's Prometheus registry. Labels are bounded: route
 * prefixes and upstream names from the configuration, status codes, a fixed set of kinds. Every
 * meter on the request path is looked up once per route or upstream at load, then cached.
 *
 * <ul>
 *   <li>{@code gateway_requests_total{route,status}}: every request the gateway answered</li>
 *   <li>{@code gateway_rate_limited_total{route,by}}: 429s, by {@code key|endpoint|ip}</li>
 *   <li>{@code gateway_upstream_duration_seconds{upstream}}: time to the upstream's response headers</li>
 *   <li>{@code gateway_upstream_errors_total{upstream,kind}}: {@code connect|timeout|reset|circuit_open}</li>
 *   <li>{@code gateway_upstream_circuit_state{upstream}}: 0 closed, 1 open, 2 half-open</li>
 *   <li>{@code gateway_requests_in_flight}; {@code gateway_queue_waiting}; {@code gateway_queued_total{result}}: {@code admitted|rejected|full}</li>
 * </ul>
 */
final class GatewayMetrics {

  private static final Duration[] LATENCY_BUCKETS = {
      Duration.ofNanos(100_000), Duration.ofNanos(250_000), Duration.ofNanos(500_000), Duration.ofMillis(1),
      Duration.ofMillis(2), Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
      Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
      Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30)};

  static final String[] LIMITED_BY = {"key", "endpoint", "ip"};

  private final MeterRegistry registry;
  private final ConcurrentHashMap<String, RouteMeters> routes = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, UpstreamMeters> upstreams = new ConcurrentHashMap<>();
  final AtomicInteger queueWaiting = new AtomicInteger();
  /** Incremented and decremented by every request on every event loop: striped, not one contended word. */
  final LongAdder inFlight = new LongAdder();
  final Counter queueAdmitted;
  final Counter queueRejected;
  final Counter queueFull;

  GatewayMetrics(MeterRegistry registry) {
    this.registry = registry;
    Gauge.builder("gateway_queue_waiting", queueWaiting, AtomicInteger::get)
        .description("Requests waiting in the gateway's queue for their rate limits").register(registry);
    Gauge.builder("gateway_requests_in_flight", inFlight, LongAdder::sum)
        .description("Requests the gateway is handling right now (waiting, proxied or streaming)").register(registry);
    queueAdmitted = queued("admitted");
    queueRejected = queued("rejected");
    queueFull = queued("full");
  }

  private Counter queued(String result) {
    return Counter.builder("gateway_queued").description("Requests that waited in the queue, by outcome:"
        + " admitted, rejected (still limited at max_wait) or full (no room; answered 429 at once)")
        .tag("result", result).register(registry);
  }

  RouteMeters route(String route) {
    return routes.computeIfAbsent(route, r -> new RouteMeters(registry, r));
  }

  UpstreamMeters upstream(String name, ToDoubleFunction<String> state) {
    return upstreams.computeIfAbsent(name, n -> new UpstreamMeters(registry, n, state));
  }

  /** The counters of one route. */
  static final class RouteMeters {
    private final MeterRegistry registry;
    private final String route;
    private final AtomicReferenceArray<Counter> byStatus = new AtomicReferenceArray<>(500);
    final Counter[] limited = new Counter[LIMITED_BY.length];

    RouteMeters(MeterRegistry registry, String route) {
      this.registry = registry;
      this.route = route;
      for (int i = 0; i < LIMITED_BY.length; i++) {
        limited[i] = Counter.builder("gateway_rate_limited").description("Requests the gateway refused with 429,"
            + " by the kind of policy that refused them").tag("route", route).tag("by", LIMITED_BY[i])
            .register(registry);
      }
    }

    void request(int status) {
      int s = status >= 100 && status < 600 ? status - 100 : 399;
      Counter c = byStatus.get(s);
      if (c == null) {
        c = Counter.builder("gateway_requests").description("Requests the gateway answered, by route and status")
            .tag("route", route).tag("status", Integer.toString(s + 100)).register(registry);
        byStatus.set(s, c);
      }
      c.increment();
    }
  }

  /** The meters of one upstream. */
  static final class UpstreamMeters {
    final Timer latency;
    final Counter connectErrors;
    final Counter timeouts;
    final Counter resets;
    final Counter circuitOpen;

    UpstreamMeters(MeterRegistry registry, String upstream, ToDoubleFunction<String> state) {
      latency = Timer.builder("gateway_upstream_duration").description("Time from sending a request upstream to"
          + " its response headers").tag("upstream", upstream).serviceLevelObjectives(LATENCY_BUCKETS)
          .register(registry);
      connectErrors = error(registry, upstream, "connect");
      timeouts = error(registry, upstream, "timeout");
      resets = error(registry, upstream, "reset");
      circuitOpen = error(registry, upstream, "circuit_open");
      Gauge.builder("gateway_upstream_circuit_state", upstream, state).description("The upstream's circuit breaker:"
          + " 0 closed, 1 open, 2 half-open (probing)").tag("upstream", upstream).strongReference(true)
          .register(registry);
    }

    private static Counter error(MeterRegistry registry, String upstream, String kind) {
      return Counter.builder("gateway_upstream_errors").description("Requests that failed upstream: connect"
          + " (refused, unreachable), timeout, reset (broken mid-response), circuit_open (not sent: breaker open)")
          .tag("upstream", upstream).tag("kind", kind).register(registry);
    }

    void latency(long nanos) {
      latency.record(nanos, TimeUnit.NANOSECONDS);
    }
  }
}
