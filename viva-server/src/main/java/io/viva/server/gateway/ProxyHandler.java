package io.viva.server.gateway;

import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketClientOptions;
import io.vertx.core.net.HostAndPort;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The gateway's request handler on one event loop. It owns this loop's connection pools to the
 * upstreams (a pool per loop: connections never hop threads), starts one {@link ProxyCall} per
 * request, and watches the route timeouts of this loop's calls. Nothing here blocks: limiter
 * decisions that complete later (Redis) and queue waits (timers) resume the call on this loop.
 *
 * <p>Timeouts: a call waiting on its upstream (for the response headers, or for the next piece of
 * a streaming body) is linked into this handler's list, and one periodic sweep, running only while
 * the list is not empty, ends the calls whose wait has lasted the route's timeout. A timer per call
 * would cost a scheduled task, a map entry and two boxed ids for each request, almost always
 * cancelled unfired; the sweep costs two pointer updates. A timeout therefore ends up to one sweep
 * period late: a tenth of the shortest timeout being watched, at most {@value #MAX_SWEEP_MILLIS} ms.
 */
final class ProxyHandler implements Handler<HttpServerRequest> {

  /** The longest period of the timeout sweep (the most a timeout can overrun). */
  static final long MAX_SWEEP_MILLIS = 100;

  final Vertx vertx;
  final Gateway gateway;
  private final int eventLoops;
  private final Map<GatewayConfig.Upstream, HttpClient> clients = new HashMap<>();
  /** By compiled upstream, so the hot path never hashes the upstream's settings. */
  private final Map<Routing.Upstream, UpstreamClient> clientsByIdentity = new IdentityHashMap<>();
  private final Map<GatewayConfig.Upstream, WebSocketClient> webSocketClients = new HashMap<>();

  // The calls waiting on their upstream, a doubly linked list through the calls themselves.
  private ProxyCall firstWaiting;
  private ProxyCall lastWaiting;
  private long sweepTimer = -1;
  private long sweepMillis;

  // The client identity of the last request: consecutive requests mostly come from the same peer
  // (keep-alive), and reusing the string also reuses its cached hash in the limiter's map.
  private String lastClientIp;
  private String lastIdentity;
  // Likewise the forwarding headers' host and Forwarded values.
  private String lastAuthorityHost;
  private int lastAuthorityPort;
  private String lastHost;
  private String lastForwardedPeer;
  private String lastForwardedHost;
  private String lastForwardedScheme;
  private String lastForwarded;

  ProxyHandler(Vertx vertx, Gateway gateway, int eventLoops) {
    this.vertx = vertx;
    this.gateway = gateway;
    this.eventLoops = Math.max(1, eventLoops);
  }

  @Override
  public void handle(HttpServerRequest request) {
    ProxyCall call = new ProxyCall(this, gateway.routing(), request);
    gateway.observe(call);
    call.begin();
  }

  /** The limiter identity of a client without an API key: {@code ip:} and its address. */
  String ipIdentity(String clientIp) {
    if (!clientIp.equals(lastClientIp)) {
      lastClientIp = clientIp;
      lastIdentity = "ip:" + clientIp;
    }
    return lastIdentity;
  }

  /** The request's {@code host[:port]} (for X-Forwarded-Host and Forwarded), or null without one. */
  String hostOf(HostAndPort authority) {
    if (authority == null) {
      return null;
    }
    String host = authority.host();
    int port = authority.port();
    if (port != lastAuthorityPort || !host.equals(lastAuthorityHost)) {
      lastAuthorityHost = host;
      lastAuthorityPort = port;
      lastHost = port >= 0 ? host + ":" + port : host;
    }
    return lastHost;
  }

  /** The gateway's own {@code Forwarded} element (RFC 7239) for a request from {@code peer}. */
  String forwarded(String peer, String host, String scheme) {
    if (!peer.equals(lastForwardedPeer) || !Objects.equals(host, lastForwardedHost)
        || !scheme.equals(lastForwardedScheme)) {
      lastForwardedPeer = peer;
      lastForwardedHost = host;
      lastForwardedScheme = scheme;
      StringBuilder f = new StringBuilder(64).append("for=");
      // IPv6 quoted in brackets.
      if (peer.indexOf(':') >= 0) {
        f.append("\"[").append(peer).append("]\"");
      } else {
        f.append(peer);
      }
      if (host != null) {
        f.append(";host=\"").append(host.replace("\\", "").replace("\"", "")).append('"');
      }
      lastForwarded = f.append(";proto=").append(scheme).toString();
    }
    return lastForwarded;
  }

  /** This loop's client of {@code upstream}; created on first use (only this loop touches the maps). */
  UpstreamClient client(Routing.Upstream upstream) {
    UpstreamClient fast = clientsByIdentity.get(upstream);
    if (fast != null) {
      return fast;
    }
    // A reload compiles new upstream objects: one with unchanged settings keeps its pool.
    HttpClient c = clients.get(upstream.spec);
    if (c == null) {
      GatewayConfig.Upstream spec = upstream.spec;
      HttpClientOptions options = new HttpClientOptions()
          .setKeepAlive(true)
          .setPipelining(false)
          .setTcpNoDelay(true)
          .setConnectTimeout((int) Math.min(Integer.MAX_VALUE, spec.connectTimeout().toMillis()))
          .setKeepAliveTimeout(60)
          .setDecompressionSupported(false)
          .setMaxHeaderSize(32 * 1024)
          .setSsl(upstream.ssl)
          .setMaxRedirects(0)
          .setName("viva-gateway-" + upstream.name);
      int perLoop = Math.max(1, (spec.maxConnections() + eventLoops - 1) / eventLoops);
      c = vertx.createHttpClient(options, new PoolOptions().setHttp1MaxSize(perLoop).setMaxWaitQueueSize(-1));
      clients.put(spec, c);
    }
    if (clientsByIdentity.size() > 1024) {
      clientsByIdentity.clear();
    }
    UpstreamClient uc = new UpstreamClient(c, upstream);
    clientsByIdentity.put(upstream, uc);
    return uc;
  }

  /** This loop's WebSocket client of {@code upstream}. */
  WebSocketClient webSocketClient(Routing.Upstream upstream) {
    return webSocketClients.computeIfAbsent(upstream.spec, spec -> vertx.createWebSocketClient(
        new WebSocketClientOptions().setConnectTimeout((int) Math.min(Integer.MAX_VALUE, spec.connectTimeout().toMillis()))
            .setSsl(upstream.ssl).setTcpNoDelay(true).setMaxFrameSize(1 << 20).setMaxMessageSize(16 << 20)));
  }

  // ---- timeouts -------------------------------------------------------------------------------

  /** Starts watching {@code call} (if not yet) for a timeout of {@code timeoutMillis}. */
  void watch(ProxyCall call, long timeoutMillis) {
    if (!call.watched) {
      call.watched = true;
      call.prevWaiting = lastWaiting;
      call.nextWaiting = null;
      if (lastWaiting == null) {
        firstWaiting = call;
      } else {
        lastWaiting.nextWaiting = call;
      }
      lastWaiting = call;
    }
    long period = Math.clamp(timeoutMillis / 10, 1, MAX_SWEEP_MILLIS);
    if (sweepTimer >= 0 && period < sweepMillis) {
      vertx.cancelTimer(sweepTimer);
      sweepTimer = -1;
    }
    if (sweepTimer < 0) {
      sweepMillis = period;
      sweepTimer = vertx.setPeriodic(period, period, id -> sweep());
    }
  }

  /** Stops watching {@code call}; nothing if it is not watched. */
  void unwatch(ProxyCall call) {
    if (!call.watched) {
      return;
    }
    call.watched = false;
    ProxyCall prev = call.prevWaiting;
    ProxyCall next = call.nextWaiting;
    if (prev == null) {
      firstWaiting = next;
    } else {
      prev.nextWaiting = next;
    }
    if (next == null) {
      lastWaiting = prev;
    } else {
      next.prevWaiting = prev;
    }
    call.prevWaiting = null;
    call.nextWaiting = null;
  }

  /** How many calls are being watched (tests). */
  int watchedCalls() {
    int n = 0;
    for (ProxyCall c = firstWaiting; c != null; c = c.nextWaiting) {
      n++;
    }
    return n;
  }

  private void sweep() {
    long now = System.nanoTime();
    ProxyCall c = firstWaiting;
    while (c != null) {
      // A call that times out unlinks itself (and only itself): take the next one first.
      ProxyCall next = c.nextWaiting;
      c.checkTimeout(now);
      c = next;
    }
    if (firstWaiting == null && sweepTimer >= 0) {
      vertx.cancelTimer(sweepTimer);
      sweepTimer = -1;
    }
  }

  /**
   * This loop's pooled client of one upstream, with the request options that every request to it
   * shares. Vert.x reads the options while {@code request} is called and keeps none of them, so one
   * instance per upstream and loop is rewritten for each request instead of building a new one.
   */
  static final class UpstreamClient {
    final HttpClient client;
    private final RequestOptions options;

    UpstreamClient(HttpClient client, Routing.Upstream upstream) {
      this.client = client;
      this.options = new RequestOptions().setServer(upstream.address).setHost(upstream.host).setPort(upstream.port)
          .setSsl(upstream.ssl);
    }

    /** The options for one request; valid until the next call (same loop). */
    RequestOptions options(io.vertx.core.http.HttpMethod method, String uri, long connectTimeoutMillis) {
      return options.setMethod(method).setURI(uri).setConnectTimeout(connectTimeoutMillis);
    }
  }
}
