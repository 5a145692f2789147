package io.viva.server.envoy;

import static org.assertj.core.api.Assertions.assertThat;

import io.viva.server.ConfigException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/**
 * The matcher against a literal model of envoyproxy/ratelimit's lookup: per level a map from the
 * composite key {@code key_value} (or {@code key}), the request entry's {@code key_value} looked up
 * first, then the level's wildcard keys in file order by prefix, then the bare key; a limit counts
 * only at the request's last entry. Random rule trees (up to three levels) and random requests;
 * keys and values without {@code _} so composite keys cannot collide, wildcards trailing (the form
 * the model knows).
 */
class RuleSetProperties {

  private static final String[] KEYS = {"a", "b", "c"};
  private static final String[] VALUES = {"", "", "x", "xy", "y", "x*", "*"};
  private static final String[] REQUEST_VALUES = {"", "x", "xy", "xyz", "y", "z"};

  /** The model: one level of upstream's descriptor tree. */
  static final class ModelLevel {
    final Map<String, ModelNode> byComposite = new HashMap<>();
    final List<String> wildcardKeys = new ArrayList<>();
  }

  static final class ModelNode {
    Long limit;
    ModelLevel children;
  }

  @Property(tries = 300)
  void matchesUpstreamsLookup(@ForAll long seed) throws ConfigException {
    Random random = new Random(seed);
    long[] ids = {1};
    StringBuilder yaml = new StringBuilder("domain: d\ndescriptors:\n");
    ModelLevel model = new ModelLevel();
    level(random, model, yaml, "  ", 0, ids);
    RuleSet<RuleSpec> rules = RuleSet.parse(List.of(new RuleSet.Source("p.yaml",
        yaml.toString().getBytes(StandardCharsets.UTF_8))), false);
    for (int r = 0; r < 40; r++) {
      int depth = 1 + random.nextInt(3);
      String[] kv = new String[depth * 2];
      for (int i = 0; i < depth; i++) {
        kv[2 * i] = KEYS[random.nextInt(KEYS.length)];
        kv[2 * i + 1] = REQUEST_VALUES[random.nextInt(REQUEST_VALUES.length)];
      }
      RuleSpec got = rules.match("d", Entries.of(kv));
      Long expected = lookup(model, kv);
      assertThat(got == null ? null : got.requestsPerUnit()).as("%s\nrequest %s", yaml, List.of(kv))
          .isEqualTo(expected);
    }
  }

  private static void level(Random random, ModelLevel model, StringBuilder yaml, String indent, int depth,
      long[] ids) {
    int n = 1 + random.nextInt(4);
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < n; i++) {
      String key = KEYS[random.nextInt(KEYS.length)];
      String value = VALUES[random.nextInt(VALUES.length)];
      String composite = value.isEmpty() ? key : key + "_" + value;
      if (!seen.add(composite)) {
        continue;
      }
      ModelNode node = new ModelNode();
      yaml.append(indent).append("- key: ").append(key).append('\n');
      if (!value.isEmpty()) {
        yaml.append(indent).append("  value: \"").append(value).append("\"\n");
      }
      if (random.nextInt(3) > 0) {
        node.limit = ids[0]++;
        yaml.append(indent).append("  rate_limit: {unit: second, requests_per_unit: ").append(node.limit)
            .append("}\n");
      }
      if (depth < 2 && random.nextBoolean()) {
        yaml.append(indent).append("  descriptors:\n");
        node.children = new ModelLevel();
        level(random, node.children, yaml, indent + "    ", depth + 1, ids);
      }
      model.byComposite.put(composite, node);
      if (composite.endsWith("*")) {
        model.wildcardKeys.add(composite);
      }
    }
  }

  /** upstream's GetLimit, transcribed. */
  private static Long lookup(ModelLevel level, String[] kv) {
    Long result = null;
    int n = kv.length / 2;
    for (int i = 0; i < n; i++) {
      String finalKey = kv[2 * i] + "_" + kv[2 * i + 1];
      ModelNode next = level.byComposite.get(finalKey);
      if (next == null) {
        for (String wildcard : level.wildcardKeys) {
          if (finalKey.startsWith(wildcard.substring(0, wildcard.length() - 1))) {
            next = level.byComposite.get(wildcard);
            break;
          }
        }
      }
      if (next == null) {
        next = level.byComposite.get(kv[2 * i]);
      }
      if (next != null && next.limit != null && i == n - 1) {
        result = next.limit;
      }
      if (next != null && next.children != null && !next.children.byComposite.isEmpty()) {
        level = next.children;
      } else {
        break;
      }
    }
    return result;
  }
}
