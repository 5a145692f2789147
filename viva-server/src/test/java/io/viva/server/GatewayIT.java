package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The gateway against a real upstream HTTP server, through real clients: proxying, limits, failures. */
class GatewayIT {

  static Upstream upstream;
  static GatewayServer gateway;

  @BeforeAll
  static void start() {
    upstream = Upstream.start();
    gateway = GatewayServer.start("""
        policies:
          - {namespace: default, limit: 1000000, window: 1s}
          - {namespace: keys, limit: 3, window: 1h}
          - {namespace: premium, limit: 5, window: 1h}
          - {namespace: search, limit: 2, window: 1h}
        gateway:
          upstreams:
            app: {url: "%s"}
          routes:
            - {prefix: /, upstream: app, timeout: 10s}
            - {prefix: /slow-route, upstream: app, timeout: 300ms}
            - {prefix: /stall-route, upstream: app, timeout: 300ms, strip_prefix: true}
            - {prefix: /stripped, upstream: app, strip_prefix: true}
          api_key:
            policy: keys
            tiers: [{key_sha256: "%s", policy: premium}]
          endpoints:
            - {method: POST, path: /api/search/**, policy: search}
          websocket_subprotocols: [chat.v1, chat.v2]
        """.formatted(upstream.url(), sha256("gold-key".getBytes(StandardCharsets.UTF_8))));
  }

  @AfterAll
  static void stop() {
    gateway.close();
    upstream.close();
  }

  // ---- bodies ---------------------------------------------------------------------------------

