package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.viva.core.Limit;
import io.viva.core.Policy;
import io.viva.platform.Pricing;
import io.viva.platform.Tier;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The {@code tiers} list of a configuration file (full mode), and per-key limit overrides. Limits
 * are read by {@link PolicyFile}'s own parser, so a tier's limits take exactly the forms and the
 * checks of a policy's.
 *
 * <pre>{@code
 * tiers:
 *   - name: pro
 *     monthly_quota: 1000000        # or "unlimited"
 *     billing: {currency: USD, price: 4900, included: 500000, overage: [{up_to: 800000, per_1000: 50}, {per_1000: 30}]}
 *     limits:
 *       - {algorithm: token_bucket, limit: 1000, window: 1m, name: per_minute}
 *       - {algorithm: sliding_window, limit: 50000, window: 1h, name: per_hour}
 * }</pre>
 *
 * <p>Without a {@code tiers} list the built-in tiers apply ({@code tiers-default.yaml}): anonymous,
 * free, basic, pro, premium, enterprise.
 */
final class TierFile {

  private static final Set<String> TIER_KEYS = Set.of("name", "monthly_quota", "limits", "algorithm", "limit",
      "window", "burst", "description", "billing");
  private static final Set<String> BILLING_KEYS = Set.of("currency", "price", "included", "overage");

  private TierFile() {}

  /** One tier as configured and the platform's {@link Tier} built from it. */
  record TierSpec(String name, String description, List<PolicyFile.LimitSpec> limits, Tier tier, Pricing pricing) {}

  /** Parses a {@code tiers} list found at {@code path}. */
  static List<TierSpec> parse(JsonNode node, String path) throws ConfigException {
    List<JsonNode> items = ConfigTree.list(node, path);
    if (items.isEmpty()) {
      throw new ConfigException(path + ": [] (expected: at least one tier)");
    }
    List<TierSpec> out = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (int i = 0; i < items.size(); i++) {
      String tpath = path + "[" + i + "]";
      JsonNode t = items.get(i);
      ConfigTree.requireObject(t, tpath, TIER_KEYS);
      String name = PolicyFile.name(ConfigTree.required(t, tpath, "name", "a tier name such as pro"), tpath + ".name",
          64);
      if (!names.add(name)) {
        throw new ConfigException(tpath + ".name: \"" + name + "\" (expected: each tier once)");
      }
      JsonNode quotaNode = ConfigTree.get(t, "monthly_quota");
      long quota = Long.MAX_VALUE;
      if (!quotaNode.isMissingNode() && !(quotaNode.isTextual() && quotaNode.asText().equals("unlimited"))) {
        quota = ConfigTree.integer(quotaNode, tpath + ".monthly_quota", 0, Long.MAX_VALUE);
      }
      JsonNode descNode = ConfigTree.get(t, "description");
      String description = descNode.isMissingNode() ? null : ConfigTree.string(descNode, tpath + ".description");
      // The tier's own fields aside, what is left has a policy's limit forms ("name" would read as a limit's name).
      ObjectNode limitFields = ((ObjectNode) t).deepCopy();
      limitFields.remove(List.of("name", "monthly_quota", "description", "billing"));
      JsonNode billingNode = ConfigTree.get(t, "billing");
      Pricing pricing = billingNode.isMissingNode() ? Pricing.FREE : pricing(billingNode, tpath + ".billing");
      List<PolicyFile.LimitSpec> limits = PolicyFile.parseLimits(limitFields, tpath, name);
      Policy policy = PolicyFile.buildPolicy(Tier.policyName(name), limits, null, tpath);
      out.add(new TierSpec(name, description, limits, new Tier(name, policy, quota), pricing));
    }
    Set<String> currencies = new HashSet<>();
    out.stream().filter(ts -> ts.pricing() != Pricing.FREE).forEach(ts -> currencies.add(ts.pricing().currency()));
    if (currencies.size() > 1) {
      throw new ConfigException(path + ": billing currencies " + new java.util.TreeSet<>(currencies)
          + " (expected: one currency for every tier, so an owner's invoice has one)");
    }
    return List.copyOf(out);
  }

