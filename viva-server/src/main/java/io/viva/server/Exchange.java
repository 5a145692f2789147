package io.viva.server;

import io.vertx.ext.web.RoutingContext;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The service's state for one request: its id, when it started, the route template it matched
 * (for metrics and logs) and its body once read. Attached to the routing context by the first
 * handler.
 */
final class Exchange {

  static final String KEY = "viva.exchange";
  static final int MAX_REQUEST_ID_LENGTH = 128;
  static final String UNMATCHED = "unmatched";

  final String requestId;
  final long startNanos;
  String route = UNMATCHED;
  Metrics.RouteMeters routeMeters;
  byte[] body;
  int bodyLength;

  Exchange(String requestId, long startNanos, Metrics.RouteMeters unmatched) {
    this.requestId = requestId;
    this.startNanos = startNanos;
    this.routeMeters = unmatched;
  }

  /** The exchange of {@code ctx}; one is always attached by the first handler. */
  static Exchange of(RoutingContext ctx) {
    return ctx.get(KEY);
  }

  /**
   * The request id: the client's {@code X-Request-ID} if it is sane (1 to 128 characters, letters,
   * digits and {@code - _ . : / + = @}), else a new random UUID.
   */
  static String requestId(String header) {
    if (header != null && !header.isEmpty() && header.length() <= MAX_REQUEST_ID_LENGTH && isSafe(header)) {
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
