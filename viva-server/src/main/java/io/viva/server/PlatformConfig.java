package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Full mode's settings: the {@code platform} section of the config file, overridden by the
 * environment. See docs/configuration.md.
 *
 * <pre>{@code
 * platform:
 *   database_url: postgres://viva:secret@db:5432/viva   # DATABASE_URL; default: H2 file under data_dir
 *   data_dir: ./data                                   # DATA_DIR
 *   key_pepper: ...                                    # API_KEY_PEPPER; required with database_url
 *   rotation_grace: 24h                                # KEY_ROTATION_GRACE; default grace of a rotation
 *   key_cache_size: 1000000                            # KEY_CACHE_SIZE
 *   change_poll_interval: 1s                           # KEY_CHANGE_POLL; the cross-instance invalidation bound
 *   last_used_flush_interval: 10s                      # LAST_USED_FLUSH
 *   trusted_proxies: [10.0.0.0/8]                      # TRUSTED_PROXIES (comma-separated); anonymous clients
 *                                                      #   by X-Forwarded-For when the peer is one of these
 * }</pre>
 *
 * @param databaseUrl PostgreSQL URL, or null for embedded H2
 * @param dataDir where the H2 file (and a generated pepper) live
 * @param keyPepper the HMAC pepper of key hashes, or null (generated under dataDir; refused with a database URL)
 * @param rotationGrace how long a rotated-out secret keeps working when the request does not say
 * @param keyCacheSize the most key lookups cached
 * @param changePoll pause between polls of the change log
 * @param lastUsedFlush pause between batched last_used_at writes
 * @param trustedProxies addresses and CIDR blocks whose {@code X-Forwarded-For} names the anonymous client
 */
