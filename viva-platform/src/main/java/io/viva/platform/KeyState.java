package io.viva.platform;

/** Where a key is in its life; derived from its fields and the time, never stored on its own. */
public enum KeyState {
  /** Enabled, not revoked, not expired: verifies. */
  ACTIVE,
  /** Switched off by an operator; may be enabled again. */
  DISABLED,
  /** Past its expiry time. */
  EXPIRED,
  /** Revoked for good. */
  REVOKED;

  /** The lower-case name used in the API and in filters. */
  public String label() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }

  /** The state named {@code label} (case-insensitive), or null. */
  public static KeyState fromLabel(String label) {
    for (KeyState s : values()) {
      if (s.label().equalsIgnoreCase(label)) {
        return s;
      }
    }
    return null;
  }
}
