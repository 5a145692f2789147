package io.viva.server;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throwaway {@code redis-server} (from the PATH) as a child process: persistence off, bound to
 * 127.0.0.1, killed on {@link #close()}. A trimmed copy of viva-redis's test helper.
 */
final class RedisServer implements AutoCloseable {

  private final int port;
  private final Process process;
  private RedisClient client;
  private StatefulRedisConnection<String, String> connection;

  private RedisServer(int port) throws Exception {
    this.port = port;
    new File("target").mkdirs();
    process = new ProcessBuilder("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no")
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(new File("target/redis-" + port + ".log")))
        .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!accepts(port)) {
      if (!process.isAlive()) {
        throw new IllegalStateException("redis-server exited with " + process.exitValue() + "; see target/redis-"
            + port + ".log");
      }
      if (System.nanoTime() > deadline) {
        process.destroyForcibly();
        throw new IllegalStateException("redis-server did not accept connections on port " + port);
      }
      process.waitFor(20, TimeUnit.MILLISECONDS);
    }
  }

  /** Starts a server on a free port. */
  static RedisServer start() throws Exception {
    return new RedisServer(freePort());
  }

  /** Starts a server on {@code port}. */
  static RedisServer start(int port) throws Exception {
    return new RedisServer(port);
  }

  static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  int port() {
    return port;
  }

  String url() {
    return "redis://127.0.0.1:" + port;
  }

  /** The keys matching {@code pattern} (KEYS; fine for a test's few keys). */
  synchronized List<String> keys(String pattern) {
    if (connection == null) {
      client = RedisClient.create(RedisURI.builder().withHost("127.0.0.1").withPort(port)
          .withTimeout(Duration.ofSeconds(10)).build());
      connection = client.connect();
    }
    return connection.sync().keys(pattern);
  }

  private static boolean accepts(int port) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 1_000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  @Override
  public synchronized void close() throws Exception {
    if (connection != null) {
      connection.close();
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
    process.destroy();
    if (!process.waitFor(5, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
    }
  }
}
