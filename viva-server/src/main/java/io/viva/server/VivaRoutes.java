package io.viva.server;

import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.HttpException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every route of the service, declared in one place and shared by {@link VivaServer} and the
 * tests. Each route is a template (its metrics label); every request first gets a request id, and
 * every error, including unknown routes (404), wrong methods (405) and unexpected exceptions
 * (500), is answered as {@code {"error", "message", "request_id"}} JSON.
 *
 * <pre>
 * POST /v1/check          one decision                   GET  /health/live, /livez
 * POST /v1/check/batch    many decisions in one request  GET  /health/ready, /readyz
 * POST /allow             query-string decision          GET  /metrics (unless METRICS_PORT)
 * GET|POST /v1/ping       trivial, for benchmarks        GET  /openapi.json
 * GET  /admin/policies    read policies (bearer token)   PUT  /admin/policies  replace them
 * GET  /admin/stats, /admin/top_offenders, /admin/user/{id}, /admin/resources; POST /admin/reset
 * GET  /dashboard/        the admin dashboard (static; data from the admin API)
 * </pre>
 */
final class VivaRoutes {

  static final int CHECK_BODY_LIMIT = 64 * 1024;
  static final int BATCH_BODY_LIMIT = 1024 * 1024;
  static final int ADMIN_BODY_LIMIT = 1024 * 1024;

  private static final Logger LOG = LoggerFactory.getLogger(VivaRoutes.class);
  private static final Buffer PING = Buffer.buffer("{\"ok\":true}");
  private static final Buffer UP = Buffer.buffer("{\"status\":\"UP\"}");
  private static final Buffer DOWN = Buffer.buffer("{\"status\":\"DOWN\",\"reason\":\"shutting down\"}");
  private static final int[] ERROR_STATUSES = {400, 401, 403, 404, 405, 406, 413, 414, 415, 417, 431, 500, 501, 503};

  private VivaRoutes() {}

  /** What the routes need from the running server. */
  record Services(ServerConfig config, PolicyRegistry registry, Metrics metrics, AtomicBoolean ready,
      RedisBackend redis, InsightApi.Sources insights, EnvoyRls envoy, FullMode full) {}

  /** Declares every route of the API port on {@code router}. */
  static void routes(Router router, Services s) {
    CheckApi check = new CheckApi(s.registry(), s.config().maxBatchSize());
    // Full mode: admin tokens with roles, audited in its database (docs/admin.md#full-mode).
    AdminApi admin = new AdminApi(s.registry(), s.metrics(), s.full() != null ? new PlatformAdminAuth(s.full())
        : io.viva.server.admin.AdminAuth.bearerToken(s.config().adminToken()), s.insights().audit());
    Table t = new Table(router, s);

    t.add(HttpMethod.POST, "/v1/check", check::requireJson, Http.body(CHECK_BODY_LIMIT), check::check);
    t.add(HttpMethod.POST, "/v1/check/batch", check::requireJson, Http.body(BATCH_BODY_LIMIT), check::batch);
    t.add(HttpMethod.POST, "/allow", check::allow);
    // envoyproxy/ratelimit's HTTP endpoint: an RLS v3 request in JSON (docs/envoy.md); like upstream,
    // any content type is read as JSON, so `curl -d` works.
    t.add(HttpMethod.POST, "/json", Http.body(CHECK_BODY_LIMIT), s.envoy()::json);
    t.add(HttpMethod.GET, "/v1/ping", ctx -> Http.json(ctx, 200, PING));
    // The same request bytes as /v1/check, read the same way, without the decision: the fair
    // baseline for "how much does a check cost over the HTTP stack".
    t.add(HttpMethod.POST, "/v1/ping", check::requireJson, Http.body(CHECK_BODY_LIMIT), ctx -> Http.json(ctx, 200, PING));

    Handler<RoutingContext> live = ctx -> Http.json(ctx, 200, UP);
    RedisBackend redis = s.redis();
    // Degraded Redis is still ready: the failure mode answers every decision (docs/operations.md).
    FullMode full = s.full();
    // Full mode stays ready while its database is down: keys verify from the cache (docs/full-mode.md).
    Handler<RoutingContext> ready = full != null
        ? ctx -> Http.json(ctx, s.ready().get() ? 200 : 503, Buffer.buffer((s.ready().get()
            ? "{\"status\":\"UP\"" : "{\"status\":\"DOWN\",\"reason\":\"shutting down\"")
            + ",\"mode\":\"" + s.config().mode() + "\",\"database\":\"" + (full.databaseUp() ? "up" : "down")
            + "\",\"degraded\":"
            + (!full.databaseUp() || (redis != null && redis.isDegraded())) + "}"))
        : redis == null
        ? ctx -> Http.json(ctx, s.ready().get() ? 200 : 503, s.ready().get() ? UP : DOWN)
        : ctx -> Http.json(ctx, s.ready().get() ? 200 : 503, Buffer.buffer((s.ready().get()
            ? "{\"status\":\"UP\"" : "{\"status\":\"DOWN\",\"reason\":\"shutting down\"")
            + ",\"store\":\"redis\",\"degraded\":" + redis.isDegraded() + "}"));
    t.add(HttpMethod.GET, "/health/live", live);
    t.add(HttpMethod.GET, "/livez", live);
    t.add(HttpMethod.GET, "/health/ready", ready);
    t.add(HttpMethod.GET, "/readyz", ready);
    // In gateway mode these routes are the management port's, metrics included.
    if (s.config().metricsPort() < 0 || "gateway".equals(s.config().mode())) {
      t.add(HttpMethod.GET, "/metrics", metrics(s.metrics()));
    }
    t.add(HttpMethod.GET, "/openapi.json", ctx -> Http.json(ctx, 200, OpenApi.DOCUMENT));

    t.add(HttpMethod.GET, "/admin/policies", admin::authorize, admin::getPolicies);
    t.add(HttpMethod.PUT, "/admin/policies", admin::authorize, admin::requirePolicyType,
        Http.body(ADMIN_BODY_LIMIT), admin::putPolicies);
    adminViews(t, s, admin);
    if (full != null) {
      new PlatformApi(full).routes(t);
    }
    t.finish();
  }

