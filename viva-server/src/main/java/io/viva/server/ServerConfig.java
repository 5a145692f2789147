package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The service's configuration: where to listen, how to behave, and the policies to start with.
 *
 * <p>Each setting is taken from the first of these that sets it: a command-line flag, an
 * environment variable, the {@code server} section of the YAML file, the default. The file may
 * also hold a {@code policies} list; without one the built-in default policies apply. Unknown
 * keys are errors naming their path. See {@code docs/configuration.md} for every key.
 *
 * <pre>{@code
 * server:
 *   port: 8080                     # SERVER_PORT
 *   listen_addr: 0.0.0.0           # LISTEN_ADDR; also ":8080" or "127.0.0.1:8080"
 *   metrics_port: 9090             # METRICS_PORT; /metrics moves there
 *   graceful_shutdown_timeout: 15  # GRACEFUL_SHUTDOWN_TIMEOUT, seconds (or "15s")
 *   mode: standalone               # MODE; standalone or full
 *   admin_token: ...               # ADMIN_TOKEN; enables /admin/*
 *   log_level: info                # LOG_LEVEL
 *   access_log: true               # ACCESS_LOG
 *   max_batch_size: 1000           # MAX_BATCH_SIZE
 *   event_loops: 2                 # EVENT_LOOPS; default: the number of cores
 *   max_keys: 10000000             # MAX_KEYS; keys kept in memory at most
 *   store: memory                  # STORE; memory or redis (implied by REDIS_URL / REDIS_ADDR)
 * redis:
 *   url: redis://host:6379/0       # REDIS_URL; or addr: host:port (REDIS_ADDR)
 *   cluster_nodes: a:6379,b:6379   # REDIS_CLUSTER_NODES; selects Redis Cluster
 *   key_prefix: "viva:"            # REDIS_KEY_PREFIX
 *   failure_mode: local            # REDIS_FAILURE_MODE; fail_open, fail_closed or local
 *   timeout: 50ms                  # REDIS_TIMEOUT; per decision
 *   clock: redis                   # REDIS_CLOCK; redis (Redis TIME) or local (this process's clock)
 *   short_circuit_keys: 0          # REDIS_SHORT_CIRCUIT_KEYS; remembered denials, 0 = off
 *   format_version: 1              # REDIS_FORMAT_VERSION; stored-state format
 * policies:
 *   - {namespace: default, algorithm: token_bucket, limit: 100, window: 1m}
 * envoy:                           # see EnvoySettings
 *   config: [ratelimit/]           # ENVOY_CONFIG; envoyproxy/ratelimit rule files
 * platform:                        # full mode only (MODE=full); see PlatformConfig
 *   database_url: postgres://...   # DATABASE_URL
 * tiers:                           # full mode only; see TierFile
 *   - {name: pro, monthly_quota: 1000000, limit: 100, window: 1s}
 * }</pre>
 *
 * <p>Immutable.
 */
public final class ServerConfig {

  static final List<String> LOG_LEVELS = List.of("trace", "debug", "info", "warn", "error", "off");

  private static final Set<String> ROOT_KEYS = Set.of("server", "redis", "policies", "envoy", "gateway", "platform",
      "tiers");
  private static final Set<String> SERVER_KEYS = Set.of("port", "listen_addr", "metrics_port",
      "graceful_shutdown_timeout", "mode", "admin_token", "log_level", "access_log", "max_batch_size",
      "event_loops", "max_keys", "store");
  private static final Set<String> REDIS_KEYS = Set.of("url", "addr", "cluster_nodes", "key_prefix", "failure_mode",
      "timeout", "clock", "short_circuit_keys", "format_version");
  static final long MAX_SHORT_CIRCUIT_KEYS = 100_000_000L;
  static final List<String> REDIS_CLOCKS = List.of("redis", "local");
  static final List<String> FAILURE_MODES = List.of("fail_open", "fail_closed", "local");

  private final String host;
  private final int port;
  private final int metricsPort;
  private final Duration gracefulShutdownTimeout;
  private final String mode;
  private final String adminToken;
  private final String logLevel;
  private final boolean accessLog;
  private final int maxBatchSize;
  private final int eventLoops;
  private final long maxKeys;
  private final Redis redis;
  private final Path configFile;
  private final boolean policiesFromFile;
  private final List<PolicyFile.PolicySpec> policies;
  private EnvoySettings envoy = EnvoySettings.NONE;
  private String configDigest;
  /** Gateway mode: the {@code gateway} section as read (missing when none) and as resolved; else null. */
  private JsonNode gatewayNode = com.fasterxml.jackson.databind.node.MissingNode.getInstance();
  private io.viva.server.gateway.GatewayConfig gateway;
  private String downstreamUrl;
  private PlatformConfig platform = PlatformConfig.DEFAULTS;
  private List<TierFile.TierSpec> tiers;
  private UsageConfig usage = UsageConfig.DEFAULTS;

  private ServerConfig(Layer l, Path configFile, List<PolicyFile.PolicySpec> policies, boolean policiesFromFile) {
    this.host = l.host;
    this.port = l.port;
    this.metricsPort = l.metricsPort;
    this.gracefulShutdownTimeout = l.gracefulShutdownTimeout;
    this.mode = l.mode;
    this.adminToken = l.adminToken;
    this.logLevel = l.logLevel;
    this.accessLog = l.accessLog;
    this.maxBatchSize = l.maxBatchSize;
    this.eventLoops = l.eventLoops;
    this.maxKeys = l.maxKeys;
    this.redis = l.redis();
    this.configFile = configFile;
    this.policies = policies;
    this.policiesFromFile = policiesFromFile;
  }

