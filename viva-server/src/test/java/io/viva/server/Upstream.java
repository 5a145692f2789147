package io.viva.server;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A real HTTP upstream for the gateway tests, on its own Vert.x:
 *
 * <pre>
 * /hash        streams the request body through SHA-256: {"sha256","length","chunked"}
 * /big?size=N  streams N bytes (a multiple of 64 KiB) of {@link #bytes}, chunked unless length=1
 * /headers     the request as JSON (method, uri, headers); answers with hop-by-hop headers of its own
 * /status/N    status N, body the request URI
 * /slow?ms=N   answers after N ms ({@link #arrived} counts arrivals)
 * /stall       announces 1 MiB, sends 64 KiB, then nothing
 * /ws          WebSocket echo (text and binary); first says "subprotocol=X" if one was agreed
 * anything else: 200 with the URI
 * </pre>
 */
final class Upstream implements AutoCloseable {

  static final int CHUNK = 64 * 1024;

  final Vertx vertx = Vertx.vertx();
  final HttpServer server;
  volatile CountDownLatch arrived = new CountDownLatch(1);
  /** Counts /big responses whose connection closed before they ended. */
  volatile CountDownLatch abandoned = new CountDownLatch(1);

  Upstream(int port) {
    server = vertx.createHttpServer(new io.vertx.core.http.HttpServerOptions()
        .setWebSocketSubProtocols(java.util.List.of("chat.v1", "chat.v2"))).requestHandler(this::handle)
        .webSocketHandler(ws -> {
      if (ws.subProtocol() != null) {
        ws.writeTextMessage("subprotocol=" + ws.subProtocol());
      }
      ws.textMessageHandler(ws::writeTextMessage);
      ws.binaryMessageHandler(ws::writeBinaryMessage);
    });
    try {
      server.listen(port, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      vertx.close();
      throw new IllegalStateException(e);
    }
  }

  static Upstream start() {
    return new Upstream(0);
  }

  int port() {
    return server.actualPort();
  }

  String url() {
    return "http://127.0.0.1:" + port();
  }

  /** The bytes of /big: 64 KiB chunks from a Random seeded 42. */
  static byte[] bytes(int size) {
    Random random = new Random(42);
    byte[] all = new byte[size];
    byte[] chunk = new byte[CHUNK];
    for (int off = 0; off < size; off += CHUNK) {
      random.nextBytes(chunk);
      System.arraycopy(chunk, 0, all, off, CHUNK);
    }
    return all;
  }

  private void handle(HttpServerRequest req) {
    String path = req.path();
    HttpServerResponse resp = req.response();
    if (path.equals("/hash")) {
      MessageDigest md = sha256();
      long[] length = {0};
      req.handler(b -> {
        md.update(b.getBytes());
        length[0] += b.length();
      });
      req.endHandler(v -> resp.putHeader("Content-Type", "application/json").end("{\"sha256\":\""
          + HexFormat.of().formatHex(md.digest()) + "\",\"length\":" + length[0] + ",\"chunked\":"
          + (req.getHeader("Transfer-Encoding") != null) + "}"));
    } else if (path.equals("/big")) {
      int size = Integer.parseInt(req.getParam("size"));
      if ("1".equals(req.getParam("length"))) {
        resp.putHeader("Content-Length", Integer.toString(size));
      } else {
        resp.setChunked(true);
      }
      Random random = new Random(42);
      resp.closeHandler(v -> {
        if (!resp.ended()) {
          abandoned.countDown();
        }
      });
      int[] sent = {0};
      Runnable[] pump = new Runnable[1];
      pump[0] = () -> {
        while (sent[0] < size && !resp.writeQueueFull()) {
          byte[] chunk = new byte[CHUNK];
          random.nextBytes(chunk);
          resp.write(Buffer.buffer(chunk));
          sent[0] += CHUNK;
        }
        if (sent[0] >= size) {
          resp.end();
        } else {
          resp.drainHandler(v -> pump[0].run());
        }
      };
      pump[0].run();
    } else if (path.equals("/headers")) {
      StringBuilder sb = new StringBuilder("{\"method\":\"" + req.method().name() + "\",\"uri\":")
          .append(TestServer.JSON.valueToTree(req.uri()).toString()).append(",\"headers\":{");
      boolean first = true;
      for (String name : req.headers().names()) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        sb.append(TestServer.JSON.valueToTree(name.toLowerCase(java.util.Locale.ROOT)).toString()).append(':')
            .append(TestServer.JSON.valueToTree(String.join(" | ", req.headers().getAll(name))).toString());
      }
      sb.append("}}");
      req.body().onSuccess(b -> resp.putHeader("Content-Type", "application/json")
          .putHeader("Connection", "X-Up-Drop").putHeader("X-Up-Drop", "1").putHeader("X-Up-Keep", "1")
          .putHeader("Keep-Alive", "timeout=30")
          // Many services echo the request id they were given.
          .putHeader("X-Request-ID", String.valueOf(req.getHeader("X-Request-ID"))).end(sb.toString()));
    } else if (path.startsWith("/status/")) {
      int status = Integer.parseInt(path.substring("/status/".length()));
      req.body().onSuccess(b -> resp.setStatusCode(status).end(status == 204 || status == 304 ? "" : req.uri()));
    } else if (path.equals("/stall")) {
      resp.putHeader("Content-Length", Integer.toString(1 << 20)).write(Buffer.buffer(new byte[CHUNK]));
    } else if (path.startsWith("/slow")) {
      long ms = Long.parseLong(req.getParam("ms", "1000"));
      arrived.countDown();
      req.body().onSuccess(b -> vertx.setTimer(ms, id -> resp.end("{\"slow\":true}")));
    } else {
      req.body().onSuccess(b -> resp.end(req.uri()));
    }
  }

  static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    try {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      // best effort
    }
  }
}
