package io.viva.bench.load;

import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerOptions;

/**
 * A trivial upstream for the gateway benchmark: answers every request with a small JSON body (the
 * request body, if any, is read and dropped), on one event loop unless told otherwise.
 *
 * <pre>
 * java -cp viva-bench/target/benchmarks.jar io.viva.bench.load.EchoUpstream --port 18081 [--threads 1]
 * </pre>
 *
 * {@code viva-bench/run-gateway.sh} and {@code viva-bench/run-gateway-cost.sh} run it beside the gateway.
 */
public final class EchoUpstream {

  private static final Buffer BODY = Buffer.buffer("{\"ok\":true}");
  private static final CharSequence LENGTH = HttpHeaders.createOptimized(Integer.toString(BODY.length()));
  private static final CharSequence JSON = HttpHeaders.createOptimized("application/json");

  private EchoUpstream() {}

  /** Runs until killed. */
  public static void main(String[] argv) {
    int port = 18081;
    int threads = 1;
    for (int i = 0; i + 1 < argv.length; i += 2) {
      switch (argv[i]) {
        case "--port" -> port = Integer.parseInt(argv[i + 1]);
        case "--threads" -> threads = Integer.parseInt(argv[i + 1]);
        default -> throw new IllegalArgumentException("argument " + argv[i] + " (expected: --port N, --threads N)");
      }
    }
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(threads));
    int listen = port;
    for (int i = 0; i < threads; i++) {
      vertx.createHttpServer(new HttpServerOptions().setTcpNoDelay(true).setIdleTimeout(300))
          .requestHandler(req -> req.end().onComplete(v -> req.response()
              .putHeader(HttpHeaders.CONTENT_TYPE, JSON)
              .putHeader(HttpHeaders.CONTENT_LENGTH, LENGTH)
              .end(BODY)))
          .listen(listen, "127.0.0.1")
          .onFailure(e -> {
            System.err.println("echo upstream: cannot listen on " + listen + ": " + e.getMessage());
            System.exit(1);
          });
    }
    System.out.println("echo upstream on 127.0.0.1:" + port);
  }
}