  /** The admin views (stats, offenders, per-identifier state, resources, reset) and the dashboard. */
  private static void adminViews(Table t, Services s, AdminApi admin) {
    InsightApi insight = new InsightApi(s.registry(), s.insights());
    t.add(HttpMethod.GET, "/admin/stats", admin::authorize, insight::stats);
    t.add(HttpMethod.GET, "/admin/top_offenders", admin::authorize, insight::topOffenders);
    t.add(HttpMethod.GET, "/admin/user/:user_id", admin::authorize, insight::user);
    t.add(HttpMethod.GET, "/admin/resources", admin::authorize, insight::resources);
    t.add(HttpMethod.POST, "/admin/reset", admin::authorize, Http.body(InsightApi.RESET_BODY_LIMIT), insight::reset);
    DashboardAssets dashboard = new DashboardAssets();
    t.add(HttpMethod.GET, "/dashboard", dashboard::index);
    t.add(HttpMethod.GET, "/dashboard/:asset", dashboard::asset);
  }

  /** The OpenAPI document (120 KB), read from the jar on the first {@code GET /openapi.json}. */
  private static final class OpenApi {
    static final Buffer DOCUMENT = read();

    private static Buffer read() {
      try (java.io.InputStream in = VivaRoutes.class.getResourceAsStream("/openapi.json")) {
        java.util.Objects.requireNonNull(in, "openapi.json resource");
        return Buffer.buffer(in.readAllBytes());
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
  }

  /** Declares the routes of the separate metrics port: {@code GET /metrics} only. */
  static void metricsRoutes(Router router, Services s) {
    Table t = new Table(router, s);
    t.add(HttpMethod.GET, "/metrics", metrics(s.metrics()));
    t.finish();
  }

  private static Handler<RoutingContext> metrics(Metrics metrics) {
    return ctx -> {
      HttpServerResponse response = ctx.response();
      response.putHeader(Http.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
      response.end(metrics.scrape());
    };
  }

  /** The route templates and methods declared so far; used by the 405 routes and by tests. */
  static final class Table {
    private final Router router;
    private final Services services;
    private final Map<String, List<HttpMethod>> methods = new LinkedHashMap<>();

    Table(Router router, Services services) {
      this.router = router;
      this.services = services;
      Metrics.RouteMeters unmatched = services.metrics().route(Exchange.UNMATCHED);
      boolean accessLog = services.config().accessLog();
      router.route().handler(ctx -> begin(ctx, unmatched, accessLog));
    }

    @SafeVarargs
    final void add(HttpMethod method, String template, Handler<RoutingContext>... chain) {
      Metrics.RouteMeters meters = services.metrics().route(template);
      Handler<RoutingContext> first = chain[0];
      var route = router.route(method, template).handler(ctx -> {
        Exchange ex = Exchange.of(ctx);
        ex.route = template;
        ex.routeMeters = meters;
        first.handle(ctx);
      });
      for (int i = 1; i < chain.length; i++) {
        route.handler(chain[i]);
      }
      methods.computeIfAbsent(template, k -> new ArrayList<>()).add(method);
    }

    void finish() {
      for (Map.Entry<String, List<HttpMethod>> e : methods.entrySet()) {
        String template = e.getKey();
        String allow = String.join(", ", e.getValue().stream().map(HttpMethod::name).toList());
        Metrics.RouteMeters meters = services.metrics().route(template);
        router.route(template).handler(ctx -> {
          Exchange ex = Exchange.of(ctx);
          ex.route = template;
          ex.routeMeters = meters;
          String method = ctx.request().method().name();
          throw new ApiError(405, "method_not_allowed", "method: " + (method.length() > 32 ? method.substring(0, 32)
              : method) + " (expected: " + allow + " for " + template + ")", "Allow", allow, false);
        });
      }
      router.route().failureHandler(VivaRoutes::failure);
      for (int status : ERROR_STATUSES) {
        router.errorHandler(status, ctx -> Http.error(ctx, errorFor(ctx, status)));
      }
    }
  }

  /** The first handler of every request: request id, timing, and the end-of-request bookkeeping. */
  private static void begin(RoutingContext ctx, Metrics.RouteMeters unmatched, boolean accessLog) {
    long start = System.nanoTime();
    HttpServerRequest request = ctx.request();
    Exchange ex = new Exchange(Exchange.requestId(request.getHeader(Http.X_REQUEST_ID)), start, unmatched);
    ctx.put(Exchange.KEY, ex);
    ctx.response().headers().set(Http.X_REQUEST_ID, ex.requestId);
    ctx.addEndHandler(ar -> finish(ctx, ex, ar.succeeded(), accessLog));
    ctx.next();
  }

  private static void finish(RoutingContext ctx, Exchange ex, boolean completed, boolean accessLog) {
    HttpServerRequest request = ctx.request();
    HttpServerResponse response = ctx.response();
    // 499: the client went away before the response was complete (nginx's convention).
    int status = completed || response.ended() ? response.getStatusCode() : 499;
    ex.routeMeters.increment(request.method(), status);
    if (accessLog && AccessLog.enabled()) {
      AccessLog.write(ex.requestId, request.method().name(), request.path(), ex.route, status,
          (System.nanoTime() - ex.startNanos) / 1_000);
    }
  }

  /** Renders any failure as JSON; only a genuine bug yields a 500 (and an error log line). */
  private static void failure(RoutingContext ctx) {
    Throwable t = ctx.failure();
    ApiError error;
    if (t instanceof ApiError a) {
      error = a;
    } else if (t == null || t instanceof HttpException) {
      int status = t == null ? ctx.statusCode() : ((HttpException) t).getStatusCode();
      error = errorFor(ctx, status);
    } else {
      Exchange ex = Exchange.of(ctx);
      LOG.error("unexpected error on {} {} (request_id {})", ctx.request().method(), ctx.request().path(),
          ex != null ? ex.requestId : "-", t);
      error = errorFor(ctx, 500);
    }
    Http.error(ctx, error);
  }

  private static ApiError errorFor(RoutingContext ctx, int status) {
    Throwable t = ctx.failure();
    if (t instanceof ApiError a) {
      return a;
    }
    String path = ctx.request().path();
    String shown = path == null ? "" : path.length() > 128 ? path.substring(0, 128) + "..." : path;
    return switch (status) {
      case 404 -> new ApiError(404, "not_found", "path: " + shown
          + " (expected: a route of the API; see GET /openapi.json)");
      case 405 -> new ApiError(405, "method_not_allowed", "method: " + ctx.request().method().name()
          + " (expected: another method for " + shown + ")");
      case 413 -> new ApiError(413, "payload_too_large", "body: too large", null, null, true);
      case 414 -> new ApiError(414, "uri_too_long", "request line: too long");
      case 415 -> new ApiError(415, "unsupported_media_type", "Content-Type: not supported");
      case 431 -> new ApiError(431, "headers_too_large", "headers: too large");
      case 500 -> new ApiError(500, "internal_error", "unexpected error; the server log has the details"
          + " under this request_id");
      case 501 -> new ApiError(501, "not_implemented", "method: not implemented");
      case 503 -> new ApiError(503, "unavailable", "the service is unavailable");
      default -> status >= 400 && status < 500
          ? new ApiError(status, "bad_request", "request: rejected with HTTP " + status)
          : new ApiError(500, "internal_error", "unexpected error; the server log has the details under this"
              + " request_id");
    };
  }

  /**
   * Answers requests that HTTP decoding already rejected (bad request line, headers too long) with
   * the same JSON errors, closing the connection.
   */
  static void invalidRequest(HttpServerRequest request) {
    Throwable cause = request.decoderResult().cause();
    int status = 400;
    String code = "bad_request";
    String message = "request: not well-formed HTTP";
    if (cause instanceof io.netty.handler.codec.http.TooLongHttpLineException) {
      status = 414;
      code = "uri_too_long";
      message = "request line: too long (expected: at most 8 KiB)";
    } else if (cause instanceof io.netty.handler.codec.http.TooLongHttpHeaderException) {
      status = 431;
      code = "headers_too_large";
      message = "headers: too large (expected: at most 16 KiB)";
    }
    String id = Exchange.requestId(null);
    HttpServerResponse response = request.response();
    response.setStatusCode(status)
        .putHeader(Http.CONTENT_TYPE, Http.APPLICATION_JSON)
        .putHeader(Http.X_REQUEST_ID, id)
        .putHeader(Http.CONNECTION, Http.CLOSE)
        .end(Json.error(code, message, id))
        .onComplete(ar -> request.connection().close());
  }
}
