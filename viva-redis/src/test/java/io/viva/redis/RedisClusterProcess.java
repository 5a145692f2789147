package io.viva.redis;

import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A throwaway three-master Redis Cluster (three {@code redis-server}s from the PATH, joined with
 * {@code redis-cli --cluster create}, persistence off; no replicas, or one per master) for a test
 * class; killed after it. Use like {@link RedisServerProcess}: as a JUnit extension, and from
 * jqwik's container hooks through {@link #start()} and {@link #stop()}, which are counted.
 */
final class RedisClusterProcess implements SharedServer {

  static final int MASTERS = 3;

  private final int replicas;
  private final List<Process> processes = new ArrayList<>();
  private final List<Integer> ports = new ArrayList<>();
  private Path dir;
  private RedisClusterClient client;
  private StatefulRedisClusterConnection<String, String> connection;
  private int users;

  /** Three masters, no replicas. */
  RedisClusterProcess() {
    this(0);
  }

  /** Three masters with {@code replicas} replicas each, and a short node timeout (1 s) for quick failovers. */
  RedisClusterProcess(int replicas) {
    this.replicas = replicas;
  }

  /** Starts the cluster unless it is running. */
  @Override
  public synchronized void start() throws Exception {
    if (users++ > 0) {
      return;
    }
    try {
      dir = Files.createTempDirectory("viva-cluster");
      int nodes = MASTERS * (1 + replicas);
      for (int i = 0; i < nodes; i++) {
        int port = freePort();
        ports.add(port);
        processes.add(new ProcessBuilder("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-config-file", dir.resolve("nodes-" + port + ".conf").toString(),
            "--cluster-node-timeout", replicas > 0 ? "1000" : "15000",
            "--dir", dir.toString(), "--save", "", "--appendonly", "no")
            .redirectErrorStream(true)
            .redirectOutput(new File("target/redis-cluster-" + port + ".log"))
            .start());
      }
      for (int i = 0; i < nodes; i++) {
        RedisServerProcess.awaitAccepting(processes.get(i), ports.get(i), "redis-server",
            "target/redis-cluster-" + ports.get(i) + ".log");
      }
      List<String> create = new ArrayList<>(List.of("redis-cli", "--cluster", "create"));
      for (int port : ports) {
        create.add("127.0.0.1:" + port);
      }
      create.addAll(List.of("--cluster-replicas", Integer.toString(replicas), "--cluster-yes"));
      run(create);
      for (int port : ports) {
        awaitClusterOk(port);
      }
      if (replicas > 0) {
        awaitReplicasInSync();
      }
      client = RedisClusterClient.create(RedisURI.builder().withHost("127.0.0.1").withPort(ports.get(0))
          .withTimeout(Duration.ofSeconds(10)).build());
      client.setOptions(ClusterClientOptions.builder().build());
      connection = client.connect();
    } catch (Exception | Error e) {
      users = 1;
      stop();
      throw e;
    }
  }

  /** A free port whose cluster bus port (port + 10000) is free too. */
  private static int freePort() throws IOException {
    for (int attempt = 0; attempt < 200; attempt++) {
      int port = ThreadLocalRandom.current().nextInt(20_000, 40_000);
      if (free(port) && free(port + 10_000)) {
        return port;
      }
    }
    throw new IllegalStateException("no free port pair found");
  }

  private static boolean free(int port) {
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress("127.0.0.1", port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static void awaitClusterOk(int port) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    String info = "";
    while (System.nanoTime() < deadline) {
      info = run(List.of("redis-cli", "-h", "127.0.0.1", "-p", Integer.toString(port), "cluster", "info"));
      if (info.contains("cluster_state:ok")) {
        return;
      }
      Thread.sleep(50);
    }
    throw new IllegalStateException("cluster not ok on port " + port + ": " + info);
  }

  private void awaitReplicasInSync() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    for (int port : ports) {
      String info = cli(port, "info", "replication");
      while (info.contains("role:slave") && !info.contains("master_link_status:up")) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("replica on port " + port + " not in sync: " + info);
        }
        Thread.sleep(50);
        info = cli(port, "info", "replication");
      }
    }
  }

  /** Runs redis-cli against one node and returns its output. */
  static String cli(int port, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("redis-cli", "-h", "127.0.0.1", "-p", Integer.toString(port)));
    command.addAll(List.of(args));
    return run(command);
  }

  /** The port of the master serving {@code slot}, from the view of the node on {@code askPort}. */
  static int masterOf(int askPort, int slot) throws Exception {
    for (String line : cli(askPort, "cluster", "nodes").split("\n")) {
      String[] f = line.trim().split(" ");
      if (f.length < 9 || !f[2].contains("master") || f[2].contains("fail")) {
        continue;
      }
      for (int i = 8; i < f.length; i++) {
        String range = f[i];
        if (range.startsWith("[")) {
          continue;
        }
        int dash = range.indexOf('-');
        int from = Integer.parseInt(dash < 0 ? range : range.substring(0, dash));
        int to = dash < 0 ? from : Integer.parseInt(range.substring(dash + 1));
        if (slot >= from && slot <= to) {
          return port(f[1]);
        }
      }
    }
    throw new IllegalStateException("no master serves slot " + slot);
  }

  /** The node id of the node on {@code port}. */
  static String nodeId(int port) throws Exception {
    return cli(port, "cluster", "myid").trim();
  }

  private static int port(String address) {
    // 127.0.0.1:30001@40001
    String hostPort = address.contains("@") ? address.substring(0, address.indexOf('@')) : address;
    return Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
  }

  /** Kills the node on {@code port} (SIGKILL). */
  synchronized void kill(int port) throws Exception {
    processes.get(ports.indexOf(port)).destroyForcibly().waitFor(10, TimeUnit.SECONDS);
  }

  private static String run(List<String> command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException(command + " timed out");
    }
    String text = new String(out, StandardCharsets.UTF_8);
    if (p.exitValue() != 0) {
      throw new IllegalStateException(command + " exited with " + p.exitValue() + ":\n" + text);
    }
    return text;
  }

  /** Stops the cluster when its last user is done. */
  @Override
  public synchronized void stop() throws Exception {
    if (--users > 0) {
      return;
    }
    if (connection != null) {
      connection.close();
      connection = null;
    }
    if (client != null) {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      client = null;
    }
    RedisServerProcess.stopAll(processes, dir);
    processes.clear();
    ports.clear();
    dir = null;
  }

  /** The nodes' ports. */
  synchronized List<Integer> ports() {
    return List.copyOf(ports);
  }

  /** The cluster client, for tests that open their own connections. */
  synchronized RedisClusterClient client() {
    return client;
  }

  /** A shared cluster connection. */
  synchronized StatefulRedisClusterConnection<String, String> connection() {
    return connection;
  }
}
