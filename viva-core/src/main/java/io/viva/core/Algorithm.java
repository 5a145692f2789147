package io.viva.core;

import java.util.Locale;

/**
 * The rate limiting algorithms Viva implements. Each is written once in Java (in the engine) and
 * mirrored exactly by a Lua script for the Redis store.
 *
 * <p>{@link #TOKEN_BUCKET}, {@link #GCRA} and {@link #LEAKY_BUCKET} make identical decisions for
 * identical parameters (they are three views of one meter, as the references say); they differ in
 * the state they keep and in how a limit is usually phrased. The three window algorithms trade
 * memory for exactness: a fixed window keeps one counter, a sliding window two, a sliding log
 * every admitted request.
 */
public enum Algorithm {
  /** A bucket of {@code burst} tokens refilled at {@code limit} per {@code window}. */
  TOKEN_BUCKET("token_bucket", true),
  /** The generic cell rate algorithm: {@code limit} per {@code window}, bursts of {@code burst}. */
  GCRA("gcra", true),
  /** A leaky bucket used as a meter: capacity {@code burst}, leaking {@code limit} per {@code window}. */
  LEAKY_BUCKET("leaky_bucket", true),
  /** At most {@code limit} per window, windows aligned to the epoch. */
  FIXED_WINDOW("fixed_window", false),
  /** Two fixed windows weighted by overlap, as Cloudflare describes it; never above the fixed window. */
  SLIDING_WINDOW("sliding_window", false),
  /** Exact: at most {@code limit} in any trailing {@code window}; memory grows with the limit. */
  SLIDING_LOG("sliding_log", false);

  private final String configName;
  private final boolean hasBurst;

  Algorithm(String configName, boolean hasBurst) {
    this.configName = configName;
    this.hasBurst = hasBurst;
  }

  /** The name used in configuration files and APIs, e.g. {@code token_bucket}. */
  public String configName() {
    return configName;
  }

  /** Whether a burst (capacity) different from the limit may be set. */
  public boolean hasBurst() {
    return hasBurst;
  }

  /**
   * Parses a configuration name ({@code token_bucket}, {@code gcra}, ...), ignoring case and
   * accepting {@code -} for {@code _}.
   *
   * @throws IllegalArgumentException naming the value and the accepted names
   */
  public static Algorithm fromConfigName(String name) {
    if (name == null) {
      throw new NullPointerException("name");
    }
    String normalized = name.trim().toLowerCase(Locale.ROOT).replace('-', '_');
    for (Algorithm algorithm : values()) {
      if (algorithm.configName.equals(normalized)) {
        return algorithm;
      }
    }
    throw new IllegalArgumentException("algorithm: " + name
        + " (expected: one of token_bucket, gcra, leaky_bucket, fixed_window, sliding_window, sliding_log)");
  }

  @Override
  public String toString() {
    return configName;
  }
}
