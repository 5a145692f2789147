package io.viva.server.gateway;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What the gateway does, as configured (the {@code gateway:} section of the YAML file, see
 * docs/gateway.md): the upstreams, the routes that choose one by path prefix, the policies that
 * apply per API key, per endpoint and per client IP, the trusted proxies and the optional queue.
 * Validated by the server's parser; immutable. The gateway compiles it into lookup tables once
 * per load, never per request.
 *
 * @param upstreams the upstreams by name
 * @param routes the routes; the longest matching prefix wins
 * @param endpoints endpoint policies, the first match applies
 * @param trustedProxies addresses and CIDR blocks whose {@code X-Forwarded-For} is believed
 * @param apiKey the API key header and the policy of callers with a key
 * @param ipPolicy the namespace limiting callers without a key per client IP, or null for none
 * @param queue the bounded queue for bursts, or null to answer 429 at once
 * @param webSocketSubprotocols the WebSocket subprotocols the gateway accepts from clients; the one
 *     agreed with a client is offered upstream (read when the gateway starts)
 */
public record GatewayConfig(Map<String, Upstream> upstreams, List<Route> routes, List<Endpoint> endpoints,
    List<String> trustedProxies, ApiKey apiKey, String ipPolicy, Queue queue, List<String> webSocketSubprotocols) {

  /** Copies the collections. */
  public GatewayConfig {
    upstreams = Map.copyOf(upstreams);
    routes = List.copyOf(routes);
    endpoints = List.copyOf(endpoints);
    trustedProxies = List.copyOf(trustedProxies);
    webSocketSubprotocols = List.copyOf(webSocketSubprotocols);
    Objects.requireNonNull(apiKey, "apiKey");
  }

  /**
   * Checks an endpoint path pattern as the gateway will compile it.
   *
   * @throws IllegalArgumentException with the value and what was expected
   */
  public static void checkPathPattern(String pattern) {
    PathPattern.parse(pattern);
  }

  /**
   * Checks a trusted proxy entry (an IP address or CIDR block) as the gateway will compile it.
   *
   * @throws IllegalArgumentException with the value and what was expected
   */
  public static void checkNetwork(String entry) {
    IpNetworks.parse(List.of(entry));
  }

  /**
   * One upstream service.
   *
   * @param name its name in routes, metrics and logs
   * @param url {@code http(s)://host[:port][/base/path]}; the base path is prepended to forwarded paths
   * @param connectTimeout how long a new connection may take
   * @param maxConnections most pooled connections to it (all event loops together)
   * @param preserveHost whether the client's {@code Host} is forwarded (else the upstream's host:port)
   * @param breaker when to stop sending it requests
   */
  public record Upstream(String name, URI url, Duration connectTimeout, int maxConnections, boolean preserveHost,
      Breaker breaker) {}

  /**
   * The circuit breaker of an upstream: open after {@code failureThreshold} consecutive connect
   * errors or timeouts, for {@code openFor}; then one probe request decides.
   */
  public record Breaker(int failureThreshold, Duration openFor) {}

  /**
   * Requests whose path starts with {@code prefix} go to {@code upstream}.
   *
   * @param timeout how long the upstream may take to start answering, and to stay silent afterwards
   * @param stripPrefix whether the prefix is removed from the forwarded path
   */
  public record Route(String prefix, String upstream, Duration timeout, boolean stripPrefix) {}

  /**
   * An endpoint policy: requests with {@code method} (null: any) whose path matches {@code path}
   * ({@code *} one segment, a final {@code **} any rest) are also limited by {@code policy}.
   *
   * @param perClient whether each client has its own allowance on the endpoint (else one shared by all)
   */
  public record Endpoint(String method, String path, String policy, boolean perClient) {}

  /**
   * API keys: the header carrying them and the policy for callers that send one.
   *
   * @param tiers policies of particular keys, by the SHA-256 (hex) of the key
   * @param platform whether keys are full mode's ({@code keys: platform}): verified against its key
   *     database and limited by their tiers, instead of {@code policy} and {@code tiers}
   */
  public record ApiKey(String header, String policy, Map<String, String> tiers, boolean platform) {
    /** Copies the map. */
    public ApiKey {
      tiers = Map.copyOf(tiers);
    }

    /** Keys as the gateway's own ({@code keys: static}). */
    public ApiKey(String header, String policy, Map<String, String> tiers) {
      this(header, policy, tiers, false);
    }
  }

  /** The queue: a denied request waits up to {@code maxWait} for its limits, at most {@code maxSize} at once. */
  public record Queue(Duration maxWait, int maxSize) {}
}
