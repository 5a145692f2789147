package io.viva.server.gateway;

import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Viva in gateway mode: a rate limiting reverse proxy. Each request is routed by path prefix to
 * an upstream, limited by the policies that apply to it (its API key's, its endpoint's, its
 * client IP's when it has no key; all must allow), then forwarded with its body streamed both
 * ways. See docs/gateway.md.
 *
 * <pre>{@code
 * Gateway gateway = new Gateway(config, policies, null, registry);
 * server.requestHandler(gateway.handler(vertx, n)); // once per event loop (n of them), on that loop
 * gateway.update(newConfig);                         // hot reload
 * }</pre>
 */
public final class Gateway {

  private static final Logger LOG = LoggerFactory.getLogger(Gateway.class);

  private final PolicyLookup policies;
  private final ClientResolver customResolver;
  private final GatewayMetrics metrics;
  private final ConcurrentHashMap<String, Boolean> warnedPolicies = new ConcurrentHashMap<>();
  private volatile Routing routing;
  /** Sees each proxied call as it begins; null except in tests (see {@link #observeCalls}). */
  private volatile Consumer<Object> callObserver;

  /**
   * A gateway over {@code config}.
   *
   * @param policies the server's policies, by namespace
   * @param resolver who API keys belong to; null: every key is its own client ({@link ClientResolver#staticKeys})
   * @param registry where the gateway's meters go
   * @throws IllegalArgumentException if the configuration is inconsistent
   */
  public Gateway(GatewayConfig config, PolicyLookup policies, ClientResolver resolver, MeterRegistry registry) {
    this.policies = Objects.requireNonNull(policies, "policies");
    this.customResolver = resolver;
    this.metrics = new GatewayMetrics(registry);
    this.routing = compile(config, null);
  }

  private Routing compile(GatewayConfig config, Routing previous) {
    ClientResolver resolver = customResolver != null ? customResolver : ClientResolver.staticKeys(config.apiKey());
    return new Routing(config, previous, resolver, metrics, this::breakerState);
  }

  /** Replaces the configuration; requests already under way finish with the one they started with. */
  public void update(GatewayConfig config) {
    synchronized (this) {
      routing = compile(config, routing);
    }
    warnedPolicies.clear();
  }

  /** The configuration in force. */
  public GatewayConfig config() {
    return routing.config;
  }

  /** Requests being proxied right now (all event loops). */
  public long inFlight() {
    return metrics.inFlight.sum();
  }

  /**
   * A request handler for one event loop, with its own connection pools to the upstreams. Call it
   * on that event loop (in a verticle's start).
   *
   * @param eventLoops how many handlers there are: each gets this share of an upstream's {@code max_connections}
   */
  public Handler<HttpServerRequest> handler(Vertx vertx, int eventLoops) {
    return new ProxyHandler(vertx, this, eventLoops);
  }

  Routing routing() {
    return routing;
  }

  PolicyLookup policies() {
    return policies;
  }

  GatewayMetrics metrics() {
    return metrics;
  }

  /**
   * Hands every call that begins from now on to {@code observer} (null: none), on its event loop.
   * For tests that check what stays reachable after calls end.
   */
  void observeCalls(Consumer<Object> observer) {
    callObserver = observer;
  }

  void observe(ProxyCall call) {
    Consumer<Object> o = callObserver;
    if (o != null) {
      o.accept(call);
    }
  }

  /** Logs once per configuration that a policy the gateway names does not exist (it is skipped). */
  void missingPolicy(String namespace) {
    if (warnedPolicies.putIfAbsent(namespace, Boolean.TRUE) == null) {
      LOG.warn("gateway: policy {} is not defined (policies were changed without it); requests are not limited"
          + " by it until it is", namespace);
    }
  }

  private double breakerState(String upstream) {
    Routing.Upstream u = routing.upstreams.get(upstream);
    return u == null ? Double.NaN : u.breaker.state();
  }
}