record PlatformConfig(String databaseUrl, Path dataDir, String keyPepper, Duration rotationGrace, long keyCacheSize,
    Duration changePoll, Duration lastUsedFlush, List<String> trustedProxies) {

  static final PlatformConfig DEFAULTS = new PlatformConfig(null, Path.of("data"), null, Duration.ofHours(24),
      1_000_000, Duration.ofSeconds(1), Duration.ofSeconds(10), List.of());

  PlatformConfig {
    trustedProxies = List.copyOf(trustedProxies);
  }


  private static final Set<String> KEYS = Set.of("database_url", "data_dir", "key_pepper", "rotation_grace",
      "key_cache_size", "change_poll_interval", "last_used_flush_interval", "trusted_proxies");

  /** Never prints the pepper or the database password. */
  @Override
  public String toString() {
    return "PlatformConfig[database=" + (databaseUrl == null ? "h2:" + dataDir
        : io.viva.platform.PlatformDatabase.redact(databaseUrl)) + ", pepper=" + (keyPepper == null ? "generated" : "set")
        + "]";
  }

  static PlatformConfig load(JsonNode section, Map<String, String> env, String mode) throws ConfigException {
    String url = DEFAULTS.databaseUrl;
    Path dataDir = DEFAULTS.dataDir;
    String pepper = DEFAULTS.keyPepper;
    Duration grace = DEFAULTS.rotationGrace;
    long cacheSize = DEFAULTS.keyCacheSize;
    Duration poll = DEFAULTS.changePoll;
    Duration flush = DEFAULTS.lastUsedFlush;
    List<String> proxies = DEFAULTS.trustedProxies;
    if (section != null && !section.isMissingNode()) {
      ConfigTree.requireObject(section, "platform", KEYS);
      JsonNode v;
      if (!(v = ConfigTree.get(section, "database_url")).isMissingNode()) {
        url = databaseUrl(ConfigTree.string(v, "platform.database_url"), "platform.database_url");
      }
      if (!(v = ConfigTree.get(section, "data_dir")).isMissingNode()) {
        dataDir = Path.of(ConfigTree.string(v, "platform.data_dir"));
      }
      if (!(v = ConfigTree.get(section, "key_pepper")).isMissingNode()) {
        pepper = pepper(ConfigTree.string(v, "platform.key_pepper"), "platform.key_pepper");
      }
      if (!(v = ConfigTree.get(section, "rotation_grace")).isMissingNode()) {
        grace = ConfigTree.duration(v, "platform.rotation_grace", "s");
      }
      if (!(v = ConfigTree.get(section, "key_cache_size")).isMissingNode()) {
        cacheSize = ConfigTree.integer(v, "platform.key_cache_size", 1, 100_000_000);
      }
      if (!(v = ConfigTree.get(section, "change_poll_interval")).isMissingNode()) {
        poll = positive(ConfigTree.duration(v, "platform.change_poll_interval", "s"), "platform.change_poll_interval");
      }
      if (!(v = ConfigTree.get(section, "last_used_flush_interval")).isMissingNode()) {
        flush = positive(ConfigTree.duration(v, "platform.last_used_flush_interval", "s"),
            "platform.last_used_flush_interval");
      }
      if (!(v = ConfigTree.get(section, "trusted_proxies")).isMissingNode()) {
        if (!v.isArray()) {
          throw new ConfigException("platform.trusted_proxies: expected a list of addresses or CIDR blocks");
        }
        List<String> entries = new java.util.ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
          entries.add(ConfigTree.string(v.get(i), "platform.trusted_proxies[" + i + "]"));
        }
        proxies = trustedProxies(entries, "platform.trusted_proxies");
      }
    }
    String e;
    if ((e = ConfigEnv.get(env, "DATABASE_URL")) != null) {
      url = databaseUrl(e, "DATABASE_URL");
    }
    if ((e = ConfigEnv.get(env, "DATA_DIR")) != null) {
      dataDir = Path.of(e);
    }
    if ((e = ConfigEnv.get(env, "API_KEY_PEPPER")) != null) {
      pepper = pepper(e, "API_KEY_PEPPER");
    }
    if ((e = ConfigEnv.get(env, "KEY_ROTATION_GRACE")) != null) {
      grace = duration(e, "KEY_ROTATION_GRACE");
    }
    if ((e = ConfigEnv.get(env, "KEY_CACHE_SIZE")) != null) {
      cacheSize = ConfigEnv.integer(e, "KEY_CACHE_SIZE", 1, 100_000_000);
    }
    if ((e = ConfigEnv.get(env, "KEY_CHANGE_POLL")) != null) {
      poll = positive(duration(e, "KEY_CHANGE_POLL"), "KEY_CHANGE_POLL");
    }
    if ((e = ConfigEnv.get(env, "LAST_USED_FLUSH")) != null) {
      flush = positive(duration(e, "LAST_USED_FLUSH"), "LAST_USED_FLUSH");
    }
    if ((e = ConfigEnv.get(env, "TRUSTED_PROXIES")) != null) {
      proxies = trustedProxies(java.util.Arrays.stream(e.split(",")).map(String::trim).filter(x -> !x.isEmpty())
          .toList(), "TRUSTED_PROXIES");
    }
    return new PlatformConfig(url, dataDir, pepper, grace, cacheSize, poll, flush, proxies);
  }

  private static List<String> trustedProxies(List<String> entries, String source) throws ConfigException {
    try {
      io.viva.server.gateway.TrustedProxies.of(entries);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(source + ": " + e.getMessage());
    }
    return entries;
  }

  private static String databaseUrl(String v, String source) throws ConfigException {
    String u = v.trim();
    String l = u.toLowerCase(Locale.ROOT);
    if (!(l.startsWith("postgres://") || l.startsWith("postgresql://") || l.startsWith("jdbc:postgresql://")
        || l.startsWith("jdbc:h2:"))) {
      throw new ConfigException(source + ": \"" + io.viva.platform.PlatformDatabase.redact(u)
          + "\" (expected: postgres://user:pass@host:5432/db or jdbc:postgresql://host:5432/db)");
    }
    return u;
  }

  private static String pepper(String v, String source) throws ConfigException {
    if (v.getBytes(java.nio.charset.StandardCharsets.UTF_8).length < io.viva.platform.SecretHasher.MIN_PEPPER_BYTES) {
      throw new ConfigException(source + ": too short (expected: at least "
          + io.viva.platform.SecretHasher.MIN_PEPPER_BYTES + " bytes of secret; e.g. openssl rand -hex 32)");
    }
    return v;
  }

  private static Duration duration(String v, String source) throws ConfigException {
    try {
      return v.chars().allMatch(Character::isDigit) && v.length() < 10 ? Duration.ofSeconds(Long.parseLong(v))
          : DurationParser.parse(v, source);
    } catch (IllegalArgumentException ex) {
      throw new ConfigException(ex.getMessage() + "; or a number of seconds");
    }
  }

  private static Duration positive(Duration d, String source) throws ConfigException {
    if (d.isZero() || d.isNegative()) {
      throw new ConfigException(source + ": " + DurationParser.format(d) + " (expected: a positive duration)");
    }
    return d;
  }
}
