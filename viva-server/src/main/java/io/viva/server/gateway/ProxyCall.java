package io.viva.server.gateway;

import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketBase;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.net.HostAndPort;
import io.viva.core.Decision;
import io.viva.server.AccessLog;
import io.viva.server.Json;
import io.viva.server.RateLimitHeaders;
import io.viva.server.RequestId;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeoutException;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * One proxied request, from arrival to the end of its response, on its event loop:
 *
 * <ol>
 *   <li>request id, route (404 without one), client IP (trusted proxies), API key → client;</li>
 *   <li>the policies that apply, in order: the endpoint's, then the key's (or the client IP's
 *       without a key), stopping at the first that refuses; with a queue, a refusal whose
 *       retry-after fits in what is left of {@code max_wait} waits on a timer and asks again;</li>
 *   <li>the upstream's circuit breaker, then the upstream request with the body piped (paused
 *       until now, so nothing is buffered), a timer for the route's timeout;</li>
 *   <li>the response piped back with backpressure; or a JSON error (429, 502, 503, 504).</li>
 * </ol>
 */
final class ProxyCall {

  private static final CharSequence X_REQUEST_ID = HttpHeaders.createOptimized("X-Request-ID");
  private static final CharSequence X_FORWARDED_FOR = HttpHeaders.createOptimized("X-Forwarded-For");
  private static final CharSequence X_FORWARDED_PROTO = HttpHeaders.createOptimized("X-Forwarded-Proto");
  private static final CharSequence X_FORWARDED_HOST = HttpHeaders.createOptimized("X-Forwarded-Host");
  private static final CharSequence FORWARDED = HttpHeaders.createOptimized("Forwarded");
  private static final CharSequence RETRY_AFTER = HttpHeaders.createOptimized("Retry-After");
  private static final CharSequence APPLICATION_JSON = HttpHeaders.createOptimized("application/json");
  private static final String[] HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
      "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"};
  private static final String[] WEBSOCKET_HANDSHAKE = {"sec-websocket-key", "sec-websocket-version",
      "sec-websocket-extensions", "sec-websocket-protocol"};
  /** Request bodies announced larger than this are not drained after an early answer: the connection closes. */
  private static final long DRAIN_LIMIT = 64 * 1024;
  private static final int BY_KEY = 0;
  private static final int BY_ENDPOINT = 1;
  private static final int BY_IP = 2;
  private static final int WAIT_NONE = 0;
  private static final int WAIT_HEADERS = 1;
  private static final int WAIT_BODY = 2;

  private final ProxyHandler handler;
  private final Routing routing;
  private final HttpServerRequest request;
  private final HttpServerResponse response;
  private final long startNanos;
  /** HTTP/1.x without Content-Length (or 0) and Transfer-Encoding: the request has no body (RFC 9112 6.3). */
  private final boolean bodyless;
  /** Whether the request was paused at arrival (it may have a body, or may become a WebSocket). */
  private final boolean paused;
  private String requestId;
  private Routing.Route route;
  private String path;
  private String clientIp;
  private String peer;
  private ClientResolver.Client client;

  // The checks to run, in order: policy namespace, limiter key, kind (BY_*).
  private final String[] checkPolicies = new String[2];
  private final String[] checkKeys = new String[2];
  private final int[] checkKinds = new int[2];
  private int checkCount;
  private String bindingHeader;
  private Decision bindingDecision;
  private long queuedAtNanos;
  private boolean queued;
  private int limitedBy = -1;

  private boolean breakerAcquired;
  private boolean breakerReported;
  private HttpClientRequest upstreamRequest;
  private long upstreamStartNanos;
  private long upstreamNanos = -1;
  /** What the route's timeout is watching now: nothing, the response headers, or the body's silences (WAIT_*). */
  private int waitingFor = WAIT_NONE;
  /** When the current wait began, or the upstream's body last made progress. */
  private long lastActivityNanos;
  // Links of ProxyHandler's list of the calls it watches for timeouts (only while waitingFor != WAIT_NONE).
  boolean watched;
  ProxyCall prevWaiting;
  ProxyCall nextWaiting;
  private boolean upstreamDone;
  private boolean responseStarted;
  private boolean finished;
  private boolean webSocketOpen;
  /** A client WebSocket upgraded before its upstream answered (subprotocol negotiation), else null. */
  private ServerWebSocket pendingDownstream;
  private String errorCode;
  /** Bytes of the upstream's body relayed (or held) so far. */
  private long relayed;
  /** The piece completing a body of known length, held to go out with the end. */
  private Buffer lastChunk;

  ProxyCall(ProxyHandler handler, Routing routing, HttpServerRequest request) {
    this.handler = handler;
    this.routing = routing;
    this.request = request;
    this.response = request.response();
    this.startNanos = System.nanoTime();
    this.bodyless = request.version() != HttpVersion.HTTP_2 && !hasUnsizedBody()
        && isZero(request.getHeader(HttpHeaders.CONTENT_LENGTH));
    // A body must wait, unread, until the request is admitted (the limits may answer later, or never).
    // Without one there is nothing to hold back; an upgrade is paused anyway, to be upgraded later.
    this.paused = !bodyless || request.headers().contains(HttpHeaders.UPGRADE);
    if (paused) {
      request.pause();
    }
  }

  void begin() {
    handler.gateway.metrics().inFlight.increment();
    requestId = RequestId.from(request.getHeader(X_REQUEST_ID));
    response.headers().set(X_REQUEST_ID, requestId);
    response.endHandler(v -> finish(false));
    response.closeHandler(v -> clientGone());
    path = request.path();
    if (path == null || path.isEmpty() || path.charAt(0) != '/') {
      fail(400, "bad_request", "request target: not a path (expected: origin-form such as /api/users?id=1)");
      return;
    }
    route = routing.route(path);
    if (route == null) {
      fail(404, "not_found", "path: " + shorten(path) + " (expected: a path under one of the gateway's routes)");
      return;
    }
    peer = request.remoteAddress() == null ? "unknown" : request.remoteAddress().hostAddress();
    clientIp = routing.clientIp(peer, request.getHeader(X_FORWARDED_FOR));
    String key = routing.apiKeyHeaderName == null ? null : request.getHeader(routing.apiKeyHeaderName);
    if (key == null || key.isEmpty()) {
      checks();
      return;
    }
    if (key.length() > 1024) {
      fail(401, "invalid_api_key", routing.apiKeyHeader + ": " + key.length() + " characters (expected: at most 1024)");
      return;
    }
    CompletableFuture<ClientResolver.Client> resolved;
    try {
      resolved = routing.resolver.resolve(key).toCompletableFuture();
    } catch (RuntimeException e) {
      resolved = CompletableFuture.failedFuture(e);
    }
    whenDone(resolved, (c, error) -> {
      if (error != null) {
        fail(503, "unavailable", "API key: cannot be verified now (expected: retry shortly)");
      } else if (c.isRejected()) {
        if (c.decision() != null) {
          RateLimitHeaders.write(response.headers(), c.policyHeader(), c.decision(), false);
        } else if (c.retryAfterSeconds() > 0) {
          response.headers().set(RETRY_AFTER, Long.toString(c.retryAfterSeconds()));
        }
        if (c.status() == 429) {
          limitedBy = BY_KEY;
          route.meters.limited[BY_KEY].increment();
        }
        fail(c.status(), c.code(), c.rejection());
      } else {
        client = c;
        checks();
      }
    });
  }

  // ---- rate limits --------------------------------------------------------------------------

  private void checks() {
    String identity = client != null ? client.id() : handler.ipIdentity(clientIp);
    Routing.Endpoint endpoint = routing.endpoint(request.method(), path);
    if (endpoint != null) {
      addCheck(endpoint.policy, endpoint.perClient ? endpoint.keyPrefix + "|" + identity : endpoint.keyPrefix,
          BY_ENDPOINT);
    }
    if (client != null) {
      if (client.policy() != null) {
        addCheck(client.policy(), client.id(), BY_KEY);
      } else if (client.decision() != null) {
        // Limited by the resolver while verifying the key: its decision competes for the headers.
        bindingHeader = client.policyHeader();
        bindingDecision = client.decision();
      }
    } else if (routing.ipPolicy != null) {
      addCheck(routing.ipPolicy, identity, BY_IP);
    }
    runCheck(0);
  }

  private void addCheck(String policy, String key, int kind) {
    checkPolicies[checkCount] = policy;
    checkKeys[checkCount] = key.length() > 1024 ? key.substring(0, 1024) : key;
    checkKinds[checkCount] = kind;
    checkCount++;
  }

  private void runCheck(int i) {
    if (finished) {
      return;
    }
    if (i == checkCount) {
      admitted();
      return;
    }
    PolicyLookup.Bound bound = handler.gateway.policies().find(checkPolicies[i], checkKeys[i]);
    if (bound == null) {
      handler.gateway.missingPolicy(checkPolicies[i]);
      runCheck(i + 1);
      return;
    }
    long t0 = System.nanoTime();
    CompletableFuture<Decision> decision;
    try {
      decision = bound.limiter().tryAcquireAsync(checkKeys[i], 1, null).toCompletableFuture();
    } catch (RuntimeException e) {
      decision = CompletableFuture.failedFuture(e);
    }
    if (decision.isDone()) {
      // The in-memory store answers at once: decide inline, without a callback object.
      Decision d = null;
      Throwable error = null;
      try {
        d = decision.join();
      } catch (RuntimeException e) {
        error = e;
      }
      checked(i, bound, t0, d, error);
      return;
    }
    whenDone(decision, (d, error) -> checked(i, bound, t0, d, error));
  }

  private void checked(int i, PolicyLookup.Bound bound, long t0, Decision d, Throwable error) {
    if (error != null) {
      fail(503, "unavailable", "rate limit store: unavailable (expected: retry shortly)");
      return;
    }
    bound.record(d, System.nanoTime() - t0);
    decided(i, bound, d);
  }

  private void decided(int i, PolicyLookup.Bound bound, Decision d) {
    if (d.allowed() || bound.shadow()) {
      // The headers show the tightest policy: the one with the fewest requests left.
      if (bindingDecision == null || d.remaining() < bindingDecision.remaining()) {
        bindingHeader = bound.policyHeader();
        bindingDecision = d;
      }
      runCheck(i + 1);
      return;
    }
    long maxWait = routing.maxWaitNanos();
    if (maxWait > 0) {
      long now = System.nanoTime();
      long waitNanos = Math.max(1_000_000L, d.retryAfterMicros() * 1_000);
      if (!queued) {
        queuedAtNanos = now;
      }
      if (now + waitNanos - queuedAtNanos <= maxWait) {
        if (!queued) {
          GatewayMetrics m = handler.gateway.metrics();
          if (m.queueWaiting.incrementAndGet() > routing.maxQueue) {
            m.queueWaiting.decrementAndGet();
            m.queueFull.increment();
            refuse(i, bound, d);
            return;
          }
          queued = true;
        }
        // Only the refusing check (and those after it) run again: the ones before were charged already.
        handler.vertx.setTimer(Math.max(1, (waitNanos + 999_999) / 1_000_000), id -> runCheck(i));
        return;
      }
    }
    refuse(i, bound, d);
  }

  private void leaveQueue(boolean admitted) {
    if (queued) {
      queued = false;
      GatewayMetrics m = handler.gateway.metrics();
      m.queueWaiting.decrementAndGet();
      (admitted ? m.queueAdmitted : m.queueRejected).increment();
    }
  }

  private void refuse(int i, PolicyLookup.Bound bound, Decision d) {
    leaveQueue(false);
    limitedBy = checkKinds[i];
    route.meters.limited[limitedBy].increment();
    RateLimitHeaders.write(response.headers(), bound.policyHeader(), d, false);
    fail(429, "rate_limited", "rate limit exceeded");
  }

  private void admitted() {
    leaveQueue(true);
    if (bindingDecision != null) {
      RateLimitHeaders.write(response.headers(), bindingHeader, bindingDecision, true);
    }
    forward();
  }

  // ---- upstream -------------------------------------------------------------------------------

  private void forward() {
    Routing.Upstream up = route.upstream;
    if (!up.breaker.tryAcquire()) {
      up.meters.circuitOpen.increment();
      long seconds = Math.max(1, (up.breaker.retryAfterNanos() + 999_999_999L) / 1_000_000_000L);
      response.headers().set(RETRY_AFTER, Long.toString(seconds));
      fail(503, "upstream_unavailable", "upstream " + up.name + ": circuit open after repeated failures"
          + " (expected: retry in " + seconds + " s)");
      return;
    }
    breakerAcquired = true;
    String uri = route.upstreamUri(request.uri(), path, request.query());
    upstreamStartNanos = System.nanoTime();
    if (request.version() == HttpVersion.HTTP_1_1 && request.canUpgradeToWebSocket()) {
      startTimer();
      MultiMap headers = HttpHeaders.headers();
      copyRequestHeaders(headers);
      webSocket(up, uri, headers);
      return;
    }
    ProxyHandler.UpstreamClient upstream = handler.client(up);
    // The connect timeout bounds the wait for a pooled connection when all max_connections are busy.
    // The headers are written straight into the upstream request once it exists (one copy, not two).
    upstream.client.request(upstream.options(request.method(), uri, route.timeoutMillis)).onComplete(this::connected);
  }

  private void connected(AsyncResult<HttpClientRequest> ar) {
    if (upstreamDone) {
      if (ar.succeeded()) {
        ar.result().reset();
      }
      return;
    }
    if (ar.failed()) {
      if (ar.cause() instanceof TimeoutException && !(ar.cause() instanceof ConnectTimeoutException)) {
        // Every pooled connection stayed busy: this gateway is saturated, the upstream is not at fault.
        upstreamDone = true;
        route.upstream.meters.timeouts.increment();
        reportBreaker(null);
        fail(504, "upstream_timeout", "upstream " + route.upstream.name + ": no free connection within "
            + route.timeoutMillis + " ms (all max_connections busy)");
        return;
      }
      upstreamFailed(ar.cause());
      return;
    }
    HttpClientRequest creq = ar.result();
    upstreamRequest = creq;
    MultiMap headers = creq.headers();
    copyRequestHeaders(headers);
    Routing.Upstream up = route.upstream;
    if (up.spec.preserveHost()) {
      HostAndPort authority = request.authority();
      if (authority != null) {
        creq.authority(authority);
      }
    }
    if (!bodyless && hasUnsizedBody() && !headers.contains(HttpHeaders.CONTENT_LENGTH)) {
      creq.setChunked(true);
    }
    creq.response().onComplete(this::responded);
    String expect = request.getHeader(HttpHeaders.EXPECT);
    if (expect != null && expect.equalsIgnoreCase("100-continue") && request.version() != HttpVersion.HTTP_1_0) {
      response.writeContinue();
    }
    if (bodyless) {
      // Head and end go up in one write, with no pipe to set up; resuming (if paused) lets the
      // request's empty end through.
      creq.end();
      if (paused) {
        request.resume();
      }
      if (!upstreamDone && !responseStarted) {
        startTimer();
      }
      return;
    }
    request.pipe().endOnFailure(false).to(creq).onComplete(sent -> {
      if (sent.failed()) {
        // The client's upload broke off: the upstream must not take a truncated body as complete.
        if (!upstreamDone) {
          creq.reset();
        }
      } else if (!upstreamDone && !responseStarted) {
        // The route's timeout runs from the end of the request, so a long upload is not cut short.
        startTimer();
      }
    });
  }

  /** The route's timeout starts: for the response headers, from now. */
  private void startTimer() {
    waitFor(WAIT_HEADERS);
  }

  private void waitFor(int what) {
    waitingFor = what;
    lastActivityNanos = System.nanoTime();
    handler.watch(this, route.timeoutMillis);
  }

  /** ProxyHandler's sweep: ends the exchange if the current wait has lasted the route's timeout. */
  void checkTimeout(long nowNanos) {
    if (nowNanos - lastActivityNanos < route.timeoutNanos) {
      return;
    }
    int what = waitingFor;
    cancelTimer();
    if (upstreamDone) {
      return;
    }
    if (what == WAIT_HEADERS) {
      timedOut();
      return;
    }
    // The upstream's body has been silent for the route's timeout: break the client's response.
    upstreamDone = true;
    route.upstream.meters.resets.increment();
    errorCode = "upstream_timeout";
    upstreamRequest.reset();
    if (!response.ended() && !response.closed()) {
      response.reset();
    }
  }

  /** Whether the request has a body of unknown length (chunked, or HTTP/2 without Content-Length). */
  private boolean hasUnsizedBody() {
    if (request.version() == HttpVersion.HTTP_2) {
      return !request.isEnded() && !request.headers().contains(HttpHeaders.CONTENT_LENGTH);
    }
    String te = request.getHeader(HttpHeaders.TRANSFER_ENCODING);
    return te != null && !te.isEmpty();
  }

  private void responded(AsyncResult<HttpClientResponse> ar) {
    if (upstreamDone) {
      return;
    }
    if (ar.failed()) {
      upstreamFailed(ar.cause());
      return;
    }
    cancelTimer();
    HttpClientResponse cresp = ar.result();
    Routing.Upstream up = route.upstream;
    upstreamNanos = System.nanoTime() - upstreamStartNanos;
    up.meters.latency(upstreamNanos);
    reportBreaker(true);
    if (finished || response.closed()) {
      upstreamDone = true;
      upstreamRequest.reset();
      return;
    }
    // From here the route's timeout is the longest silence while the body streams. Watched by the
    // handler's sweep, not HttpClientRequest.idleTimeout: set once the response has begun, Vert.x
    // 5.0's idle timer outlives the exchange and kept every call's objects for the whole timeout
    // (a 30 s backlog of requests on the heap under load).
    waitFor(WAIT_BODY);
    responseStarted = true;
    int status = cresp.statusCode();
    response.setStatusCode(status);
    String message = cresp.statusMessage();
    // The standard reason phrase is what setStatusCode already gives; only another one is set (its
    // own status object per response).
    if (message != null && request.version() != HttpVersion.HTTP_2
        && !message.equals(HttpResponseStatus.valueOf(status).reasonPhrase())) {
      response.setStatusMessage(message);
    }
    MultiMap out = response.headers();
    MultiMap in = cresp.headers();
    String connection = in.get(HttpHeaders.CONNECTION);
    for (var e : in) {
      String name = e.getKey();
      // The request id was set on the response when the request arrived (and sent upstream): an
      // upstream echoing it would otherwise make it appear twice.
      if (!isHopByHop(name) && !listedIn(connection, name) && !equalsIgnoreCase(name, "x-request-id")) {
        out.add(name, e.getValue());
      }
    }
    boolean bodyless = request.method() == io.vertx.core.http.HttpMethod.HEAD || status == 204 || status == 304
        || status < 200;
    long length = -1;
    if (!bodyless) {
      String declared = in.get(HttpHeaders.CONTENT_LENGTH);
      if (declared == null) {
        if (request.version() != HttpVersion.HTTP_2) {
          response.setChunked(true);
        }
      } else {
        length = parseLong(declared);
      }
    }
    relayBody(cresp, up, length);
  }

  /**
   * Copies the upstream's body to the client with backpressure (the upstream is paused while the
   * client's write queue is full). Written out rather than with {@code pipe()} so that a failure
   * is known to be the client's (it left: release the upstream connection) or the upstream's
   * (reset or idle timeout: break the client's response rather than end it short).
   *
   * <p>With a {@code Content-Length} ({@code length} &ge; 0), the piece that completes the body is
   * held back and sent with the end, which the upstream's connection delivers right after it: one
   * write of the response instead of two (for a small response, head, body and end at once).
   */
  private void relayBody(HttpClientResponse cresp, Routing.Upstream up, long length) {
    response.exceptionHandler(e -> {
      cancelTimer();
      if (!upstreamDone) {
        upstreamDone = true;
        upstreamRequest.reset();
      }
    });
    cresp.exceptionHandler(e -> {
      cancelTimer();
      if (!upstreamDone) {
        upstreamDone = true;
        up.meters.resets.increment();
        errorCode = e instanceof TimeoutException ? "upstream_timeout" : "upstream_reset";
        if (!response.ended() && !response.closed()) {
          response.reset();
        }
      }
    });
    cresp.handler(chunk -> {
      if (upstreamDone) {
        return;
      }
      lastActivityNanos = System.nanoTime();
      relayed += chunk.length();
      if (relayed == length) {
        lastChunk = chunk;
        return;
      }
      response.write(chunk);
      if (response.writeQueueFull()) {
        cresp.pause();
        response.drainHandler(v -> {
          lastActivityNanos = System.nanoTime();
          cresp.resume();
        });
      }
    });
    cresp.endHandler(v -> {
      cancelTimer();
      if (!upstreamDone) {
        upstreamDone = true;
        Buffer last = lastChunk;
        lastChunk = null;
        if (last != null) {
          response.end(last);
        } else {
          response.end();
        }
      }
    });
  }

  private void timedOut() {
    if (upstreamDone || responseStarted) {
      return;
    }
    upstreamDone = true;
    Routing.Upstream up = route.upstream;
    up.meters.timeouts.increment();
    reportBreaker(false);
    if (pendingDownstream != null) {
      errorCode = "upstream_timeout";
      pendingDownstream.close((short) 1014, "upstream " + up.name + " did not answer");
      return;
    }
    if (upstreamRequest != null) {
      upstreamRequest.reset();
    }
    fail(504, "upstream_timeout", "upstream " + up.name + ": no answer within " + route.timeoutMillis + " ms");
  }

  private void upstreamFailed(Throwable cause) {
    if (upstreamDone) {
      return;
    }
    upstreamDone = true;
    cancelTimer();
    Routing.Upstream up = route.upstream;
    if (cause instanceof ConnectTimeoutException || cause instanceof TimeoutException) {
      up.meters.timeouts.increment();
      reportBreaker(false);
      fail(504, "upstream_timeout", "upstream " + up.name + ": " + (cause instanceof ConnectTimeoutException
          ? "connection timed out" : "no answer within " + route.timeoutMillis + " ms"));
    } else if (cause instanceof ConnectException || cause instanceof NoRouteToHostException
        || cause instanceof UnknownHostException || (cause.getMessage() != null
        && cause.getMessage().startsWith("Connection refused"))) {
      up.meters.connectErrors.increment();
      reportBreaker(false);
      fail(502, "upstream_unreachable", "upstream " + up.name + ": cannot connect");
    } else if (finished || response.closed()) {
      reportBreaker(null);
    } else {
      up.meters.resets.increment();
      reportBreaker(false);
      fail(502, "upstream_error", "upstream " + up.name + ": the connection broke before a response");
    }
  }

  private void reportBreaker(Boolean success) {
    if (!breakerAcquired || breakerReported) {
      return;
    }
    breakerReported = true;
    CircuitBreaker b = route.upstream.breaker;
    if (success == null) {
      b.onAbandoned();
    } else if (success) {
      b.onSuccess();
    } else {
      b.onFailure();
    }
  }

  /** The route's timeout stops watching this call (the wait is over). */
  private void cancelTimer() {
    if (waitingFor != WAIT_NONE) {
      waitingFor = WAIT_NONE;
      handler.unwatch(this);
    }
  }

  private void clientGone() {
    if (finished) {
      return;
    }
    cancelTimer();
    if (!upstreamDone) {
      upstreamDone = true;
      if (upstreamRequest != null) {
        upstreamRequest.reset();
      }
    }
    reportBreaker(null);
    leaveQueue(false);
    finish(true);
  }

  // ---- WebSocket ------------------------------------------------------------------------------

  private void webSocket(Routing.Upstream up, String uri, MultiMap headers) {
    for (String name : WEBSOCKET_HANDSHAKE) {
      headers.remove(name);
    }
    WebSocketConnectOptions options = new WebSocketConnectOptions()
        .setHost(up.host).setPort(up.port).setSsl(up.ssl).setURI(uri);
    options.setHeaders(headers);
    String protocols = request.getHeader("Sec-WebSocket-Protocol");
    if (protocols != null && !protocols.isBlank()) {
      webSocketWithSubprotocol(up, options);
      return;
    }
    // Upstream first: if it cannot be reached the client still gets an HTTP 502/504.
    handler.webSocketClient(up).connect(options).onComplete(ar -> {
      if (upstreamDone) {
        if (ar.succeeded()) {
          ar.result().close();
        }
        return;
      }
      if (ar.failed()) {
        upstreamFailed(ar.cause());
        return;
      }
      webSocketConnected(up);
      WebSocket upstream = ar.result();
      request.toWebSocket().onComplete(sar -> {
        if (sar.failed()) {
          upstream.close();
          return;
        }
        webSocketOpen(sar.result(), upstream);
      });
    });
  }

  /**
   * A client offering subprotocols: the gateway's handshake answer must name the one the upstream
   * will speak, and Vert.x picks it (from {@code websocket_subprotocols}) when it upgrades. So the
   * client is upgraded first, paused, and the upstream is offered exactly that choice; if the
   * upstream then fails, the client's WebSocket is closed with 1014 (bad gateway).
   */
  private void webSocketWithSubprotocol(Routing.Upstream up, WebSocketConnectOptions options) {
    request.toWebSocket().onComplete(sar -> {
      if (sar.failed()) {
        upstreamDone = true;
        cancelTimer();
        reportBreaker(null);
        return;
      }
      ServerWebSocket downstream = sar.result();
      downstream.pause();
      pendingDownstream = downstream;
      String chosen = downstream.subProtocol();
      options.setSubProtocols(chosen == null ? List.of() : List.of(chosen));
      handler.webSocketClient(up).connect(options).onComplete(ar -> {
        if (upstreamDone) {
          if (ar.succeeded()) {
            ar.result().close();
          }
          return;
        }
        pendingDownstream = null;
        if (ar.failed()) {
          upstreamDone = true;
          cancelTimer();
          Throwable cause = ar.cause();
          if (cause instanceof ConnectTimeoutException || cause instanceof TimeoutException) {
            up.meters.timeouts.increment();
            errorCode = "upstream_timeout";
          } else {
            up.meters.connectErrors.increment();
            errorCode = "upstream_unreachable";
          }
          reportBreaker(false);
          downstream.close((short) 1014, "upstream " + up.name + " unavailable");
          return;
        }
        webSocketConnected(up);
        webSocketOpen(downstream, ar.result());
        downstream.resume();
      });
    });
  }

  private void webSocketConnected(Routing.Upstream up) {
    cancelTimer();
    upstreamDone = true;
    upstreamNanos = System.nanoTime() - upstreamStartNanos;
    up.meters.latency(upstreamNanos);
    reportBreaker(true);
  }

  private void webSocketOpen(ServerWebSocket downstream, WebSocket upstream) {
    relay(downstream, upstream);
    relay(upstream, downstream);
    responseStarted = true;
    webSocketOpen = true;
    finish(false);
  }

  /** Forwards data frames from {@code from} to {@code to}, pausing {@code from} while {@code to} is backed up. */
  private static void relay(WebSocketBase from, WebSocketBase to) {
    from.frameHandler(frame -> {
      if (frame.isText() || frame.isBinary() || frame.isContinuation()) {
        to.writeFrame(frame);
        if (to.writeQueueFull()) {
          from.pause();
          to.drainHandler(v -> from.resume());
        }
      }
    });
    from.closeHandler(v -> {
      if (!to.isClosed()) {
        Short code = from.closeStatusCode();
        if (code != null && code >= 1000 && code != 1005 && code != 1006 && code != 1015) {
          to.close(code, from.closeReason());
        } else {
          to.close();
        }
      }
    });
    from.exceptionHandler(e -> to.close());
  }

  // ---- headers --------------------------------------------------------------------------------

  /** Adds the request headers to send upstream to {@code out}: the client's minus hop-by-hop ones, plus the forwarding ones. */
  private void copyRequestHeaders(MultiMap out) {
    MultiMap in = request.headers();
    boolean trusted = routing.trusts(peer);
    String connection = in.get(HttpHeaders.CONNECTION);
    if (in instanceof io.netty.handler.codec.http.HttpHeaders parsed) {
      // HTTP/1.x: the parsed entries themselves, names as parsed (no per-entry wrapper or String copy).
      Iterator<Map.Entry<CharSequence, CharSequence>> it = parsed.iteratorCharSequence();
      while (it.hasNext()) {
        Map.Entry<CharSequence, CharSequence> e = it.next();
        CharSequence name = e.getKey();
        if (!isHopByHop(name) && !listedIn(connection, name) && !skippedUpstream(name)) {
          out.add(name, e.getValue());
        }
      }
    } else {
      in.forEach((name, value) -> {
        if (!isHopByHop(name) && !listedIn(connection, name) && !skippedUpstream(name)) {
          out.add(name, value);
        }
      });
    }
    // None of these came through the loop above (skippedUpstream): add, not set.
    String host = handler.hostOf(request.authority());
    String scheme = request.scheme() == null ? "http" : request.scheme();
    String xff = trusted ? in.get(X_FORWARDED_FOR) : null;
    out.add(X_FORWARDED_FOR, xff == null || xff.isBlank() ? peer : xff + ", " + peer);
    String proto = trusted ? in.get(X_FORWARDED_PROTO) : null;
    out.add(X_FORWARDED_PROTO, proto != null ? proto : scheme);
    String fwdHost = trusted ? in.get(X_FORWARDED_HOST) : null;
    if (fwdHost != null || host != null) {
      out.add(X_FORWARDED_HOST, fwdHost != null ? fwdHost : host);
    }
    String forwarded = trusted ? in.get(FORWARDED) : null;
    String ours = handler.forwarded(peer, host, scheme);
    out.add(FORWARDED, forwarded != null && !forwarded.isBlank() ? forwarded + ", " + ours : ours);
    out.add(X_REQUEST_ID, requestId);
  }

  /**
   * Headers never forwarded as received: Host (set by the client), Expect (answered here), and the
   * forwarding ones, which copyRequestHeaders writes itself (keeping a trusted proxy's values).
   */
  static boolean skippedUpstream(CharSequence name) {
    int n = name.length();
    switch (n) {
      case 4:
        return equalsIgnoreCase(name, "host");
      case 6:
        return equalsIgnoreCase(name, "expect");
      case 9:
        return equalsIgnoreCase(name, "forwarded");
      default:
        return n >= 12 && (regionEqualsIgnoreCase(name, 0, 12, "x-forwarded-") || equalsIgnoreCase(name, "x-request-id"));
    }
  }

  static boolean isHopByHop(CharSequence name) {
    for (String h : HOP_BY_HOP) {
      if (h.length() == name.length() && equalsIgnoreCase(name, h)) {
        return true;
      }
    }
    return false;
  }

  /** Whether {@code name} is one of the comma-separated tokens of a Connection header (RFC 9110 7.6.1). */
  static boolean listedIn(String connection, CharSequence name) {
    if (connection == null) {
      return false;
    }
    int start = 0;
    int n = connection.length();
    while (start < n) {
      int comma = connection.indexOf(',', start);
      int end = comma < 0 ? n : comma;
      int s = start;
      int e = end;
      while (s < e && connection.charAt(s) == ' ') {
        s++;
      }
      while (e > s && connection.charAt(e - 1) == ' ') {
        e--;
      }
      if (e - s == name.length() && regionEqualsIgnoreCase(connection, s, e, name)) {
        return true;
      }
      start = end + 1;
    }
    return false;
  }

  /** ASCII case-insensitive equality (header names are ASCII). */
  private static boolean equalsIgnoreCase(CharSequence a, CharSequence b) {
    return a.length() == b.length() && regionEqualsIgnoreCase(a, 0, a.length(), b);
  }

  /** Whether {@code a[from, to)} equals the first {@code to - from} characters of {@code b}, ignoring ASCII case. */
  private static boolean regionEqualsIgnoreCase(CharSequence a, int from, int to, CharSequence b) {
    for (int i = from; i < to; i++) {
      char x = a.charAt(i);
      char y = b.charAt(i - from);
      if (x != y && lower(x) != lower(y)) {
        return false;
      }
    }
    return true;
  }

  private static char lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char) (c + 32) : c;
  }

  /** Whether a Content-Length value is absent or zero. */
  private static boolean isZero(String contentLength) {
    return contentLength == null || contentLength.equals("0");
  }

  // ---- answers and bookkeeping -------------------------------------------------------------

  /** Answers with a JSON error (unless a response is already under way) and drops the unread request body. */
  private void fail(int status, String code, String message) {
    errorCode = code;
    if (response.headWritten() || response.closed() || finished) {
      if (!response.ended() && !response.closed()) {
        response.reset();
      }
      return;
    }
    String length = request.getHeader(HttpHeaders.CONTENT_LENGTH);
    boolean bigBody = hasUnsizedBody() || (length != null && !length.equals("0") && parseLong(length) > DRAIN_LIMIT);
    if (bigBody && request.version() != HttpVersion.HTTP_2 && !request.isEnded()) {
      response.headers().set(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
    }
    response.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, APPLICATION_JSON);
    response.end(Json.error(code, message, requestId));
    if (!request.isEnded()) {
      request.handler(null);
      request.resume();
    }
  }

  private static long parseLong(String s) {
    try {
      return Long.parseLong(s.trim());
    } catch (NumberFormatException e) {
      return Long.MAX_VALUE;
    }
  }

  private void finish(boolean clientLeft) {
    if (finished) {
      return;
    }
    finished = true;
    // Nothing is left to time out once the client's exchange is over (WebSocket relays have no timeout).
    cancelTimer();
    handler.gateway.metrics().inFlight.decrement();
    int status = webSocketOpen ? 101 : clientLeft && !response.ended() ? 499 : response.getStatusCode();
    String routeLabel = route == null ? "unmatched" : route.prefix;
    if (route != null) {
      route.meters.request(status);
    } else {
      handler.gateway.metrics().route("unmatched").request(status);
    }
    if (AccessLog.enabled()) {
      LoggingEventBuilder line = AccessLog.start(requestId, request.method().name(), path, routeLabel, status,
          (System.nanoTime() - startNanos) / 1_000);
      line.addKeyValue("client_ip", clientIp != null ? clientIp : peer);
      if (route != null) {
        line.addKeyValue("upstream", route.upstream.name);
      }
      if (upstreamNanos >= 0) {
        line.addKeyValue("upstream_latency_us", upstreamNanos / 1_000);
      }
      if (client != null) {
        line.addKeyValue("client", client.logId());
      }
      if (limitedBy >= 0) {
        line.addKeyValue("limited_by", GatewayMetrics.LIMITED_BY[limitedBy]);
      }
      if (queuedAtNanos > 0) {
        line.addKeyValue("queued_us", (System.nanoTime() - queuedAtNanos) / 1_000);
      }
      if (errorCode != null) {
        line.addKeyValue("error", errorCode);
      }
      line.log(AccessLog.MESSAGE);
    }
  }

  private static String shorten(String s) {
    return s.length() > 128 ? s.substring(0, 128) + "..." : s;
  }

  /** Runs {@code then} now if {@code future} is done (the in-memory fast path), else on this event loop when it is. */
  private <T> void whenDone(CompletableFuture<T> future, java.util.function.BiConsumer<T, Throwable> then) {
    if (future.isDone()) {
      T value = null;
      Throwable error = null;
      try {
        value = future.join();
      } catch (CompletionException e) {
        error = e.getCause() != null ? e.getCause() : e;
      } catch (RuntimeException e) {
        error = e;
      }
      then.accept(value, error);
      return;
    }
    Context context = handler.vertx.getOrCreateContext();
    future.whenComplete((value, error) -> context.runOnContext(v -> then.accept(value,
        error instanceof CompletionException && error.getCause() != null ? error.getCause() : error)));
  }
}
