package io.viva.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.ext.web.RoutingContext;
import io.viva.core.Decision;
import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.RateLimiter;
import io.viva.server.admin.AuditSink;
import io.viva.server.admin.HeavyHitters;
import io.viva.server.admin.TrafficRecorder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The read side of the admin API and the audited reset, behind the same {@link AdminApi#authorize}
 * check as {@code /admin/policies}:
 *
 * <pre>
 * GET  /admin/stats                  totals, rates, latency percentiles, store health, top offenders
 * GET  /admin/top_offenders          most denied identifiers: ?window=minute|hour|day&amp;limit=N
 * GET  /admin/user/{user_id}         state per policy without consuming: ?namespace=
 * GET  /admin/resources              namespaces with their policies and traffic
 * POST /admin/reset                  {"identifier": .., "namespace": ..}: forget one identifier's state
 * </pre>
 *
 * Shapes in openapi.json; the offenders' error bound in docs/admin.md.
 */
final class InsightApi {

  static final int MAX_LIMIT = 100;
  static final int DEFAULT_LIMIT = 10;
  static final int MAX_NAMESPACES_SHOWN = 200;
  static final int RESET_BODY_LIMIT = 16 * 1024;
  static final int SERIES_SECONDS = 120;

  /** What the admin views read, built once per server and shared by every event loop. */
  record Sources(TrafficRecorder traffic, StatsSampler sampler, LimitStore store, RedisBackend redis,
      AuditSink audit, SharedTraffic shared, String mode, boolean platform) {}

  /** Windows as seen by every instance ({@code cluster}, via Redis) or by this one ({@code instance}). */
  private record Views(Map<TrafficRecorder.Window, TrafficRecorder.View> byWindow, String scope, int instances,
      String problem) {

    TrafficRecorder.View get(TrafficRecorder.Window w) {
      return byWindow.get(w);
    }

    void describe(ObjectNode out) {
      out.put("scope", scope);
      out.put("instances", instances);
      if (problem != null) {
        out.put("scope_problem", problem);
      }
    }
  }

  private final PolicyRegistry registry;
  private final Sources sources;

  InsightApi(PolicyRegistry registry, Sources sources) {
    this.registry = registry;
    this.sources = sources;
  }

  // ---- GET /admin/stats ----------------------------------------------------------------------

  void stats(RoutingContext ctx) {
    withViews(ctx, List.of(TrafficRecorder.Window.values()), views -> stats(ctx, views));
  }

  private void stats(RoutingContext ctx, Views views) {
    ObjectNode root = ConfigTree.json().createObjectNode();
    root.put("at", Instant.now().toString());
    // The dashboard shows its key management section only where the platform API is served.
    root.put("mode", sources.mode());
    root.put("platform", sources.platform());
    TrafficRecorder.Traffic totals = sources.traffic().totals();
    ObjectNode t = root.putObject("totals");
    t.put("allowed", totals.allowed());
    t.put("denied", totals.denied());
    views.describe(root);
    ObjectNode windows = root.putObject("windows");
    for (TrafficRecorder.Window w : TrafficRecorder.Window.values()) {
      TrafficRecorder.View v = views.get(w);
      ObjectNode wn = windows.putObject(w.label());
      window(wn, v);
      TrafficRecorder.Traffic sum = v.total();
      wn.put("allowed", sum.allowed());
      wn.put("denied", sum.denied());
      if (w == TrafficRecorder.Window.MINUTE) {
        ObjectNode top = root.putObject("top_offenders");
        offenders(top, v, DEFAULT_LIMIT, null);
        views.describe(top);
      }
    }
    StatsSampler.Point now = sources.sampler().now(10);
    root.put("checks_per_second", now == null ? 0 : round(now.allowedPerSecond() + now.deniedPerSecond()));
    root.put("allowed_per_second", now == null ? 0 : round(now.allowedPerSecond()));
    root.put("denied_per_second", now == null ? 0 : round(now.deniedPerSecond()));
    ObjectNode latency = root.putObject("latency_ms");
    latency.put("window_seconds", 10);
    putMs(latency, "p50", now == null ? null : now.p50Ms());
    putMs(latency, "p90", now == null ? null : now.p90Ms());
    putMs(latency, "p99", now == null ? null : now.p99Ms());
    ArrayNode series = root.putArray("series");
    for (StatsSampler.Point p : sources.sampler().series(SERIES_SECONDS, 2)) {
      ObjectNode pn = series.addObject();
      pn.put("t", p.atMillis());
      pn.put("allowed", round(p.allowedPerSecond()));
      pn.put("denied", round(p.deniedPerSecond()));
      putMs(pn, "p50", p.p50Ms());
      putMs(pn, "p99", p.p99Ms());
    }
    long keys = sources.store().keyCount();
    if (keys >= 0) {
      root.put("active_keys", keys);
    } else {
      root.putNull("active_keys");
    }
    store(root.putObject("store"));
    root.put("policies_version", registry.snapshot().version());
    root.put("namespaces", registry.snapshot().namespaces().size());
    Http.json(ctx, 200, write(root));
  }

  private void store(ObjectNode s) {
    RedisBackend r = sources.redis();
    if (r == null) {
      s.put("type", "memory");
      s.put("healthy", true);
      s.put("degraded", false);
      return;
    }
    s.put("type", "redis");
    s.put("where", r.where());
    s.put("connected", r.connected());
    s.put("degraded", r.isDegraded());
    s.put("healthy", r.connected() && !r.isDegraded());
    s.put("failure_mode", r.failureMode());
    s.put("failures", r.failureCount());
    s.put("fallbacks", r.fallbackCount());
  }

  // ---- GET /admin/top_offenders --------------------------------------------------------------

  void topOffenders(RoutingContext ctx) {
    String windowName = single(ctx, "window");
    TrafficRecorder.Window window = windowName == null ? TrafficRecorder.Window.MINUTE
        : TrafficRecorder.Window.parse(windowName);
    if (window == null) {
      throw ApiError.invalid("window: " + quote(windowName) + " (expected: minute, hour or day)");
    }
    int limit = limitParam(ctx);
    String namespace = single(ctx, "namespace");
    if (namespace != null && registry.snapshot().get(namespace) == null) {
      throw unknownNamespace(namespace);
    }
    withViews(ctx, List.of(window), views -> {
      ObjectNode root = ConfigTree.json().createObjectNode();
      offenders(root, views.get(window), limit, namespace);
      views.describe(root);
      Http.json(ctx, 200, write(root));
    });
  }

  private void offenders(ObjectNode out, TrafficRecorder.View v, int limit, String namespace) {
    window(out, v);
    HeavyHitters h = v.offenders();
    out.put("denied_total", h.total());
    out.put("sketch_capacity", h.capacity());
    out.put("exact", !h.evicted());
    // Every reported count overestimates by at most max_error <= denied_total / capacity.
    out.put("max_error", h.maxError());
    if (namespace != null) {
      out.put("namespace", namespace);
    }
    ArrayNode list = out.putArray("offenders");
    for (HeavyHitters.Entry e : h.top(namespace == null ? limit : h.capacity())) {
      int sep = e.key().indexOf(TrafficRecorder.SEPARATOR);
      String ns = sep < 0 ? "" : e.key().substring(0, sep);
      if (namespace != null && !namespace.equals(ns)) {
        continue;
      }
      if (list.size() >= limit) {
        break;
      }
      ObjectNode o = list.addObject();
      o.put("namespace", ns);
      o.put("identifier", e.key().substring(sep + 1));
      o.put("denied", e.count());
      o.put("error", e.error());
      o.put("denied_at_least", e.count() - e.error());
    }
  }

  private static void window(ObjectNode out, TrafficRecorder.View v) {
    out.put("window", v.window().label());
    out.put("from", Instant.ofEpochSecond(0, v.fromMicros() * 1000).toString());
    out.put("to", Instant.ofEpochSecond(0, v.toMicros() * 1000).toString());
  }

  private static int limitParam(RoutingContext ctx) {
    String s = single(ctx, "limit");
    if (s == null) {
      return DEFAULT_LIMIT;
    }
    int n;
    try {
      n = Integer.parseInt(s);
    } catch (NumberFormatException e) {
      throw ApiError.invalid("limit: " + quote(s) + " (expected: an integer from 1 to " + MAX_LIMIT + ")");
    }
    if (n < 1 || n > MAX_LIMIT) {
      throw ApiError.invalid("limit: " + n + " (expected: 1 to " + MAX_LIMIT + ")");
    }
    return n;
  }

  // ---- GET /admin/user/{user_id} -------------------------------------------------------------

  void user(RoutingContext ctx) {
    String id = ctx.pathParam("user_id");
    checkIdentifier(id, "user_id");
    String namespace = single(ctx, "namespace");
    PolicyRegistry.Snapshot snapshot = registry.snapshot();
    List<PolicyRegistry.Namespace> targets = new ArrayList<>();
    if (namespace != null) {
      PolicyRegistry.Namespace ns = snapshot.get(namespace);
      if (ns == null) {
        throw unknownNamespace(namespace);
      }
      targets.add(ns);
    } else {
      snapshot.namespaces().values().stream().sorted((a, b) -> a.name().compareTo(b.name()))
          .limit(MAX_NAMESPACES_SHOWN).forEach(targets::add);
    }
    List<CompletableFuture<Decision>> looks = new ArrayList<>();
    for (PolicyRegistry.Namespace ns : targets) {
      // A cost-0 check: evaluates every limit and charges nothing (not counted as traffic either).
      looks.add(ns.target(id).limiter().tryAcquireAsync(id, 0, null).toCompletableFuture());
    }
    var context = ctx.vertx().getOrCreateContext();
    CompletableFuture.allOf(looks.toArray(CompletableFuture[]::new)).whenComplete((ok, error) ->
        context.runOnContext(v -> {
          if (error != null) {
            ctx.fail(new ApiError(503, "store_unavailable", "the store could not be read: "
                + error.getClass().getSimpleName()));
            return;
          }
          ObjectNode root = ConfigTree.json().createObjectNode();
          root.put("identifier", id);
          RedisBackend r = sources.redis();
          root.put("store_degraded", r != null && r.isDegraded());
          ArrayNode list = root.putArray("namespaces");
          for (int i = 0; i < targets.size(); i++) {
            state(list.addObject(), targets.get(i), id, looks.get(i).join());
          }
          Http.json(ctx, 200, write(root));
        }));
  }

  private static void state(ObjectNode out, PolicyRegistry.Namespace ns, String id, Decision d) {
    RateLimiter limiter = ns.target(id).limiter();
    out.put("namespace", ns.name());
    out.put("policy", limiter.policy().name());
    out.put("override", ns.target(id) != ns.main());
    out.put("shadow", ns.shadow());
    out.put("would_allow", d.allowed());
    out.put("remaining", d.remaining());
    out.put("reset_at", Instant.ofEpochSecond(0, Math.max(0, d.resetAtMicros()) * 1000).toString());
    out.put("reset_after_seconds", d.resetAfterMicros() / 1e6);
    ArrayNode limits = out.putArray("limits");
    for (Decision part : d.perLimit()) {
      Limit l = part.source();
      ObjectNode ln = limits.addObject();
      ln.put("name", l.name());
      ln.put("algorithm", l.algorithm().configName());
      ln.put("limit", l.limit());
      ln.put("window", DurationParser.format(l.window()));
      ln.put("remaining", part.remaining());
      ln.put("available", round(part.available()));
      ln.put("used", Math.max(0, l.limit() - part.remaining()));
      ln.put("reset_at", Instant.ofEpochSecond(0, Math.max(0, part.resetAtMicros()) * 1000).toString());
      ln.put("reset_after_seconds", part.resetAfterMicros() / 1e6);
    }
  }

  // ---- GET /admin/resources ------------------------------------------------------------------

  void resources(RoutingContext ctx) {
    withViews(ctx, List.of(TrafficRecorder.Window.values()), all -> resources(ctx, all));
  }

  private void resources(RoutingContext ctx, Views all) {
    PolicyRegistry.Snapshot snapshot = registry.snapshot();
    Map<TrafficRecorder.Window, TrafficRecorder.View> views = all.byWindow();
    ObjectNode root = ConfigTree.json().createObjectNode();
    all.describe(root);
    root.put("version", snapshot.version());
    root.put("source", snapshot.source());
    root.put("loaded_at", snapshot.loadedAt().toString());
    ArrayNode list = root.putArray("namespaces");
    ObjectNode rendered = PolicyFile.render(snapshot.specs());
    for (JsonNode p : rendered.path("policies")) {
      String name = p.path("namespace").asText();
      PolicyRegistry.Namespace ns = snapshot.get(name);
      ObjectNode n = list.addObject();
      n.put("namespace", name);
      n.put("shadow", p.path("shadow").asBoolean());
      n.set("limits", p.path("limits"));
      n.put("overrides", p.path("overrides").size());
      ObjectNode traffic = n.putObject("traffic");
      if (ns != null) {
        ObjectNode since = traffic.putObject("since_start");
        since.put("allowed", (long) ns.meters().allowed.count());
        since.put("denied", (long) ns.meters().denied.count());
        since.put("shadow_denied", (long) ns.meters().shadowDenied.count());
      }
      for (var e : views.entrySet()) {
        TrafficRecorder.Traffic tr = e.getValue().byNamespace().getOrDefault(name, new TrafficRecorder.Traffic(0, 0));
        ObjectNode wn = traffic.putObject(e.getKey().label());
        wn.put("allowed", tr.allowed());
        wn.put("denied", tr.denied());
      }
    }
    Http.json(ctx, 200, write(root));
  }

  // ---- POST /admin/reset ---------------------------------------------------------------------

  void reset(RoutingContext ctx) {
    Exchange ex = Exchange.of(ctx);
    if (ex.bodyLength == 0) {
      throw ApiError.invalidJson("body: empty (expected: {\"identifier\": \"user_123\", \"namespace\": \"api\"})");
    }
    JsonNode body;
    try {
      body = ConfigTree.json().readTree(ex.body, 0, ex.bodyLength);
    } catch (java.io.IOException e) {
      throw ApiError.invalidJson("body: malformed JSON (expected: {\"identifier\": \"user_123\"})");
    }
    if (body == null || !body.isObject()) {
      throw ApiError.invalid("body: not a JSON object (expected: {\"identifier\": \"user_123\"})");
    }
    for (var it = body.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!f.equals("identifier") && !f.equals("namespace")) {
        throw ApiError.invalid((f.length() > 64 ? f.substring(0, 64) + "..." : f)
            + ": unknown field (expected: identifier, namespace)");
      }
    }
    JsonNode idNode = body.get("identifier");
    if (idNode == null || !idNode.isTextual()) {
      throw ApiError.invalid("identifier: " + (idNode == null ? "missing" : "not a string")
          + " (expected: the identifier whose state to forget)");
    }
    String id = idNode.asText();
    checkIdentifier(id, "identifier");
    JsonNode nsNode = body.get("namespace");
    if (nsNode != null && !nsNode.isTextual() && !nsNode.isNull()) {
      throw ApiError.invalid("namespace: not a string (expected: a namespace name, or omit it for all)");
    }
    String namespace = nsNode == null || nsNode.isNull() ? null : nsNode.asText();
    PolicyRegistry.Snapshot snapshot = registry.snapshot();
    List<PolicyRegistry.Namespace> targets = new ArrayList<>();
    if (namespace != null) {
      PolicyRegistry.Namespace ns = snapshot.get(namespace);
      if (ns == null) {
        throw unknownNamespace(namespace);
      }
      targets.add(ns);
    } else {
      targets.addAll(snapshot.namespaces().values());
    }
    String principal = AdminApi.principal(ctx);
    // The Redis store's reset is a blocking call: never on the event loop.
    ctx.vertx().executeBlocking(() -> {
      for (PolicyRegistry.Namespace ns : targets) {
        ns.target(id).limiter().reset(id);
      }
      return targets.size();
    }, false).onComplete(ar -> {
      List<String> names = targets.stream().map(PolicyRegistry.Namespace::name).sorted().toList();
      Map<String, Object> details = new LinkedHashMap<>();
      details.put("identifier", id);
      details.put("namespaces", names);
      details.put("result", ar.succeeded() ? "ok" : "failed");
      sources.audit().record(new AuditSink.Event(Instant.now(), principal, "limits.reset",
          (namespace == null ? "*" : namespace) + "/" + id, ex.requestId, AdminApi.sourceIp(ctx), details));
      if (ar.failed()) {
        ctx.fail(new ApiError(503, "store_unavailable", "reset: the store did not answer ("
            + ar.cause().getClass().getSimpleName() + "); nothing or part was reset, retry"));
        return;
      }
      ObjectNode root = ConfigTree.json().createObjectNode();
      root.put("reset", true);
      root.put("identifier", id);
      ArrayNode list = root.putArray("namespaces");
      names.forEach(list::add);
      Http.json(ctx, 200, write(root));
    });
  }

  // ---- shared --------------------------------------------------------------------------------

  /**
   * Computes the windows and hands them to {@code respond} on the request's context: from this
   * instance's memory at once, or, with Redis, merged over every instance on a worker thread
   * (blocking Redis reads), falling back to this instance's own view if Redis does not answer.
   */
  private void withViews(RoutingContext ctx, List<TrafficRecorder.Window> windows,
      java.util.function.Consumer<Views> respond) {
    SharedTraffic shared = sources.shared();
    if (shared == null) {
      respond.accept(localViews(windows, null));
      return;
    }
    ctx.vertx().executeBlocking(() -> {
      Map<TrafficRecorder.Window, TrafficRecorder.View> out = new LinkedHashMap<>();
      for (TrafficRecorder.Window w : windows) {
        out.put(w, sources.traffic().view(w, shared));
      }
      return new Views(out, "cluster", shared.instances(), null);
    }, false).onComplete(ar -> {
      try {
        if (ar.succeeded()) {
          respond.accept(ar.result());
        } else {
          shared.drop();
          respond.accept(localViews(windows, "redis: " + ar.cause().getClass().getSimpleName()
              + "; showing this instance only"));
        }
      } catch (RuntimeException e) {
        ctx.fail(e);
      }
    });
  }

  private Views localViews(List<TrafficRecorder.Window> windows, String problem) {
    Map<TrafficRecorder.Window, TrafficRecorder.View> out = new LinkedHashMap<>();
    for (TrafficRecorder.Window w : windows) {
      out.put(w, sources.traffic().view(w));
    }
    return new Views(out, "instance", 1, problem);
  }

  private static void checkIdentifier(String id, String what) {
    if (id == null || id.isEmpty()) {
      throw ApiError.invalid(what + ": empty (expected: a non-empty identifier)");
    }
    if (id.length() > RateLimiter.MAX_KEY_LENGTH) {
      throw ApiError.invalid(what + ": " + id.length() + " characters (expected: at most "
          + RateLimiter.MAX_KEY_LENGTH + ")");
    }
  }

  private ApiError unknownNamespace(String namespace) {
    return new ApiError(400, "unknown_namespace", "namespace: " + quote(namespace) + " (expected: one of "
        + registry.snapshot().names() + ")");
  }

  /** A query parameter given at most once. */
  private static String single(RoutingContext ctx, String name) {
    List<String> all = ctx.queryParam(name);
    if (all.size() > 1) {
      throw ApiError.invalid(name + ": given " + all.size() + " times (expected: once)");
    }
    return all.isEmpty() ? null : all.get(0);
  }

  private static void putMs(ObjectNode n, String field, Double ms) {
    if (ms == null) {
      n.putNull(field);
    } else {
      n.put(field, Math.round(ms * 1000) / 1000.0);
    }
  }

  private static double round(double d) {
    return Math.round(d * 100) / 100.0;
  }

  private static String quote(String s) {
    return "\"" + (s.length() > 128 ? s.substring(0, 128) + "..." : s) + "\"";
  }

  private static String write(ObjectNode root) {
    try {
      return ConfigTree.json().writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
