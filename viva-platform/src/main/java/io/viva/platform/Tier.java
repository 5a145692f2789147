package io.viva.platform;

import io.viva.core.Policy;
import java.util.Objects;

/**
 * A tier: the rate limits every key on it gets (unless the key overrides them) and a monthly request
 * quota.
 *
 * @param name e.g. {@code pro}
 * @param policy the limits, as an engine policy named {@code tier:<name>}
 * @param monthlyQuota requests per calendar month (UTC), or {@code Long.MAX_VALUE} for unlimited
 */
public record Tier(String name, Policy policy, long monthlyQuota) {

  /** Checks the fields. */
  public Tier {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(policy, "policy");
    if (monthlyQuota < 0) {
      throw new IllegalArgumentException("monthly_quota: " + monthlyQuota + " (expected: >= 0)");
    }
  }

  /** The engine policy name of tier {@code name}: counters of different tiers never mix. */
  public static String policyName(String name) {
    return "tier:" + name;
  }
}
