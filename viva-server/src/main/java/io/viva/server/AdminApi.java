package io.viva.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.RoutingContext;
import io.viva.server.admin.AdminAuth;
import io.viva.server.admin.AuditSink;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /admin/policies} and {@code PUT /admin/policies}: read and replace the policies at
 * run time, behind {@code Authorization: Bearer <ADMIN_TOKEN>}. Without a token configured every
 * admin route answers 403; a missing or wrong token is 401. The check itself is an {@link AdminAuth}
 * (the bearer token in standalone mode, roles in full mode).
 */
final class AdminApi {

  private static final Logger LOG = LoggerFactory.getLogger(AdminApi.class);
  private static final String YAML_OR_JSON = "application/json or application/yaml";
  private static final String PRINCIPAL = "viva.admin.principal";

  private final PolicyRegistry registry;
  private final Metrics metrics;
  private final AdminAuth auth;
  private final AuditSink audit;

  AdminApi(PolicyRegistry registry, Metrics metrics, String adminToken) {
    this(registry, metrics, AdminAuth.bearerToken(adminToken), AuditSink.log());
  }

  AdminApi(PolicyRegistry registry, Metrics metrics, AdminAuth auth, AuditSink audit) {
    this.registry = registry;
    this.metrics = metrics;
    this.auth = auth;
    this.audit = audit;
  }

  /** Lets the request through only with the right bearer token (any admin action). */
  void authorize(RoutingContext ctx) {
    authorize(ctx, ctx.request().method() == io.vertx.core.http.HttpMethod.GET
        ? AdminAuth.Action.READ : AdminAuth.Action.WRITE);
  }

  /**
   * Asks {@link AdminAuth} whether the request may do {@code action}; keeps the principal (and the
   * caller's address) for audit. An answer that is not ready at once (full mode looking a token up
   * in its database) is awaited with the request paused, so a body that follows is not lost.
   */
  void authorize(RoutingContext ctx, AdminAuth.Action action) {
    String header = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
    java.util.concurrent.CompletableFuture<AdminAuth.Result> answer;
    try {
      answer = auth.authorizeAsync(header, action).toCompletableFuture();
    } catch (RuntimeException e) {
      answer = java.util.concurrent.CompletableFuture.failedFuture(e);
    }
    if (answer.isDone() && !answer.isCompletedExceptionally()) {
      decide(ctx, answer.join());
      return;
    }
    ctx.request().pause();
    io.vertx.core.Context context = io.vertx.core.Vertx.currentContext();
    answer.whenComplete((result, error) -> context.runOnContext(v -> {
      try {
        if (error != null) {
          LOG.warn("admin authorization failed: {}", error.toString());
          ctx.fail(new ApiError(503, "unavailable", "admin authorization: the token store did not answer"
              + " (retry later)", "Retry-After", "5", false));
        } else {
          decide(ctx, result);
        }
      } catch (ApiError e) {
        ctx.fail(e);
      } finally {
        ctx.request().resume();
      }
    }));
  }

  private static void decide(RoutingContext ctx, AdminAuth.Result result) {
    switch (result) {
      case AdminAuth.Granted g -> {
        ctx.put(PRINCIPAL, g.principal());
        ctx.next();
      }
      case AdminAuth.Denied d -> throw new ApiError(d.status(), d.code(), d.message(),
          d.challenge() != null ? "WWW-Authenticate" : null, d.challenge(), false);
    }
  }

  /** The caller's address, for audit records (null if unknown). */
  static String sourceIp(RoutingContext ctx) {
    io.vertx.core.net.SocketAddress remote = ctx.request().remoteAddress();
    return remote == null ? null : remote.hostAddress();
  }

  /** The principal {@link #authorize} granted for this request. */
  static String principal(RoutingContext ctx) {
    String p = ctx.get(PRINCIPAL);
    return p != null ? p : "unknown";
  }

  void getPolicies(RoutingContext ctx) {
    Http.json(ctx, 200, render(registry.snapshot()));
  }

  /** Checks the content type before the body is read. */
  void requirePolicyType(RoutingContext ctx) {
    String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    if (type != null && format(type) == null) {
      throw Http.unsupportedType(type, YAML_OR_JSON);
    }
    ctx.next();
  }

  void putPolicies(RoutingContext ctx) {
    Exchange ex = Exchange.of(ctx);
    String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    byte[] body = Arrays.copyOf(ex.body == null ? new byte[0] : ex.body, ex.bodyLength);
    List<PolicyFile.PolicySpec> specs;
    try {
      JsonNode root = "json".equals(type == null ? "yaml" : format(type))
          ? ConfigTree.readJson(body) : ConfigTree.readYaml(body);
      specs = PolicyFile.parseDocument(root);
    } catch (ConfigException e) {
      metrics.configReload(false, "admin");
      LOG.warn("policy update via PUT /admin/policies rejected: {}; still serving version {}",
          e.getMessage(), registry.snapshot().version());
      audit(ctx, ex, "invalid", null);
      throw new ApiError(400, "invalid_policies", e.getMessage());
    }
    PolicyRegistry.Snapshot next = registry.replace(specs, "admin");
    audit(ctx, ex, "ok", next.version());
    metrics.configReload(true, "admin");
    LOG.info("policies replaced via PUT /admin/policies: {} namespaces (version {})",
        next.namespaces().size(), next.version());
    Http.json(ctx, 200, render(next));
  }

  private void audit(RoutingContext ctx, Exchange ex, String result, Long version) {
    java.util.Map<String, Object> details = new java.util.LinkedHashMap<>();
    details.put("result", result);
    if (version != null) {
      details.put("version", version);
    }
    audit.record(new AuditSink.Event(java.time.Instant.now(), principal(ctx), "policies.replace", "policies",
        ex.requestId, sourceIp(ctx), details));
  }

  /** {@code json}, {@code yaml}, or null for a type the admin API does not read. */
  private static String format(String contentType) {
    String t = Http.mediaType(contentType);
    if (t.equals("application/json") || (t.startsWith("application/") && t.endsWith("+json"))) {
      return "json";
    }
    if (t.isEmpty() || t.equals("application/yaml") || t.equals("application/x-yaml") || t.equals("text/yaml")
        || t.equals("text/x-yaml") || t.equals("text/plain") || t.equals("application/x-www-form-urlencoded")) {
      return "yaml";
    }
    return null;
  }

  static String render(PolicyRegistry.Snapshot snapshot) {
    ObjectNode root = ConfigTree.json().createObjectNode();
    root.put("version", snapshot.version());
    root.put("source", snapshot.source());
    root.put("loaded_at", snapshot.loadedAt().toString());
    root.setAll(PolicyFile.render(snapshot.specs()));
    try {
      return ConfigTree.json().writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

}
