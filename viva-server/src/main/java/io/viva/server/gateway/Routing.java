package io.viva.server.gateway;

import io.vertx.core.http.HttpMethod;
import io.vertx.core.net.SocketAddress;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A {@link GatewayConfig} compiled for the request path: routes sorted longest prefix first,
 * endpoint patterns split into segments, trusted proxies parsed into byte masks, meters and
 * circuit breakers resolved. Built once per (re)load and read through one volatile reference per
 * request, so a request sees one configuration throughout.
 */
final class Routing {

  final GatewayConfig config;
  final Route[] routes;
  final Endpoint[] endpoints;
  final TrustedProxies proxies;
  final String apiKeyHeader;
  /** {@link #apiKeyHeader} with its hash computed once, for the per-request lookup; null without one. */
  final CharSequence apiKeyHeaderName;
  final ClientResolver resolver;
  final String ipPolicy;
  final long maxWaitNanos;
  final int maxQueue;
  final Map<String, Upstream> upstreams;

  /** One route, with its upstream resolved. */
  static final class Route {
    final String prefix;
    final boolean endsWithSlash;
    final Upstream upstream;
    final long timeoutMillis;
    final long timeoutNanos;
    final boolean strip;
    final GatewayMetrics.RouteMeters meters;

    Route(GatewayConfig.Route r, Upstream upstream, GatewayMetrics.RouteMeters meters) {
      this.prefix = r.prefix();
      this.endsWithSlash = prefix.endsWith("/");
      this.upstream = upstream;
      this.timeoutMillis = Math.max(1, r.timeout().toMillis());
      this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
      this.strip = r.stripPrefix();
      this.meters = meters;
    }

    /** Whether {@code path} is under this prefix, on a segment boundary ({@code /api} matches {@code /api/x}, not {@code /apix}). */
    boolean matches(String path) {
      if (!path.startsWith(prefix)) {
        return false;
      }
      return endsWithSlash || path.length() == prefix.length() || path.charAt(prefix.length()) == '/';
    }

    /**
     * The request target to send upstream: {@link #upstreamPath} and the query string. When the path
     * is forwarded unchanged that is the client's own target ({@code rawUri}, origin-form), as is.
     */
    String upstreamUri(String rawUri, String path, String query) {
      if (!strip && upstream.basePath.isEmpty() && rawUri != null && !rawUri.isEmpty() && rawUri.charAt(0) == '/') {
        return rawUri;
      }
      String p = upstreamPath(path);
      return query == null ? p : p + "?" + query;
    }

    /** The path to send upstream: the upstream's base path, then the path (without the prefix when stripping). */
    String upstreamPath(String path) {
      String rest = path;
      if (strip) {
        rest = path.substring(prefix.length());
        if (rest.isEmpty() || rest.charAt(0) != '/') {
          rest = "/" + rest;
        }
      }
      String base = upstream.basePath;
      return base.isEmpty() ? rest : base + rest;
    }
  }

  /** One upstream: where it is and its breaker and meters (shared by every event loop). */
  static final class Upstream {
    final GatewayConfig.Upstream spec;
    final String name;
    final String host;
    final int port;
    final boolean ssl;
    final String basePath;
    /** Where to connect, built once: the pool resolves the host when it opens a connection, never per request. */
    final SocketAddress address;
    final CircuitBreaker breaker;
    final GatewayMetrics.UpstreamMeters meters;

    Upstream(GatewayConfig.Upstream spec, CircuitBreaker breaker, GatewayMetrics.UpstreamMeters meters) {
      this.spec = spec;
      this.name = spec.name();
      this.ssl = "https".equalsIgnoreCase(spec.url().getScheme());
      this.host = spec.url().getHost();
      this.port = spec.url().getPort() > 0 ? spec.url().getPort() : ssl ? 443 : 80;
      String p = spec.url().getRawPath();
      this.basePath = p == null || p.equals("/") ? "" : p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
      this.address = SocketAddress.inetSocketAddress(port, host);
      this.breaker = breaker;
      this.meters = meters;
    }
  }

