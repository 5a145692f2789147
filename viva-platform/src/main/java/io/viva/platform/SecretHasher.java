package io.viva.platform;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Hashes API keys and admin tokens for storage and lookup: HMAC-SHA-256 keyed with a server
 * pepper, hex. The database holds only these hashes, so a copy of it (a backup, a replica, an SQL
 * injection) yields no usable key and, without the pepper, not even a way to test guesses offline.
 * See docs/decisions/0010-api-key-hashing.md.
 *
 * <p>Thread-safe: one {@link Mac} per thread.
 */
public final class SecretHasher {

  /** The shortest pepper accepted, in bytes. */
  public static final int MIN_PEPPER_BYTES = 16;

  private final byte[] pepper;
  private final ThreadLocal<Mac> mac;

  /**
   * A hasher keyed with {@code pepper}.
   *
   * @throws IllegalArgumentException if the pepper is shorter than {@link #MIN_PEPPER_BYTES}
   */
  public SecretHasher(byte[] pepper) {
    if (pepper == null || pepper.length < MIN_PEPPER_BYTES) {
      throw new IllegalArgumentException("pepper: " + (pepper == null ? 0 : pepper.length)
          + " bytes (expected: at least " + MIN_PEPPER_BYTES + ")");
    }
    this.pepper = pepper.clone();
    this.mac = ThreadLocal.withInitial(this::newMac);
  }

  /** A hasher whose pepper is the UTF-8 bytes of {@code pepper}. */
  public static SecretHasher of(String pepper) {
    return new SecretHasher(pepper.getBytes(StandardCharsets.UTF_8));
  }

  /** The lookup hash of {@code secret}: 64 lower-case hex characters. */
  public String hash(String secret) {
    Mac m = mac.get();
    byte[] out = m.doFinal(secret.getBytes(StandardCharsets.US_ASCII));
    return HexFormat.of().formatHex(out);
  }

  /** Compares two hashes in time independent of where they differ. */
  public static boolean same(String a, String b) {
    return MessageDigest.isEqual(a.getBytes(StandardCharsets.US_ASCII), b.getBytes(StandardCharsets.US_ASCII));
  }

  private Mac newMac() {
    try {
      Mac m = Mac.getInstance("HmacSHA256");
      m.init(new SecretKeySpec(pepper, "HmacSHA256"));
      return m;
    } catch (NoSuchAlgorithmException | InvalidKeyException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e);
    }
  }
}
