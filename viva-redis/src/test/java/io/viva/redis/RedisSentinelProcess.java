package io.viva.redis;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A throwaway Sentinel setup for a test class: a master, one replica and three sentinels
 * ({@code redis-server --sentinel} on generated config files) monitoring them as {@value #MASTER},
 * all on free ports, persistence off; killed after the class.
 */
final class RedisSentinelProcess implements BeforeAllCallback, AfterAllCallback {

  static final String MASTER = "mymaster";

  private final List<Process> processes = new ArrayList<>();
  private final List<Integer> sentinelPorts = new ArrayList<>();
  private int masterPort;
  private int replicaPort;
  private Path dir;

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    try {
      start();
    } catch (Exception | Error e) {
      stop();
      throw e;
    }
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    stop();
  }

  private void start() throws Exception {
    dir = Files.createTempDirectory("viva-sentinel");
    masterPort = RedisServerProcess.freePort();
    replicaPort = RedisServerProcess.freePort();
    launch(masterPort, List.of("redis-server", "--port", Integer.toString(masterPort), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", dir.toString()));
    launch(replicaPort, List.of("redis-server", "--port", Integer.toString(replicaPort), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", dir.toString(),
        "--replicaof", "127.0.0.1", Integer.toString(masterPort)));
    for (int i = 0; i < 3; i++) {
      int port = RedisServerProcess.freePort();
      Path conf = dir.resolve("sentinel-" + port + ".conf");
      Files.writeString(conf, String.join("\n",
          "port " + port,
          "bind 127.0.0.1",
          "dir " + dir,
          "sentinel monitor " + MASTER + " 127.0.0.1 " + masterPort + " 2",
          "sentinel down-after-milliseconds " + MASTER + " 1000",
          "sentinel failover-timeout " + MASTER + " 10000",
          "sentinel parallel-syncs " + MASTER + " 1",
          ""));
      sentinelPorts.add(port);
      launch(port, List.of("redis-server", conf.toString(), "--sentinel"));
    }
    // Ready once every sentinel knows the replica as a healthy failover candidate.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    for (int port : sentinelPorts) {
      String replicas = "";
      while (!(replicas.contains("127.0.0.1") && replicas.contains(Integer.toString(replicaPort))
          && !replicas.contains("s_down") && !replicas.contains("disconnected"))) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("sentinel on " + port + " does not see the replica: " + replicas);
        }
        Thread.sleep(100);
        replicas = cli(port, "SENTINEL", "REPLICAS", MASTER);
      }
    }
  }

  /** Sentinel's view of the master's port. */
  int masterPortBySentinel() throws Exception {
    String out = cli(sentinelPorts.get(0), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER);
    String[] lines = out.trim().split("\\s+");
    return Integer.parseInt(lines[lines.length - 1]);
  }

  /** Asks a sentinel for a failover now (retrying while it finds no good replica yet). */
  void failover() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    String out;
    while (!(out = cli(sentinelPorts.get(0), "SENTINEL", "FAILOVER", MASTER)).trim().equals("OK")) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("SENTINEL FAILOVER: " + out);
      }
      Thread.sleep(200);
    }
  }

  /** The URL of the sentinels, as a client gives it. */
  String url() {
    StringBuilder sb = new StringBuilder("redis-sentinel://");
    for (int i = 0; i < sentinelPorts.size(); i++) {
      sb.append(i > 0 ? "," : "").append("127.0.0.1:").append(sentinelPorts.get(i));
    }
    return sb.append("#").append(MASTER).toString();
  }

  int masterPort() {
    return masterPort;
  }

  int replicaPort() {
    return replicaPort;
  }

  static String cli(int port, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("redis-cli", "-h", "127.0.0.1", "-p", Integer.toString(port)));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(20, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException(command + " timed out");
    }
    return new String(out, StandardCharsets.UTF_8);
  }

  private void launch(int port, List<String> command) throws Exception {
    Process process = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(new File("target/redis-sentinel-" + port + ".log")).start();
    processes.add(process);
    RedisServerProcess.awaitAccepting(process, port, command.toString(), "target/redis-sentinel-" + port + ".log");
  }

  private void stop() throws Exception {
    RedisServerProcess.stopAll(processes, dir);
    processes.clear();
    dir = null;
  }
}
