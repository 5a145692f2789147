package io.viva.server.gateway;

import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketClientOptions;
import java.util.HashMap;
import java.util.Map;

/**
 * The gateway's request handler on one event loop. It owns this loop's connection pools to the
 * upstreams (a pool per loop: connections never hop threads) and starts one {@link ProxyCall} per
 * request. Nothing here blocks: limiter decisions that complete later (Redis) and queue waits
 * (timers) resume the call on this loop.
 */
final class ProxyHandler implements Handler<HttpServerRequest> {

  final Vertx vertx;
  final Gateway gateway;
  private final int eventLoops;
  private final Map<GatewayConfig.Upstream, HttpClient> clients = new HashMap<>();
  /** By compiled upstream, so the hot path never hashes the upstream's settings. */
  private final Map<Routing.Upstream, HttpClient> clientsByIdentity = new java.util.IdentityHashMap<>();
  private final Map<GatewayConfig.Upstream, WebSocketClient> webSocketClients = new HashMap<>();

  ProxyHandler(Vertx vertx, Gateway gateway, int eventLoops) {
    this.vertx = vertx;
    this.gateway = gateway;
    this.eventLoops = Math.max(1, eventLoops);
  }

  @Override
  public void handle(HttpServerRequest request) {
    request.pause();
    new ProxyCall(this, gateway.routing(), request).begin();
  }

  /** This loop's client of {@code upstream}; created on first use (only this loop touches the map). */
  HttpClient client(Routing.Upstream upstream) {
    HttpClient fast = clientsByIdentity.get(upstream);
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
    clientsByIdentity.put(upstream, c);
    return c;
  }

  /** This loop's WebSocket client of {@code upstream}. */
  WebSocketClient webSocketClient(Routing.Upstream upstream) {
    return webSocketClients.computeIfAbsent(upstream.spec, spec -> vertx.createWebSocketClient(
        new WebSocketClientOptions().setConnectTimeout((int) Math.min(Integer.MAX_VALUE, spec.connectTimeout().toMillis()))
            .setSsl(upstream.ssl).setTcpNoDelay(true).setMaxFrameSize(1 << 20).setMaxMessageSize(16 << 20)));
  }

}