  @Test
  void uploadsOfSeveralMegabytesArriveByteExactWithLengthAndChunked() throws Exception {
    byte[] body = new byte[6 * 1024 * 1024 + 123];
    new Random(7).nextBytes(body);
    String expected = sha256(body);

    HttpResponse<String> sized = gateway.send(HttpRequest.newBuilder(URI.create(gateway.base + "/hash"))
        .POST(HttpRequest.BodyPublishers.ofByteArray(body)));
    JsonNode r = TestServer.JSON.readTree(sized.body());
    assertThat(sized.statusCode()).isEqualTo(200);
    assertThat(r.get("sha256").asText()).isEqualTo(expected);
    assertThat(r.get("length").asLong()).isEqualTo(body.length);
    assertThat(r.get("chunked").asBoolean()).isFalse();

    // An input stream publisher has no length: the client sends it chunked, and so does the gateway.
    HttpResponse<String> chunked = gateway.send(HttpRequest.newBuilder(URI.create(gateway.base + "/hash"))
        .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))));
    JsonNode c = TestServer.JSON.readTree(chunked.body());
    assertThat(c.get("sha256").asText()).isEqualTo(expected);
    assertThat(c.get("length").asLong()).isEqualTo(body.length);
    assertThat(c.get("chunked").asBoolean()).isTrue();

    // Expect: 100-continue is answered by the gateway once the request is admitted.
    HttpResponse<String> continued = gateway.send(HttpRequest.newBuilder(URI.create(gateway.base + "/hash"))
        .expectContinue(true).POST(HttpRequest.BodyPublishers.ofByteArray(body)));
    assertThat(TestServer.JSON.readTree(continued.body()).get("sha256").asText()).isEqualTo(expected);
  }

  @Test
  void aRefusedUploadIsAnsweredAtOnceAndTheConnectionStaysUsable() throws Exception {
    String key = "upload-key";
    for (int i = 0; i < 3; i++) {
      assertThat(gateway.get("/x", "X-API-Key", key).statusCode()).isEqualTo(200);
    }
    byte[] body = new byte[4 * 1024 * 1024];
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> r = gateway.send(HttpRequest.newBuilder(URI.create(gateway.base + "/hash"))
          .POST(HttpRequest.BodyPublishers.ofByteArray(body)), "X-API-Key", key);
      assertThat(r.statusCode()).isEqualTo(429);
      assertThat(gateway.get("/status/200").statusCode()).as("the next request is served").isEqualTo(200);
    }
  }

  @Test
  void downloadsOfSeveralMegabytesArriveByteExactChunkedAndWithLength() throws Exception {
    int size = 8 * 1024 * 1024;
    String expected = sha256(Upstream.bytes(size));
    for (String length : new String[] {"0", "1"}) {
      HttpResponse<byte[]> r = gateway.client.send(HttpRequest.newBuilder(URI.create(gateway.base + "/big?size=" + size
          + "&length=" + length)).build(), HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).hasSize(size);
      assertThat(sha256(r.body())).isEqualTo(expected);
      assertThat(r.headers().firstValue("Content-Length").isPresent()).isEqualTo(length.equals("1"));
    }
  }

  // ---- headers, statuses, query strings -------------------------------------------------------

  @Test
  void hopByHopHeadersAreDroppedAndForwardingHeadersSet() throws Exception {
    String raw = rawRequest("GET /headers?x=1 HTTP/1.1\r\nHost: shop.example:8080\r\nConnection: keep-alive, X-Drop\r\n"
        + "X-Drop: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n"
        + "X-Custom: kept\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Request-ID: req-abc-123\r\n\r\n");
    String head = raw.substring(0, raw.indexOf("\r\n\r\n"));
    JsonNode seen = TestServer.JSON.readTree(raw.substring(raw.indexOf("\r\n\r\n") + 4).trim().lines()
        .filter(l -> l.startsWith("{")).findFirst().orElseThrow());
    JsonNode h = seen.get("headers");
    assertThat(h.get("x-custom").asText()).isEqualTo("kept");
    assertThat(h.has("x-drop")).isFalse();
    assertThat(h.has("keep-alive")).isFalse();
    assertThat(h.has("te")).isFalse();
    assertThat(h.has("proxy-authorization")).isFalse();
    // The peer (127.0.0.1) is not a trusted proxy here: what it claims is replaced, not appended to.
    assertThat(h.get("x-forwarded-for").asText()).isEqualTo("127.0.0.1");
    assertThat(h.get("x-forwarded-proto").asText()).isEqualTo("http");
    assertThat(h.get("x-forwarded-host").asText()).isEqualTo("shop.example:8080");
    assertThat(h.get("forwarded").asText()).isEqualTo("for=127.0.0.1;host=\"shop.example:8080\";proto=http");
    assertThat(h.get("x-request-id").asText()).isEqualTo("req-abc-123");
    assertThat(h.get("host").asText()).isEqualTo("127.0.0.1:" + upstream.port());
    assertThat(seen.get("uri").asText()).isEqualTo("/headers?x=1");

    assertThat(head).startsWith("HTTP/1.1 200");
    assertThat(head).containsIgnoringCase("\r\nX-Up-Keep: 1");
    assertThat(head).doesNotContainIgnoringCase("X-Up-Drop");
    assertThat(head).doesNotContainIgnoringCase("Keep-Alive: timeout=30");
    assertThat(head).containsIgnoringCase("\r\nX-Request-ID: req-abc-123");
    assertThat(head).containsIgnoringCase("\r\nRateLimit-Policy: ");
  }

  @Test
  void methodsStatusesAndQueryStringsPassThrough() {
    String query = "?a=1&b=%20x&c=%E2%9C%93&a=2";
    for (String method : new String[] {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
      HttpResponse<String> r = gateway.send(HttpRequest.newBuilder(URI.create(gateway.base + "/headers" + query))
          .method(method, HttpRequest.BodyPublishers.ofString("x")));
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).contains("\"method\":\"" + method + "\"").contains("\"uri\":\"/headers" + query + "\"");
    }
    for (int status : new int[] {201, 204, 301, 404, 418, 500, 503}) {
      HttpResponse<String> r = gateway.get("/status/" + status + "?q=1");
      assertThat(r.statusCode()).isEqualTo(status);
      if (status != 204) {
        assertThat(r.body()).isEqualTo("/status/" + status + "?q=1");
      }
    }
    assertThat(gateway.get("/stripped/status/202").statusCode()).isEqualTo(202);
    assertThat(gateway.get("/stripped/x/y?z=1").body()).isEqualTo("/x/y?z=1");
  }

  @Test
  void requestIdsAreCreatedWhenMissingAndReturned() {
    HttpResponse<String> r = gateway.get("/headers");
    String id = r.headers().firstValue("X-Request-ID").orElseThrow();
    assertThat(id).hasSize(36);
    // The upstream echoes the id: the client still gets it once.
    assertThat(r.headers().allValues("X-Request-ID")).containsExactly(id);
    assertThat(r.body()).contains("\"x-request-id\":\"" + id + "\"");
  }

  @Test
  void http2ToClientsOverCleartext() throws Exception {
    HttpClient h2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
    HttpResponse<String> first = h2.send(HttpRequest.newBuilder(URI.create(gateway.base + "/headers?h2=1")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(first.statusCode()).isEqualTo(200);
    byte[] body = new byte[3 * 1024 * 1024];
    new Random(3).nextBytes(body);
    HttpResponse<String> second = h2.send(HttpRequest.newBuilder(URI.create(gateway.base + "/hash"))
        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(second.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(TestServer.JSON.readTree(second.body()).get("sha256").asText()).isEqualTo(sha256(body));
    HttpResponse<byte[]> third = h2.send(HttpRequest.newBuilder(URI.create(gateway.base + "/big?size=" + (2 << 20)))
        .build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(third.version()).isEqualTo(HttpClient.Version.HTTP_2);
    assertThat(sha256(third.body())).isEqualTo(sha256(Upstream.bytes(2 << 20)));
  }

  @Test
  void webSocketEcho() throws Exception {
    List<String> texts = new java.util.concurrent.CopyOnWriteArrayList<>();
    List<byte[]> binaries = new java.util.concurrent.CopyOnWriteArrayList<>();
    CountDownLatch got = new CountDownLatch(2);
    WebSocket ws = gateway.client.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:"
        + gateway.server.port() + "/ws"), new WebSocket.Listener() {
          @Override
          public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
            texts.add(data.toString());
            got.countDown();
            w.request(1);
            return null;
          }

          @Override
          public CompletionStage<?> onBinary(WebSocket w, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            binaries.add(b);
            got.countDown();
            w.request(1);
            return null;
          }
        }).get(10, TimeUnit.SECONDS);
    ws.sendText("hello through the gateway", true).get(5, TimeUnit.SECONDS);
    ws.sendBinary(ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5}), true).get(5, TimeUnit.SECONDS);
    assertThat(got.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(texts).containsExactly("hello through the gateway");
    assertThat(binaries.get(0)).containsExactly(1, 2, 3, 4, 5);
    ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
  }

  @Test
  void webSocketSubprotocolIsAgreedWithTheUpstream() throws Exception {
    List<String> texts = new java.util.concurrent.CopyOnWriteArrayList<>();
    CountDownLatch got = new CountDownLatch(2);
    WebSocket ws = gateway.client.newWebSocketBuilder().subprotocols("chat.v2", "chat.v1")
        .buildAsync(URI.create("ws://127.0.0.1:" + gateway.server.port() + "/ws"), new WebSocket.Listener() {
          @Override
          public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
            texts.add(data.toString());
            got.countDown();
            w.request(1);
            return null;
          }
        }).get(10, TimeUnit.SECONDS);
    ws.sendText("after the handshake", true).get(5, TimeUnit.SECONDS);
    assertThat(got.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(ws.getSubprotocol()).isIn("chat.v1", "chat.v2");
    assertThat(texts).containsExactly("subprotocol=" + ws.getSubprotocol(), "after the handshake");
    ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
  }

  // ---- limits --------------------------------------------------------------------------------

  @Test
  void perKeyLimitsWith429BodyAndHeadersAndTiers() throws Exception {
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> ok = gateway.get("/anything", "X-API-Key", "key-one");
      assertThat(ok.statusCode()).isEqualTo(200);
      assertThat(ok.headers().firstValue("X-RateLimit-Limit")).hasValue("3");
      assertThat(ok.headers().firstValue("X-RateLimit-Remaining")).hasValue(Integer.toString(2 - i));
      assertThat(ok.headers().firstValue("RateLimit-Policy").orElseThrow()).contains("q=3");
    }
    HttpResponse<String> denied = gateway.get("/anything", "X-API-Key", "key-one");
    assertThat(denied.statusCode()).isEqualTo(429);
    JsonNode body = TestServer.JSON.readTree(denied.body());
    assertThat(body.get("error").asText()).isEqualTo("rate_limited");
    assertThat(body.get("message").asText()).isEqualTo("rate limit exceeded");
    assertThat(body.get("request_id").asText()).isEqualTo(denied.headers().firstValue("X-Request-ID").orElseThrow());
    assertThat(denied.headers().firstValue("Retry-After")).isPresent();
    assertThat(denied.headers().firstValue("X-RateLimit-Remaining")).hasValue("0");
    assertThat(denied.headers().firstValue("Content-Type").orElseThrow()).startsWith("application/json");
    // Another key has its own allowance; a tier key gets its tier's policy.
    assertThat(gateway.get("/anything", "X-API-Key", "key-two").statusCode()).isEqualTo(200);
    HttpResponse<String> gold = gateway.get("/anything", "X-API-Key", "gold-key");
    assertThat(gold.headers().firstValue("X-RateLimit-Limit")).hasValue("5");
  }

  @Test
  void perEndpointLimitsApplyTogetherWithTheKeyPolicy() {
    String key = "endpoint-key";
    assertThat(post("/api/search/books", key).statusCode()).isEqualTo(200);
    HttpResponse<String> second = post("/api/search/films", key);
    assertThat(second.statusCode()).isEqualTo(200);
    assertThat(second.headers().firstValue("X-RateLimit-Limit")).hasValue("2");  // the tighter policy shows
    assertThat(post("/api/search/x", key).statusCode()).isEqualTo(429);
    // Other endpoints (and GET on this one) are limited by the key's policy only: 1 of 3 left.
    assertThat(gateway.get("/api/search/books", "X-API-Key", key).statusCode()).isEqualTo(200);
    assertThat(gateway.get("/api/search/books", "X-API-Key", key).statusCode()).isEqualTo(429);
  }

  @Test
  void perIpLimitsAndTrustedProxies() throws Exception {
    try (GatewayServer trusting = GatewayServer.start("""
        policies:
          - {namespace: default, limit: 2, window: 1h}
        gateway:
          upstreams: {app: {url: "%s"}}
          routes: [{prefix: /, upstream: app}]
          trusted_proxies: [127.0.0.1, "10.0.0.0/8"]
        """.formatted(upstream.url()));
        GatewayServer untrusting = GatewayServer.start("""
        policies:
          - {namespace: default, limit: 2, window: 1h}
        gateway:
          upstreams: {app: {url: "%s"}}
        """.formatted(upstream.url()))) {
      // Through a trusted proxy, the client is the right-most untrusted address of X-Forwarded-For.
      for (int i = 0; i < 2; i++) {
        assertThat(trusting.get("/x", "X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.1.2.3").statusCode())
            .isEqualTo(200);
      }
      assertThat(trusting.get("/x", "X-Forwarded-For", "203.0.113.9").statusCode()).isEqualTo(429);
      assertThat(trusting.get("/x", "X-Forwarded-For", "203.0.113.10").statusCode()).isEqualTo(200);
      HttpResponse<String> seen = trusting.get("/headers", "X-Forwarded-For", "203.0.113.11");
      assertThat(TestServer.JSON.readTree(seen.body()).get("headers").get("x-forwarded-for").asText())
          .isEqualTo("203.0.113.11, 127.0.0.1");

      // Without trusted proxies, X-Forwarded-For is ignored: every request counts for the peer.
      assertThat(untrusting.get("/x", "X-Forwarded-For", "203.0.113.1").statusCode()).isEqualTo(200);
      assertThat(untrusting.get("/x", "X-Forwarded-For", "203.0.113.2").statusCode()).isEqualTo(200);
      assertThat(untrusting.get("/x", "X-Forwarded-For", "203.0.113.3").statusCode()).isEqualTo(429);
      // DOWNSTREAM-less default route "/" and the default upstream were used; metrics count both outcomes.
      String metrics = untrusting.send(HttpRequest.newBuilder(URI.create(untrusting.management + "/metrics"))).body();
      assertThat(metrics).contains("gateway_requests_total{route=\"/\",status=\"200\"} 2.0");
      assertThat(metrics).contains("gateway_rate_limited_total{by=\"ip\",route=\"/\"} 1.0");
      assertThat(metrics).contains("gateway_upstream_duration_seconds_bucket{upstream=\"app\"");
    }
  }

  @Test
  void queueSmoothsABurstInsteadOfRefusingIt() throws Exception {
    String policies = """
        policies:
          - {namespace: default, limit: 10, window: 1s, burst: 2}
        gateway:
          upstreams: {app: {url: "%s"}}
        """.formatted(upstream.url());
    try (GatewayServer queued = GatewayServer.start(policies + "  queue: {max_wait: 3s, max_size: 100}\n");
        GatewayServer plain = GatewayServer.start(policies)) {
      assertThat(burst(plain, 8)).filteredOn(s -> s == 429).isNotEmpty();
      // Same burst, same limit: with the queue every request waits its turn (10/s) and gets through.
      assertThat(burst(queued, 8)).containsOnly(200);
      String metrics = queued.send(HttpRequest.newBuilder(URI.create(queued.management + "/metrics"))).body();
      assertThat(metrics).contains("gateway_queued_total{result=\"admitted\"}");
    }
  }

  private static List<Integer> burst(GatewayServer g, int n) throws Exception {
    List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      all.add(g.client.sendAsync(HttpRequest.newBuilder(URI.create(g.base + "/q")).build(),
          HttpResponse.BodyHandlers.ofString()));
    }
    List<Integer> statuses = new ArrayList<>();
    for (CompletableFuture<HttpResponse<String>> f : all) {
      statuses.add(f.get(30, TimeUnit.SECONDS).statusCode());
    }
    return statuses;
  }

  // ---- upstream failures ---------------------------------------------------------------------

  @Test
  void slowUpstreamGives504WithJson() throws Exception {
    HttpResponse<String> r = gateway.get("/slow-route?ms=3000");
    assertThat(r.statusCode()).isEqualTo(504);
    JsonNode body = TestServer.JSON.readTree(r.body());
    assertThat(body.get("error").asText()).isEqualTo("upstream_timeout");
    assertThat(body.get("request_id").asText()).isEqualTo(r.headers().firstValue("X-Request-ID").orElseThrow());
  }

  @Test
  void upstreamDownGives502ThenTheBreakerOpensAndRecovers() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    try (GatewayServer g = GatewayServer.start("""
        gateway:
          upstreams:
            down: {url: "http://127.0.0.1:%d", circuit_breaker: {failure_threshold: 2, open_for: 300ms}}
          routes: [{prefix: /, upstream: down}]
        """.formatted(port))) {
      for (int i = 0; i < 2; i++) {
        HttpResponse<String> r = g.get("/x");
        assertThat(r.statusCode()).isEqualTo(502);
        assertThat(TestServer.JSON.readTree(r.body()).get("error").asText()).isEqualTo("upstream_unreachable");
      }
      HttpResponse<String> open = g.get("/x");
      assertThat(open.statusCode()).isEqualTo(503);
      assertThat(TestServer.JSON.readTree(open.body()).get("error").asText()).isEqualTo("upstream_unavailable");
      assertThat(open.headers().firstValue("Retry-After")).hasValue("1");
      String metrics = g.send(HttpRequest.newBuilder(URI.create(g.management + "/metrics"))).body();
      assertThat(metrics).contains("gateway_upstream_errors_total{kind=\"connect\",upstream=\"down\"} 2.0");
      assertThat(metrics).contains("gateway_upstream_circuit_state{upstream=\"down\"} 1.0");

      try (Upstream back = new Upstream(port)) {
        // After open_for, one probe goes through; it succeeds and the breaker closes.
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> g.get("/x").statusCode() == 200);
        assertThat(g.get("/status/201").statusCode()).isEqualTo(201);
      }
    }
  }

  @Test
  void anUpstreamStallingMidBodyBreaksTheClientsResponseInsteadOfTruncatingIt() {
    // The route's timeout (300 ms) is also the longest silence while a body streams.
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> gateway.client.send(HttpRequest.newBuilder(
        URI.create(gateway.base + "/stall-route/stall")).build(), HttpResponse.BodyHandlers.ofByteArray()))
        .isInstanceOf(java.io.IOException.class);
  }

  @Test
  void aClientLeavingMidDownloadReleasesTheUpstream() throws Exception {
    upstream.abandoned = new CountDownLatch(1);
    try (Socket s = new Socket("127.0.0.1", gateway.server.port())) {
      s.getOutputStream().write(("GET /big?size=" + (64 << 20) + " HTTP/1.1\r\nHost: x\r\n\r\n")
          .getBytes(StandardCharsets.ISO_8859_1));
      byte[] some = new byte[256 * 1024];
      int read = 0;
      while (read < some.length) {
        int n = s.getInputStream().read(some, read, some.length - read);
        assertThat(n).isPositive();
        read += n;
      }
    }
    // Backpressure held the upstream to what the client read; the client's close reaches it.
    assertThat(upstream.abandoned.await(10, TimeUnit.SECONDS)).isTrue();
  }

  // ---- shutdown ------------------------------------------------------------------------------

  @Test
  void gracefulShutdownDrainsAnInFlightProxiedRequest() throws Exception {
    GatewayServer g = GatewayServer.start("""
        gateway:
          upstreams: {app: {url: "%s"}}
        """.formatted(upstream.url()));
    upstream.arrived = new CountDownLatch(1);
    CompletableFuture<HttpResponse<String>> slow = g.client.sendAsync(
        HttpRequest.newBuilder(URI.create(g.base + "/slow?ms=800")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(upstream.arrived.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> stopped = CompletableFuture.runAsync(g.server::stop);
    Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> !g.server.isReady());
    HttpResponse<String> r = slow.get(20, TimeUnit.SECONDS);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("{\"slow\":true}");
    stopped.get(20, TimeUnit.SECONDS);
  }

  // ---- helpers -------------------------------------------------------------------------------

  private static HttpResponse<String> post(String path, String key) {
    return gateway.send(HttpRequest.newBuilder(URI.create(gateway.base + path)).POST(HttpRequest.BodyPublishers
        .ofString("{}")), "X-API-Key", key);
  }

  /** Sends raw bytes (for headers java.net.http refuses to set) and reads until the connection closes. */
  private static String rawRequest(String request) throws Exception {
    try (Socket s = new Socket("127.0.0.1", gateway.server.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(request.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      StringBuilder sb = new StringBuilder();
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
      char[] buf = new char[8192];
      int n;
      // Read the head, then Content-Length bytes (the connection stays open: keep-alive).
      while (sb.indexOf("\r\n\r\n") < 0 && (n = in.read(buf)) > 0) {
        sb.append(buf, 0, n);
      }
      int end = sb.indexOf("\r\n\r\n") + 4;
      String head = sb.substring(0, end).toLowerCase(java.util.Locale.ROOT);
      int at = head.indexOf("content-length:");
      int length = Integer.parseInt(head.substring(at + 15, head.indexOf("\r\n", at)).trim());
      while (sb.length() < end + length && (n = in.read(buf)) > 0) {
        sb.append(buf, 0, n);
      }
      return sb.toString();
    }
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
