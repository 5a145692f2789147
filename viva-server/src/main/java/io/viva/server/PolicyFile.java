package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.viva.core.Algorithm;
import io.viva.core.Limit;
import io.viva.core.Policy;
import io.viva.core.RateLimiter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The {@code policies} list of a configuration file (or of a {@code PUT /admin/policies} body):
 * parsing, validation and rendering back to the same form.
 *
 * <pre>{@code
 * policies:
 *   - namespace: api_requests
 *     algorithm: token_bucket      # default token_bucket
 *     limit: 100
 *     window: 1m
 *     burst: 150                   # bucket algorithms only
 *     shadow: false                # evaluate and report, never deny
 *     idempotency_ttl: 10m         # how long an idempotency key replays its first decision
 *     limits:                      # instead of algorithm/limit/window/burst: several limits
 *       - {algorithm: token_bucket, limit: 10, window: 1s}
 *       - {algorithm: fixed_window, limit: 1000, window: 1d, name: daily}
 *     overrides:
 *       - identifier: vip_user
 *         limits: [{algorithm: token_bucket, limit: 1000, window: 1s}]
 * }</pre>
 *
 * <p>Every limit is built with the engine while parsing, so a document that parses is one the
 * engine accepts; errors carry the engine's message prefixed with the path of the bad limit.
 */
final class PolicyFile {

