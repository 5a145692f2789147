package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The fat jar ({@code -Dviva.jar}, else {@code target/viva-server.jar}) in a child process, run as
 * users run it: {@code java -jar viva-server.jar serve|worker ...} with environment variables of
 * the test's own. Its output goes to a file, not a pipe: {@link Process#destroy()} closes the
 * parent's end of pipes, and the shutdown logs would be lost.
 */
final class ChildServer implements AutoCloseable {

  private static final Pattern STARTED = Pattern.compile("viva started: .*listen=127\\.0\\.0\\.1:(\\d+)");
  private static final Pattern MANAGEMENT = Pattern.compile("viva started: .* management=(\\d+)");

  final Process process;
  final Path log;

  private ChildServer(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  /**
   * Starts {@code viva serve} on 127.0.0.1 and a free port, with {@code config} (none when null),
   * {@code env} added to this JVM's environment (less {@code SERVER_PORT}) and a heap of {@code
   * heap} (e.g. {@code 128m}); returns at once ({@link #awaitStarted()} waits).
   */
  static ChildServer serve(Path config, Map<String, String> env, Path log, String heap) throws IOException {
    List<String> args = new ArrayList<>(List.of("serve"));
    if (config != null) {
      args.addAll(List.of("--config", config.toString()));
    }
    args.addAll(List.of("--listen", "127.0.0.1", "--port", "0"));
    return launch(args, env, log, heap);
  }

  /** Starts {@code viva worker --config config} with {@code env}; returns at once ({@link #awaitLog} waits). */
  static ChildServer worker(Path config, Map<String, String> env, Path log) throws IOException {
    return launch(List.of("worker", "--config", config.toString()), env, log, "128m");
  }

  private static ChildServer launch(List<String> args, Map<String, String> env, Path log, String heap)
      throws IOException {
    Path jar = Path.of(System.getProperty("viva.jar", "target/viva-server.jar"));
    assertThat(jar).exists();
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:+UseSerialGC", "-Xmx" + heap, "-jar", jar.toString()));
    command.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().remove("SERVER_PORT");
    pb.environment().putAll(env);
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    return new ChildServer(pb.start(), log);
  }

  /** Waits until the server says it started, and returns its port; fails if it exits first. */
  int awaitStarted() {
    int[] found = {-1};
    await().atMost(Duration.ofSeconds(90)).until(() -> {
      Matcher m = STARTED.matcher(output());
      if (m.find()) {
        found[0] = Integer.parseInt(m.group(1));
      }
      return found[0] > 0 || !process.isAlive();
    });
    assertThat(process.isAlive()).as("%s: %s", log, output()).isTrue();
    return found[0];
  }

  /** The management port of a gateway that started ({@code metrics_port}). */
  int managementPort() {
    Matcher m = MANAGEMENT.matcher(output());
    assertThat(m.find()).as("%s: %s", log, output()).isTrue();
    return Integer.parseInt(m.group(1));
  }

  /** Waits until the output contains {@code text}; fails if the process exits first. */
  void awaitLog(String text) {
    await().atMost(Duration.ofSeconds(90)).until(() -> output().contains(text) || !process.isAlive());
    assertThat(process.isAlive()).as("%s: %s", log, output()).isTrue();
  }

  /** Everything the process wrote so far. */
  String output() {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** SIGTERM, and the exit code once it exited (which must be within 60 s). */
  int stop() throws InterruptedException {
    process.destroy();
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("%s: %s", log, output()).isTrue();
    return process.exitValue();
  }

  /** SIGKILL ({@code kill -9}: a crash, not a shutdown), and waits until it is gone. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
  }

  /** SIGTERM, waiting up to 60 s, then SIGKILL: for a finally block, asserting nothing. */
  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(60, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
