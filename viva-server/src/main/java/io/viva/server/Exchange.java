package io.viva.server;

import io.vertx.ext.web.RoutingContext;

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

  /** The request id for an {@code X-Request-ID} header value: see {@link RequestId#from}. */
  static String requestId(String header) {
    return RequestId.from(header);
  }
}