  /** Namespaces and limit names: safe in headers, metrics labels and logs. */
  static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}");

  private static final Set<String> POLICY_KEYS = Set.of("namespace", "algorithm", "limit", "window", "burst",
      "name", "shadow", "idempotency_ttl", "limits", "overrides");
  private static final Set<String> LIMIT_KEYS = Set.of("algorithm", "limit", "window", "burst", "name");
  private static final Set<String> OVERRIDE_KEYS = Set.of("identifier", "algorithm", "limit", "window", "burst",
      "name", "limits");
  private static final Set<String> DOCUMENT_KEYS = Set.of("policies");

  private PolicyFile() {}

  /** One limit as configured, and the engine's {@link Limit} built from it. */
  record LimitSpec(String name, Algorithm algorithm, long limit, Duration window, Long burst, Limit built) {}

  /** A per-identifier override: its own limits, kept in a separate policy ({@code namespace#identifier}). */
  record OverrideSpec(String identifier, List<LimitSpec> limits, Policy policy) {}

  /** One namespace as configured, with its engine policy. */
  record PolicySpec(String namespace, List<LimitSpec> limits, boolean shadow, Duration idempotencyTtl,
      List<OverrideSpec> overrides, Policy policy) {}

  /** The name of the policy holding an override's counters: never a namespace, which cannot contain {@code #}. */
  static String overridePolicyName(String namespace, String identifier) {
    return namespace + "#" + identifier;
  }

  /** Parses a document whose only key is {@code policies} (the body of {@code PUT /admin/policies}). */
  static List<PolicySpec> parseDocument(JsonNode root) throws ConfigException {
    if (root.isObject() && root.has("server")) {
      throw new ConfigException("server: server settings cannot be changed at runtime (expected: only policies)");
    }
    ConfigTree.requireObject(root, "", DOCUMENT_KEYS);
    return parse(ConfigTree.required(root, "", "policies", "a list of policies"), "policies");
  }

  /** Parses a {@code policies} list found at {@code path}. */
  static List<PolicySpec> parse(JsonNode node, String path) throws ConfigException {
    List<JsonNode> items = ConfigTree.list(node, path);
    if (items.isEmpty()) {
      throw new ConfigException(path + ": [] (expected: at least one policy)");
    }
    List<PolicySpec> out = new ArrayList<>(items.size());
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < items.size(); i++) {
      PolicySpec spec = parsePolicy(items.get(i), path + "[" + i + "]");
      if (!seen.add(spec.namespace())) {
        throw new ConfigException(path + "[" + i + "].namespace: \"" + spec.namespace()
            + "\" (expected: each namespace once; it is already defined above)");
      }
      out.add(spec);
    }
    return List.copyOf(out);
  }

  /** {@code node} (at {@code path}) as a name of at most {@code max} characters (a namespace, limit or tier). */
  static String name(JsonNode node, String path, int max) throws ConfigException {
    String name = ConfigTree.string(node, path);
    if (!NAME.matcher(name).matches() || name.length() > max) {
      throw new ConfigException(path + ": " + ConfigTree.describe(node) + " (expected: 1 to " + max
          + " letters, digits or _ . : - starting with a letter or digit)");
    }
    return name;
  }

  private static PolicySpec parsePolicy(JsonNode node, String path) throws ConfigException {
    ConfigTree.requireObject(node, path, POLICY_KEYS);
    String namespace = name(ConfigTree.required(node, path, "namespace", "a name such as api_requests"),
        path + ".namespace", 128);
    JsonNode shadowNode = ConfigTree.get(node, "shadow");
    boolean shadow = !shadowNode.isMissingNode() && ConfigTree.bool(shadowNode, path + ".shadow");
    JsonNode ttlNode = ConfigTree.get(node, "idempotency_ttl");
    Duration ttl = ttlNode.isMissingNode() ? null : ConfigTree.duration(ttlNode, path + ".idempotency_ttl", null);

    List<LimitSpec> limits = parseLimits(node, path, namespace);
    Policy policy = buildPolicy(namespace, limits, ttl, path);

    List<OverrideSpec> overrides = new ArrayList<>();
    JsonNode overridesNode = ConfigTree.get(node, "overrides");
    if (!overridesNode.isMissingNode()) {
      List<JsonNode> items = ConfigTree.list(overridesNode, path + ".overrides");
      Set<String> identifiers = new HashSet<>();
      for (int i = 0; i < items.size(); i++) {
        String opath = path + ".overrides[" + i + "]";
        JsonNode o = items.get(i);
        ConfigTree.requireObject(o, opath, OVERRIDE_KEYS);
        JsonNode idNode = ConfigTree.required(o, opath, "identifier", "the identifier this override applies to");
        String identifier = ConfigTree.string(idNode, opath + ".identifier");
        if (identifier.isEmpty() || identifier.length() > RateLimiter.MAX_KEY_LENGTH) {
          throw new ConfigException(opath + ".identifier: " + identifier.length()
              + " characters (expected: 1 to " + RateLimiter.MAX_KEY_LENGTH + ")");
        }
        if (!identifiers.add(identifier)) {
          throw new ConfigException(opath + ".identifier: " + ConfigTree.describe(idNode)
              + " (expected: each identifier once per namespace)");
        }
        List<LimitSpec> olimits = parseLimits(o, opath, namespace);
        Policy opolicy = buildPolicy(overridePolicyName(namespace, identifier), olimits, ttl, opath);
        overrides.add(new OverrideSpec(identifier, olimits, opolicy));
      }
    }
    return new PolicySpec(namespace, limits, shadow, ttl, List.copyOf(overrides), policy);
  }

  static Policy buildPolicy(String name, List<LimitSpec> limits, Duration ttl, String path)
      throws ConfigException {
    try {
      Policy.Builder b = Policy.builder(name);
      for (LimitSpec l : limits) {
        b.limit(l.built());
      }
      if (ttl != null) {
        b.idempotencyTtl(ttl);
      }
      return b.build();
    } catch (IllegalArgumentException e) {
      throw engineError(path, e);
    }
  }

  /** An engine message such as {@code "burst: 5 (expected: ...)"} becomes {@code "<path>.burst: 5 (expected: ...)"}. */
  private static ConfigException engineError(String path, IllegalArgumentException e) {
    String m = String.valueOf(e.getMessage());
    int colon = m.indexOf(": ");
    if (colon > 0 && m.substring(0, colon).matches("[a-zA-Z]+")) {
      String key = m.substring(0, colon).equals("idempotencyTtl") ? "idempotency_ttl" : m.substring(0, colon);
      return new ConfigException(path + "." + key + m.substring(colon));
    }
    return new ConfigException(path + ": " + m);
  }

  /** The limits of a policy or override: either a {@code limits} list or one inline limit. */
  static List<LimitSpec> parseLimits(JsonNode node, String path, String namespace) throws ConfigException {
    JsonNode list = ConfigTree.get(node, "limits");
    boolean inline = node.has("algorithm") || node.has("limit") || node.has("window") || node.has("burst")
        || node.has("name");
    if (!list.isMissingNode()) {
      if (inline) {
        throw new ConfigException(path + ": both limits and algorithm/limit/window/burst/name"
            + " (expected: either a limits list or one inline limit)");
      }
      List<JsonNode> items = ConfigTree.list(list, path + ".limits");
      if (items.isEmpty()) {
        throw new ConfigException(path + ".limits: [] (expected: at least one limit)");
      }
      List<LimitSpec> out = new ArrayList<>(items.size());
      Set<String> names = new HashSet<>();
      for (int i = 0; i < items.size(); i++) {
        String lpath = path + ".limits[" + i + "]";
        ConfigTree.requireObject(items.get(i), lpath, LIMIT_KEYS);
        String fallback = items.size() == 1 ? namespace : namespace + "." + i;
        LimitSpec spec = parseLimit(items.get(i), lpath, fallback);
        if (!names.add(spec.built().name())) {
          throw new ConfigException(lpath + ".name: \"" + spec.built().name()
              + "\" (expected: a name not used by another limit of this policy)");
        }
        out.add(spec);
      }
      return List.copyOf(out);
    }
    if (!node.has("limit") && !node.has("window")) {
      throw new ConfigException(path + ": no limit (expected: limit and window, e.g. limit: 100 and window: 1m,"
          + " or a limits list)");
    }
    return List.of(parseLimit(node, path, namespace));
  }

  private static LimitSpec parseLimit(JsonNode node, String path, String fallbackName) throws ConfigException {
    JsonNode algNode = ConfigTree.get(node, "algorithm");
    Algorithm algorithm = Algorithm.TOKEN_BUCKET;
    if (!algNode.isMissingNode()) {
      try {
        algorithm = Algorithm.fromConfigName(ConfigTree.string(algNode, path + ".algorithm"));
      } catch (IllegalArgumentException e) {
        throw new ConfigException(path + "." + e.getMessage());
      }
    }
    long limit = ConfigTree.integer(ConfigTree.required(node, path, "limit", "the permits per window, an integer > 0"),
        path + ".limit", 1, Long.MAX_VALUE);
    Duration window = ConfigTree.duration(ConfigTree.required(node, path, "window",
        "a duration like 500ms, 1s, 5m, 1h30m or 1d"), path + ".window", null);
    JsonNode burstNode = ConfigTree.get(node, "burst");
    Long burst = burstNode.isMissingNode() ? null : ConfigTree.integer(burstNode, path + ".burst", 1, Long.MAX_VALUE);
    JsonNode nameNode = ConfigTree.get(node, "name");
    String name = null;
    if (!nameNode.isMissingNode()) {
      name = name(nameNode, path + ".name", 128);
    }
    try {
      Limit.Builder b = Limit.builder(algorithm, limit, window).name(name != null ? name : fallbackName);
      if (burst != null) {
        b.burst(burst);
      }
      return new LimitSpec(name, algorithm, limit, window, burst, b.build());
    } catch (IllegalArgumentException e) {
      throw engineError(path, e);
    }
  }

  /** Renders policies in the form {@link #parseDocument} reads (limits always as a list). */
  static ObjectNode render(List<PolicySpec> specs) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    ObjectNode root = f.objectNode();
    ArrayNode policies = root.putArray("policies");
    for (PolicySpec spec : specs) {
      ObjectNode p = policies.addObject();
      p.put("namespace", spec.namespace());
      p.put("shadow", spec.shadow());
      if (spec.idempotencyTtl() != null) {
        p.put("idempotency_ttl", DurationParser.format(spec.idempotencyTtl()));
      }
      renderLimits(p.putArray("limits"), spec.limits());
      if (!spec.overrides().isEmpty()) {
        ArrayNode overrides = p.putArray("overrides");
        for (OverrideSpec o : spec.overrides()) {
          ObjectNode on = overrides.addObject();
          on.put("identifier", o.identifier());
          renderLimits(on.putArray("limits"), o.limits());
        }
      }
    }
    return root;
  }

  static void renderLimits(ArrayNode out, List<LimitSpec> limits) {
    for (LimitSpec l : limits) {
      ObjectNode n = out.addObject();
      if (l.name() != null) {
        n.put("name", l.name());
      }
      n.put("algorithm", l.algorithm().configName());
      n.put("limit", l.limit());
      n.put("window", DurationParser.format(l.window()));
      if (l.burst() != null) {
        n.put("burst", l.burst());
      }
    }
  }

  /**
   * The built-in policies used when no configuration file sets any: one namespace, {@code
   * default}, a token bucket of 100 per minute (bursts of 100). Built in code, not parsed, so a
   * plain {@code viva serve} does not load the YAML/JSON tree machinery at all.
   */
  static List<PolicySpec> defaults() {
    Duration window = Duration.ofMinutes(1);
    Limit limit = Limit.builder(Algorithm.TOKEN_BUCKET, 100, window).name(CheckApi.DEFAULT_NAMESPACE).build();
    LimitSpec spec = new LimitSpec(null, Algorithm.TOKEN_BUCKET, 100, window, null, limit);
    Policy policy = Policy.builder(CheckApi.DEFAULT_NAMESPACE).limit(limit).build();
    return List.of(new PolicySpec(CheckApi.DEFAULT_NAMESPACE, List.of(spec), false, null, List.of(), policy));
  }

}
