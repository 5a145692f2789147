package io.viva.server;

import java.util.Map;

/**
 * Reads settings from environment variables so that every error names the variable and what was
 * expected: the environment's counterpart of {@link ConfigTree}, shared by the server's, full
 * mode's and usage's settings.
 */
final class ConfigEnv {

  private ConfigEnv() {}

  /** The value of variable {@code name}, trimmed; null when it is unset or blank. */
  static String get(Map<String, String> env, String name) {
    String v = env.get(name);
    return v == null || v.isBlank() ? null : v.trim();
  }

  /** {@code v}, the value of {@code name}, as an integer from {@code min} to {@code max}. */
  static long integer(String v, String name, long min, long max) throws ConfigException {
    try {
      long n = Long.parseLong(v);
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new ConfigException(name + ": \"" + v + "\" (expected: an integer from " + min + " to " + max + ")");
  }
}
