package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServerConfigTest {

  @TempDir
  Path dir;

  Path file(String yaml) throws Exception {
    Path f = dir.resolve("viva.yaml");
    Files.writeString(f, yaml);
    return f;
  }

  @Test
  void defaults() throws Exception {
    ServerConfig c = ServerConfig.load(null, Map.of());
    assertThat(c.port()).isEqualTo(8080);
    assertThat(c.host()).isEqualTo("0.0.0.0");
    assertThat(c.metricsPort()).isEqualTo(-1);
    assertThat(c.gracefulShutdownTimeout()).isEqualTo(Duration.ofSeconds(15));
    assertThat(c.mode()).isEqualTo("standalone");
    assertThat(c.adminEnabled()).isFalse();
    assertThat(c.logLevel()).isEqualTo("info");
    assertThat(c.accessLog()).isTrue();
    assertThat(c.maxBatchSize()).isEqualTo(1000);
    assertThat(c.policiesFromFile()).isFalse();
    assertThat(c.policies()).extracting(PolicyFile.PolicySpec::namespace).containsExactly("default");
  }

  @Test
  void precedenceIsFlagThenEnvThenFileThenDefault() throws Exception {
    Path f = file("""
        server:
          port: 9000
          metrics_port: 9100
          log_level: debug
          graceful_shutdown_timeout: 30
          admin_token: from-file
        policies:
          - {namespace: x, limit: 1, window: 1s}
        """);
    ServerConfig fileOnly = ServerConfig.load(f, Map.of());
    assertThat(fileOnly.port()).isEqualTo(9000);
    assertThat(fileOnly.metricsPort()).isEqualTo(9100);
    assertThat(fileOnly.logLevel()).isEqualTo("debug");
    assertThat(fileOnly.gracefulShutdownTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(fileOnly.adminToken()).isEqualTo("from-file");
    assertThat(fileOnly.policies()).extracting(PolicyFile.PolicySpec::namespace).containsExactly("x");

    ServerConfig env = ServerConfig.load(f, Map.of("SERVER_PORT", "9001", "LOG_LEVEL", "WARN", "ADMIN_TOKEN", "from-env",
        "GRACEFUL_SHUTDOWN_TIMEOUT", "5s", "METRICS_PORT", "9101", "ACCESS_LOG", "false", "MAX_BATCH_SIZE", "10"));
    assertThat(env.port()).isEqualTo(9001);
    assertThat(env.logLevel()).isEqualTo("warn");
    assertThat(env.adminToken()).isEqualTo("from-env");
    assertThat(env.gracefulShutdownTimeout()).isEqualTo(Duration.ofSeconds(5));
    assertThat(env.metricsPort()).isEqualTo(9101);
    assertThat(env.accessLog()).isFalse();
    assertThat(env.maxBatchSize()).isEqualTo(10);

    ServerConfig flags = ServerConfig.load(f, Map.of("SERVER_PORT", "9001"), new ServerConfig.Flags(9002, null, "error"));
    assertThat(flags.port()).isEqualTo(9002);
    assertThat(flags.logLevel()).isEqualTo("error");
  }

  @Test
  void listenAddressForms() throws Exception {
    assertThat(ServerConfig.load(null, Map.of("LISTEN_ADDR", ":9090")).port()).isEqualTo(9090);
    assertThat(ServerConfig.load(null, Map.of("LISTEN_ADDR", ":9090")).host()).isEqualTo("0.0.0.0");
    ServerConfig both = ServerConfig.load(null, Map.of("LISTEN_ADDR", "127.0.0.1:9091"));
    assertThat(both.host()).isEqualTo("127.0.0.1");
    assertThat(both.port()).isEqualTo(9091);
    assertThat(ServerConfig.load(null, Map.of("LISTEN_ADDR", "127.0.0.1")).port()).isEqualTo(8080);
    assertThat(ServerConfig.load(null, Map.of("LISTEN_ADDR", "[::1]:9092")).host()).isEqualTo("::1");
    assertThat(ServerConfig.load(null, Map.of("LISTEN_ADDR", "::")).host()).isEqualTo("::");
    assertThat(ServerConfig.load(null, Map.of("LISTEN_ADDR", ":9090", "SERVER_PORT", "9093")).port())
        .as("an explicit port wins over the one in the address").isEqualTo(9093);
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("LISTEN_ADDR", "host:port")))
        .hasMessageStartingWith("LISTEN_ADDR: \"host:port\" (expected: an address such as");
  }

  @Test
  void modesOtherThanTheThreeAreRefusedClearly() throws ConfigException {
    assertThat(ServerConfig.load(null, Map.of("MODE", "full")).mode()).isEqualTo("full");
    assertThat(ServerConfig.load(null, Map.of("MODE", "gateway")).mode()).isEqualTo("gateway");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("MODE", "turbo")))
        .hasMessage("MODE: \"turbo\" (expected: one of standalone, full, gateway)");
  }

  @Test
  void badValuesAreNamed() throws Exception {
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("SERVER_PORT", "eighty")))
        .hasMessage("SERVER_PORT: \"eighty\" (expected: an integer from 0 to 65535)");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("LOG_LEVEL", "loud")))
        .hasMessage("LOG_LEVEL: \"loud\" (expected: one of trace, debug, info, warn, error, off)");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("GRACEFUL_SHUTDOWN_TIMEOUT", "soon")))
        .hasMessageStartingWith("GRACEFUL_SHUTDOWN_TIMEOUT: \"soon\"");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("SERVER_PORT", "9000", "METRICS_PORT", "9000")))
        .hasMessageStartingWith("metrics port: 9000 (expected: a port other than the API port");
    Path f = file("server:\n  prot: 1\n");
    assertThatThrownBy(() -> ServerConfig.load(f, Map.of()))
        .hasMessageStartingWith(f + ": server.prot: unknown key (expected one of: access_log, admin_token,");
    assertThatThrownBy(() -> ServerConfig.load(dir.resolve("missing.yaml"), Map.of())).hasMessageEndingWith("missing.yaml: no such file");
    Path g = file("server: {port: 70000}\n");
    assertThatThrownBy(() -> ServerConfig.load(g, Map.of())).hasMessageContaining("server.port: 70000 (expected: an integer from 0 to 65535)");
  }

  @Test
  void emptyFileMeansDefaults() throws Exception {
    ServerConfig c = ServerConfig.load(file(""), Map.of());
    assertThat(c.port()).isEqualTo(8080);
    assertThat(c.policiesFromFile()).isFalse();
  }

  @Test
  void redisStoreSettings() throws Exception {
    ServerConfig memory = ServerConfig.load(null, Map.of());
    assertThat(memory.store()).isEqualTo("memory");
    assertThat(memory.redis()).isNull();

    ServerConfig byUrl = ServerConfig.load(null, Map.of("REDIS_URL", "redis://:secret@cache:6380/2"));
    assertThat(byUrl.store()).isEqualTo("redis");
    assertThat(byUrl.redis()).isEqualTo(new ServerConfig.Redis("redis://:secret@cache:6380/2", null, "viva:", "local",
        java.time.Duration.ofMillis(50), "redis", 0, 1));
    assertThat(byUrl.toString()).doesNotContain("secret");

    ServerConfig byAddr = ServerConfig.load(null, Map.of("REDIS_ADDR", "cache:6379", "REDIS_FAILURE_MODE", "FAIL_OPEN",
        "REDIS_TIMEOUT", "120ms", "REDIS_KEY_PREFIX", "rl:", "REDIS_CLOCK", "Local", "REDIS_SHORT_CIRCUIT_KEYS", "5000",
        "REDIS_FORMAT_VERSION", "1"));
    assertThat(byAddr.redis()).isEqualTo(new ServerConfig.Redis("redis://cache:6379", null, "rl:", "fail_open",
        java.time.Duration.ofMillis(120), "local", 5000, 1));

    ServerConfig cluster = ServerConfig.load(file("""
        server:
          store: redis
        redis:
          cluster_nodes: "a:7000, b:7001"
          failure_mode: fail_closed
          timeout: 1s
          clock: local
          short_circuit_keys: 100
          format_version: 1
        """), Map.of());
    assertThat(cluster.redis().clock()).isEqualTo("local");
    assertThat(cluster.redis().shortCircuitKeys()).isEqualTo(100);
    assertThat(cluster.redis().cluster()).isTrue();
    assertThat(cluster.redis().clusterNodes()).containsExactly("a:7000", "b:7001");
    assertThat(cluster.redis().failureMode()).isEqualTo("fail_closed");
    assertThat(cluster.redis().timeout()).isEqualTo(java.time.Duration.ofSeconds(1));
    assertThat(ServerConfig.load(null, Map.of("REDIS_CLUSTER_NODES", "a:7000")).redis().cluster()).isTrue();
    assertThat(ServerConfig.load(null, Map.of("REDIS_URL", "rediss://cache:6379")).store()).isEqualTo("redis");
    assertThat(ServerConfig.load(null, Map.of("REDIS_URL", "redis-sentinel://s1:26379/0#mymaster")).store())
        .isEqualTo("redis");
  }

  @Test
  void badRedisSettingsAreNamed() {
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("STORE", "disk")))
        .isInstanceOf(ConfigException.class).hasMessage("STORE: \"disk\" (expected: memory or redis)");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("STORE", "redis")))
        .hasMessageStartingWith("STORE: \"redis\" without an address");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("STORE", "memory", "REDIS_ADDR", "h:1")))
        .hasMessageStartingWith("STORE: \"memory\" but REDIS_ADDR is set");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_URL", "http://:pw@h:1")))
        .hasMessageStartingWith("REDIS_URL: \"http://***@h:1\" (expected: a URL such as");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_ADDR", "localhost")))
        .hasMessage("REDIS_ADDR: \"localhost\" (expected: host:port, e.g. localhost:6379)");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_URL", "redis://h:1", "REDIS_ADDR", "h:1")))
        .hasMessageStartingWith("REDIS_URL and REDIS_ADDR: both set");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_ADDR", "h:1", "REDIS_FAILURE_MODE", "panic")))
        .hasMessage("REDIS_FAILURE_MODE: \"panic\" (expected: one of fail_open, fail_closed, local)");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_ADDR", "h:1", "REDIS_TIMEOUT", "0")))
        .hasMessageStartingWith("REDIS_TIMEOUT: ");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_ADDR", "h:1", "REDIS_KEY_PREFIX", "a{b}")))
        .hasMessageStartingWith("REDIS_KEY_PREFIX: \"a{b}\"");
    assertThatThrownBy(() -> ServerConfig.load(file("redis:\n  url: redis://h:1\n  pool: 3\n"), Map.of()))
        .hasMessageContaining("redis.pool");
    assertThatThrownBy(() -> ServerConfig.load(file("redis:\n  timeout: soon\n  addr: h:1\n"), Map.of()))
        .hasMessageContaining("redis.timeout");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_ADDR", "h:1", "REDIS_CLOCK", "ntp")))
        .hasMessageStartingWith("REDIS_CLOCK: \"ntp\" (expected: redis");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_ADDR", "h:1", "REDIS_SHORT_CIRCUIT_KEYS", "-1")))
        .hasMessageStartingWith("REDIS_SHORT_CIRCUIT_KEYS: \"-1\" (expected: an integer from 0");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("REDIS_ADDR", "h:1", "REDIS_FORMAT_VERSION", "2")))
        .hasMessageStartingWith("REDIS_FORMAT_VERSION: 2 (expected: 1");
  }

  @Test
  void envoySettingsFromFileAndEnvironment() throws Exception {
    assertThat(ServerConfig.load(null, Map.of()).envoy()).isEqualTo(EnvoySettings.NONE);
    Path f = file("""
        envoy:
          config: [rules, /etc/ratelimit/config]
          shadow_mode: true
          response_headers: true
        """);
    EnvoySettings fromFile = ServerConfig.load(f, Map.of()).envoy();
    assertThat(fromFile.config()).containsExactly(f.toAbsolutePath().getParent().resolve("rules"),
        Path.of("/etc/ratelimit/config"));
    assertThat(fromFile.shadowMode()).isTrue();
    assertThat(fromFile.responseHeaders()).isTrue();
    assertThat(fromFile.extensions()).isFalse();
    EnvoySettings env = ServerConfig.load(f, Map.of("ENVOY_CONFIG", "/a.yaml, /b", "SHADOW_MODE", "false",
        "ENVOY_EXTENSIONS", "1")).envoy();
    assertThat(env.config()).containsExactly(Path.of("/a.yaml"), Path.of("/b"));
    assertThat(env.shadowMode()).isFalse();
    assertThat(env.responseHeaders()).isTrue();
    assertThat(env.extensions()).isTrue();
    assertThat(env.mergeDomains()).isFalse();
    assertThat(ServerConfig.load(null, Map.of("MERGE_DOMAIN_CONFIG", "true")).envoy().mergeDomains()).isTrue();
    // envoyproxy/ratelimit's own variables work unchanged.
    assertThat(ServerConfig.load(null, Map.of("RUNTIME_ROOT", "/data", "RUNTIME_SUBDIRECTORY", "ratelimit"))
        .envoy().config()).containsExactly(Path.of("/data/ratelimit/config"));
    assertThat(ServerConfig.load(null, Map.of("RUNTIME_ROOT", "/data", "RUNTIME_APPDIRECTORY", "rules",
        "ENVOY_CONFIG", "/x")).envoy().config()).containsExactly(Path.of("/x"));
    assertThat(ServerConfig.load(null, Map.of("RUNTIME_ROOT", "/data", "RUNTIME_APPDIRECTORY", "rules"))
        .envoy().config()).containsExactly(Path.of("/data/rules"));
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("LIMIT_RESPONSE_HEADERS_ENABLED", "yes")))
        .hasMessage("LIMIT_RESPONSE_HEADERS_ENABLED: \"yes\" (expected: true or false)");
    assertThatThrownBy(() -> ServerConfig.load(file("envoy:\n  confg: x\n"), Map.of()))
        .hasMessageEndingWith("envoy.confg: unknown key (expected one of: config, extensions, merge_domains,"
            + " response_headers, shadow_mode)");
  }
}
