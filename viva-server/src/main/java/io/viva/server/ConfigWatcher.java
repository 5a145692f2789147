package io.viva.server;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reloads the policies when the configuration file changes, without a restart.
 *
 * <p>Two triggers, one reload path: a {@link WatchService} on the file's directory (prompt), and a
 * poll of the file's content every {@link #DEFAULT_POLL} (because watch events get lost when an
 * editor or Kubernetes replaces the file by renaming, and some file systems send none). Either
 * way the file is read and compared by SHA-256 with the last version seen, so each version is
 * handled once: a valid one replaces the policies atomically (counters of unchanged policies are
 * kept); an invalid one is rejected with one log line naming the problem and its path, the
 * {@code viva_config_reloads_total{result="failure"}} counter goes up, and the previous policies
 * keep serving. Changes to {@code server} settings are reported as needing a restart.
 */
final class ConfigWatcher implements AutoCloseable {

  static final Duration DEFAULT_POLL = Duration.ofSeconds(2);

  private static final Logger LOG = LoggerFactory.getLogger(ConfigWatcher.class);

  private final ServerConfig config;
  private final Path file;
  private final PolicyRegistry registry;
  private final Metrics metrics;
  private final Duration pollInterval;
  private final ScheduledExecutorService executor;
  private WatchService watchService;
  private Thread watchThread;
  private String lastDigest;
  private volatile boolean closed;

  private volatile java.util.function.Consumer<List<TierFile.TierSpec>> tiersListener;

  /** Full mode: also hands each accepted file's tiers (null when it has none) to {@code listener}. */
  void onTiers(java.util.function.Consumer<List<TierFile.TierSpec>> listener) {
    this.tiersListener = listener;
  }

  ConfigWatcher(ServerConfig config, PolicyRegistry registry, Metrics metrics, Duration pollInterval) {
    this.config = config;
    this.file = config.configFile().toAbsolutePath();
    this.registry = registry;
    this.metrics = metrics;
    this.pollInterval = pollInterval;
    this.lastDigest = config.configDigest();
    this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "viva-config-reload");
      t.setDaemon(true);
      return t;
    });
  }

  void start() {
    long pollMillis = pollInterval.toMillis();
    executor.scheduleWithFixedDelay(this::check, pollMillis, pollMillis, TimeUnit.MILLISECONDS);
    Path dir = file.getParent();
    try {
      watchService = FileSystems.getDefault().newWatchService();
      dir.register(watchService, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
          StandardWatchEventKinds.ENTRY_DELETE);
      watchThread = new Thread(this::watch, "viva-config-watch");
      watchThread.setDaemon(true);
      watchThread.start();
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot watch {} for changes ({}); polling it every {} instead", dir, e.toString(),
          DurationParser.format(pollInterval));
    }
    // The file may have changed between loading and watching.
    schedule(0);
  }

  private void watch() {
    try {
      while (!closed) {
        WatchKey key = watchService.take();
        boolean relevant = false;
        for (WatchEvent<?> event : key.pollEvents()) {
          Object context = event.context();
          relevant |= event.kind() == StandardWatchEventKinds.OVERFLOW
              || (context instanceof Path p && p.equals(file.getFileName()));
        }
        key.reset();
        if (relevant) {
          // A short delay lets a writer finish (editors write, then rename); the digest check makes repeats free.
          schedule(100);
        }
      }
    } catch (InterruptedException | ClosedWatchServiceException e) {
      // closing
    }
  }

  private void schedule(long delayMillis) {
    try {
      executor.schedule(this::check, delayMillis, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      // closing
    }
  }

  /** Reads the file and applies it if it changed since the last version seen. Runs on the executor only. */
  void check() {
    if (closed) {
      return;
    }
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      if (lastDigest != null && !lastDigest.equals("missing")) {
        lastDigest = "missing";
        reject(file + ": no such file (it was deleted or is being replaced)");
      }
      return;
    } catch (IOException e) {
      LOG.warn("cannot read {} ({}); will retry", file, e.toString());
      return;
    }
    String digest = ServerConfig.digest(bytes);
    if (digest.equals(lastDigest)) {
      return;
    }
    lastDigest = digest;
    ServerConfig.FileContents contents;
    try {
      contents = ServerConfig.parseFile(bytes, file.toString());
    } catch (ConfigException e) {
      reject(e.getMessage());
      return;
    } catch (RuntimeException e) {
      reject(file + ": " + e);
      return;
    }
    List<PolicyFile.PolicySpec> policies = contents.policies() != null ? contents.policies() : PolicyFile.defaults();
    PolicyRegistry.Snapshot next = registry.replace(policies, contents.policies() != null ? "file" : "defaults");
    metrics.configReload(true, "file");
    if (tiersListener != null) {
      tiersListener.accept(contents.tiers());
    }
    LOG.info("config reloaded from {}: {} namespaces (version {})", file, next.namespaces().size(), next.version());
    List<String> restart = config.restartOnlyDifferences(contents.server());
    if (!restart.isEmpty()) {
      LOG.warn("config {}: server settings {} changed; they apply only after a restart", file, restart);
    }
  }

  private void reject(String problem) {
    metrics.configReload(false, "file");
    LOG.error("config reload rejected: {}; still serving the previous policies (version {})", problem,
        registry.snapshot().version());
  }

  @Override
  public void close() {
    closed = true;
    executor.shutdownNow();
    if (watchService != null) {
      try {
        watchService.close();
      } catch (IOException e) {
        // nothing to do
      }
    }
  }
}