  /**
   * A tier's {@code billing} block, in integer minor units: {@code {currency: USD, price: 4900,
   * included: 500000, overage: [{up_to: 2000000, per_1000: 50}, {per_1000: 30}]}}.
   */
  static Pricing pricing(JsonNode b, String path) throws ConfigException {
    ConfigTree.requireObject(b, path, BILLING_KEYS);
    JsonNode cur = ConfigTree.get(b, "currency");
    String currency = cur.isMissingNode() ? "USD" : ConfigTree.string(cur, path + ".currency");
    JsonNode priceNode = ConfigTree.get(b, "price");
    long price = priceNode.isMissingNode() ? 0 : ConfigTree.integer(priceNode, path + ".price", 0, Long.MAX_VALUE / 4);
    JsonNode inc = ConfigTree.get(b, "included");
    long included = inc.isMissingNode() || (inc.isTextual() && inc.asText().equals("unlimited")) ? Long.MAX_VALUE
        : ConfigTree.integer(inc, path + ".included", 0, Long.MAX_VALUE);
    List<Pricing.Step> steps = new ArrayList<>();
    JsonNode over = ConfigTree.get(b, "overage");
    if (!over.isMissingNode()) {
      List<JsonNode> items = ConfigTree.list(over, path + ".overage");
      for (int i = 0; i < items.size(); i++) {
        String spath = path + ".overage[" + i + "]";
        ConfigTree.requireObject(items.get(i), spath, Set.of("up_to", "per_1000"));
        JsonNode up = ConfigTree.get(items.get(i), "up_to");
        JsonNode per = ConfigTree.get(items.get(i), "per_1000");
        if (per.isMissingNode()) {
          throw new ConfigException(spath + ".per_1000: missing (expected: the price of 1,000 requests in minor units)");
        }
        steps.add(new Pricing.Step(up.isMissingNode() ? null : ConfigTree.integer(up, spath + ".up_to", 1,
            Long.MAX_VALUE), ConfigTree.integer(per, spath + ".per_1000", 0, 1_000_000_000L)));
      }
    }
    try {
      return new Pricing(currency, price, included, steps);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(path + "." + e.getMessage());
    }
  }

  /** The built-in tiers. */
  static List<TierSpec> defaults() {
    try (InputStream in = TierFile.class.getResourceAsStream("tiers-default.yaml")) {
      JsonNode root = ConfigTree.readYaml(in.readAllBytes());
      return parse(ConfigTree.get(root, "tiers"), "tiers-default.yaml: tiers");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (ConfigException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }

  /**
   * Parses a key's own limits: a JSON list of limits in the policy file's form, e.g. {@code
   * [{"algorithm":"token_bucket","limit":100,"window":"1s"}]}.
   *
   * @throws ConfigException naming the bad field, prefixed with {@code path}
   */
  static List<PolicyFile.LimitSpec> parseKeyLimits(JsonNode list, String path) throws ConfigException {
    ObjectNode holder = JsonNodeFactory.instance.objectNode();
    holder.set("limits", list);
    List<PolicyFile.LimitSpec> specs = PolicyFile.parseLimits(holder, path.endsWith(".limits")
        ? path.substring(0, path.length() - ".limits".length()) : path, "key");
    PolicyFile.buildPolicy("key", specs, null, path);
    return specs;
  }

  /** The engine limits of stored key limits (JSON text written by this server). */
  static List<Limit> keyLimits(String json) {
    try {
      return parseKeyLimits(ConfigTree.readJson(json.getBytes(java.nio.charset.StandardCharsets.UTF_8)), "limits")
          .stream().map(PolicyFile.LimitSpec::built).toList();
    } catch (ConfigException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }

  /** Renders limits as the JSON list {@link #parseKeyLimits} reads. */
  static ArrayNode renderLimits(List<PolicyFile.LimitSpec> limits) {
    ArrayNode out = JsonNodeFactory.instance.arrayNode();
    PolicyFile.renderLimits(out, limits);
    return out;
  }
}
