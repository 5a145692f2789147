package io.viva.platform;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A throwaway PostgreSQL server of its own (initdb + pg_ctl from Debian's {@code
 * /usr/lib/postgresql/<version>/bin}) on a free port, which a test can stop and start again. Never
 * touches the shared server on 5432. Runs the binaries as the {@code postgres} user when the test
 * runs as root (PostgreSQL refuses root).
 */
public final class PostgresProcess implements AutoCloseable {

  private final Path bin;
  private final Path dir;
  private final int port;
  private final boolean asPostgres;

  private PostgresProcess(Path bin, Path dir, int port, boolean asPostgres) {
    this.bin = bin;
    this.dir = dir;
    this.port = port;
    this.asPostgres = asPostgres;
  }

  /** Initialises a cluster in a temporary directory and starts it. */
  public static PostgresProcess start() throws IOException, InterruptedException {
    Path bin = findBin();
    boolean root = "root".equals(System.getProperty("user.name"));
    Path dir = Files.createTempDirectory("viva-pg-");
    PostgresProcess p = new PostgresProcess(bin, dir.resolve("data"), freePort(), root);
    if (root) {
      run(List.of("chown", "postgres", dir.toString()));
    }
    p.exec("initdb", "-D", p.dir.toString(), "-U", "postgres", "--auth=trust", "-E", "UTF8");
    p.startServer();
    return p;
  }

  /** The JDBC URL of its {@code postgres} database, for {@link TestDatabase#create(String)}. */
  public String adminUrl() {
    return "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres";
  }

  /** The port it listens on. */
  public int port() {
    return port;
  }

  /** Starts the (stopped) server and waits until it accepts connections. */
  public void startServer() throws IOException, InterruptedException {
    exec("pg_ctl", "-D", dir.toString(), "-w", "-t", "30", "-l", dir.getParent().resolve("log").toString(), "-o",
        "-p " + port + " -c listen_addresses=127.0.0.1 -k " + dir.getParent(), "start");
  }

  /** Stops the server at once (fast shutdown: clients are disconnected). */
  public void stopServer() throws IOException, InterruptedException {
    exec("pg_ctl", "-D", dir.toString(), "-w", "-t", "30", "-m", "fast", "stop");
  }

  @Override
  public void close() throws IOException, InterruptedException {
    try {
      exec("pg_ctl", "-D", dir.toString(), "-w", "-t", "30", "-m", "immediate", "stop");
    } catch (IOException e) {
      // already stopped
    }
    try (Stream<Path> files = Files.walk(dir.getParent())) {
      files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    }
  }

  private void exec(String tool, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    if (asPostgres) {
      cmd.addAll(List.of("runuser", "-u", "postgres", "--"));
    }
    cmd.add(bin.resolve(tool).toString());
    cmd.addAll(List.of(args));
    run(cmd);
  }

  private static void run(List<String> cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", cmd) + " failed: " + out);
    }
  }

  private static Path findBin() throws IOException {
    try (Stream<Path> versions = Files.list(Path.of("/usr/lib/postgresql"))) {
      return versions.map(v -> v.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("pg_ctl")))
          .max(Comparator.naturalOrder())
          .orElseThrow(() -> new IOException("no PostgreSQL binaries under /usr/lib/postgresql (apt-get install"
              + " postgresql)"));
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
