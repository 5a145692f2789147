package io.viva.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A throwaway {@code redis-server} (from the PATH) for a test class: started on a free port
 * before all tests, with persistence off, and killed after them. Register with
 * {@code @RegisterExtension static final RedisServerProcess REDIS = new RedisServerProcess();}.
 *
 * <p>jqwik properties run in their own engine, which does not see JUnit Jupiter extensions; a
 * class with properties also calls {@link #start()} and {@link #stop()} from jqwik's
 * {@code @BeforeContainer} and {@code @AfterContainer}. Starts and stops are counted, so the
 * server runs while either engine needs it.
 *
 * <p>Published in viva-redis's test jar: other modules start one with {@link #started()} and
 * stop it with {@link #close()}.
 */
public final class RedisServerProcess implements SharedServer, AutoCloseable {

  private Process process;
  private final int fixedPort;
  private int port;
  private RedisClient client;
  private StatefulRedisConnection<String, String> connection;

  private int users;

  /** A server on a free port, started by {@link #start()} (or as an extension). */
  public RedisServerProcess() {
    this(0);
  }

  private RedisServerProcess(int port) {
    this.fixedPort = port;
  }

  /** A server on a free port, already started. */
  public static RedisServerProcess started() throws Exception {
    return started(0);
  }

  /** A server on {@code port} (0: a free one), already started. */
  public static RedisServerProcess started(int port) throws Exception {
    RedisServerProcess server = new RedisServerProcess(port);
    server.start();
    return server;
  }

  /** A port free right now. */
  public static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  @Override
  public synchronized void start() throws Exception {
    if (users++ > 0) {
      return;
    }
    port = fixedPort > 0 ? fixedPort : freePort();
    launch();
    client = RedisClient.create(RedisURI.builder().withHost("127.0.0.1").withPort(port)
        .withTimeout(Duration.ofSeconds(10)).build());
    connection = client.connect();
  }

  private void launch() throws Exception {
    new File("target").mkdirs();
    process = new ProcessBuilder("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no")
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(new File("target/redis-" + port + ".log")))
        .start();
    awaitAccepting(process, port, "redis-server", "target/redis-" + port + ".log");
  }

  /**
   * Waits (up to 10 s) until {@code process}, {@code what} in messages, accepts connections on
   * {@code port}; fails early if it exits, pointing at its {@code log}. Shared with the cluster and
   * Sentinel setups, which are sets of redis-servers.
   */
  static void awaitAccepting(Process process, int port, String what, String log) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    for (;;) {
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress("127.0.0.1", port), 1_000);
        return;
      } catch (IOException e) {
        if (!process.isAlive()) {
          throw new IllegalStateException(what + " exited with " + process.exitValue() + "; see " + log);
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(what + " did not accept connections on port " + port);
        }
        process.waitFor(20, TimeUnit.MILLISECONDS);
      }
    }
  }

  /**
   * Stops {@code processes} (SIGTERM, then SIGKILL after 5 s) and deletes {@code dir} (if not
   * null) with what they wrote there.
   */
  static void stopAll(List<Process> processes, Path dir) throws Exception {
    for (Process process : processes) {
      process.destroy();
    }
    for (Process process : processes) {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    }
    if (dir != null) {
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }

  /** Kills the server (SIGKILL: an outage, not a shutdown); clients stay, reconnecting. */
  public synchronized void kill() throws Exception {
    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
  }

  /** Starts a fresh, empty server on the same port after {@link #kill()}. */
  public synchronized void restart() throws Exception {
    launch();
  }

  /** The server's port. */
  public synchronized int port() {
    return port;
  }

  @Override
  public synchronized void stop() throws Exception {
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
      connection = null;
      client = null;
      stopAll(List.of(process), null);
      process = null;
    }
  }

  /** The client, for tests that open their own connections. */
  public synchronized RedisClient client() {
    return client;
  }

  /** A shared connection to the server. */
  public synchronized StatefulRedisConnection<String, String> connection() {
    return connection;
  }

  /** The server's URL. */
  public synchronized String url() {
    return "redis://127.0.0.1:" + port;
  }

  /** The keys matching {@code pattern} (KEYS; fine for a test's few keys). */
  public List<String> keys(String pattern) {
    return connection().sync().keys(pattern);
  }

  /** {@link #stop()}. */
  @Override
  public void close() {
    try {
      stop();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while stopping redis-server", e);
    } catch (Exception e) {
      throw new IllegalStateException("stopping redis-server failed", e);
    }
  }
}