  /** The defaults with the built-in policies, ignoring the environment. */
  public static ServerConfig defaults() {
    return new ServerConfig(Layer.defaults(), null, PolicyFile.defaults(), false);
  }

  /**
   * Loads the configuration from {@code file} (may be null) and {@code env} (usually {@link
   * System#getenv()}).
   *
   * @throws ConfigException naming the file, key or variable at fault and what was expected
   */
  public static ServerConfig load(Path file, Map<String, String> env) throws ConfigException {
    return load(file, env, Flags.NONE);
  }

  /** Command-line flags; each null when not given. */
  record Flags(Integer port, String listen, String logLevel) {
    static final Flags NONE = new Flags(null, null, null);
  }

  static ServerConfig load(Path file, Map<String, String> env, Flags flags) throws ConfigException {
    Layer merged = Layer.defaults();
    List<PolicyFile.PolicySpec> policies = null;
    String digest = null;
    EnvoySettings envoy = null;
    JsonNode gatewayNode = com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    FileContents contents = null;
    if (file != null) {
      contents = readFile(file);
      gatewayNode = contents.gateway();
      merged.apply(contents.server);
      policies = contents.policies;
      digest = contents.digest;
      envoy = contents.envoy;
    }
    merged.apply(Layer.fromEnv(env));
    merged.apply(Layer.fromFlags(flags));
    merged.check();
    boolean fromFile = policies != null;
    ServerConfig config = new ServerConfig(merged, file, fromFile ? policies : PolicyFile.defaults(), fromFile);
    config.configDigest = digest;
    config.envoy = EnvoySettings.resolve(envoy, env);
    config.downstreamUrl = merged.downstreamUrl;
    config.gatewayNode = gatewayNode;
    config.resolveGateway();
    config.platform = PlatformConfig.load(contents != null ? contents.platform() : null, env, merged.mode);
    config.tiers = contents != null ? contents.tiers() : null;
    config.usage = UsageConfig.fromEnv(env);
    return config;
  }

  /**
   * The parts of a configuration file; {@code policies} is null when the file has none, {@code
   * gateway} is a missing node when it has no {@code gateway} section, {@code platform} and {@code
   * tiers} are null when it has no such section.
   */
  record FileContents(Layer server, List<PolicyFile.PolicySpec> policies, String digest, EnvoySettings envoy,
      JsonNode gateway, JsonNode platform, List<TierFile.TierSpec> tiers) {}

  /** In gateway mode, resolves the gateway settings against the policies; else nothing. */
  private void resolveGateway() throws ConfigException {
    if ("gateway".equals(mode)) {
      gateway = gatewayFor(gatewayNode, policies);
    }
  }

  /** The gateway settings of a {@code gateway} section (may be missing) with these policies and DOWNSTREAM_URL. */
  io.viva.server.gateway.GatewayConfig gatewayFor(JsonNode node, List<PolicyFile.PolicySpec> specs)
      throws ConfigException {
    java.util.Set<String> namespaces = new java.util.HashSet<>();
    for (PolicyFile.PolicySpec spec : specs) {
      namespaces.add(spec.namespace());
    }
    return GatewayFile.parse(node, downstreamUrl, namespaces);
  }

  /** The gateway's settings in gateway mode, else null. */
  public io.viva.server.gateway.GatewayConfig gateway() {
    return gateway;
  }

  /** The SHA-256 of the file's bytes as loaded, hex; null without a file. */
  String configDigest() {
    return configDigest;
  }

