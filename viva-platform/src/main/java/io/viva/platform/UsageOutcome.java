package io.viva.platform;

/**
 * The outcomes usage is counted by: every verification of a known key, by how it ended. Only
 * {@link #ALLOWED} counts toward the monthly quota and the bill.
 */
public enum UsageOutcome {
  /** Verified and within quota and rate limit ({@code VALID}). */
  ALLOWED("allowed"),
  /** Over a rate limit. */
  RATE_LIMITED("rate_limited"),
  /** Over the monthly quota. */
  USAGE_EXCEEDED("usage_exceeded"),
  /** Disabled or revoked. */
  DISABLED("disabled"),
  /** Expired. */
  EXPIRED("expired");

  private static final UsageOutcome[] VALUES = values();
  private final String label;

  UsageOutcome(String label) {
    this.label = label;
  }

  /** The name in the API, the database and the wire form. */
  public String label() {
    return label;
  }

  /** The outcome of {@code label}, or null. */
  public static UsageOutcome fromLabel(String label) {
    for (UsageOutcome o : VALUES) {
      if (o.label.equals(label)) {
        return o;
      }
    }
    return null;
  }

  /** The outcome counted for a verification that ended with {@code code}, or null when not counted (no key). */
  public static UsageOutcome of(Verification.Code code) {
    return switch (code) {
      case VALID -> ALLOWED;
      case RATE_LIMITED -> RATE_LIMITED;
      case USAGE_EXCEEDED -> USAGE_EXCEEDED;
      case DISABLED -> DISABLED;
      case EXPIRED -> EXPIRED;
      case NOT_FOUND -> null;
    };
  }
}
