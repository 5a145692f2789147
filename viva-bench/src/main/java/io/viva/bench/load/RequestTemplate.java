package io.viva.bench.load;

import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The bytes of one load-test request, encoded straight into a connection's output buffer: the
 * request line and headers are fixed, the body's {@code %d} becomes a key index and the optional
 * {@code X-API-Key} header the next API key, so that encoding a request allocates nothing.
 */
final class RequestTemplate {

  private final byte[] headPrefix;
  private final byte[] bodyPrefix;
  private final byte[] bodySuffix;
  private final boolean keyed;
  private final boolean hasBody;
  private final byte[][] apiKeys;
  private final int keys;

  RequestTemplate(String method, URI uri, String body, int keys, String[] apiKeys) {
    String path = (uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath())
        + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
    int port = uri.getPort() < 0 ? 80 : uri.getPort();
    StringBuilder head = new StringBuilder()
        .append(method).append(' ').append(path).append(" HTTP/1.1\r\n")
        .append("Host: ").append(uri.getHost()).append(':').append(port).append("\r\n");
    if (body != null) {
      head.append("Content-Type: application/json\r\n");
    }
    this.headPrefix = head.toString().getBytes(StandardCharsets.US_ASCII);
    this.hasBody = body != null;
    int mark = body == null ? -1 : body.indexOf("%d");
    this.keyed = mark >= 0;
    this.bodyPrefix = body == null ? new byte[0]
        : (keyed ? body.substring(0, mark) : body).getBytes(StandardCharsets.UTF_8);
    this.bodySuffix = keyed ? body.substring(mark + 2).getBytes(StandardCharsets.UTF_8) : new byte[0];
    this.keys = Math.max(1, keys);
    this.apiKeys = apiKeys == null ? null : new byte[apiKeys.length][];
    if (apiKeys != null) {
      for (int i = 0; i < apiKeys.length; i++) {
        this.apiKeys[i] = ("X-API-Key: " + apiKeys[i] + "\r\n").getBytes(StandardCharsets.US_ASCII);
      }
    }
  }

  /** An upper bound of one request's size, for sizing buffers. */
  int maxSize() {
    int key = 0;
    if (apiKeys != null) {
      for (byte[] k : apiKeys) {
        key = Math.max(key, k.length);
      }
    }
    return headPrefix.length + key + 64 + bodyPrefix.length + 20 + bodySuffix.length;
  }

  /**
   * Writes request number {@code n} into {@code out} if it fits and returns whether it did; the
   * body's key index is {@code n % keys}, the API key the {@code n}th (round robin).
   */
  boolean encode(long n, ByteBuffer out) {
    long key = n % keys;
    int keyDigits = keyed ? digits(key) : 0;
    int bodyLength = bodyPrefix.length + keyDigits + bodySuffix.length;
    byte[] apiKey = apiKeys == null ? null : apiKeys[(int) (n % apiKeys.length)];
    int size = headPrefix.length + (apiKey == null ? 0 : apiKey.length)
        + (hasBody ? 18 + digits(bodyLength) : 0) + 2 + bodyLength;
    if (out.remaining() < size) {
      return false;
    }
    out.put(headPrefix);
    if (apiKey != null) {
      out.put(apiKey);
    }
    if (hasBody) {
      out.put(CONTENT_LENGTH);
      putDigits(out, bodyLength, digits(bodyLength));
      out.put((byte) '\r').put((byte) '\n');
    }
    out.put((byte) '\r').put((byte) '\n');
    out.put(bodyPrefix);
    if (keyed) {
      putDigits(out, key, keyDigits);
      out.put(bodySuffix);
    }
    return true;
  }

  private static final byte[] CONTENT_LENGTH = "Content-Length: ".getBytes(StandardCharsets.US_ASCII);

  private static int digits(long v) {
    int d = 1;
    while (v >= 10) {
      v /= 10;
      d++;
    }
    return d;
  }

  private static void putDigits(ByteBuffer out, long v, int digits) {
    int at = out.position() + digits;
    for (int i = 1; i <= digits; i++) {
      out.put(at - i, (byte) ('0' + v % 10));
      v /= 10;
    }
    out.position(at);
  }
}
