package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.http.HttpMethod;
import io.viva.core.Clock;
import java.io.IOException;
import java.net.ConnectException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Graceful shutdown: readiness off, no new connections, in-flight requests finish. */
class ShutdownIT {

  @Test
  void inFlightRequestsCompleteAndStopReturns() throws Exception {
    int n = 16;
    CountDownLatch arrived = new CountDownLatch(n);
    // A test-only route that answers 300 ms after it is called (a timer, not a blocked thread).
    VivaServer.Options options = new VivaServer.Options(Clock.system(), (router, services) ->
        router.route(HttpMethod.POST, "/test/slow").handler(ctx -> {
          arrived.countDown();
          ctx.vertx().setTimer(300, id -> Http.json(ctx, 200, "{\"slow\":true}"));
        }), ConfigWatcher.DEFAULT_POLL);
    TestServer t = TestServer.start(ServerConfig.defaults().with(l -> l.gracefulShutdownTimeout = Duration.ofSeconds(10)),
        options);
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    List<CompletableFuture<HttpResponse<String>>> responses = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      responses.add(client.sendAsync(HttpRequest.newBuilder(URI.create(t.base + "/test/slow"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString()));
    }
    assertThat(arrived.await(30, TimeUnit.SECONDS)).as("all requests reached the server").isTrue();

    CompletableFuture<Void> stopped = CompletableFuture.runAsync(t.server::stop);
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> !t.server.isReady());

    for (CompletableFuture<HttpResponse<String>> f : responses) {
      HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo("{\"slow\":true}");
    }
    stopped.get(30, TimeUnit.SECONDS);
    assertThatThrownBy(() -> new Socket("127.0.0.1", t.server.port()).close()).isInstanceOf(ConnectException.class);
  }

  @Test
  void readinessTurnsDownWhileDraining() throws Exception {
    CountDownLatch arrived = new CountDownLatch(1);
    VivaServer.Options options = new VivaServer.Options(Clock.system(), (router, services) ->
        router.route(HttpMethod.POST, "/test/slow").handler(ctx -> {
          arrived.countDown();
          ctx.vertx().setTimer(500, id -> Http.json(ctx, 200, "{\"slow\":true}"));
        }), ConfigWatcher.DEFAULT_POLL);
    TestServer t = TestServer.start(ServerConfig.defaults(), options);
    assertThat(t.get("/readyz").status()).isEqualTo(200);
    CompletableFuture<HttpResponse<String>> slow = t.client.sendAsync(HttpRequest.newBuilder(URI.create(t.base + "/test/slow"))
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(arrived.await(30, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Void> stopped = CompletableFuture.runAsync(t.server::stop);
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> !t.server.isReady());
    assertThat(slow.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    stopped.get(30, TimeUnit.SECONDS);
    assertThatThrownBy(() -> t.client.send(HttpRequest.newBuilder(URI.create(t.base + "/readyz")).build(),
        HttpResponse.BodyHandlers.ofString())).isInstanceOf(IOException.class);
  }
}
