package io.viva.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The command line: {@code viva serve [--config FILE] [--port N]}, {@code viva worker} (usage and billing, see
 * {@link WorkerCommand}), {@code viva keys
 * create|list|revoke|rotate} (full mode's admin API, see {@link KeysCommand}), {@code viva version}, {@code
 * viva --help}. {@code serve} runs until SIGTERM or SIGINT, then shuts down gracefully and exits 0.
 * Exit codes: 0 done, 1 could not start (e.g. port in use), 2 bad usage or configuration.
 */
@Command(name = "viva", mixinStandardHelpOptions = true, versionProvider = Main.VersionProvider.class,
    description = "Viva: the rate limiting service.%n",
    subcommands = {Main.Serve.class, KeysCommand.class, WorkerCommand.class, Main.VersionCommand.class, CommandLine.HelpCommand.class},
    footer = {"%nRun 'viva serve --help' for the server's options; docs/configuration.md lists every setting."})
public final class Main implements Callable<Integer> {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /** Runs the command line; {@code serve} returns only when the JVM shuts down. */
  public static void main(String[] args) {
    // Netty 4.2 probes Java Flight Recorder for its allocator events: 100+ classes we do not need.
    if (System.getProperty("io.netty.jfr.enabled") == null) {
      System.setProperty("io.netty.jfr.enabled", "false");
    }
    Serve serve = Serve.direct(args);
    int code;
    try {
      code = serve != null ? serve.run(new PrintWriter(System.err, true)) : commandLine().execute(args);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      code = 1;
    }
    System.exit(code);
  }

  static CommandLine commandLine() {
    return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return 2;
  }

  /** {@code viva serve}. */
  @Command(name = "serve", mixinStandardHelpOptions = true, versionProvider = Main.VersionProvider.class,
      description = {"Runs the rate limiting service until SIGTERM or SIGINT.",
          "Settings come from the flags, then the environment (SERVER_PORT, LISTEN_ADDR, METRICS_PORT, LOG_LEVEL,"
              + " GRACEFUL_SHUTDOWN_TIMEOUT, MODE, DOWNSTREAM_URL, ADMIN_TOKEN, ACCESS_LOG, MAX_BATCH_SIZE, EVENT_LOOPS, MAX_KEYS;"
              + " full mode: DATABASE_URL, DATA_DIR, API_KEY_PEPPER, KEY_ROTATION_GRACE, KEY_CACHE_SIZE),"
              + " then the config file, then the defaults.%n"})
  static final class Serve implements Callable<Integer> {

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
        description = "YAML config file (server settings and policies); watched and hot-reloaded.")
    Path config;

    @Option(names = {"-p", "--port"}, paramLabel = "N", description = "API port (default 8080; 0 picks a free one).")
    Integer port;

    @Option(names = "--listen", paramLabel = "ADDR", description = "Listen address: 0.0.0.0, :8080, 127.0.0.1:8080.")
    String listen;

    @Option(names = "--log-level", paramLabel = "LEVEL", description = "trace, debug, info, warn, error or off.")
    String logLevel;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /**
     * {@code serve} followed only by its value options ({@code -c/--config}, {@code -p/--port},
     * {@code --listen}, {@code --log-level}; {@code --name value} or {@code --name=value}, each at
     * most once), parsed without picocli: building picocli's model of the command line (every
     * command, its options, their annotations) loads ~250 classes, ~4 MB of a running server's
     * memory (docs/decisions/0005-idle-memory.md). Anything else (help, an unknown option, a value
     * that is not one) returns null, and picocli parses it and reports errors as always.
     */
    static Serve direct(String[] args) {
      if (args.length == 0 || !args[0].equals("serve")) {
        return null;
      }
      Serve s = new Serve();
      java.util.Set<String> seen = new java.util.HashSet<>();
      for (int i = 1; i < args.length; i++) {
        String name = args[i];
        String value;
        int eq = name.indexOf('=');
        if (name.startsWith("--") && eq > 0) {
          value = name.substring(eq + 1);
          name = name.substring(0, eq);
        } else if (i + 1 < args.length && !args[i + 1].startsWith("-")) {
          value = args[++i];
        } else {
          return null;
        }
        switch (name) {
          case "-c", "--config" -> name = "--config";
          case "-p", "--port" -> name = "--port";
          case "--listen", "--log-level" -> { }
          default -> {
            return null;
          }
        }
        if (!seen.add(name) || value.isEmpty()) {
          return null;
        }
        try {
          switch (name) {
            case "--config" -> s.config = Path.of(value);
            case "--port" -> s.port = Integer.valueOf(value);
            case "--listen" -> s.listen = value;
            default -> s.logLevel = value;
          }
        } catch (RuntimeException e) {
          return null; // not a path, not a number: picocli says so
        }
      }
      return s;
    }

    @Override
    public Integer call() throws InterruptedException {
      return run(spec.commandLine().getErr());
    }

    /** Runs the server until it is stopped; {@code err} gets the reason it could not start. */
    int run(PrintWriter err) throws InterruptedException {
      ServerConfig cfg;
      try {
        cfg = ServerConfig.load(config, System.getenv(), new ServerConfig.Flags(port, listen, logLevel));
      } catch (ConfigException e) {
        err.println("viva: configuration error: " + e.getMessage());
        err.flush();
        return 2;
      }
      Logging.configure(cfg.logLevel(), cfg.accessLog());
      // Hook and signal handlers first, so that a SIGTERM arriving during startup still exits 0.
      AtomicReference<VivaServer> running = new AtomicReference<>();
      CountDownLatch done = new CountDownLatch(1);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          VivaServer s = running.get();
          if (s != null) {
            s.stop();
          }
        } finally {
          Logging.shutdown();
          done.countDown();
        }
      }, "viva-shutdown"));
      Signals.install(() -> System.exit(0));
      try {
        running.set(VivaServer.start(cfg));
      } catch (RuntimeException e) {
        org.slf4j.LoggerFactory.getLogger(Main.class).error("viva could not start: {}", e.getMessage());
        err.println("viva: " + e.getMessage());
        err.flush();
        return 1;
      }
      done.await();
      return 0;
    }
  }

  /** {@code viva version}. */
  @Command(name = "version", description = "Prints the version.")
  static final class VersionCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      spec.commandLine().getOut().println("viva " + version() + " (Java " + Runtime.version() + ")");
      spec.commandLine().getOut().flush();
      return 0;
    }
  }

  /** Reads the version Maven wrote into {@code version.properties}. */
  static final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"viva " + version()};
    }
  }

  static String version() {
    try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
      Properties p = new Properties();
      if (in != null) {
        p.load(in);
      }
      return p.getProperty("version", "unknown");
    } catch (IOException e) {
      return "unknown";
    }
  }
}
