package io.viva.server.envoy;

import com.fasterxml.jackson.databind.JsonNode;
import io.viva.core.Algorithm;
import io.viva.core.Limit;
import io.viva.core.Policy;
import io.viva.server.ConfigException;
import io.viva.server.ConfigTree;
import io.viva.server.DurationParser;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The rules of envoyproxy/ratelimit configuration files (one domain per file), read unchanged, and
 * the lookup of a request descriptor's rule, with upstream's semantics:
 *
 * <ul>
 *   <li>at each level the request entry's {@code key}+{@code value} is looked up first, then the
 *       level's wildcard values for that key in the order they are written ({@code *} matches any
 *       run of characters, anywhere in the value), then the bare {@code key} (no value);</li>
 *   <li>a rule applies only when it is at the depth of the request's last entry: a descriptor
 *       with more (or fewer) entries than the configuration's nesting has no limit.</li>
 * </ul>
 *
 * <p>The tables are built once per load (a hash map per key and level, wildcard patterns split in
 * advance), so a lookup is one or two hash probes per entry and allocates nothing. Each rule is
 * bound at load time by a function the caller gives (the server binds a rate limiter), and a
 * match returns the bound value.
 *
 * <p>Validation follows upstream: unknown keys, an empty domain or key, a domain in two files, a
 * duplicate {@code key}/{@code value} at one level, {@code unlimited} together with a valid
 * {@code unit}, an invalid unit, an empty or self-naming {@code replaces} are errors naming the
 * file and the path. A key upstream knows but ignores where it is written is accepted and reported
 * in {@link #warnings()}. Viva's extensions ({@code algorithm}, {@code window}, {@code burst}, a
 * list of limits under {@code rate_limit}) are unknown keys unless enabled.
 *
 * @param <T> what each rule is bound to
 */
public final class RuleSet<T> {

  /** One configuration file: its name (for messages) and its bytes. */
  public record Source(String name, byte[] bytes) {}

  /** The keys upstream accepts anywhere in a file. */
  private static final Set<String> UPSTREAM_KEYS = Set.of("domain", "key", "value", "descriptors", "rate_limit",
      "unit", "requests_per_unit", "unlimited", "shadow_mode", "name", "replaces", "detailed_metric", "quota_mode");
  private static final Set<String> EXTENSION_KEYS = Set.of("algorithm", "window", "burst");
  private static final Set<String> ROOT_KEYS = Set.of("domain", "descriptors");
  private static final Set<String> DESCRIPTOR_KEYS = Set.of("key", "value", "rate_limit", "descriptors",
      "shadow_mode", "detailed_metric", "quota_mode");
  private static final Set<String> RATE_LIMIT_KEYS = Set.of("unit", "requests_per_unit", "unlimited", "name",
      "replaces");
  private static final String UNITS = "second, minute, hour, day, week, month, year (any case)";
  private static final long MAX_UINT32 = 0xFFFF_FFFFL;

  private static final RuleSet<?> EMPTY = new RuleSet<>(Map.of(), List.of(), List.of());

  private final Map<String, Level<T>> domains;
  private final List<RuleSpec> rules;
  private final List<String> warnings;

  private RuleSet(Map<String, Level<T>> domains, List<RuleSpec> rules, List<String> warnings) {
    this.domains = domains;
    this.rules = rules;
    this.warnings = warnings;
  }

  /** No domains, no rules. */
  @SuppressWarnings("unchecked")
  public static <T> RuleSet<T> empty() {
    return (RuleSet<T>) EMPTY;
  }

  /** Parses {@code sources}; each rule is its own {@link RuleSpec}. */
  public static RuleSet<RuleSpec> parse(List<Source> sources, boolean extensions) throws ConfigException {
    return parse(sources, extensions, false, Function.identity());
  }

