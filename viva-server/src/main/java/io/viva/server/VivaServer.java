package io.viva.server;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.VerticleBase;
import io.vertx.core.file.FileSystemOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.Router;
import io.vertx.grpc.server.GrpcServer;
import io.viva.core.Clock;
import io.viva.core.InMemoryLimitStore;
import io.viva.core.LimitStore;
import io.viva.server.admin.AuditSink;
import io.viva.server.admin.TrafficRecorder;
import java.io.IOException;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running service: Vert.x with one HTTP server instance per event loop (all sharing one port),
 * an optional metrics port, the policy registry over the store (in memory, or Redis), and the config file
 * watcher.
 *
 * <pre>{@code
 * VivaServer server = VivaServer.start(ServerConfig.load(path, System.getenv()));
 * int port = server.port();   // the actual port, also when configured as 0
 * server.stop();              // graceful: readiness off, stop accepting, drain in-flight requests
 * }</pre>
 */
public final class VivaServer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(VivaServer.class);
  /** Keys each top-offenders summary keeps: the error bound is denials / this (docs/admin.md). */
  static final int OFFENDER_CAPACITY = 256;

  private final ServerConfig config;
  private final Vertx vertx;
  private final LimitStore store;
  private final Metrics metrics;
  private final PolicyRegistry registry;
  /** Decisions and top offenders for the admin API (docs/admin.md). */
  private final TrafficRecorder traffic;
  private StatsSampler sampler;
  /** With Redis: the admin views merged over every instance. */
  private SharedTraffic shared;
  private final EnvoyRls envoy;
  /** The gRPC services, built by {@link #grpc()} on the first gRPC request; guarded by this. */
  private GrpcApi grpc;
  private final FullMode full;
  private final AtomicBoolean ready = new AtomicBoolean();
  private final AtomicBoolean stopped = new AtomicBoolean();
  private final AtomicInteger port = new AtomicInteger(-1);
  private final AtomicInteger metricsPort = new AtomicInteger(-1);
  private ConfigWatcher watcher;
  private ConfigWatcher envoyWatcher;
  /** The reverse proxy in gateway mode, else null. */
  private io.viva.server.gateway.Gateway gateway;
  private String apiDeployment;
  private String metricsDeployment;

  /** Test hooks; {@link #DEFAULT} in production. */
  record Options(Clock clock, BiConsumer<Router, VivaRoutes.Services> extraRoutes, Duration pollInterval) {
    static final Options DEFAULT = new Options(Clock.system(), null, ConfigWatcher.DEFAULT_POLL);
  }

  private VivaServer(ServerConfig config, Options options) {
    this.config = config;
    this.vertx = Vertx.vertx(new VertxOptions()
        .setEventLoopPoolSize(config.eventLoops())
        .setWorkerPoolSize(2)
        .setInternalBlockingPoolSize(2)
        .setPreferNativeTransport(false)
        .setFileSystemOptions(new FileSystemOptions().setFileCachingEnabled(false).setClassPathResolvingEnabled(false)));
    // The Redis store does its I/O on Vert.x's event loops, a connection each (see RedisBackend).
    this.store = config.redis() != null ? new RedisBackend(config.redis(), options.clock(),
        ((io.vertx.core.internal.VertxInternal) vertx).nettyEventLoopGroup())
        : InMemoryLimitStore.builder().clock(options.clock()).maximumKeys(config.maxKeys()).build();
    this.metrics = new Metrics(store);
    this.traffic = new TrafficRecorder(store.clock()::micros, OFFENDER_CAPACITY);
    // Every decision, whichever API asked for it, passes the recorder that feeds the admin views.
    LimitStore observed = new ObservedLimitStore(store, traffic);
    this.registry = new PolicyRegistry(observed, metrics, config.policies(),
        config.policiesFromFile() ? "file" : "defaults");
    this.envoy = new EnvoyRls(observed, options.clock(), metrics, config.envoy(), config.maxBatchSize());
    try {
      // Gateway mode with keys: platform runs full mode's key store too (its API on the management port).
      boolean platformKeys = config.gateway() != null && config.gateway().apiKey().platform();
      this.full = "full".equals(config.mode()) || platformKeys
          ? FullMode.start(config, observed, metrics, options.clock()) : null;
    } catch (RuntimeException e) {
      metrics.close();
      store.close();
      vertx.close();
      throw e;
    }
  }

  /**
   * Starts the service and returns once it listens.
   *
   * @throws IllegalStateException if a port cannot be bound (the message says which)
   */
  public static VivaServer start(ServerConfig config) {
    return start(config, Options.DEFAULT);
  }

  static VivaServer start(ServerConfig config, Options options) {
    Objects.requireNonNull(config, "config");
    VivaServer server = new VivaServer(config, options);
    try {
      server.doStart(options);
    } catch (RuntimeException e) {
      // The Redis store's connections live on Vert.x's event loops: close them first.
      server.store.close();
      server.vertx.close();
      if (server.sampler != null) {
        server.sampler.close();
      }
      if (server.shared != null) {
        server.shared.close();
      }
      if (server.full != null) {
        server.full.close();
      }
      server.metrics.close();
      throw e;
    }
    return server;
  }

  private void doStart(Options options) {
    sampler = new StatsSampler(traffic, metrics);
    shared = config.redis() != null ? new SharedTraffic(config.redis(), traffic) : null;
    VivaRoutes.Services services = new VivaRoutes.Services(config, registry, metrics, ready,
        store instanceof RedisBackend r ? r : null, new InsightApi.Sources(traffic, sampler, store,
            store instanceof RedisBackend r ? r : null, full != null ? new PlatformAdminAuth.Sink(full) : AuditSink.log(),
            shared, config.mode(), full != null), envoy, full);
    String envoyDigest = loadEnvoyRules();
    // A negative port makes every instance share one random port (Vert.x), so port 0 works with N instances.
    int listenPort = config.port() == 0 ? -1 : config.port();
    if (config.gateway() != null) {
      startGateway(services, listenPort, options);
      return;
    }
    apiDeployment = await(vertx.deployVerticle(() -> new HttpVerticle(config, listenPort, router -> {
      VivaRoutes.routes(router, services);
      if (options.extraRoutes() != null) {
        options.extraRoutes().accept(router, services);
      }
    }, this::grpc, port), new DeploymentOptions().setInstances(config.eventLoops())), "listen on " + config.host() + ":" + config.port());
    if (config.metricsPort() >= 0) {
      metricsDeployment = await(vertx.deployVerticle(() -> new HttpVerticle(config, config.metricsPort(),
          router -> VivaRoutes.metricsRoutes(router, services), null, metricsPort), new DeploymentOptions()),
          "listen on " + config.host() + ":" + config.metricsPort() + " (metrics)");
    }
    if (config.configFile() != null) {
      watcher = new ConfigWatcher(config, registry, metrics, options.pollInterval(), null, full == null ? null
          : tiers -> full.reloadTiers(tiers != null ? tiers : TierFile.defaults(), "config"));
      watcher.start();
    }
    if (!config.envoy().config().isEmpty()) {
      envoyWatcher = new ConfigWatcher("envoy rules", config.envoy().config(), envoyDigest, metrics, "envoy",
          options.pollInterval(), new ConfigWatcher.Target() {
            @Override
            public String apply(java.util.Map<java.nio.file.Path, byte[]> files) throws ConfigException {
              return envoy.load(files);
            }

            @Override
            public String serving() {
              return "rules (" + envoy.rules() + ")";
            }
          });
      envoyWatcher.start();
    }
    ready.set(true);
    LOG.info("viva started: mode={} store={} listen={}:{} metrics={} event_loops={} policies={} ({}) config={} admin={}",
        config.mode(), store instanceof RedisBackend r ? "redis (" + r.where() + ", failure mode " + r.failureMode()
            + (r.connected() ? ")" : ", not connected yet)") : "memory", config.host(), port(), metricsPort() >= 0 ? "port " + metricsPort() : "/metrics on the API port",
        config.eventLoops(), registry.snapshot().namespaces().size(), config.policiesFromFile() ? "from file" : "built-in defaults",
        config.configFile() != null ? config.configFile() + " (watched for changes)" : "none",
        full != null ? "full mode's admin tokens" : config.adminEnabled() ? "enabled"
            : "disabled (set ADMIN_TOKEN to enable /admin/* and the /dashboard/ login)");
  }

  /**
   * The gRPC services, created on the first gRPC request: protobuf, Envoy's API and Vert.x gRPC
   * are ~600 classes (several MB of metaspace, docs/decisions/0005-idle-memory.md) that a server
   * nobody calls over gRPC never loads.
   */
  private synchronized GrpcApi grpc() {
    if (grpc == null) {
      grpc = new GrpcApi(registry, config.maxBatchSize(), envoy, ready, "full".equals(config.mode()) ? full : null);
    }
    return grpc;
  }

  /** Whether the gRPC services have been created (tests: they are not until the first gRPC request). */
  synchronized boolean grpcCreated() {
    return grpc != null;
  }

  /** Loads the Envoy rule files, if any; returns their digest (for the watcher), or null. */
  private String loadEnvoyRules() {
    java.util.List<java.nio.file.Path> paths = config.envoy().config();
    if (paths.isEmpty()) {
      return null;
    }
    try {
      java.util.Map<java.nio.file.Path, byte[]> files = ConfigWatcher.read(paths);
      String summary = envoy.load(files);
      LOG.info("envoy rules loaded from {}: {} (shadow_mode={}, response_headers={}, extensions={}, merge_domains={})",
          paths, summary, config.envoy().shadowMode(), config.envoy().responseHeaders(), config.envoy().extensions(),
          config.envoy().mergeDomains());
      return ConfigWatcher.digest(files);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read envoy rules " + paths + ": " + e, e);
    } catch (ConfigException e) {
      throw new IllegalStateException("invalid envoy rules: " + e.getMessage(), e);
    }
  }

  /**
   * Gateway mode: the proxy on the API port (every path is forwarded), Viva's own routes (health,
   * metrics, admin, checks) on the management port ({@code metrics_port}).
   */
  private void startGateway(VivaRoutes.Services services, int listenPort, Options options) {
    gateway = new io.viva.server.gateway.Gateway(config.gateway(), new GatewayPolicies(registry),
        full != null ? new PlatformKeys(full) : null, metrics.registry());
    // One instance: port 0 is a plain free port (a negative port would share the gateway's random port).
    metricsDeployment = await(vertx.deployVerticle(() -> new HttpVerticle(config, config.metricsPort(),
        router -> VivaRoutes.routes(router, services), null, metricsPort), new DeploymentOptions()),
        "listen on " + config.host() + ":" + config.metricsPort() + " (management)");
    int loops = config.eventLoops();
    apiDeployment = await(vertx.deployVerticle(() -> new GatewayVerticle(config, listenPort, gateway, loops, port),
        new DeploymentOptions().setInstances(loops)), "listen on " + config.host() + ":" + config.port());
    if (config.configFile() != null) {
      watcher = new ConfigWatcher(config, registry, metrics, options.pollInterval(), gateway::update, full == null
          ? null : tiers -> full.reloadTiers(tiers != null ? tiers : TierFile.defaults(), "config"));
      watcher.start();
    }
    ready.set(true);
    LOG.info("viva started: mode=gateway store={} listen={}:{} management={} event_loops={} upstreams={} routes={}"
        + " policies={} config={}", store instanceof RedisBackend r ? "redis (" + r.where() + ")" : "memory",
        config.host(), port(), metricsPort(), loops, config.gateway().upstreams().values().stream()
            .map(u -> u.name() + "=" + u.url()).toList(),
        config.gateway().routes().stream().map(r -> r.prefix() + "->" + r.upstream()).toList(),
        registry.snapshot().namespaces().size(),
        config.configFile() != null ? config.configFile() + " (watched for changes)" : "none");
  }

  /** The gateway in gateway mode, else null. */
  io.viva.server.gateway.Gateway gateway() {
    return gateway;
  }

  /** Full mode's parts, or null in standalone mode (tests). */
  FullMode full() {
    return full;
  }

  /** The port the API listens on (the actual one when 0 was configured). */
  public int port() {
    return port.get();
  }

  /** The port of the separate metrics listener, or -1 when metrics are served on {@link #port()}. */
  public int metricsPort() {
    return metricsPort.get();
  }

  /** Whether the service is ready (false before start completes and from the start of shutdown). */
  public boolean isReady() {
    return ready.get();
  }

  /**
   * Stops gracefully: readiness goes false, the listeners stop accepting, in-flight requests get up
   * to the configured graceful shutdown timeout to finish, then everything closes. Idempotent;
   * returns when done.
   */
  public void stop() {
    if (!stopped.compareAndSet(false, true)) {
      return;
    }
    ready.set(false);
    long started = System.nanoTime();
    LOG.info("shutting down: not ready, no new connections, draining in-flight requests (timeout {})",
        DurationParser.format(config.gracefulShutdownTimeout()));
    if (watcher != null) {
      watcher.close();
    }
    if (envoyWatcher != null) {
      envoyWatcher.close();
    }
    Duration grace = config.gracefulShutdownTimeout();
    try {
      if (apiDeployment != null) {
        vertx.undeploy(apiDeployment).toCompletionStage().toCompletableFuture()
            .get(grace.toMillis() + 2_000, TimeUnit.MILLISECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      LOG.warn("graceful shutdown did not complete within {}: closing remaining connections",
          DurationParser.format(grace));
    }
    // In-flight requests are done; the Redis store's connections live on Vert.x's event loops.
    store.close();
    try {
      vertx.close().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      LOG.warn("Vert.x did not close cleanly: {}", e.toString());
    }
    if (sampler != null) {
      sampler.close();
    }
    if (shared != null) {
      shared.close();
    }
    if (full != null) {
      full.close();
    }
    metrics.close();
    LOG.info("stopped in {} ms", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
  }

  /** {@link #stop()}. */
  @Override
  public void close() {
    stop();
  }

  private static <T> T await(Future<T> future, String what) {
    try {
      return future.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while trying to " + what, e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      throw new IllegalStateException("cannot " + what + ": " + cause.getMessage(), cause);
    } catch (TimeoutException e) {
      throw new IllegalStateException("cannot " + what + ": timed out", e);
    }
  }

  /** One gateway (proxy) server instance on its own event loop, HTTP/1.1 and h2c; stopping it drains in-flight requests. */
  private static final class GatewayVerticle extends VerticleBase {
    private final ServerConfig config;
    private final int listenPort;
    private final io.viva.server.gateway.Gateway gateway;
    private final int eventLoops;
    private final AtomicInteger actualPort;
    private HttpServer server;

    GatewayVerticle(ServerConfig config, int listenPort, io.viva.server.gateway.Gateway gateway, int eventLoops,
        AtomicInteger actualPort) {
      this.config = config;
      this.listenPort = listenPort;
      this.gateway = gateway;
      this.eventLoops = eventLoops;
      this.actualPort = actualPort;
    }

    @Override
    public Future<?> start() {
      server = vertx.createHttpServer(new HttpServerOptions()
          .setMaxInitialLineLength(8192)
          .setMaxHeaderSize(16 * 1024)
          .setHttp2ClearTextEnabled(true)
          .setHandle100ContinueAutomatically(false)
          .setDecompressionSupported(false)
          .setCompressionSupported(false)
          .setMaxWebSocketFrameSize(1 << 20)
          .setWebSocketSubProtocols(config.gateway().webSocketSubprotocols().isEmpty() ? null
              : config.gateway().webSocketSubprotocols())
          .setIdleTimeout(300)
          .setTcpNoDelay(true));
      server.requestHandler(gateway.handler(vertx, eventLoops)).invalidRequestHandler(VivaRoutes::invalidRequest);
      return server.listen(listenPort, config.host()).onSuccess(s -> actualPort.set(s.actualPort()));
    }

    @Override
    public Future<?> stop() {
      return server.shutdown(config.gracefulShutdownTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /**
   * One HTTP server instance on its own event loop; stopping it drains its connections. With gRPC
   * ({@code grpc} not null), requests whose content type is {@code application/grpc...} go to a gRPC
   * server that this event loop creates on its first such request.
   */
  private static final class HttpVerticle extends VerticleBase {
    private final ServerConfig config;
    private final int listenPort;
    private final java.util.function.Consumer<Router> routes;
    private final Supplier<GrpcApi> grpc;
    private final AtomicInteger actualPort;
    private HttpServer server;
    /** Created on this event loop's first gRPC request; only touched on that event loop. */
    private GrpcServer grpcServer;

    HttpVerticle(ServerConfig config, int listenPort, java.util.function.Consumer<Router> routes,
        Supplier<GrpcApi> grpc, AtomicInteger actualPort) {
      this.config = config;
      this.listenPort = listenPort;
      this.routes = routes;
      this.grpc = grpc;
      this.actualPort = actualPort;
    }

    @Override
    public Future<?> start() {
      Router router = Router.router(vertx);
      routes.accept(router);
      server = vertx.createHttpServer(new HttpServerOptions()
          .setMaxInitialLineLength(8192)
          .setMaxHeaderSize(16 * 1024)
          // HTTP/2 without TLS (h2c, with prior knowledge or by upgrade): what gRPC clients speak.
          .setHttp2ClearTextEnabled(grpc != null)
          // Envoy multiplexes its RLS calls over few connections; streams carry batches: room for both.
          .setInitialSettings(new io.vertx.core.http.Http2Settings().setMaxConcurrentStreams(1024)
              .setInitialWindowSize(1024 * 1024))
          .setHttp2ConnectionWindowSize(4 * 1024 * 1024)
          .setIdleTimeout(300)
          .setTcpNoDelay(true));
      if (grpc == null) {
        server.requestHandler(router);
      } else {
        // gRPC requests (content type application/grpc...) to the gRPC server, the rest to the router.
        server.requestHandler(request -> {
          String type = request.getHeader(HttpHeaders.CONTENT_TYPE);
          if (type != null && type.startsWith("application/grpc")) {
            if (grpcServer == null) {
              grpcServer = grpc.get().server(vertx);
            }
            grpcServer.handle(request);
          } else {
            router.handle(request);
          }
        });
      }
      server.invalidRequestHandler(VivaRoutes::invalidRequest);
      return server.listen(listenPort, config.host()).onSuccess(s -> actualPort.set(s.actualPort()));
    }

    @Override
    public Future<?> stop() {
      Duration grace = config.gracefulShutdownTimeout();
      return server.shutdown(grace.toMillis(), TimeUnit.MILLISECONDS);
    }
  }
}
