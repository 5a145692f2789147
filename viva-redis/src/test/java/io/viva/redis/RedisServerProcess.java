package io.viva.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A throwaway {@code redis-server} (from the PATH) for a test class: started on a free port
 * before all tests, with persistence off, and killed after them. Register with
 * {@code @RegisterExtension static final RedisServerProcess REDIS = new RedisServerProcess();}.
 *
 * <p>jqwik properties run in their own engine, which does not see JUnit Jupiter extensions; a
 * class with properties also calls {@link #start()} and {@link #stop()} from jqwik's
 * {@code @BeforeContainer} and {@code @AfterContainer}. Starts and stops are counted, so the
 * server runs while either engine needs it.
 */
final class RedisServerProcess implements BeforeAllCallback, AfterAllCallback {

  private Process process;
  private int port;
  private RedisClient client;
  private StatefulRedisConnection<String, String> connection;

  private int users;

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    start();
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    stop();
  }

  /** Starts the server unless it is running. */
  synchronized void start() throws Exception {
    if (users++ > 0) {
      return;
    }
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    launch();
    client = RedisClient.create(RedisURI.builder().withHost("127.0.0.1").withPort(port)
        .withTimeout(Duration.ofSeconds(10)).build());
    connection = client.connect();
  }

  private void launch() throws Exception {
    process = new ProcessBuilder("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no")
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(new File("target/redis-" + port + ".log")))
        .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!accepts()) {
      if (!process.isAlive()) {
        throw new IllegalStateException("redis-server exited with " + process.exitValue()
            + "; see target/redis-" + port + ".log");
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("redis-server did not accept connections on port " + port);
      }
      process.waitFor(20, TimeUnit.MILLISECONDS);
    }
  }

  /** Kills the server (SIGKILL: an outage, not a shutdown); clients stay, reconnecting. */
  synchronized void kill() throws Exception {
    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
  }

  /** Starts a fresh, empty server on the same port after {@link #kill()}. */
  synchronized void restart() throws Exception {
    launch();
  }

  /** The server's port. */
  synchronized int port() {
    return port;
  }

  private boolean accepts() {
    try (Socket socket = new Socket()) {
      socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 1_000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Stops the server when its last user is done. */
  synchronized void stop() throws Exception {
    if (--users > 0) {
      return;
    }
    if (connection != null) {
      connection.close();
    }
    if (client != null) {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
    if (process != null) {
      process.destroy();
      connection = null;
      client = null;
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
      process = null;
    }
  }

  /** The client, for tests that open their own connections. */
  synchronized RedisClient client() {
    return client;
  }

  /** A shared connection to the server. */
  synchronized StatefulRedisConnection<String, String> connection() {
    return connection;
  }
}
