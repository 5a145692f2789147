package io.viva.server;

import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.RoutingContext;
import java.util.Locale;

/** Response helpers and the bounded body reader shared by the routes. */
final class Http {

  static final CharSequence APPLICATION_JSON = HttpHeaders.createOptimized("application/json");
  static final CharSequence CONTENT_TYPE = HttpHeaders.CONTENT_TYPE;
  static final CharSequence X_REQUEST_ID = HttpHeaders.createOptimized("X-Request-ID");
  static final CharSequence CONNECTION = HttpHeaders.CONNECTION;
  static final CharSequence CLOSE = HttpHeaders.createOptimized("close");

  private Http() {}

  /** Ends the response with a JSON body. */
  static void json(RoutingContext ctx, int status, Buffer body) {
    HttpServerResponse response = ctx.response();
    response.setStatusCode(status);
    response.headers().set(CONTENT_TYPE, APPLICATION_JSON);
    response.end(body);
  }

  /** Ends the response with a JSON body. */
  static void json(RoutingContext ctx, int status, String body) {
    json(ctx, status, Buffer.buffer(body));
  }

  /** Ends the response with the JSON error for {@code error}, unless the response is already over. */
  static void error(RoutingContext ctx, ApiError error) {
    HttpServerResponse response = ctx.response();
    if (response.ended() || response.closed()) {
      return;
    }
    Exchange ex = Exchange.of(ctx);
    String requestId = ex != null ? ex.requestId : Exchange.requestId(null);
    MultiMap headers = response.headers();
    if (ex == null) {
      headers.set(X_REQUEST_ID, requestId);
    }
    if (error.headerName != null) {
      headers.set(error.headerName, error.headerValue);
    }
    if (error.close) {
      headers.set(CONNECTION, CLOSE);
    }
    json(ctx, error.status, Json.error(error.code, String.valueOf(error.getMessage()), requestId));
  }

  /**
   * Whether the request's content type may carry a JSON body: none, {@code application/json},
   * {@code application/*+json}, or {@code application/x-www-form-urlencoded} (what {@code curl -d}
   * sends; the body is still parsed as JSON).
   */
  static boolean jsonContentType(HttpServerRequest request) {
    String type = request.getHeader(HttpHeaders.CONTENT_TYPE);
    if (type == null) {
      return true;
    }
    String t = mediaType(type);
    return t.equals("application/json") || (t.startsWith("application/") && t.endsWith("+json"))
        || t.equals("application/x-www-form-urlencoded") || t.isEmpty();
  }

  /** The media type of a Content-Type value, lower case, without parameters. */
  static String mediaType(String contentType) {
    int semi = contentType.indexOf(';');
    return (semi >= 0 ? contentType.substring(0, semi) : contentType).trim().toLowerCase(Locale.ROOT);
  }

  /** 415 for a body in a type the route does not read. */
  static ApiError unsupportedType(String contentType, String expected) {
    String shown = contentType.length() > 100 ? contentType.substring(0, 100) + "..." : contentType;
    return new ApiError(415, "unsupported_media_type", "Content-Type: " + shown + " (expected: " + expected + ")");
  }

  /**
   * A handler that reads the request body into the {@link Exchange} and calls the next handler; a
   * body over {@code limit} bytes is answered with 413. A body far over the limit (or announced as
   * such by Content-Length) is not read at all: the 413 goes out at once and the connection closes.
   */
  static Handler<RoutingContext> body(int limit) {
    long hardCap = Math.max(4L * limit, 1L << 20);
    return ctx -> {
      HttpServerRequest request = ctx.request();
      Exchange ex = Exchange.of(ctx);
      long declared = -1;
      String cl = request.getHeader(HttpHeaders.CONTENT_LENGTH);
      if (cl != null) {
        try {
          declared = Long.parseLong(cl.trim());
        } catch (NumberFormatException e) {
          throw new ApiError(400, "bad_request", "Content-Length: not a number", null, null, true);
        }
      }
      if (declared > hardCap) {
        throw ApiError.tooLarge(limit, true);
      }
      String expect = request.getHeader(HttpHeaders.EXPECT);
      if (expect != null && request.version() != HttpVersion.HTTP_1_0) {
        if (!expect.equalsIgnoreCase("100-continue")) {
          throw new ApiError(417, "expectation_failed", "Expect: only 100-continue is supported", null, null, true);
        }
        if (declared > limit) {
          throw ApiError.tooLarge(limit, true);
        }
        ctx.response().writeContinue();
      }
      if (request.isEnded()) {
        ex.body = new byte[0];
        ex.bodyLength = 0;
        ctx.next();
        return;
      }
      BodyCollector collector = new BodyCollector(ctx, ex, limit, hardCap,
          declared >= 0 && declared <= limit ? (int) declared : 256);
      request.handler(collector).endHandler(collector::end).exceptionHandler(collector::fail);
    };
  }

  private static final class BodyCollector implements Handler<Buffer> {
    private final RoutingContext ctx;
    private final Exchange ex;
    private final int limit;
    private final long hardCap;
    private byte[] bytes;
    private long total;
    private boolean done;

    BodyCollector(RoutingContext ctx, Exchange ex, int limit, long hardCap, int initial) {
      this.ctx = ctx;
      this.ex = ex;
      this.limit = limit;
      this.hardCap = hardCap;
      this.bytes = new byte[Math.max(16, initial)];
    }

    @Override
    public void handle(Buffer chunk) {
      if (done) {
        return;
      }
      int n = chunk.length();
      long end = total + n;
      if (end <= limit) {
        if (end > bytes.length) {
          byte[] grown = new byte[(int) Math.min(limit, Math.max(end, 2L * bytes.length))];
          System.arraycopy(bytes, 0, grown, 0, (int) total);
          bytes = grown;
        }
        chunk.getBytes(0, n, bytes, (int) total);
      } else if (end > hardCap) {
        done = true;
        Http.error(ctx, ApiError.tooLarge(limit, true));
      } else {
        bytes = null;
      }
      total = end;
    }

    void end(Void v) {
      if (done) {
        return;
      }
      done = true;
      if (total > limit) {
        Http.error(ctx, ApiError.tooLarge(limit, false));
        return;
      }
      ex.body = bytes;
      ex.bodyLength = (int) total;
      ctx.next();
    }

    void fail(Throwable t) {
      if (!done) {
        done = true;
        Http.error(ctx, new ApiError(400, "bad_request", "request body: " + t.getClass().getSimpleName()
            + " while reading (expected: a well-formed HTTP body)", null, null, true));
      }
    }
  }
}
