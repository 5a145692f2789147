package io.viva.server;

import io.viva.core.Clock;
import io.viva.platform.Billing;
import io.viva.platform.BillingCloser;
import io.viva.platform.PlatformDatabase;
import io.viva.platform.PlatformStore;
import io.viva.platform.Pricing;
import io.viva.platform.RabbitUsageWorker;
import io.viva.platform.UsageStore;
import io.viva.platform.WebhookStore;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code viva worker}: full mode's background worker. Consumes usage batches from RabbitMQ
 * ({@code RABBITMQ_URL}, queue {@code USAGE_QUEUE}) into the database ({@code DATABASE_URL}),
 * acknowledging each after its transaction commits, and closes each past month into invoices. Any
 * number of workers may run: batches are idempotent and invoices unique per owner and period. Runs
 * until SIGTERM or SIGINT.
 */
@Command(name = "worker", mixinStandardHelpOptions = true, versionProvider = Main.VersionProvider.class,
    description = {"Runs full mode's worker: usage batches from RabbitMQ into the database, monthly invoices.",
        "Environment: RABBITMQ_URL (required), USAGE_QUEUE, DATABASE_URL, DATA_DIR, BILLING_CLOSE_DELAY.%n"})
final class WorkerCommand implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(WorkerCommand.class);

  @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "YAML config file (platform and tiers).")
  Path config;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /**
   * {@code GET /metrics} (Prometheus text) and {@code GET /health} on {@code METRICS_PORT}: the
   * consumer's counters and connection, and the JVM's.
   */
  private static com.sun.net.httpserver.HttpServer metricsServer(ServerConfig cfg, RabbitUsageWorker consumer)
      throws java.io.IOException {
    var registry = new io.micrometer.prometheusmetrics.PrometheusMeterRegistry(
        io.micrometer.prometheusmetrics.PrometheusConfig.DEFAULT);
    new io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics().bindTo(registry);
    new io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics().bindTo(registry);
    Metrics.counter(registry, "viva_usage_batches_applied", "Usage batches written to the database", consumer,
        RabbitUsageWorker::applied);
    Metrics.counter(registry, "viva_usage_batches_duplicate", "Redelivered usage batches skipped (already applied)",
        consumer, RabbitUsageWorker::duplicates);
    Metrics.counter(registry, "viva_usage_batches_requeued", "Usage batches put back while the database was down",
        consumer, RabbitUsageWorker::rejected);
    Metrics.counter(registry, "viva_usage_batches_malformed", "Unreadable messages dropped", consumer,
        RabbitUsageWorker::malformed);
    Metrics.gauge(registry, "viva_usage_worker_connected", "1 while consuming from RabbitMQ", consumer,
        c -> c.connected() ? 1 : 0);
    var server = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress(cfg.host(),
        cfg.metricsPort()), 16);
    server.createContext("/metrics", ex -> {
      byte[] body = registry.scrape().getBytes(java.nio.charset.StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.createContext("/health", ex -> {
      boolean up = consumer.connected();
      byte[] body = ("{\"status\":\"" + (up ? "UP" : "DOWN") + "\",\"rabbitmq\":\"" + (up ? "up" : "down") + "\"}")
          .getBytes(java.nio.charset.StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.sendResponseHeaders(up ? 200 : 503, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.start();
    return server;
  }

  @Override
  public Integer call() throws InterruptedException {
    PrintWriter err = spec.commandLine().getErr();
    ServerConfig cfg;
    try {
      cfg = ServerConfig.load(config, System.getenv(), new ServerConfig.Flags(null, null, null));
    } catch (ConfigException e) {
      err.println("viva: configuration error: " + e.getMessage());
      err.flush();
      return 2;
    }
    UsageConfig usage = cfg.usage();
    if (usage.rabbitUrl() == null) {
      err.println("viva: configuration error: RABBITMQ_URL: not set (expected: amqp://user:pass@host:5672/vhost;"
          + " without RabbitMQ the server applies usage itself and needs no worker)");
      err.flush();
      return 2;
    }
    Logging.configure(cfg.logLevel(), false);
    CountDownLatch done = new CountDownLatch(1);
    PlatformDatabase db;
    try {
      db = PlatformDatabase.open(cfg.platform().databaseUrl(), cfg.platform().dataDir());
    } catch (RuntimeException e) {
      err.println("viva: " + e.getMessage());
      err.flush();
      return 1;
    }
    Clock clock = Clock.system();
    PlatformStore store = new PlatformStore(db.dataSource(), clock);
    UsageStore usageStore = new UsageStore(store, db.isPostgres(), clock);
    RabbitUsageWorker consumer = new RabbitUsageWorker(usage.rabbitUrl(), usage.queue(), usageStore);
    List<TierFile.TierSpec> tiers = cfg.tiers() != null ? cfg.tiers() : TierFile.defaults();
    // invoice.issued events go to the durable webhook queue; the servers' dispatchers send them.
    WebhookEvents events = new WebhookEvents(new WebhookStore(store, clock), Runnable::run, clock,
        usage.webhookDebounce());
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().name("viva-billing").daemon().factory());
    timer.scheduleWithFixedDelay(new BillingCloser(new Billing(store, usageStore, clock), clock,
        usage.billingCloseDelay(), name -> tiers.stream().filter(t -> t.name().equals(name)).findFirst()
            .map(TierFile.TierSpec::pricing).orElse(Pricing.FREE), events::invoice), 5, 60, TimeUnit.SECONDS);
    com.sun.net.httpserver.HttpServer metrics = null;
    if (cfg.metricsPort() >= 0) {
      try {
        metrics = metricsServer(cfg, consumer);
      } catch (java.io.IOException e) {
        err.println("viva: cannot listen on " + cfg.host() + ":" + cfg.metricsPort() + " (metrics): " + e.getMessage());
        err.flush();
        consumer.close();
        db.close();
        return 1;
      }
    }
    com.sun.net.httpserver.HttpServer metricsServer = metrics;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        if (metricsServer != null) {
          metricsServer.stop(0);
        }
        timer.shutdownNow();
        consumer.close();
        db.close();
        LOG.info("viva worker stopped");
      } finally {
        Logging.shutdown();
        done.countDown();
      }
    }, "viva-worker-shutdown"));
    Signals.install(() -> System.exit(0));
    LOG.info("viva worker started: consuming {} queue {} into {}{}", PlatformDatabase.redact(usage.rabbitUrl()),
        usage.queue(), db.description(), metrics == null ? "" : ", metrics on " + cfg.host() + ":"
            + metrics.getAddress().getPort());
    done.await();
    return 0;
  }
}