  /**
   * Parses {@code sources} and binds each rule with {@code bind}.
   *
   * @param extensions whether Viva's extensions are allowed
   * @param mergeDomains whether files with the same domain add to it (upstream's {@code
   *     MERGE_DOMAIN_CONFIG}); a key and value defined twice at one level is still an error
   * @throws ConfigException naming the file, the path in it and what was expected
   */
  public static <T> RuleSet<T> parse(List<Source> sources, boolean extensions, boolean mergeDomains,
      Function<RuleSpec, T> bind) throws ConfigException {
    Parser<T> p = new Parser<>(extensions, bind);
    Map<String, String> domainFiles = new HashMap<>();
    Map<String, Level<T>> domains = new HashMap<>();
    for (Source source : sources) {
      try {
        JsonNode root = ConfigTree.readYaml(source.bytes());
        p.checkKeys(root, "", ROOT_KEYS);
        JsonNode domainNode = ConfigTree.get(root, "domain");
        String domain = domainNode.isMissingNode() ? "" : scalar(domainNode, "domain");
        if (domain.isEmpty()) {
          throw new ConfigException("domain: missing or empty (expected: the domain Envoy sends, e.g. domain: edge)");
        }
        String other = domainFiles.putIfAbsent(domain, source.name());
        if (other != null && !mergeDomains) {
          throw new ConfigException("domain: \"" + domain + "\" is already defined in " + other
              + " (expected: each domain in one file, or MERGE_DOMAIN_CONFIG=true to merge them)");
        }
        Level<T> level = domains.computeIfAbsent(domain, d -> new Level<>());
        p.descriptors(level, domain, domain + ".", ConfigTree.get(root, "descriptors"), "descriptors");
      } catch (ConfigException e) {
        throw e.prefixed(source.name());
      }
    }
    for (Level<T> level : domains.values()) {
      level.freeze();
    }
    return new RuleSet<>(Map.copyOf(domains), List.copyOf(p.rules), List.copyOf(p.warnings));
  }

  /**
   * The rule bound for {@code entries} in {@code domain}, or null when none applies (unknown
   * domain, no match, or a match at another depth).
   */
  public T match(String domain, Entries entries) {
    Level<T> level = domains.get(domain);
    if (level == null) {
      return null;
    }
    T result = null;
    int n = entries.size();
    for (int i = 0; i < n; i++) {
      Node<T> next = level.find(entries.key(i), entries.value(i));
      if (next == null) {
        break;
      }
      if (next.bound != null && i == n - 1) {
        result = next.bound;
      }
      if (next.children == null) {
        break;
      }
      level = next.children;
    }
    return result;
  }

  /** Whether a file defines {@code domain}. */
  public boolean hasDomain(String domain) {
    return domains.containsKey(domain);
  }

  /** The domains, unordered. */
  public Set<String> domains() {
    return domains.keySet();
  }

  /** Every rule, in file order. */
  public List<RuleSpec> rules() {
    return rules;
  }

  /** Keys upstream accepts but ignores where they were written, one message each. */
  public List<String> warnings() {
    return warnings;
  }

  // ---- tables ---------------------------------------------------------------------------------

  /** One nesting level: the entries' keys, each with its values. */
  private static final class Level<T> {
    private Map<String, KeyTable<T>> byKey = new HashMap<>();
    /** The {@code key} / {@code key_value} names defined here, while loading (duplicates are errors). */
    private Set<String> composite = new HashSet<>();

    Node<T> find(String key, String value) {
      KeyTable<T> t = byKey.get(key);
      return t == null ? null : t.find(value);
    }

    KeyTable<T> table(String key) {
      return byKey.computeIfAbsent(key, k -> new KeyTable<>());
    }

    Level<T> freeze() {
      for (KeyTable<T> t : byKey.values()) {
        t.freeze();
      }
      byKey = Map.copyOf(byKey);
      composite = null;
      return this;
    }
  }

  /** One key at one level: exact values, wildcard values in file order, and the bare key. */
  private static final class KeyTable<T> {
    private Map<String, Node<T>> exact = new HashMap<>();
    private final List<Wildcard<T>> wildcardList = new ArrayList<>();
    private Wildcard<T>[] wildcards;
    private Node<T> bare;

    Node<T> find(String value) {
      Node<T> n = exact.get(value);
      if (n != null) {
        return n;
      }
      for (Wildcard<T> w : wildcards) {
        if (w.matches(value)) {
          return w.node;
        }
      }
      return bare;
    }

    @SuppressWarnings("unchecked")
    void freeze() {
      exact = Map.copyOf(exact);
      wildcards = wildcardList.toArray(new Wildcard[0]);
      for (Node<T> n : exact.values()) {
        n.freeze();
      }
      for (Wildcard<T> w : wildcards) {
        w.node.freeze();
      }
      if (bare != null) {
        bare.freeze();
      }
    }
  }

  /** A value with {@code *}: its literal parts, matched in order. */
  private static final class Wildcard<T> {
    private final String[] parts;
    private final Node<T> node;