  /** One endpoint policy. */
  static final class Endpoint {
    final HttpMethod method;
    final PathPattern pattern;
    final String policy;
    final boolean perClient;
    /** Prefix of the limiter key: endpoints sharing a policy keep separate counters. */
    final String keyPrefix;

    Endpoint(GatewayConfig.Endpoint e, int index) {
      this.method = e.method() == null ? null : HttpMethod.valueOf(e.method());
      this.pattern = PathPattern.parse(e.path());
      this.policy = e.policy();
      this.perClient = e.perClient();
      this.keyPrefix = "ep" + index + ":" + (e.method() == null ? "*" : e.method()) + " " + e.path();
    }

    boolean matches(HttpMethod m, String path) {
      return (method == null || method.equals(m)) && pattern.matches(path);
    }
  }

  Routing(GatewayConfig config, Routing previous, ClientResolver resolver, GatewayMetrics metrics,
      java.util.function.ToDoubleFunction<String> breakerState) {
    this.config = config;
    Map<String, Upstream> ups = new HashMap<>();
    for (GatewayConfig.Upstream u : config.upstreams().values()) {
      Upstream old = previous == null ? null : previous.upstreams.get(u.name());
      // Keep the breaker (and what it knows about the upstream) across reloads unless its settings changed.
      CircuitBreaker breaker = old != null && old.spec.breaker().equals(u.breaker()) && old.spec.url().equals(u.url())
          ? old.breaker
          : new CircuitBreaker(u.breaker().failureThreshold(), u.breaker().openFor().toNanos(), System::nanoTime);
      ups.put(u.name(), new Upstream(u, breaker, metrics.upstream(u.name(), breakerState)));
    }
    this.upstreams = Map.copyOf(ups);
    List<Route> rs = new ArrayList<>();
    for (GatewayConfig.Route r : config.routes()) {
      Upstream u = ups.get(r.upstream());
      if (u == null) {
        throw new IllegalArgumentException("route " + r.prefix() + ": unknown upstream " + r.upstream());
      }
      rs.add(new Route(r, u, metrics.route(r.prefix())));
    }
    rs.sort(Comparator.comparingInt((Route r) -> r.prefix.length()).reversed());
    this.routes = rs.toArray(new Route[0]);
    List<GatewayConfig.Endpoint> eps = config.endpoints();
    this.endpoints = new Endpoint[eps.size()];
    for (int i = 0; i < eps.size(); i++) {
      endpoints[i] = new Endpoint(eps.get(i), i);
    }
    this.proxies = TrustedProxies.of(config.trustedProxies());
    this.apiKeyHeader = config.apiKey().header();
    this.apiKeyHeaderName = apiKeyHeader == null ? null : io.vertx.core.http.HttpHeaders.createOptimized(apiKeyHeader);
    this.resolver = resolver;
    this.ipPolicy = config.ipPolicy();
    this.maxWaitNanos = config.queue() == null ? 0 : config.queue().maxWait().toNanos();
    this.maxQueue = config.queue() == null ? 0 : config.queue().maxSize();
  }

  /** The route of {@code path}, or null. */
  Route route(String path) {
    for (Route r : routes) {
      if (r.matches(path)) {
        return r;
      }
    }
    return null;
  }

  /** The first endpoint policy matching, or null. */
  Endpoint endpoint(HttpMethod method, String path) {
    for (Endpoint e : endpoints) {
      if (e.matches(method, path)) {
        return e;
      }
    }
    return null;
  }

  /** The client's address (see {@link TrustedProxies#clientIp}). */
  String clientIp(String peer, String forwardedFor) {
    return proxies.clientIp(peer, forwardedFor);
  }

  boolean trusts(String peer) {
    return proxies.trusts(peer);
  }

  /** The longest time a request waits in the queue, in nanoseconds; 0 without a queue. */
  long maxWaitNanos() {
    return maxWaitNanos;
  }

  static long millis(long nanos) {
    return TimeUnit.NANOSECONDS.toMillis(nanos);
  }
}
