package io.viva.server;

import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * The dashboard's static files, read from the jar on the first dashboard request ({@code
 * io/viva/server/dashboard/}) and then served from memory at {@code /dashboard/}: no CDN, works offline. The pages themselves are
 * public; every number on them comes from the admin API with the token the user types in.
 */
final class DashboardAssets {

  /** File name to content type; nothing else is served. */
  private static final Map<String, String> FILES = Map.of(
      "index.html", "text/html; charset=utf-8",
      "dashboard.js", "text/javascript; charset=utf-8",
      "platform.js", "text/javascript; charset=utf-8",
      "dashboard.css", "text/css; charset=utf-8",
      "uPlot.iife.min.js", "text/javascript; charset=utf-8",
      "uPlot.min.css", "text/css; charset=utf-8",
      "uPlot.LICENSE.txt", "text/plain; charset=utf-8");

  /** Only our own files: no inline scripts, no third-party origins. */
  private static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self';"
      + " img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

  /** The files' contents, loaded when first needed (90 KB that most servers never serve). */
  private static final class Contents {
    static final Map<String, Buffer> BY_NAME = load();
  }

  DashboardAssets() {}

  private static Map<String, Buffer> load() {
    java.util.HashMap<String, Buffer> m = new java.util.HashMap<>();
    for (String name : FILES.keySet()) {
      try (InputStream in = DashboardAssets.class.getResourceAsStream("dashboard/" + name)) {
        if (in == null) {
          throw new IllegalStateException("dashboard asset missing from the jar: " + name);
        }
        m.put(name, Buffer.buffer(in.readAllBytes()));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return Map.copyOf(m);
  }

  /**
   * {@code GET /dashboard/}: the page; {@code GET /dashboard} (the router matches both) redirects
   * to the directory, so the page's relative asset paths resolve.
   */
  void index(RoutingContext ctx) {
    if (!ctx.request().path().endsWith("/")) {
      ctx.response().setStatusCode(302).putHeader("Location", "/dashboard/").end();
      return;
    }
    serve(ctx, "index.html");
  }

  /** {@code GET /dashboard/:asset}. */
  void asset(RoutingContext ctx) {
    serve(ctx, ctx.pathParam("asset"));
  }

  private void serve(RoutingContext ctx, String name) {
    Buffer body = name == null ? null : Contents.BY_NAME.get(name);
    if (body == null) {
      throw new ApiError(404, "not_found", "dashboard file: " + (name == null ? "?" : name.length() > 64
          ? name.substring(0, 64) + "..." : name) + " (expected: one of " + String.join(", ", FILES.keySet()) + ")");
    }
    ctx.response()
        .putHeader(Http.CONTENT_TYPE, FILES.get(name))
        .putHeader("Content-Security-Policy", CSP)
        .putHeader("X-Content-Type-Options", "nosniff")
        .putHeader("Referrer-Policy", "no-referrer")
        .putHeader("Cache-Control", "no-cache")
        .end(body);
  }
}
