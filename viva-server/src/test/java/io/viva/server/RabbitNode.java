package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A RabbitMQ node of the test's own (the installed {@code rabbitmq-server}, its own node name,
 * ports and data directory), so a test can stop and start a broker without touching the shared one
 * on 5672. Its data survives a stop: durable queues and persistent messages come back on start.
 */
final class RabbitNode implements AutoCloseable {

  final String node;
  final int port;
  private final int distPort;
  private final Path dir;
  private Process process;

  private RabbitNode(String node, int port, int distPort, Path dir) {
    this.node = node;
    this.port = port;
    this.distPort = distPort;
    this.dir = dir;
  }

  /** Starts a fresh node. */
  static RabbitNode start() throws Exception {
    Path dir = Files.createTempDirectory("viva-rabbit-");
    // rabbitmq-server runs as the rabbitmq user: it must own its directory.
    run("chown", "rabbitmq:rabbitmq", dir.toString());
    RabbitNode n = new RabbitNode("vivatest" + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36)
        + "@localhost", freePort(), freePort(), dir);
    n.startAgain();
    return n;
  }

  /** The AMQP URL (guest, default vhost). */
  String url() {
    return "amqp://guest:guest@127.0.0.1:" + port + "/%2F";
  }

  /** Starts the node (again) on the same ports and data, and waits until it accepts connections. */
  void startAgain() throws Exception {
    ProcessBuilder pb = new ProcessBuilder("rabbitmq-server");
    Map<String, String> env = pb.environment();
    env.put("RABBITMQ_NODENAME", node);
    env.put("RABBITMQ_NODE_PORT", Integer.toString(port));
    env.put("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1");
    env.put("RABBITMQ_DIST_PORT", Integer.toString(distPort));
    env.put("RABBITMQ_MNESIA_BASE", dir.resolve("mnesia").toString());
    env.put("RABBITMQ_LOG_BASE", dir.resolve("log").toString());
    env.put("RABBITMQ_PID_FILE", dir.resolve("pid").toString());
    env.put("RABBITMQ_ENABLED_PLUGINS_FILE", dir.resolve("plugins").toString());
    env.put("RABBITMQ_CONFIG_FILE", dir.resolve("rabbitmq").toString());
    env.put("RABBITMQ_FEATURE_FLAGS_FILE", dir.resolve("feature_flags").toString());
    pb.directory(dir.toFile()).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(
        dir.resolve("out.log").toFile()));
    process = pb.start();
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() -> {
      if (!process.isAlive()) {
        return true;
      }
      try (Socket s = new Socket("127.0.0.1", port)) {
        return true;
      } catch (IOException e) {
        return false;
      }
    });
    assertThat(process.isAlive()).as("rabbitmq-server: %s", Files.readString(dir.resolve("out.log"))).isTrue();
  }

  /** Stops the node cleanly (rabbitmqctl stop) and waits for it to exit. */
  void stop() throws Exception {
    run("rabbitmqctl", "-n", node, "stop");
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
  }

  @Override
  public void close() throws Exception {
    if (process != null && process.isAlive()) {
      try {
        stop();
      } finally {
        process.destroyForcibly();
      }
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  static void run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("%s: %s", String.join(" ", cmd), out).isZero();
  }
}
