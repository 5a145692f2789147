package io.viva.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.RoutingContext;
import io.viva.server.admin.AdminAuth;
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

  AdminApi(PolicyRegistry registry, Metrics metrics, String adminToken) {
    this(registry, metrics, AdminAuth.bearerToken(adminToken));
  }

  AdminApi(PolicyRegistry registry, Metrics metrics, AdminAuth auth) {
    this.registry = registry;
    this.metrics = metrics;
    this.auth = auth;
  }

  /** Lets the request through only with the right bearer token (any admin action). */
  void authorize(RoutingContext ctx) {
    authorize(ctx, ctx.request().method() == io.vertx.core.http.HttpMethod.GET
        ? AdminAuth.Action.READ : AdminAuth.Action.WRITE);
  }

  /** Asks {@link AdminAuth} whether the request may do {@code action}; keeps the principal for audit. */
  void authorize(RoutingContext ctx, AdminAuth.Action action) {
    String header = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
    switch (auth.authorize(header, action)) {
      case AdminAuth.Granted g -> {
        ctx.put(PRINCIPAL, g.principal());
        ctx.next();
      }
      case AdminAuth.Denied d -> throw new ApiError(d.status(), d.code(), d.message(),
          d.challenge() != null ? "WWW-Authenticate" : null, d.challenge(), false);
    }
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
      throw new ApiError(400, "invalid_policies", e.getMessage());
    }
    PolicyRegistry.Snapshot next = registry.replace(specs, "admin");
    metrics.configReload(true, "admin");
    LOG.info("policies replaced via PUT /admin/policies: {} namespaces (version {})",
        next.namespaces().size(), next.version());
    Http.json(ctx, 200, render(next));
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
    ObjectNode root = ConfigTree.JSON.createObjectNode();
    root.put("version", snapshot.version());
    root.put("source", snapshot.source());
    root.put("loaded_at", snapshot.loadedAt().toString());
    root.setAll(PolicyFile.render(snapshot.specs()));
    try {
      return ConfigTree.JSON.writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

}
