package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.server.gateway.GatewayConfig;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The {@code gateway:} section of a configuration file, parsed and validated into a {@link
 * GatewayConfig}. Every error names the key path and what was expected; see docs/gateway.md.
 *
 * <pre>{@code
 * gateway:
 *   upstreams:
 *     api: {url: http://localhost:8081, connect_timeout: 2s, max_connections: 512, preserve_host: false,
 *           circuit_breaker: {failure_threshold: 5, open_for: 10s}}
 *   routes:
 *     - {prefix: /api, upstream: api, timeout: 30s, strip_prefix: false}
 *   trusted_proxies: [127.0.0.1, 10.0.0.0/8]
 *   api_key: {header: X-API-Key, policy: default, tiers: [{key_sha256: "…", policy: premium}]}
 *   # or api_key: {keys: platform}: full mode's keys and tiers (the platform section's database)
 *   ip_policy: default
 *   endpoints:
 *     - {method: POST, path: /api/search/**, policy: expensive, per: client}
 *   queue: {max_wait: 200ms, max_size: 1000}
 *   websocket_subprotocols: [graphql-transport-ws]
 * }</pre>
 *
 * Without {@code upstreams}, one upstream {@code default} at {@code DOWNSTREAM_URL} (default
 * {@code http://localhost:8081}); without {@code routes}, one route {@code /} to {@code default}
 * (or to the only upstream).
 * {@code DOWNSTREAM_URL}, when set, is the URL of the upstream {@code default} in any case.
 */
final class GatewayFile {

  static final String DEFAULT_DOWNSTREAM = "http://localhost:8081";
  static final String DEFAULT_UPSTREAM = "default";

  private static final Set<String> KEYS = Set.of("upstreams", "routes", "trusted_proxies", "api_key", "ip_policy",
      "endpoints", "queue", "websocket_subprotocols");
  private static final Set<String> UPSTREAM_KEYS = Set.of("url", "connect_timeout", "max_connections",
      "preserve_host", "circuit_breaker");
  private static final Set<String> BREAKER_KEYS = Set.of("failure_threshold", "open_for");
  private static final Set<String> ROUTE_KEYS = Set.of("prefix", "upstream", "timeout", "strip_prefix");
  private static final Set<String> API_KEY_KEYS = Set.of("header", "policy", "tiers", "keys");
  private static final Set<String> TIER_KEYS = Set.of("key_sha256", "policy");
  private static final Set<String> ENDPOINT_KEYS = Set.of("method", "path", "policy", "per");
  private static final Set<String> QUEUE_KEYS = Set.of("max_wait", "max_size");
  private static final Set<String> METHODS = Set.of("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
      "TRACE", "CONNECT");

  private GatewayFile() {}

  /**
   * Parses {@code node} (the {@code gateway} section, possibly missing) into a configuration.
   *
   * @param downstreamUrl {@code DOWNSTREAM_URL}, or null
   * @param namespaces the policies' namespaces, which every policy named here must be one of
   */
  static GatewayConfig parse(JsonNode node, String downstreamUrl, Set<String> namespaces) throws ConfigException {
    if (!node.isMissingNode()) {
      ConfigTree.requireObject(node, "gateway", KEYS);
    }
    Map<String, GatewayConfig.Upstream> upstreams = new LinkedHashMap<>();
    JsonNode ups = ConfigTree.get(node, "upstreams");
    if (!ups.isMissingNode()) {
      if (!ups.isObject() || ups.isEmpty()) {
        throw new ConfigException("gateway.upstreams: " + ConfigTree.describe(ups)
            + " (expected: a mapping of names to upstreams, e.g. api: {url: http://localhost:8081})");
      }
      for (var it = ups.fields(); it.hasNext(); ) {
        var e = it.next();
        String path = "gateway.upstreams." + e.getKey();
        if (!PolicyFile.NAME.matcher(e.getKey()).matches()) {
          throw new ConfigException(path + ": bad name (expected: 1 to 128 letters, digits or _ . : -)");
        }
        upstreams.put(e.getKey(), upstream(e.getKey(), e.getValue(), path));
      }
    }
    if (downstreamUrl != null || !upstreams.containsKey(DEFAULT_UPSTREAM) && ups.isMissingNode()) {
      String url = downstreamUrl != null ? downstreamUrl : DEFAULT_DOWNSTREAM;
      GatewayConfig.Upstream base = upstreams.get(DEFAULT_UPSTREAM);
      URI uri = url(url, downstreamUrl != null ? "DOWNSTREAM_URL" : "gateway.upstreams.default.url");
      upstreams.put(DEFAULT_UPSTREAM, base == null ? defaults(DEFAULT_UPSTREAM, uri)
          : new GatewayConfig.Upstream(DEFAULT_UPSTREAM, uri, base.connectTimeout(), base.maxConnections(),
              base.preserveHost(), base.breaker()));
    }

    List<GatewayConfig.Route> routes = new ArrayList<>();
    JsonNode rs = ConfigTree.get(node, "routes");
    if (rs.isMissingNode()) {
      String only = upstreams.size() == 1 ? upstreams.keySet().iterator().next() : null;
      if (!upstreams.containsKey(DEFAULT_UPSTREAM) && only == null) {
        throw new ConfigException("gateway.routes: missing (expected: a list of routes when there are several"
            + " upstreams and none is named \"default\")");
      }
      routes.add(new GatewayConfig.Route("/", only != null ? only : DEFAULT_UPSTREAM, Duration.ofSeconds(30), false));
    } else {
      List<JsonNode> items = ConfigTree.list(rs, "gateway.routes");
      if (items.isEmpty()) {
        throw new ConfigException("gateway.routes: [] (expected: at least one route)");
      }
      Set<String> prefixes = new HashSet<>();
      for (int i = 0; i < items.size(); i++) {
        String path = "gateway.routes[" + i + "]";
        GatewayConfig.Route r = route(items.get(i), path, upstreams.keySet());
        if (!prefixes.add(r.prefix())) {
          throw new ConfigException(path + ".prefix: \"" + r.prefix() + "\" (expected: each prefix once)");
        }
        routes.add(r);
      }
    }

    List<String> trusted = new ArrayList<>();
    JsonNode tp = ConfigTree.get(node, "trusted_proxies");
    if (!tp.isMissingNode()) {
      List<JsonNode> items = ConfigTree.list(tp, "gateway.trusted_proxies");
      for (int i = 0; i < items.size(); i++) {
        String path = "gateway.trusted_proxies[" + i + "]";
        String v = ConfigTree.string(items.get(i), path);
        try {
          GatewayConfig.checkNetwork(v);
        } catch (IllegalArgumentException e) {
          throw new ConfigException(path + ": " + e.getMessage());
        }
        trusted.add(v.trim());
      }
    }

    GatewayConfig.ApiKey apiKey = apiKey(ConfigTree.get(node, "api_key"), namespaces);
    String ipPolicy;
    JsonNode ip = ConfigTree.get(node, "ip_policy");
    if (ip.isMissingNode() && node.has("ip_policy")) {
      ipPolicy = null;  // ip_policy: null turns it off
    } else if (!ip.isMissingNode()) {
      String v = ConfigTree.string(ip, "gateway.ip_policy");
      ipPolicy = v.isEmpty() || v.equals("none") ? null : policy(v, "gateway.ip_policy", namespaces);
    } else {
      ipPolicy = policy(CheckApi.DEFAULT_NAMESPACE, "gateway.ip_policy (default)", namespaces);
    }

    List<GatewayConfig.Endpoint> endpoints = new ArrayList<>();
    JsonNode eps = ConfigTree.get(node, "endpoints");
    if (!eps.isMissingNode()) {
      List<JsonNode> items = ConfigTree.list(eps, "gateway.endpoints");
      for (int i = 0; i < items.size(); i++) {
        endpoints.add(endpoint(items.get(i), "gateway.endpoints[" + i + "]", namespaces));
      }
    }

    GatewayConfig.Queue queue = null;
    JsonNode q = ConfigTree.get(node, "queue");
    if (!q.isMissingNode()) {
      ConfigTree.requireObject(q, "gateway.queue", QUEUE_KEYS);
      JsonNode mw = ConfigTree.get(q, "max_wait");
      Duration maxWait = mw.isMissingNode() ? Duration.ofMillis(200) : ConfigTree.duration(mw, "gateway.queue.max_wait",
          "ms");
      if (maxWait.isZero() || maxWait.isNegative() || maxWait.compareTo(Duration.ofSeconds(60)) > 0) {
        throw new ConfigException("gateway.queue.max_wait: " + DurationParser.format(maxWait)
            + " (expected: more than 0 and at most 60s)");
      }
      JsonNode ms = ConfigTree.get(q, "max_size");
      int maxSize = ms.isMissingNode() ? 1000 : (int) ConfigTree.integer(ms, "gateway.queue.max_size", 1, 1_000_000);
      queue = new GatewayConfig.Queue(maxWait, maxSize);
    }
    List<String> subprotocols = new ArrayList<>();
    JsonNode sp = ConfigTree.get(node, "websocket_subprotocols");
    if (!sp.isMissingNode()) {
      List<JsonNode> items = ConfigTree.list(sp, "gateway.websocket_subprotocols");
      for (int i = 0; i < items.size(); i++) {
        String path = "gateway.websocket_subprotocols[" + i + "]";
        String v = ConfigTree.string(items.get(i), path);
        if (!v.matches("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")) {
          throw new ConfigException(path + ": " + ConfigTree.describe(items.get(i))
              + " (expected: a subprotocol token such as graphql-transport-ws)");
        }
        subprotocols.add(v);
      }
    }
    return new GatewayConfig(upstreams, routes, endpoints, trusted, apiKey, ipPolicy, queue, subprotocols);
  }

  private static GatewayConfig.Upstream defaults(String name, URI url) {
    return new GatewayConfig.Upstream(name, url, Duration.ofSeconds(2), 512, false,
        new GatewayConfig.Breaker(5, Duration.ofSeconds(10)));
  }

  private static GatewayConfig.Upstream upstream(String name, JsonNode node, String path) throws ConfigException {
    ConfigTree.requireObject(node, path, UPSTREAM_KEYS);
    JsonNode u = ConfigTree.required(node, path, "url", "http://host:port or https://host[:port][/base]");
    GatewayConfig.Upstream d = defaults(name, url(ConfigTree.string(u, path + ".url"), path + ".url"));
    JsonNode v;
    Duration connect = d.connectTimeout();
    if (!(v = ConfigTree.get(node, "connect_timeout")).isMissingNode()) {
      connect = positive(ConfigTree.duration(v, path + ".connect_timeout", "ms"), path + ".connect_timeout");
    }
    int max = d.maxConnections();
    if (!(v = ConfigTree.get(node, "max_connections")).isMissingNode()) {
      max = (int) ConfigTree.integer(v, path + ".max_connections", 1, 100_000);
    }
    boolean preserveHost = false;
    if (!(v = ConfigTree.get(node, "preserve_host")).isMissingNode()) {
      preserveHost = ConfigTree.bool(v, path + ".preserve_host");
    }
    GatewayConfig.Breaker breaker = d.breaker();
    if (!(v = ConfigTree.get(node, "circuit_breaker")).isMissingNode()) {
      String bp = path + ".circuit_breaker";
      ConfigTree.requireObject(v, bp, BREAKER_KEYS);
      JsonNode t = ConfigTree.get(v, "failure_threshold");
      JsonNode o = ConfigTree.get(v, "open_for");
      breaker = new GatewayConfig.Breaker(
          t.isMissingNode() ? breaker.failureThreshold() : (int) ConfigTree.integer(t, bp + ".failure_threshold", 1, 1000),
          o.isMissingNode() ? breaker.openFor() : positive(ConfigTree.duration(o, bp + ".open_for", "s"), bp + ".open_for"));
    }
    return new GatewayConfig.Upstream(name, d.url(), connect, max, preserveHost, breaker);
  }

  static URI url(String text, String source) throws ConfigException {
    String t = text.trim();
    try {
      URI uri = new URI(t);
      String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
      if ((scheme.equals("http") || scheme.equals("https")) && uri.getHost() != null && uri.getRawQuery() == null
          && uri.getRawFragment() == null && uri.getRawUserInfo() == null) {
        return uri;
      }
    } catch (URISyntaxException e) {
      // reported below
    }
    throw new ConfigException(source + ": \"" + t + "\" (expected: an http or https URL such as http://localhost:8081,"
        + " optionally with a base path; no query or credentials)");
  }

  private static GatewayConfig.Route route(JsonNode node, String path, Set<String> upstreams) throws ConfigException {
    ConfigTree.requireObject(node, path, ROUTE_KEYS);
    JsonNode p = ConfigTree.required(node, path, "prefix", "a path prefix such as /api");
    String prefix = ConfigTree.string(p, path + ".prefix");
    if (prefix.isEmpty() || prefix.charAt(0) != '/' || prefix.indexOf('?') >= 0 || prefix.indexOf('*') >= 0) {
      throw new ConfigException(path + ".prefix: " + ConfigTree.describe(p)
          + " (expected: a path starting with /, without ? or *)");
    }
    JsonNode u = ConfigTree.get(node, "upstream");
    String upstream = u.isMissingNode() ? DEFAULT_UPSTREAM : ConfigTree.string(u, path + ".upstream");
    if (!upstreams.contains(upstream)) {
      throw new ConfigException(path + ".upstream: \"" + upstream + "\" (expected: one of the upstreams: "
          + String.join(", ", upstreams) + ")");
    }
    JsonNode t = ConfigTree.get(node, "timeout");
    Duration timeout = t.isMissingNode() ? Duration.ofSeconds(30)
        : positive(ConfigTree.duration(t, path + ".timeout", "s"), path + ".timeout");
    JsonNode s = ConfigTree.get(node, "strip_prefix");
    boolean strip = !s.isMissingNode() && ConfigTree.bool(s, path + ".strip_prefix");
    return new GatewayConfig.Route(prefix, upstream, timeout, strip);
  }

  private static GatewayConfig.ApiKey apiKey(JsonNode node, Set<String> namespaces) throws ConfigException {
    String header = "X-API-Key";
    String policy = null;
    Map<String, String> tiers = new LinkedHashMap<>();
    boolean platform = false;
    if (!node.isMissingNode()) {
      ConfigTree.requireObject(node, "gateway.api_key", API_KEY_KEYS);
      JsonNode ks = ConfigTree.get(node, "keys");
      if (!ks.isMissingNode()) {
        String keys = ConfigTree.string(ks, "gateway.api_key.keys");
        if (!keys.equals("static") && !keys.equals("platform")) {
          throw new ConfigException("gateway.api_key.keys: " + ConfigTree.describe(ks)
              + " (expected: static, the gateway's own keys, or platform, full mode's key database)");
        }
        platform = keys.equals("platform");
      }
      JsonNode h = ConfigTree.get(node, "header");
      if (!h.isMissingNode()) {
        header = ConfigTree.string(h, "gateway.api_key.header");
        if (!header.matches("[A-Za-z0-9-]{1,64}")) {
          throw new ConfigException("gateway.api_key.header: " + ConfigTree.describe(h)
              + " (expected: a header name such as X-API-Key)");
        }
      }
      JsonNode p = ConfigTree.get(node, "policy");
      if (!p.isMissingNode()) {
        policy = policy(ConfigTree.string(p, "gateway.api_key.policy"), "gateway.api_key.policy", namespaces);
      }
      JsonNode ts = ConfigTree.get(node, "tiers");
      if (!ts.isMissingNode()) {
        List<JsonNode> items = ConfigTree.list(ts, "gateway.api_key.tiers");
        for (int i = 0; i < items.size(); i++) {
          String path = "gateway.api_key.tiers[" + i + "]";
          ConfigTree.requireObject(items.get(i), path, TIER_KEYS);
          JsonNode k = ConfigTree.get(items.get(i), "key_sha256");
          String hash = k.isMissingNode() ? "" : ConfigTree.string(k, path + ".key_sha256").toLowerCase(Locale.ROOT);
          if (!hash.matches("[0-9a-f]{64}")) {
            throw new ConfigException(path + ".key_sha256: " + (k.isMissingNode() ? "missing" : "not a SHA-256")
                + " (expected: 64 hex digits, e.g. from: printf %s \"$KEY\" | sha256sum)");
          }
          JsonNode tp = ConfigTree.required(items.get(i), path, "policy", "the namespace limiting this key");
          if (tiers.put(hash, policy(ConfigTree.string(tp, path + ".policy"), path + ".policy", namespaces)) != null) {
            throw new ConfigException(path + ".key_sha256: given twice (expected: each key once)");
          }
        }
      }
    }
    if (policy == null) {
      policy = policy(CheckApi.DEFAULT_NAMESPACE, "gateway.api_key.policy (default)", namespaces);
    }
    if (platform && !tiers.isEmpty()) {
      throw new ConfigException("gateway.api_key.tiers: given with keys: platform (expected: one of them; platform"
          + " keys get their tier from the key database)");
    }
    return new GatewayConfig.ApiKey(header, policy, tiers, platform);
  }

  private static GatewayConfig.Endpoint endpoint(JsonNode node, String path, Set<String> namespaces)
      throws ConfigException {
    ConfigTree.requireObject(node, path, ENDPOINT_KEYS);
    JsonNode m = ConfigTree.get(node, "method");
    String method = null;
    if (!m.isMissingNode()) {
      method = ConfigTree.string(m, path + ".method").toUpperCase(Locale.ROOT);
      if (method.equals("*") || method.equals("ANY")) {
        method = null;
      } else if (!METHODS.contains(method)) {
        throw new ConfigException(path + ".method: " + ConfigTree.describe(m) + " (expected: GET, POST, PUT, DELETE,"
            + " PATCH, HEAD, OPTIONS, or * for any)");
      }
    }
    JsonNode p = ConfigTree.get(node, "path");
    if (p.isMissingNode()) {
      throw new ConfigException(path + ".path: missing (expected: a path pattern such as /api/search or"
          + " /api/users/*/reports/**)");
    }
    String pattern = ConfigTree.string(p, path + ".path");
    try {
      GatewayConfig.checkPathPattern(pattern);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(path + ".path: " + e.getMessage());
    }
    JsonNode pol = ConfigTree.get(node, "policy");
    if (pol.isMissingNode()) {
      throw new ConfigException(path + ".policy: missing (expected: the namespace limiting this endpoint)");
    }
    String policy = policy(ConfigTree.string(pol, path + ".policy"), path + ".policy", namespaces);
    JsonNode per = ConfigTree.get(node, "per");
    boolean perClient = true;
    if (!per.isMissingNode()) {
      String v = ConfigTree.string(per, path + ".per");
      if (!v.equals("client") && !v.equals("global")) {
        throw new ConfigException(path + ".per: " + ConfigTree.describe(per) + " (expected: client or global)");
      }
      perClient = v.equals("client");
    }
    return new GatewayConfig.Endpoint(method, pattern, policy, perClient);
  }

  private static String policy(String name, String path, Set<String> namespaces) throws ConfigException {
    if (!namespaces.contains(name)) {
      throw new ConfigException(path + ": \"" + name + "\" is not a policy (expected: a namespace of the policies:"
          + " " + String.join(", ", namespaces.stream().sorted().limit(20).toList()) + ")");
    }
    return name;
  }

  private static Duration positive(Duration d, String path) throws ConfigException {
    if (d.isZero() || d.isNegative()) {
      throw new ConfigException(path + ": " + DurationParser.format(d) + " (expected: a positive duration)");
    }
    return d;
  }
}