  static String digest(byte[] bytes) {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Reads and validates a configuration file; errors start with the file's name. */
  static FileContents readFile(Path file) throws ConfigException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new ConfigException(file + ": no such file");
    } catch (IOException e) {
      throw new ConfigException(file + ": cannot read (" + e.getMessage() + ")");
    }
    return parseFile(bytes, file.toString());
  }

  static FileContents parseFile(byte[] bytes, String name) throws ConfigException {
    try {
      JsonNode root = ConfigTree.readYaml(bytes);
      ConfigTree.requireObject(root, "", ROOT_KEYS);
      Layer server = Layer.fromFile(ConfigTree.get(root, "server"));
      server.redisFromFile(ConfigTree.get(root, "redis"));
      JsonNode policiesNode = ConfigTree.get(root, "policies");
      List<PolicyFile.PolicySpec> policies =
          policiesNode.isMissingNode() ? null : PolicyFile.parse(policiesNode, "policies");
      Path parent = Path.of(name).toAbsolutePath().getParent();
      EnvoySettings envoy = EnvoySettings.fromFile(ConfigTree.get(root, "envoy"), parent);
      JsonNode gatewayNode = ConfigTree.get(root, "gateway");
      if (!gatewayNode.isMissingNode()) {
        // Checked whatever the mode, so that a bad section is reported when the file is loaded.
        java.util.Set<String> namespaces = new java.util.HashSet<>();
        for (PolicyFile.PolicySpec spec : policies != null ? policies : PolicyFile.defaults()) {
          namespaces.add(spec.namespace());
        }
        GatewayFile.parse(gatewayNode, null, namespaces);
      }
      JsonNode platform = ConfigTree.get(root, "platform");
      PlatformConfig.load(platform, Map.of(), "full"); // validates the section
      JsonNode tiersNode = ConfigTree.get(root, "tiers");
      List<TierFile.TierSpec> tiers = tiersNode.isMissingNode() ? null : TierFile.parse(tiersNode, "tiers");
      return new FileContents(server, policies, digest(bytes), envoy, gatewayNode,
          platform.isMissingNode() ? null : platform, tiers);
    } catch (ConfigException e) {
      throw e.prefixed(name);
    }
  }

  /** The Envoy rate limit service settings (the {@code envoy} section). */
  EnvoySettings envoy() {
    return envoy;
  }

  /** A copy with other Envoy settings (tests). */
  ServerConfig withEnvoy(EnvoySettings settings) {
    ServerConfig copy = with(l -> { });
    copy.envoy = settings;
    return copy;
  }

  /** The address to listen on, e.g. {@code 0.0.0.0}. */
  public String host() {
    return host;
  }

  /** The port to listen on; 0 picks a free one. */
  public int port() {
    return port;
  }

  /** The port of a separate {@code /metrics} listener, or -1 to serve metrics on {@link #port()}. */
  public int metricsPort() {
    return metricsPort;
  }

  /** How long in-flight requests may take to finish on shutdown. */
  public Duration gracefulShutdownTimeout() {
    return gracefulShutdownTimeout;
  }

  /** The full mode's settings (database, pepper, cache); used only when {@link #mode()} is {@code full}. */
  PlatformConfig platform() {
    return platform;
  }

  /** Full mode's usage, billing and webhook settings (environment only). */
  UsageConfig usage() {
    return usage;
  }

  /** The tiers from the file, or null for the built-in ones. */
  List<TierFile.TierSpec> tiers() {
    return tiers;
  }

  /** A copy with other full mode settings and tiers (for tests). */
  ServerConfig withPlatformForTest(PlatformConfig platform, List<TierFile.TierSpec> tiers) {
    ServerConfig copy = with(l -> l.mode = "full");
    copy.platform = platform;
    copy.tiers = tiers;
    copy.usage = usage;
    return copy;
  }

  /** The mode: {@code standalone} or {@code full}. */
  public String mode() {
    return mode;
  }

  /** The bearer token of the admin API, or null when the admin API is disabled. */
  String adminToken() {
    return adminToken;
  }

  /** Whether an admin token is set. */
  public boolean adminEnabled() {
    return adminToken != null;
  }

  /** The root log level, e.g. {@code info}. */
  public String logLevel() {
    return logLevel;
  }

  /** Whether each request is logged. */
  public boolean accessLog() {
    return accessLog;
  }

  /** The most checks one {@code POST /v1/check/batch} may carry. */
  public int maxBatchSize() {
    return maxBatchSize;
  }

  /** The number of event loops (and server instances). */
  public int eventLoops() {
    return eventLoops;
  }

  /** The most keys the in-memory store keeps. */
  public long maxKeys() {
    return maxKeys;
  }

  /** The store of rate limit state: {@code memory} or {@code redis}. */
  public String store() {
    return redis == null ? "memory" : "redis";
  }

  /** The Redis settings, or null when the store is in memory. */
  Redis redis() {
    return redis;
  }

  /**
   * Where and how to reach Redis: exactly one of {@code url} (standalone or Sentinel, a Lettuce
   * URI) and {@code clusterNodes} (Cluster seeds, {@code host:port} or URIs) is set.
   */
  record Redis(String url, List<String> clusterNodes, String keyPrefix, String failureMode, Duration timeout,
      String clock, long shortCircuitKeys, int formatVersion) {
    boolean cluster() {
      return clusterNodes != null;
    }
  }

  /** The configuration file, or null. */
  public Path configFile() {
    return configFile;
  }

  /** Whether the policies come from the file (else they are the built-in defaults). */
  boolean policiesFromFile() {
    return policiesFromFile;
  }

  List<PolicyFile.PolicySpec> policies() {
    return policies;
  }

  /** A copy whose policies are {@code policies}, as if read from a file (for tests). */
  ServerConfig withPoliciesForTest(List<PolicyFile.PolicySpec> policies) {
    ServerConfig copy = new ServerConfig(toLayer(), configFile, policies, true);
    copy.configDigest = configDigest;
    copy.envoy = envoy;
    copy.copyGateway(this);
    copy.platform = platform;
    copy.tiers = tiers;
    copy.usage = usage;
    return copy;
  }

  /** A copy with other settings, applied over these (for tests). */
  ServerConfig with(java.util.function.Consumer<Layer> change) {
    Layer l = toLayer();
    change.accept(l);
    ServerConfig copy = new ServerConfig(l, configFile, policies, policiesFromFile);
    copy.configDigest = configDigest;
    copy.envoy = envoy;
    copy.copyGateway(this);
    copy.platform = platform;
    copy.tiers = tiers;
    copy.usage = usage;
    return copy;
  }

  private void copyGateway(ServerConfig from) {
    gatewayNode = from.gatewayNode;
    downstreamUrl = from.downstreamUrl;
    gateway = "gateway".equals(mode) ? from.gateway : null;
  }

  private Layer toLayer() {
    Layer l = new Layer();
    l.host = host;
    l.port = port;
    l.metricsPort = metricsPort;
    l.gracefulShutdownTimeout = gracefulShutdownTimeout;
    l.mode = mode;
    l.adminToken = adminToken;
    l.logLevel = logLevel;
    l.accessLog = accessLog;
    l.maxBatchSize = maxBatchSize;
    l.eventLoops = eventLoops;
    l.maxKeys = maxKeys;
    if (redis != null) {
      l.store = "redis";
      if (redis.cluster()) {
        l.redisClusterNodes = redis.clusterNodes();
      } else {
        l.redisUrl = redis.url();
      }
      l.redisKeyPrefix = redis.keyPrefix();
      l.redisFailureMode = redis.failureMode();
      l.redisTimeout = redis.timeout();
      l.redisClock = redis.clock();
      l.redisShortCircuitKeys = redis.shortCircuitKeys();
      l.redisFormatVersion = redis.formatVersion();
    }
    return l;
  }

  /** Differences in the settings that need a restart, for the reload warning; empty when none. */
  List<String> restartOnlyDifferences(Layer fileServer) {
    Layer now = toLayer();
    java.util.ArrayList<String> diffs = new java.util.ArrayList<>();
    differs(diffs, "port", fileServer.port, now.port);
    differs(diffs, "listen_addr", fileServer.host, now.host);
    differs(diffs, "metrics_port", fileServer.metricsPort, now.metricsPort);
    differs(diffs, "admin_token", fileServer.adminToken, now.adminToken);
    differs(diffs, "access_log", fileServer.accessLog, now.accessLog);
    differs(diffs, "log_level", fileServer.logLevel, now.logLevel);
    differs(diffs, "max_batch_size", fileServer.maxBatchSize, now.maxBatchSize);
    differs(diffs, "store", fileServer.store, store());
    if ((fileServer.redisUrl != null || fileServer.redisAddr != null || fileServer.redisClusterNodes != null
        || fileServer.redisKeyPrefix != null || fileServer.redisFailureMode != null || fileServer.redisTimeout != null
        || fileServer.redisClock != null || fileServer.redisShortCircuitKeys != null
        || fileServer.redisFormatVersion != null)) {
      Layer probe = new Layer();
      probe.store = "redis";
      probe.apply(now);
      probe.apply(fileServer);
      if (!java.util.Objects.equals(probe.redis(), redis)) {
        diffs.add("redis");
      }
    }
    return diffs;
  }

  /** Adds {@code name} to {@code diffs} when the file sets it ({@code file} not null) to other than {@code now}. */
  private static void differs(List<String> diffs, String name, Object file, Object now) {
    if (file != null && !file.equals(now)) {
      diffs.add(name);
    }
  }

  @Override
  public String toString() {
    return "ServerConfig[" + host + ":" + port + ", metricsPort=" + metricsPort + ", mode=" + mode
        + ", admin=" + (adminToken != null ? "enabled" : "disabled") + ", logLevel=" + logLevel
        + ", accessLog=" + accessLog + ", maxBatchSize=" + maxBatchSize + ", eventLoops=" + eventLoops
        + ", store=" + store() + ", file=" + configFile + ", policies=" + policies.size() + "]";
  }

  /** One source of settings; null fields are not set by it. */
  static final class Layer {
    String host;
    Integer port;
    Integer metricsPort;
    Duration gracefulShutdownTimeout;
    String mode;
    String adminToken;
    String logLevel;
    Boolean accessLog;
    Integer maxBatchSize;
    Integer eventLoops;
    Long maxKeys;
    String store;
    String storeSource = "server.store";
    String redisUrl;
    String redisUrlSource;
    String redisAddr;
    String redisAddrSource;
    List<String> redisClusterNodes;
    String redisClusterSource;
    String redisKeyPrefix;
    String redisFailureMode;
    Duration redisTimeout;
    String redisClock;
    Long redisShortCircuitKeys;
    Integer redisFormatVersion;
    /** Where mode was set, for its error message. */
    String modeSource = "mode";
    /** DOWNSTREAM_URL: the gateway's default upstream. */
    String downstreamUrl;

    static Layer defaults() {
      Layer l = new Layer();
      l.host = "0.0.0.0";
      l.port = 8080;
      l.metricsPort = -1;
      l.gracefulShutdownTimeout = Duration.ofSeconds(15);
      l.mode = "standalone";
      l.logLevel = "info";
      l.accessLog = true;
      l.maxBatchSize = 1000;
      l.eventLoops = Math.max(1, Runtime.getRuntime().availableProcessors());
      l.maxKeys = 10_000_000L;
      return l;
    }

    void apply(Layer o) {
      host = o.host != null ? o.host : host;
      port = o.port != null ? o.port : port;
      metricsPort = o.metricsPort != null ? o.metricsPort : metricsPort;
      gracefulShutdownTimeout = o.gracefulShutdownTimeout != null ? o.gracefulShutdownTimeout : gracefulShutdownTimeout;
      downstreamUrl = o.downstreamUrl != null ? o.downstreamUrl : downstreamUrl;
      if (o.mode != null) {
        mode = o.mode;
        modeSource = o.modeSource;
      }
      adminToken = o.adminToken != null ? o.adminToken : adminToken;
      logLevel = o.logLevel != null ? o.logLevel : logLevel;
      accessLog = o.accessLog != null ? o.accessLog : accessLog;
      maxBatchSize = o.maxBatchSize != null ? o.maxBatchSize : maxBatchSize;
      eventLoops = o.eventLoops != null ? o.eventLoops : eventLoops;
      maxKeys = o.maxKeys != null ? o.maxKeys : maxKeys;
      if (o.store != null) {
        store = o.store;
        storeSource = o.storeSource;
      }
      if (o.redisUrl != null) {
        redisUrl = o.redisUrl;
        redisUrlSource = o.redisUrlSource;
      }
      if (o.redisAddr != null) {
        redisAddr = o.redisAddr;
        redisAddrSource = o.redisAddrSource;
      }
      if (o.redisClusterNodes != null) {
        redisClusterNodes = o.redisClusterNodes;
        redisClusterSource = o.redisClusterSource;
      }
      redisKeyPrefix = o.redisKeyPrefix != null ? o.redisKeyPrefix : redisKeyPrefix;
      redisFailureMode = o.redisFailureMode != null ? o.redisFailureMode : redisFailureMode;
      redisTimeout = o.redisTimeout != null ? o.redisTimeout : redisTimeout;
      redisClock = o.redisClock != null ? o.redisClock : redisClock;
      redisShortCircuitKeys = o.redisShortCircuitKeys != null ? o.redisShortCircuitKeys : redisShortCircuitKeys;
      redisFormatVersion = o.redisFormatVersion != null ? o.redisFormatVersion : redisFormatVersion;
    }

    /** The Redis settings when the store is Redis, else null; {@link #check()} has validated them. */
    Redis redis() {
      if (!"redis".equals(store)) {
        return null;
      }
      String url = redisUrl;
      if (url == null && redisAddr != null) {
        url = "redis://" + redisAddr;
      }
      return new Redis(redisClusterNodes != null ? null : url, redisClusterNodes,
          redisKeyPrefix != null ? redisKeyPrefix : "viva:", redisFailureMode != null ? redisFailureMode : "local",
          redisTimeout != null ? redisTimeout : Duration.ofMillis(50), redisClock != null ? redisClock : "redis",
          redisShortCircuitKeys != null ? redisShortCircuitKeys : 0,
          redisFormatVersion != null ? redisFormatVersion : io.viva.redis.RedisLimitStore.FORMAT_VERSION);
    }

    private void checkRedis() throws ConfigException {
      boolean anyRedis = redisUrl != null || redisAddr != null || redisClusterNodes != null;
      if (store == null) {
        store = anyRedis ? "redis" : "memory";
      }
      if (store.equals("memory")) {
        if (anyRedis) {
          String what = redisUrl != null ? redisUrlSource : redisAddr != null ? redisAddrSource : redisClusterSource;
          throw new ConfigException(storeSource + ": \"memory\" but " + what + " is set (expected: store redis,"
              + " or no Redis address)");
        }
        return;
      }
      int given = (redisUrl != null ? 1 : 0) + (redisAddr != null ? 1 : 0) + (redisClusterNodes != null ? 1 : 0);
      if (given == 0) {
        throw new ConfigException(storeSource + ": \"redis\" without an address (expected: REDIS_URL, REDIS_ADDR,"
            + " REDIS_CLUSTER_NODES, redis.url, redis.addr or redis.cluster_nodes)");
      }
      if (given > 1) {
        List<String> set = new java.util.ArrayList<>();
        if (redisUrl != null) {
          set.add(redisUrlSource);
        }
        if (redisAddr != null) {
          set.add(redisAddrSource);
        }
        if (redisClusterNodes != null) {
          set.add(redisClusterSource);
        }
        throw new ConfigException(String.join(" and ", set) + ": both set (expected: exactly one Redis address:"
            + " a URL, a host:port, or the cluster nodes)");
      }
    }

    void redisFromFile(JsonNode redis) throws ConfigException {
      if (redis.isMissingNode()) {
        return;
      }
      ConfigTree.requireObject(redis, "redis", REDIS_KEYS);
      JsonNode v;
      if (!(v = ConfigTree.get(redis, "url")).isMissingNode()) {
        redisUrl = redisUrl(ConfigTree.string(v, "redis.url"), "redis.url");
        redisUrlSource = "redis.url";
      }
      if (!(v = ConfigTree.get(redis, "addr")).isMissingNode()) {
        redisAddr = hostPort(ConfigTree.string(v, "redis.addr"), "redis.addr");
        redisAddrSource = "redis.addr";
      }
      if (!(v = ConfigTree.get(redis, "cluster_nodes")).isMissingNode()) {
        String text;
        if (v.isArray()) {
          List<String> parts = new java.util.ArrayList<>();
          for (int i = 0; i < v.size(); i++) {
            parts.add(ConfigTree.string(v.get(i), "redis.cluster_nodes[" + i + "]"));
          }
          text = String.join(",", parts);
        } else {
          text = ConfigTree.string(v, "redis.cluster_nodes");
        }
        redisClusterNodes = clusterNodes(text, "redis.cluster_nodes");
        redisClusterSource = "redis.cluster_nodes";
      }
      if (!(v = ConfigTree.get(redis, "key_prefix")).isMissingNode()) {
        redisKeyPrefix = keyPrefix(ConfigTree.string(v, "redis.key_prefix"), "redis.key_prefix");
      }
      if (!(v = ConfigTree.get(redis, "failure_mode")).isMissingNode()) {
        redisFailureMode = failureMode(ConfigTree.string(v, "redis.failure_mode"), "redis.failure_mode");
      }
      if (!(v = ConfigTree.get(redis, "timeout")).isMissingNode()) {
        redisTimeout = positive(ConfigTree.duration(v, "redis.timeout", "ms"), "redis.timeout");
      }
      if (!(v = ConfigTree.get(redis, "clock")).isMissingNode()) {
        redisClock = redisClock(ConfigTree.string(v, "redis.clock"), "redis.clock");
      }
      if (!(v = ConfigTree.get(redis, "short_circuit_keys")).isMissingNode()) {
        redisShortCircuitKeys = ConfigTree.integer(v, "redis.short_circuit_keys", 0, MAX_SHORT_CIRCUIT_KEYS);
      }
      if (!(v = ConfigTree.get(redis, "format_version")).isMissingNode()) {
        redisFormatVersion = formatVersion(ConfigTree.integer(v, "redis.format_version", 1, Integer.MAX_VALUE),
            "redis.format_version");
      }
    }

    private static String store(String v, String source) throws ConfigException {
      String s = v.trim().toLowerCase(Locale.ROOT);
      if (!s.equals("memory") && !s.equals("redis")) {
        throw new ConfigException(source + ": \"" + v + "\" (expected: memory or redis)");
      }
      return s;
    }

    private static String redisUrl(String v, String source) throws ConfigException {
      String u = v.trim();
      String lower = u.toLowerCase(Locale.ROOT);
      if (!(lower.startsWith("redis://") || lower.startsWith("rediss://") || lower.startsWith("redis-sentinel://")
          || lower.startsWith("rediss-sentinel://") || lower.startsWith("redis-socket://"))) {
        throw new ConfigException(source + ": \"" + redact(u) + "\" (expected: a URL such as"
            + " redis://[:password@]host:port[/db], rediss://... for TLS, or redis-sentinel://...)");
      }
      try {
        io.lettuce.core.RedisURI.create(u);
      } catch (RuntimeException e) {
        throw new ConfigException(source + ": \"" + redact(u) + "\" (expected: a valid Redis URL; " + e.getMessage()
            + ")");
      }
      return u;
    }

    /** The URL without its password, for messages. */
    static String redact(String url) {
      return url.replaceFirst("//[^@/]*@", "//***@");
    }

    private static String hostPort(String v, String source) throws ConfigException {
      String a = v.trim();
      int colon = a.lastIndexOf(':');
      String host = colon > 0 ? a.substring(0, colon) : "";
      String port = colon > 0 ? a.substring(colon + 1) : "";
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      if (host.isEmpty() || !host.matches("[A-Za-z0-9.:%_-]+") || !port.matches("[0-9]{1,5}")
          || Integer.parseInt(port) < 1 || Integer.parseInt(port) > 65535) {
        throw new ConfigException(source + ": \"" + v + "\" (expected: host:port, e.g. localhost:6379)");
      }
      return a;
    }

    private static List<String> clusterNodes(String v, String source) throws ConfigException {
      List<String> nodes = new java.util.ArrayList<>();
      for (String part : v.split(",")) {
        String n = part.trim();
        if (n.isEmpty()) {
          continue;
        }
        nodes.add(n.contains("://") ? redisUrl(n, source) : hostPort(n, source));
      }
      if (nodes.isEmpty()) {
        throw new ConfigException(source + ": \"" + v + "\" (expected: comma-separated host:port seeds, e.g."
            + " redis-1:6379,redis-2:6379)");
      }
      return List.copyOf(nodes);
    }

    private static String keyPrefix(String v, String source) throws ConfigException {
      if (v.indexOf('{') >= 0 || v.indexOf('}') >= 0) {
        throw new ConfigException(source + ": \"" + v + "\" (expected: no '{' or '}'; the store adds its own hash"
            + " tag)");
      }
      return v;
    }

    private static String failureMode(String v, String source) throws ConfigException {
      String m = v.trim().toLowerCase(Locale.ROOT).replace('-', '_');
      if (!FAILURE_MODES.contains(m)) {
        throw new ConfigException(source + ": \"" + v + "\" (expected: one of " + String.join(", ", FAILURE_MODES)
            + ")");
      }
      return m;
    }

    private static String redisClock(String v, String source) throws ConfigException {
      String c = v.trim().toLowerCase(Locale.ROOT);
      if (!REDIS_CLOCKS.contains(c)) {
        throw new ConfigException(source + ": \"" + v + "\" (expected: redis, to decide by Redis TIME, or local,"
            + " to decide by this process's clock)");
      }
      return c;
    }

    private static int formatVersion(long v, String source) throws ConfigException {
      if (v != io.viva.redis.RedisLimitStore.FORMAT_VERSION) {
        throw new ConfigException(source + ": " + v + " (expected: " + io.viva.redis.RedisLimitStore.FORMAT_VERSION
            + ", the only stored-state format this version knows)");
      }
      return (int) v;
    }

    private static Duration positive(Duration d, String source) throws ConfigException {
      if (d.isZero() || d.isNegative()) {
        throw new ConfigException(source + ": " + DurationParser.format(d) + " (expected: a positive duration such"
            + " as 50ms)");
      }
      return d;
    }

    void check() throws ConfigException {
      if (port.equals(metricsPort) && port != 0) {
        throw new ConfigException("metrics port: " + metricsPort + " (expected: a port other than the API port "
            + port + ", or unset to serve /metrics on the API port)");
      }
      String m = mode.toLowerCase(Locale.ROOT);
      if (m.equals("gateway") && metricsPort == -1) {
        // The gateway forwards every path of its port: Viva's own endpoints move to the management port.
        metricsPort = port == 9090 ? 9091 : 9090;
      }
      if (!m.equals("standalone") && !m.equals("gateway") && !m.equals("full")) {
        throw new ConfigException(modeSource + ": \"" + mode + "\" (expected: one of standalone, full, gateway)");
      }
      mode = m;
      checkRedis();
    }

    static Layer fromFile(JsonNode server) throws ConfigException {
      Layer l = new Layer();
      if (server.isMissingNode()) {
        return l;
      }
      ConfigTree.requireObject(server, "server", SERVER_KEYS);
      JsonNode v;
      if (!(v = ConfigTree.get(server, "port")).isMissingNode()) {
        l.port = (int) ConfigTree.integer(v, "server.port", 0, 65535);
      }
      if (!(v = ConfigTree.get(server, "listen_addr")).isMissingNode()) {
        l.listen(ConfigTree.string(v, "server.listen_addr"), "server.listen_addr");
      }
      if (!(v = ConfigTree.get(server, "metrics_port")).isMissingNode()) {
        l.metricsPort = (int) ConfigTree.integer(v, "server.metrics_port", 0, 65535);
      }
      if (!(v = ConfigTree.get(server, "graceful_shutdown_timeout")).isMissingNode()) {
        l.gracefulShutdownTimeout = ConfigTree.duration(v, "server.graceful_shutdown_timeout", "s");
      }
      if (!(v = ConfigTree.get(server, "mode")).isMissingNode()) {
        l.mode = ConfigTree.string(v, "server.mode");
        l.modeSource = "server.mode";
      }
      if (!(v = ConfigTree.get(server, "admin_token")).isMissingNode()) {
        l.adminToken = ConfigTree.string(v, "server.admin_token");
        if (l.adminToken.isEmpty()) {
          l.adminToken = null;
        }
      }
      if (!(v = ConfigTree.get(server, "log_level")).isMissingNode()) {
        l.logLevel = logLevel(ConfigTree.string(v, "server.log_level"), "server.log_level");
      }
      if (!(v = ConfigTree.get(server, "access_log")).isMissingNode()) {
        l.accessLog = ConfigTree.bool(v, "server.access_log");
      }
      if (!(v = ConfigTree.get(server, "max_batch_size")).isMissingNode()) {
        l.maxBatchSize = (int) ConfigTree.integer(v, "server.max_batch_size", 1, 100_000);
      }
      if (!(v = ConfigTree.get(server, "event_loops")).isMissingNode()) {
        l.eventLoops = (int) ConfigTree.integer(v, "server.event_loops", 1, 256);
      }
      if (!(v = ConfigTree.get(server, "max_keys")).isMissingNode()) {
        l.maxKeys = ConfigTree.integer(v, "server.max_keys", 1, Long.MAX_VALUE);
      }
      if (!(v = ConfigTree.get(server, "store")).isMissingNode()) {
        l.store = store(ConfigTree.string(v, "server.store"), "server.store");
        l.storeSource = "server.store";
      }
      return l;
    }

    static Layer fromEnv(Map<String, String> env) throws ConfigException {
      Layer l = new Layer();
      String v;
      if ((v = ConfigEnv.get(env, "SERVER_PORT")) != null) {
        l.port = (int) ConfigEnv.integer(v, "SERVER_PORT", 0, 65535);
      }
      if ((v = ConfigEnv.get(env, "LISTEN_ADDR")) != null) {
        l.listen(v, "LISTEN_ADDR");
      }
      if ((v = ConfigEnv.get(env, "METRICS_PORT")) != null) {
        l.metricsPort = (int) ConfigEnv.integer(v, "METRICS_PORT", 0, 65535);
      }
      if ((v = ConfigEnv.get(env, "GRACEFUL_SHUTDOWN_TIMEOUT")) != null) {
        if (v.chars().allMatch(Character::isDigit) && v.length() < 10) {
          l.gracefulShutdownTimeout = Duration.ofSeconds(Long.parseLong(v));
        } else {
          try {
            l.gracefulShutdownTimeout = DurationParser.parse(v, "GRACEFUL_SHUTDOWN_TIMEOUT");
          } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage() + "; or a number of seconds");
          }
        }
      }
      if ((v = ConfigEnv.get(env, "MODE")) != null) {
        l.mode = v;
        l.modeSource = "MODE";
      }
      if ((v = ConfigEnv.get(env, "DOWNSTREAM_URL")) != null) {
        l.downstreamUrl = GatewayFile.url(v, "DOWNSTREAM_URL").toString();
      }
      if ((v = ConfigEnv.get(env, "ADMIN_TOKEN")) != null) {
        l.adminToken = v;
      }
      if ((v = ConfigEnv.get(env, "LOG_LEVEL")) != null) {
        l.logLevel = logLevel(v, "LOG_LEVEL");
      }
      if ((v = ConfigEnv.get(env, "ACCESS_LOG")) != null) {
        String b = v.toLowerCase(Locale.ROOT);
        if (!Set.of("true", "false", "1", "0").contains(b)) {
          throw new ConfigException("ACCESS_LOG: \"" + v + "\" (expected: true or false)");
        }
        l.accessLog = b.equals("true") || b.equals("1");
      }
      if ((v = ConfigEnv.get(env, "MAX_BATCH_SIZE")) != null) {
        l.maxBatchSize = (int) ConfigEnv.integer(v, "MAX_BATCH_SIZE", 1, 100_000);
      }
      if ((v = ConfigEnv.get(env, "EVENT_LOOPS")) != null) {
        l.eventLoops = (int) ConfigEnv.integer(v, "EVENT_LOOPS", 1, 256);
      }
      if ((v = ConfigEnv.get(env, "MAX_KEYS")) != null) {
        l.maxKeys = ConfigEnv.integer(v, "MAX_KEYS", 1, Long.MAX_VALUE);
      }
      if ((v = ConfigEnv.get(env, "STORE")) != null) {
        l.store = store(v, "STORE");
        l.storeSource = "STORE";
      }
      if ((v = ConfigEnv.get(env, "REDIS_URL")) != null) {
        l.redisUrl = redisUrl(v, "REDIS_URL");
        l.redisUrlSource = "REDIS_URL";
      }
      if ((v = ConfigEnv.get(env, "REDIS_ADDR")) != null) {
        l.redisAddr = hostPort(v, "REDIS_ADDR");
        l.redisAddrSource = "REDIS_ADDR";
      }
      if ((v = ConfigEnv.get(env, "REDIS_CLUSTER_NODES")) != null) {
        l.redisClusterNodes = clusterNodes(v, "REDIS_CLUSTER_NODES");
        l.redisClusterSource = "REDIS_CLUSTER_NODES";
      }
      if (env.get("REDIS_KEY_PREFIX") != null && !env.get("REDIS_KEY_PREFIX").isEmpty()) {
        l.redisKeyPrefix = keyPrefix(env.get("REDIS_KEY_PREFIX"), "REDIS_KEY_PREFIX");
      }
      if ((v = ConfigEnv.get(env, "REDIS_FAILURE_MODE")) != null) {
        l.redisFailureMode = failureMode(v, "REDIS_FAILURE_MODE");
      }
      if ((v = ConfigEnv.get(env, "REDIS_CLOCK")) != null) {
        l.redisClock = redisClock(v, "REDIS_CLOCK");
      }
      if ((v = ConfigEnv.get(env, "REDIS_SHORT_CIRCUIT_KEYS")) != null) {
        l.redisShortCircuitKeys = ConfigEnv.integer(v, "REDIS_SHORT_CIRCUIT_KEYS", 0, MAX_SHORT_CIRCUIT_KEYS);
      }
      if ((v = ConfigEnv.get(env, "REDIS_FORMAT_VERSION")) != null) {
        l.redisFormatVersion = formatVersion(ConfigEnv.integer(v, "REDIS_FORMAT_VERSION", 1, Integer.MAX_VALUE),
            "REDIS_FORMAT_VERSION");
      }
      if ((v = ConfigEnv.get(env, "REDIS_TIMEOUT")) != null) {
        try {
          l.redisTimeout = positive(v.chars().allMatch(Character::isDigit) && v.length() < 10
              ? Duration.ofMillis(Long.parseLong(v)) : DurationParser.parse(v, "REDIS_TIMEOUT"), "REDIS_TIMEOUT");
        } catch (IllegalArgumentException e) {
          throw new ConfigException(e.getMessage() + "; or a number of milliseconds");
        }
      }
      return l;
    }

    static Layer fromFlags(Flags flags) throws ConfigException {
      Layer l = new Layer();
      if (flags.port() != null) {
        if (flags.port() < 0 || flags.port() > 65535) {
          throw new ConfigException("--port: " + flags.port() + " (expected: 0 to 65535)");
        }
        l.port = flags.port();
      }
      if (flags.listen() != null) {
        l.listen(flags.listen(), "--listen");
      }
      if (flags.logLevel() != null) {
        l.logLevel = logLevel(flags.logLevel(), "--log-level");
      }
      return l;
    }

    /**
     * Sets host and port from {@code host}, {@code :port}, {@code host:port} or {@code [v6]:port}.
     * A port given here yields to an explicit port of the same source.
     */
    private void listen(String value, String source) throws ConfigException {
      String v = value.trim();
      String h;
      String p = null;
      if (v.startsWith("[")) {
        int close = v.indexOf(']');
        if (close < 0 || (close + 1 < v.length() && v.charAt(close + 1) != ':')) {
          throw badListen(value, source);
        }
        h = v.substring(1, close);
        if (close + 1 < v.length()) {
          p = v.substring(close + 2);
        }
      } else if (v.indexOf(':') >= 0 && v.indexOf(':') == v.lastIndexOf(':')) {
        h = v.substring(0, v.indexOf(':'));
        p = v.substring(v.indexOf(':') + 1);
      } else {
        h = v;
      }
      if (h.isEmpty()) {
        h = "0.0.0.0";
      }
      if (!h.matches("[A-Za-z0-9.:%_-]+")) {
        throw badListen(value, source);
      }
      host = h;
      if (p != null) {
        if (!p.matches("[0-9]{1,5}") || Integer.parseInt(p) > 65535) {
          throw badListen(value, source);
        }
        if (port == null) {
          port = Integer.parseInt(p);
        }
      }
    }

    private static ConfigException badListen(String value, String source) {
      return new ConfigException(source + ": \"" + value
          + "\" (expected: an address such as 0.0.0.0, :8080, 127.0.0.1:8080 or [::1]:8080)");
    }

    private static String logLevel(String v, String source) throws ConfigException {
      String l = v.trim().toLowerCase(Locale.ROOT);
      if (l.equals("warning")) {
        l = "warn";
      }
      if (!LOG_LEVELS.contains(l)) {
        throw new ConfigException(source + ": \"" + v + "\" (expected: one of " + String.join(", ", LOG_LEVELS) + ")");
      }
      return l;
    }
  }
}
