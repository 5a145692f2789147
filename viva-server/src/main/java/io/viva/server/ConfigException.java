package io.viva.server;

/**
 * A configuration or policy document that cannot be used. The message names where the problem is
 * (a file, a path such as {@code policies[0].window}, an environment variable) and what was
 * expected, and is shown to the user as it is.
 */
public final class ConfigException extends Exception {

  /** Creates an exception with the given user-facing message. */
  public ConfigException(String message) {
    super(message);
  }

  /** Returns a copy of this exception whose message starts with {@code prefix + ": "}. */
  public ConfigException prefixed(String prefix) {
    ConfigException e = new ConfigException(prefix + ": " + getMessage());
    e.setStackTrace(getStackTrace());
    return e;
  }
}
