package io.viva.server.envoy;

import io.viva.core.Policy;
import java.util.Set;

/**
 * One {@code rate_limit} of an envoyproxy/ratelimit configuration, as loaded: where it is (its
 * full key, e.g. {@code messaging.message_type_marketing.to_number}), its limit and its flags.
 *
 * @param domain the file's domain
 * @param fullKey the domain and each level's {@code key} or {@code key_value}, joined by dots:
 *     upstream's stats key, unique within the rules
 * @param name the rule's {@code name}, or null
 * @param replaces the names of the rules this one replaces (empty when none)
 * @param unlimited {@code unlimited: true}: always OK, never counted
 * @param shadow {@code shadow_mode}: evaluated and counted, never denies
 * @param quota {@code quota_mode}: over limit is reported in the response's dynamic metadata but
 *     the descriptor stays OK
 * @param detailedMetric {@code detailed_metric}: metrics carry the request's value for unvalued keys
 * @param unit the upstream unit, or null for an unlimited rule or a Viva window that is no unit
 * @param requestsPerUnit upstream's {@code requests_per_unit} (or the first limit's permits for a
 *     Viva extension rule); 0 denies every request
 * @param policy the engine policy (fixed window of {@code requests_per_unit} per unit unless Viva
 *     extensions say otherwise); null when unlimited or when {@code requests_per_unit} is 0
 */
public record RuleSpec(String domain, String fullKey, String name, Set<String> replaces, boolean unlimited,
    boolean shadow, boolean quota, boolean detailedMetric, Unit unit, long requestsPerUnit, Policy policy) {

  /** Whether every request is denied without counting ({@code requests_per_unit: 0}). */
  public boolean blocksAll() {
    return !unlimited && policy == null;
  }
}
