package io.viva.platform;

import java.security.SecureRandom;
import java.util.zip.CRC32;

/**
 * The text form of API keys and admin tokens: {@code <prefix><32 random base62><6 base62 checksum>},
 * for example {@code viva_live_3hR0...Qx8kZ2}.
 *
 * <ul>
 *   <li>The prefix ({@code viva_live_}, {@code viva_test_}, {@code viva_admin_}) says what the
 *       secret is, so secret scanners and people recognise a leaked one.
 *   <li>32 base62 characters from {@link SecureRandom} carry 190 bits of entropy.
 *   <li>The last 6 characters are the CRC32 of everything before them, in base62: a string that
 *       looks like a key but is noise (a typo, a truncated paste, a scanner's false positive) is
 *       told apart offline, without a database or even a hash computation. The checksum is not a
 *       secret and adds no strength; the 190 random bits do that.
 * </ul>
 */
public final class KeyFormat {

  /** Prefix of keys for production traffic. */
  public static final String LIVE_PREFIX = "viva_live_";
  /** Prefix of keys for test traffic. */
  public static final String TEST_PREFIX = "viva_test_";
  /** Prefix of admin API tokens. */
  public static final String ADMIN_PREFIX = "viva_admin_";

  static final int RANDOM_LENGTH = 32;
  static final int CHECKSUM_LENGTH = 6;
  /** Characters after the prefix shown in listings: enough to tell keys apart, far too few to guess the rest. */
  static final int VISIBLE_RANDOM = 6;

  private static final char[] ALPHABET =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".toCharArray();
  private static final SecureRandom RANDOM = new SecureRandom();

  private KeyFormat() {}

  /** A new random secret with {@code prefix} (one of the constants of this class). */
  public static String generate(String prefix) {
    StringBuilder sb = new StringBuilder(prefix.length() + RANDOM_LENGTH + CHECKSUM_LENGTH).append(prefix);
    byte[] buf = new byte[64];
    int n = 0;
    while (n < RANDOM_LENGTH) {
      RANDOM.nextBytes(buf);
      for (int i = 0; i < buf.length && n < RANDOM_LENGTH; i++) {
        int b = buf[i] & 0xFF;
        if (b < 248) { // 248 = 4 * 62: rejection keeps every character equally likely
          sb.append(ALPHABET[b % 62]);
          n++;
        }
      }
    }
    appendChecksum(sb, crc(sb));
    return sb.toString();
  }

  /**
   * Whether {@code text} is well-formed: a known prefix, the right length, base62 only and a
   * matching checksum. Constant work per input length; never touches storage.
   */
  public static boolean isWellFormed(String text) {
    return prefixOf(text) != null;
  }

  /** The prefix of a well-formed secret, or null if {@code text} is not one. */
  public static String prefixOf(String text) {
    if (text == null) {
      return null;
    }
    String prefix = text.startsWith(LIVE_PREFIX) ? LIVE_PREFIX : text.startsWith(TEST_PREFIX) ? TEST_PREFIX
        : text.startsWith(ADMIN_PREFIX) ? ADMIN_PREFIX : null;
    if (prefix == null || text.length() != prefix.length() + RANDOM_LENGTH + CHECKSUM_LENGTH) {
      return null;
    }
    for (int i = prefix.length(); i < text.length(); i++) {
      if (digit(text.charAt(i)) < 0) {
        return null;
      }
    }
    int body = text.length() - CHECKSUM_LENGTH;
    long expected = 0;
    for (int i = body; i < text.length(); i++) {
      expected = expected * 62 + digit(text.charAt(i));
    }
    return expected == crc(text.subSequence(0, body)) ? prefix : null;
  }

  /** What listings show of a secret: its prefix and first few random characters. */
  public static String visibleStart(String secret) {
    String prefix = prefixOf(secret);
    int end = (prefix == null ? 0 : prefix.length()) + VISIBLE_RANDOM;
    return secret.substring(0, Math.min(end, secret.length()));
  }

  private static long crc(CharSequence s) {
    // Every character is ASCII (checked before): one byte each, one bulk update (intrinsic).
    byte[] bytes = new byte[s.length()];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) s.charAt(i);
    }
    CRC32 crc = new CRC32();
    crc.update(bytes, 0, bytes.length);
    return crc.getValue();
  }

  private static void appendChecksum(StringBuilder sb, long value) {
    char[] out = new char[CHECKSUM_LENGTH];
    for (int i = CHECKSUM_LENGTH - 1; i >= 0; i--) {
      out[i] = ALPHABET[(int) (value % 62)];
      value /= 62;
    }
    sb.append(out);
  }

  private static int digit(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'A' && c <= 'Z') {
      return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 36;
    }
    return -1;
  }

  /** A random base62 identifier of {@code length} characters after {@code prefix} (ids, not secrets). */
  static String id(String prefix, int length) {
    StringBuilder sb = new StringBuilder(prefix);
    for (int i = 0; i < length; i++) {
      sb.append(ALPHABET[RANDOM.nextInt(62)]);
    }
    return sb.toString();
  }
}