    Wildcard(String pattern, Node<T> node) {
      this.parts = pattern.split("\\*", -1);
      this.node = node;
    }

    boolean matches(String value) {
      String first = parts[0];
      String last = parts[parts.length - 1];
      if (value.length() < first.length() + last.length() || !value.startsWith(first) || !value.endsWith(last)) {
        return false;
      }
      int from = first.length();
      int end = value.length() - last.length();
      for (int i = 1; i < parts.length - 1; i++) {
        int at = value.indexOf(parts[i], from);
        if (at < 0 || at + parts[i].length() > end) {
          return false;
        }
        from = at + parts[i].length();
      }
      return true;
    }
  }

  /** A descriptor of the configuration: its bound rule (or null) and its nested level (or null). */
  private static final class Node<T> {
    private T bound;
    private Level<T> children;

    void freeze() {
      if (children != null) {
        if (children.byKey.isEmpty()) {
          children = null;
        } else {
          children.freeze();
        }
      }
    }
  }

  // ---- parsing --------------------------------------------------------------------------------

  private static final class Parser<T> {
    private final boolean extensions;
    private final Function<RuleSpec, T> bind;
    private final List<RuleSpec> rules = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();

    Parser(boolean extensions, Function<RuleSpec, T> bind) {
      this.extensions = extensions;
      this.bind = bind;
    }

    /** Requires a mapping; keys outside {@code allowed} are errors, or warnings if upstream ignores them. */
    void checkKeys(JsonNode node, String path, Set<String> allowed) throws ConfigException {
      if (!node.isObject()) {
        throw new ConfigException((path.isEmpty() ? "document" : path) + ": " + ConfigTree.describe(node)
            + " (expected: a mapping with keys " + String.join(", ", new java.util.TreeSet<>(allowed)) + ")");
      }
      for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
        String key = it.next();
        if (allowed.contains(key)) {
          continue;
        }
        String at = ConfigTree.child(path, key);
        if (UPSTREAM_KEYS.contains(key)) {
          warnings.add(at + ": ignored (a key of the format, but not of this level)");
        } else if (EXTENSION_KEYS.contains(key)) {
          throw new ConfigException(at + ": unknown key (expected one of: " + String.join(", ",
              new java.util.TreeSet<>(allowed)) + "; " + key + " is a Viva extension, off unless"
              + " envoy.extensions is true)");
        } else {
          throw new ConfigException(at + ": unknown key (expected one of: "
              + String.join(", ", new java.util.TreeSet<>(allowed)) + ")");
        }
      }
    }

    void descriptors(Level<T> level, String domain, String parentKey, JsonNode list, String path)
        throws ConfigException {
      if (list.isMissingNode()) {
        return;
      }
      List<JsonNode> items = ConfigTree.list(list, path);
      Set<String> composite = level.composite;
      for (int i = 0; i < items.size(); i++) {
        String dpath = path + "[" + i + "]";
        JsonNode d = items.get(i);
        checkKeys(d, dpath, DESCRIPTOR_KEYS);
        JsonNode keyNode = ConfigTree.get(d, "key");
        String key = keyNode.isMissingNode() ? "" : scalar(keyNode, dpath + ".key");
        if (key.isEmpty()) {
          throw new ConfigException(dpath + ".key: missing or empty (expected: the descriptor entry's key,"
              + " e.g. key: remote_address)");
        }
        JsonNode valueNode = ConfigTree.get(d, "value");
        String value = valueNode.isMissingNode() ? "" : scalar(valueNode, dpath + ".value");
        String finalKey = value.isEmpty() ? key : key + "_" + value;
        String fullKey = parentKey + finalKey;
        if (!composite.add(finalKey)) {
          throw new ConfigException(dpath + ": duplicate descriptor composite key '" + fullKey
              + "' (expected: each key and value once per level)");
        }
        boolean shadow = flag(d, "shadow_mode", dpath);
        boolean quota = flag(d, "quota_mode", dpath);
        boolean detailed = flag(d, "detailed_metric", dpath);
        Node<T> node = new Node<>();
        KeyTable<T> table = level.table(key);
        JsonNode rl = ConfigTree.get(d, "rate_limit");
        if (!rl.isMissingNode()) {
          RuleSpec spec = rule(rl, dpath + ".rate_limit", domain, fullKey, shadow, quota, detailed);
          rules.add(spec);
          node.bound = bind.apply(spec);
        }
        JsonNode nested = ConfigTree.get(d, "descriptors");
        if (!nested.isMissingNode()) {
          node.children = new Level<>();
          descriptors(node.children, domain, fullKey + ".", nested, dpath + ".descriptors");
        }
        if (value.isEmpty()) {
          table.bare = node;
        } else if (value.indexOf('*') >= 0) {
          table.wildcardList.add(new Wildcard<>(value, node));
        } else {
          table.exact.put(value, node);
        }
      }
    }

