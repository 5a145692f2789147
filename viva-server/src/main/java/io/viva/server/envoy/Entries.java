package io.viva.server.envoy;

/**
 * The entries of one request descriptor, read by index so that matching allocates nothing (the
 * server adapts Envoy's protobuf descriptor; tests use {@link #of}).
 */
public interface Entries {

  /** The number of entries. */
  int size();

  /** The key of entry {@code i}. */
  String key(int i);

  /** The value of entry {@code i}. */
  String value(int i);

  /** Entries from alternating keys and values: {@code of("k1", "v1", "k2", "v2")}. */
  static Entries of(String... keysAndValues) {
    if (keysAndValues.length % 2 != 0) {
      throw new IllegalArgumentException("keys and values: an odd count (expected: pairs)");
    }
    return new Entries() {
      @Override
      public int size() {
        return keysAndValues.length / 2;
      }

      @Override
      public String key(int i) {
        return keysAndValues[2 * i];
      }

      @Override
      public String value(int i) {
        return keysAndValues[2 * i + 1];
      }
    };
  }
}
