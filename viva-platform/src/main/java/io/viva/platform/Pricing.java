package io.viva.platform;

import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * What a tier costs per key and calendar month, in integer minor units of {@code currency} (cents
 * for USD): a base {@code price}, {@code included} requests, then overage priced per 1,000 requests
 * in graduated steps (each step's price applies to the requests that fall in it).
 *
 * @param currency ISO 4217 code, e.g. {@code USD}
 * @param price the monthly base price
 * @param included allowed requests included in the price
 * @param steps the overage steps, in increasing {@code upTo}; the last one has no bound (null)
 */
public record Pricing(String currency, long price, long included, List<Step> steps) {

  private static final Pattern CURRENCY = Pattern.compile("[A-Z]{3}");

  /** Free, unlimited: no line costs anything. */
  public static final Pricing FREE = new Pricing("USD", 0, Long.MAX_VALUE, List.of());

  /**
   * One overage step: the requests of a month above the previous step's bound (or above {@code
   * included}) up to {@code upTo} (inclusive; null for no bound) cost {@code per1000} per 1,000.
   */
  public record Step(Long upTo, long per1000) {}

  /** Checks the fields. */
  public Pricing {
    Objects.requireNonNull(currency, "currency");
    steps = List.copyOf(steps);
    if (!CURRENCY.matcher(currency).matches()) {
      throw new IllegalArgumentException("currency: \"" + currency + "\" (expected: an ISO 4217 code such as USD)");
    }
    if (price < 0 || included < 0) {
      throw new IllegalArgumentException("price and included: expected >= 0");
    }
    long previous = included;
    for (int i = 0; i < steps.size(); i++) {
      Step s = steps.get(i);
      if (s.per1000() < 0) {
        throw new IllegalArgumentException("overage[" + i + "].per_1000: " + s.per1000() + " (expected: >= 0)");
      }
      if (s.upTo() == null && i != steps.size() - 1) {
        throw new IllegalArgumentException("overage[" + i + "]: no up_to (expected: only the last step is unbounded)");
      }
      if (s.upTo() != null && s.upTo() <= previous) {
        throw new IllegalArgumentException("overage[" + i + "].up_to: " + s.upTo() + " (expected: above "
            + previous + ", the included requests or the previous step)");
      }
      if (s.upTo() != null) {
        previous = s.upTo();
      }
    }
  }
}