    private RuleSpec rule(JsonNode rl, String path, String domain, String fullKey, boolean shadow, boolean quota,
        boolean detailed) throws ConfigException {
      if (rl.isArray()) {
        if (!extensions) {
          throw new ConfigException(path + ": a list (expected: a mapping; several limits per descriptor are a Viva"
              + " extension, off unless envoy.extensions is true)");
        }
        List<JsonNode> items = ConfigTree.list(rl, path);
        if (items.isEmpty()) {
          throw new ConfigException(path + ": [] (expected: at least one limit)");
        }
        List<Limit> limits = new ArrayList<>();
        Unit firstUnit = null;
        long firstRpu = 0;
        Set<String> names = new HashSet<>();
        for (int i = 0; i < items.size(); i++) {
          String lpath = path + "[" + i + "]";
          JsonNode item = items.get(i);
          checkKeys(item, lpath, Set.of("unit", "requests_per_unit", "name", "algorithm", "window", "burst"));
          LimitParts parts = limitParts(item, lpath, false);
          if (parts.rpu == 0) {
            throw new ConfigException(lpath + ".requests_per_unit: 0 (expected: > 0 in a list of limits)");
          }
          String name = parts.name != null ? parts.name : "limit" + i;
          if (!names.add(name)) {
            throw new ConfigException(lpath + ".name: \"" + name + "\" (expected: a name not used by another limit"
                + " of this descriptor)");
          }
          limits.add(parts.build(name, lpath));
          if (i == 0) {
            firstUnit = parts.unit;
            firstRpu = parts.rpu;
          }
        }
        return new RuleSpec(domain, fullKey, null, Set.of(), false, shadow, quota, detailed, firstUnit, firstRpu,
            policy(fullKey, limits, path));
      }
      Set<String> allowed = new HashSet<>(RATE_LIMIT_KEYS);
      if (extensions) {
        allowed.addAll(EXTENSION_KEYS);
      }
      checkKeys(rl, path, allowed);
      boolean unlimited = flag(rl, "unlimited", path);
      JsonNode nameNode = ConfigTree.get(rl, "name");
      String name = nameNode.isMissingNode() ? null : scalar(nameNode, path + ".name");
      if (name != null && name.isEmpty()) {
        name = null;
      }
      Set<String> replaces = replaces(rl, path, name);
      if (unlimited) {
        JsonNode unitNode = ConfigTree.get(rl, "unit");
        if (!unitNode.isMissingNode() && unitNode.isTextual() && Unit.parse(unitNode.textValue()) != null) {
          throw new ConfigException(path + ": both unlimited: true and unit: " + unitNode.textValue()
              + " (expected: no unit when unlimited)");
        }
        if (!ConfigTree.get(rl, "window").isMissingNode()) {
          throw new ConfigException(path + ": both unlimited: true and window (expected: no window when unlimited)");
        }
        return new RuleSpec(domain, fullKey, name, replaces, true, shadow, quota, detailed, null, 0, null);
      }
      LimitParts parts = limitParts(rl, path, true);
      Policy policy = parts.rpu == 0 ? null
          : policy(fullKey, List.of(parts.build(name != null ? name : "limit", path)), path);
      return new RuleSpec(domain, fullKey, name, replaces, false, shadow, quota, detailed, parts.unit, parts.rpu,
          policy);
    }

    private Set<String> replaces(JsonNode rl, String path, String name) throws ConfigException {
      JsonNode node = ConfigTree.get(rl, "replaces");
      if (node.isMissingNode()) {
        return Set.of();
      }
      Set<String> out = new LinkedHashSet<>();
      List<JsonNode> items = ConfigTree.list(node, path + ".replaces");
      for (int i = 0; i < items.size(); i++) {
        String rpath = path + ".replaces[" + i + "]";
        checkKeys(items.get(i), rpath, Set.of("name"));
        JsonNode n = ConfigTree.get(items.get(i), "name");
        String replaced = n.isMissingNode() ? "" : scalar(n, rpath + ".name");
        if (replaced.isEmpty()) {
          throw new ConfigException(rpath + ".name: missing or empty (expected: the name of the rate limit this one"
              + " replaces)");
        }
        if (replaced.equals(name)) {
          throw new ConfigException(rpath + ".name: \"" + replaced + "\" is this rate limit's own name (expected: the"
              + " name of another rate limit)");
        }
        out.add(replaced);
      }
      return Collections.unmodifiableSet(out);
    }

