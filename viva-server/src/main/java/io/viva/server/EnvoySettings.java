package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The {@code envoy} section: the envoyproxy/ratelimit rule files served over RLS v3 and their
 * options. Each setting comes from its environment variable, else the file, else the default.
 *
 * <pre>{@code
 * envoy:
 *   config: [/etc/ratelimit/config]   # ENVOY_CONFIG (comma-separated); files or directories of *.yaml;
 *                                     # else upstream's RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/RUNTIME_APPDIRECTORY
 *   shadow_mode: false                # SHADOW_MODE: never deny, report only (upstream's global shadow mode)
 *   response_headers: false           # LIMIT_RESPONSE_HEADERS_ENABLED: RateLimit-* headers in responses
 *   extensions: false                 # ENVOY_EXTENSIONS: allow Viva's algorithm/window/limit lists
 *   merge_domains: false              # MERGE_DOMAIN_CONFIG: files with the same domain add to it
 * }</pre>
 *
 * @param config the rule files and directories; empty when RLS has no rules (every descriptor OK)
 */
record EnvoySettings(List<Path> config, boolean shadowMode, boolean responseHeaders, boolean extensions,
    boolean mergeDomains) {

  static final EnvoySettings NONE = new EnvoySettings(List.of(), false, false, false, false);

  private static final Set<String> KEYS = Set.of("config", "shadow_mode", "response_headers", "extensions",
      "merge_domains");

  /** Reads the file's {@code envoy} section; relative paths are resolved against {@code baseDir}. */
  static EnvoySettings fromFile(JsonNode node, Path baseDir) throws ConfigException {
    if (node.isMissingNode()) {
      return null;
    }
    ConfigTree.requireObject(node, "envoy", KEYS);
    List<Path> config = new ArrayList<>();
    JsonNode c = ConfigTree.get(node, "config");
    if (!c.isMissingNode()) {
      List<JsonNode> items = c.isArray() ? ConfigTree.list(c, "envoy.config") : List.of(c);
      for (int i = 0; i < items.size(); i++) {
        String p = ConfigTree.string(items.get(i), "envoy.config" + (c.isArray() ? "[" + i + "]" : ""));
        Path path = Path.of(p);
        config.add(baseDir != null && !path.isAbsolute() ? baseDir.resolve(path) : path);
      }
    }
    return new EnvoySettings(List.copyOf(config), flag(node, "shadow_mode"), flag(node, "response_headers"),
        flag(node, "extensions"), flag(node, "merge_domains"));
  }

  /** {@code file} (may be null) overridden by the environment. */
  static EnvoySettings resolve(EnvoySettings file, Map<String, String> env) throws ConfigException {
    EnvoySettings s = file != null ? file : NONE;
    List<Path> config = s.config;
    String v = env.get("ENVOY_CONFIG");
    String root = env.get("RUNTIME_ROOT");
    if (v != null && !v.isBlank()) {
      List<Path> paths = new ArrayList<>();
      for (String part : v.split(",")) {
        if (!part.isBlank()) {
          paths.add(Path.of(part.trim()));
        }
      }
      config = List.copyOf(paths);
    } else if (root != null && !root.isBlank()) {
      // envoyproxy/ratelimit's layout: RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/RUNTIME_APPDIRECTORY/*.yaml
      Path dir = Path.of(root.trim());
      String sub = env.get("RUNTIME_SUBDIRECTORY");
      if (sub != null && !sub.isBlank()) {
        dir = dir.resolve(sub.trim());
      }
      String app = env.get("RUNTIME_APPDIRECTORY");
      config = List.of(dir.resolve(app == null || app.isBlank() ? "config" : app.trim()));
    }
    return new EnvoySettings(config, bool(env, "SHADOW_MODE", s.shadowMode),
        bool(env, "LIMIT_RESPONSE_HEADERS_ENABLED", s.responseHeaders), bool(env, "ENVOY_EXTENSIONS", s.extensions),
        bool(env, "MERGE_DOMAIN_CONFIG", s.mergeDomains));
  }

  private static boolean flag(JsonNode node, String key) throws ConfigException {
    JsonNode v = ConfigTree.get(node, key);
    return !v.isMissingNode() && ConfigTree.bool(v, "envoy." + key);
  }

  private static boolean bool(Map<String, String> env, String name, boolean fallback) throws ConfigException {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      return fallback;
    }
    String b = v.trim().toLowerCase(Locale.ROOT);
    if (b.equals("true") || b.equals("1")) {
      return true;
    }
    if (b.equals("false") || b.equals("0")) {
      return false;
    }
    throw new ConfigException(name + ": \"" + v + "\" (expected: true or false)");
  }
}
