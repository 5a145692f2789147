package io.viva.server;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reloads configuration when its files change, without a restart: the configuration file's
 * policies, and the Envoy rate limit rule files (files, or directories of {@code *.yaml} files).
 *
 * <p>Two triggers, one reload path: a {@link WatchService} on the files' directories (prompt), and
 * a poll of their content every {@link #DEFAULT_POLL} (because watch events get lost when an
 * editor or Kubernetes replaces a file by renaming, and some file systems send none). Either way
 * the files are read and compared by SHA-256 with the last version seen, so each version is
 * handled once: a valid one is applied atomically by the {@link Target} (counters of unchanged
 * policies are kept); an invalid one is rejected with one log line naming the problem and its
 * path, the {@code viva_config_reloads_total{result="failure"}} counter goes up, and the previous
 * version keeps serving.
 */
final class ConfigWatcher implements AutoCloseable {

  static final Duration DEFAULT_POLL = Duration.ofSeconds(2);

  private static final Logger LOG = LoggerFactory.getLogger(ConfigWatcher.class);

  /** What a watcher reloads. */
  interface Target {
    /**
     * Applies the new contents of the watched files (each file's bytes, in path order); returns a
     * summary for the log line.
     *
     * @throws ConfigException to reject this version; the previous one keeps serving
     */
    String apply(Map<Path, byte[]> files) throws ConfigException;

    /** What keeps serving when a version is rejected, for the log line, e.g. {@code policies (version 3)}. */
    default String serving() {
      return "version";
    }
  }

  private final String what;
  private final List<Path> paths;
  private final Metrics metrics;
  private final String source;
  private final Target target;
  private final Duration pollInterval;
  private final ScheduledExecutorService executor;
  private WatchService watchService;
  private Thread watchThread;
  private String lastDigest;
  private volatile boolean closed;

  /** Watches the configuration file and reloads its policies into {@code registry}. */
  ConfigWatcher(ServerConfig config, PolicyRegistry registry, Metrics metrics, Duration pollInterval) {
    this(config, registry, metrics, pollInterval, null, null);
  }

  /**
   * Watches the configuration file and reloads its policies into {@code registry}; in gateway mode
   * also its {@code gateway} section, validated against the new policies before either is applied
   * and handed to {@code gatewayReload} right after them; in full mode also its tiers (null when it
   * has none), handed to {@code tiersReload}. Either may be null.
   */
  private static String keys(boolean platform) {
    return platform ? "platform" : "static";
  }

  ConfigWatcher(ServerConfig config, PolicyRegistry registry, Metrics metrics, Duration pollInterval,
      java.util.function.Consumer<io.viva.server.gateway.GatewayConfig> gatewayReload,
      java.util.function.Consumer<List<TierFile.TierSpec>> tiersReload) {
    this("config", List.of(config.configFile().toAbsolutePath()), config.configDigest(), metrics, "file",
        pollInterval, new Target() {
          @Override
          public String apply(Map<Path, byte[]> files) throws ConfigException {
            Map.Entry<Path, byte[]> file = files.entrySet().iterator().next();
            ServerConfig.FileContents contents = ServerConfig.parseFile(file.getValue(), file.getKey().toString());
            List<PolicyFile.PolicySpec> policies =
                contents.policies() != null ? contents.policies() : PolicyFile.defaults();
            io.viva.server.gateway.GatewayConfig gateway = null;
            if (gatewayReload != null) {
              try {
                gateway = config.gatewayFor(contents.gateway(), policies);
              } catch (ConfigException e) {
                throw new ConfigException(file.getKey() + ": " + e.getMessage());
              }
              // Platform keys start full mode's key store with the server: not something a reload can switch.
              boolean platform = config.gateway().apiKey().platform();
              if (gateway.apiKey().platform() != platform) {
                throw new ConfigException(file.getKey() + ": gateway.api_key.keys: " + keys(gateway.apiKey().platform())
                    + " (expected: " + keys(platform) + ", as at start; changing it needs a restart)");
              }
            }
            PolicyRegistry.Snapshot next = registry.replace(policies,
                contents.policies() != null ? "file" : "defaults");
            if (gateway != null) {
              gatewayReload.accept(gateway);
            }
            if (tiersReload != null) {
              tiersReload.accept(contents.tiers());
            }
            List<String> restart = config.restartOnlyDifferences(contents.server());
            if (!restart.isEmpty()) {
              LOG.warn("config {}: server settings {} changed; they apply only after a restart", file.getKey(),
                  restart);
            }
            return next.namespaces().size() + " namespaces (version " + next.version() + ")";
          }

          @Override
          public String serving() {
            return "policies (version " + registry.snapshot().version() + ")";
          }
        });
  }

