package io.viva.platform;

import java.util.Locale;

/**
 * What an admin token may do. Each role includes the ones below it: {@code viewer} reads keys and
 * tiers; {@code operator} also creates, changes, rotates, revokes and expires keys and reads the
 * audit log; {@code admin} also manages admin tokens and tiers.
 */
public enum Role {
  /** Read only. */
  VIEWER,
  /** Key lifecycle. */
  OPERATOR,
  /** Everything. */
  ADMIN;

  /** Whether this role may do what {@code required} may. */
  public boolean atLeast(Role required) {
    return compareTo(required) >= 0;
  }

  /** The lower-case name used in the API. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The role named {@code label} (case-insensitive), or null. */
  public static Role fromLabel(String label) {
    for (Role r : values()) {
      if (r.label().equalsIgnoreCase(label)) {
        return r;
      }
    }
    return null;
  }
}