    /** The unit/window, permits and algorithm of one limit. */
    private LimitParts limitParts(JsonNode rl, String path, boolean allowZero) throws ConfigException {
      LimitParts p = new LimitParts();
      JsonNode rpu = ConfigTree.get(rl, "requests_per_unit");
      p.rpu = rpu.isMissingNode() ? 0 : ConfigTree.integer(rpu, path + ".requests_per_unit", 0, MAX_UINT32);
      JsonNode unitNode = ConfigTree.get(rl, "unit");
      JsonNode windowNode = ConfigTree.get(rl, "window");
      if (!windowNode.isMissingNode()) {
        if (!unitNode.isMissingNode()) {
          throw new ConfigException(path + ": both unit and window (expected: one of them)");
        }
        p.window = ConfigTree.duration(windowNode, path + ".window", null);
        p.unit = Unit.ofDuration(p.window);
      } else {
        String unit = unitNode.isMissingNode() ? "" : scalar(unitNode, path + ".unit");
        p.unit = Unit.parse(unit);
        if (p.unit == null) {
          throw new ConfigException(path + ".unit: " + (unitNode.isMissingNode() ? "missing" : "\"" + unit + "\"")
              + " (expected: one of " + UNITS + (extensions ? ", or a window such as 5m" : "")
              + ", or unlimited: true)");
        }
        p.window = p.unit.duration();
      }
      JsonNode alg = ConfigTree.get(rl, "algorithm");
      p.algorithm = Algorithm.FIXED_WINDOW;
      if (!alg.isMissingNode()) {
        try {
          p.algorithm = Algorithm.fromConfigName(ConfigTree.string(alg, path + ".algorithm"));
        } catch (IllegalArgumentException e) {
          throw new ConfigException(path + "." + e.getMessage());
        }
      }
      JsonNode burst = ConfigTree.get(rl, "burst");
      p.burst = burst.isMissingNode() ? null : ConfigTree.integer(burst, path + ".burst", 1, Long.MAX_VALUE);
      JsonNode name = ConfigTree.get(rl, "name");
      p.name = name.isMissingNode() ? null : scalar(name, path + ".name");
      return p;
    }

    private static Policy policy(String fullKey, List<Limit> limits, String path) throws ConfigException {
      try {
        return Policy.builder("envoy/" + fullKey).limits(limits).build();
      } catch (IllegalArgumentException e) {
        throw new ConfigException(path + ": " + e.getMessage());
      }
    }

    private static boolean flag(JsonNode node, String key, String path) throws ConfigException {
      JsonNode v = ConfigTree.get(node, key);
      return !v.isMissingNode() && ConfigTree.bool(v, ConfigTree.child(path, key));
    }
  }

  /** The parts of one limit as written. */
  private static final class LimitParts {
    long rpu;
    Unit unit;
    Duration window;
    Algorithm algorithm;
    Long burst;
    String name;

    Limit build(String limitName, String path) throws ConfigException {
      try {
        Limit.Builder b = Limit.builder(algorithm, rpu, window).name(limitName);
        if (burst != null) {
          b.burst(burst);
        }
        return b.build();
      } catch (IllegalArgumentException e) {
        throw new ConfigException(path + ": " + e.getMessage() + " (window " + DurationParser.format(window) + ")");
      }
    }
  }

  /** A key or value: upstream reads scalars as strings ({@code value: 123} is "123"). */
  private static String scalar(JsonNode node, String path) throws ConfigException {
    if (node.isTextual()) {
      return node.textValue();
    }
    if (node.isValueNode()) {
      return node.asText();
    }
    throw new ConfigException(path + ": " + ConfigTree.describe(node) + " (expected: a string)");
  }

  @Override
  public String toString() {
    Map<String, Integer> perDomain = new LinkedHashMap<>();
    for (RuleSpec r : rules) {
      perDomain.merge(r.domain(), 1, Integer::sum);
    }
    return "RuleSet" + perDomain;
  }
}
