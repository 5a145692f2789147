package io.viva.server;

import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/** Request ids: the client's {@code X-Request-ID} when it is sane, else a new random UUID. */
public final class RequestId {

  /** The longest client-supplied id kept. */
  public static final int MAX_LENGTH = 128;

  private RequestId() {}

  /**
   * The request id for an {@code X-Request-ID} header value (may be null): the value itself if it
   * is 1 to 128 characters of letters, digits and {@code - _ . : / + = @}, else a new random UUID.
   */
  public static String from(String header) {
    if (header != null && !header.isEmpty() && header.length() <= MAX_LENGTH && isSafe(header)) {
      return header;
    }
    ThreadLocalRandom r = ThreadLocalRandom.current();
    long hi = (r.nextLong() & ~0xF000L) | 0x4000L;
    long lo = (r.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
    return new UUID(hi, lo).toString();
  }

  private static boolean isSafe(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=' || c == '@';
      if (!ok) {
        return false;
      }
    }
    return true;
  }
}