  /**
   * Watches {@code paths} (files, or directories whose {@code *.yaml} and {@code *.yml} files are
   * read) and calls {@code target} with each new version.
   *
   * @param initialDigest the digest of the version already applied ({@link #digest}), or null
   * @param source the {@code source} label of the reload counter
   */
  ConfigWatcher(String what, List<Path> paths, String initialDigest, Metrics metrics, String source,
      Duration pollInterval, Target target) {
    this.what = what;
    this.paths = paths.stream().map(Path::toAbsolutePath).toList();
    this.lastDigest = initialDigest;
    this.metrics = metrics;
    this.source = source;
    this.target = target;
    this.pollInterval = pollInterval;
    this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "viva-" + what + "-reload");
      t.setDaemon(true);
      return t;
    });
  }

  void start() {
    long pollMillis = pollInterval.toMillis();
    executor.scheduleWithFixedDelay(this::check, pollMillis, pollMillis, TimeUnit.MILLISECONDS);
    Set<Path> dirs = new HashSet<>();
    for (Path p : paths) {
      dirs.add(Files.isDirectory(p) ? p : p.getParent());
    }
    try {
      watchService = FileSystems.getDefault().newWatchService();
      for (Path dir : dirs) {
        dir.register(watchService, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
            StandardWatchEventKinds.ENTRY_DELETE);
      }
      watchThread = new Thread(this::watch, "viva-" + what + "-watch");
      watchThread.setDaemon(true);
      watchThread.start();
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot watch {} for changes ({}); polling every {} instead", dirs, e.toString(),
          DurationParser.format(pollInterval));
    }
    // The files may have changed between loading and watching.
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
              || (context instanceof Path p && relevant((Path) key.watchable(), p));
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

  private boolean relevant(Path dir, Path name) {
    for (Path p : paths) {
      if (p.equals(dir) || p.equals(dir.resolve(name))) {
        return true;
      }
    }
    return false;
  }

  private void schedule(long delayMillis) {
    try {
      executor.schedule(this::check, delayMillis, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      // closing
    }
  }

  /** Reads the files and applies them if they changed since the last version seen. Runs on the executor only. */
  void check() {
    if (closed) {
      return;
    }
    Map<Path, byte[]> files;
    try {
      files = read(paths);
    } catch (NoSuchFileException e) {
      if (lastDigest != null && !lastDigest.equals("missing")) {
        lastDigest = "missing";
        reject(e.getFile() + ": no such file (it was deleted or is being replaced)");
      }
      return;
    } catch (IOException e) {
      LOG.warn("cannot read {} ({}); will retry", paths, e.toString());
      return;
    }
    String digest = digest(files);
    if (digest.equals(lastDigest)) {
      return;
    }
    // A writer that truncates and rewrites in place can be caught half way (an empty file is valid
    // YAML: the defaults). Apply a version only once it has stayed the same for a moment.
    if (!stable(digest)) {
      schedule(100);
      return;
    }
    lastDigest = digest;
    String summary;
    try {
      summary = target.apply(files);
    } catch (ConfigException e) {
      reject(e.getMessage());
      return;
    } catch (RuntimeException e) {
      reject(paths + ": " + e);
      return;
    }
    metrics.configReload(true, source);
    LOG.info("{} reloaded from {}: {}", what, paths.size() == 1 ? paths.get(0) : paths, summary);
  }

  /**
   * The files of {@code paths}: each file, and the {@code *.yaml}/{@code *.yml} files directly in
   * each directory (not hidden ones), in name order.
   */
  static Map<Path, byte[]> read(List<Path> paths) throws IOException {
    Map<Path, byte[]> out = new LinkedHashMap<>();
    for (Path p : paths) {
      if (Files.isDirectory(p)) {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(p, "*.{yaml,yml}")) {
          for (Path f : dir) {
            if (!f.getFileName().toString().startsWith(".") && Files.isRegularFile(f)) {
              files.add(f);
            }
          }
        }
        files.sort(null);
        for (Path f : files) {
          out.put(f, Files.readAllBytes(f));
        }
      } else {
        out.put(p, Files.readAllBytes(p));
      }
    }
    return out;
  }

  /** The SHA-256 of one file's bytes (as {@link ServerConfig#digest}), or of every file's name and bytes. */
  static String digest(Map<Path, byte[]> files) {
    if (files.size() == 1) {
      return ServerConfig.digest(files.values().iterator().next());
    }
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      for (Map.Entry<Path, byte[]> e : files.entrySet()) {
        md.update(e.getKey().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        md.update((byte) 0);
        md.update(Integer.toString(e.getValue().length).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        md.update((byte) 0);
        md.update(e.getValue());
      }
      return java.util.HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private boolean stable(String digest) {
    try {
      Thread.sleep(50);
      return digest.equals(digest(read(paths)));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (IOException e) {
      return false;
    }
  }

  private void reject(String problem) {
    metrics.configReload(false, source);
    LOG.error("{} reload rejected: {}; still serving the previous {}", what, problem, target.serving());
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
