package io.viva.server;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.RoutingContext;
import io.viva.core.Decision;
import io.viva.platform.Actor;
import io.viva.platform.AdminToken;
import io.viva.platform.ApiKey;
import io.viva.platform.AuditEntry;
import io.viva.platform.KeyFormat;
import io.viva.platform.KeyState;
import io.viva.platform.PlatformStore;
import io.viva.platform.Role;
import io.viva.platform.StorageUnavailableException;
import io.viva.platform.UsageMeter;
import io.viva.platform.UsageOutcome;
import io.viva.platform.UsageStore;
import io.viva.platform.Verification;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.regex.Pattern;

/**
 * Full mode's HTTP API (MODE=full), mounted beside the standalone routes:
 *
 * <pre>
 * POST   /api/v1/rate-limit/check        X-API-Key; verify + rate limit (hot path, no database)
 * POST   /api/v1/keys                    create (operator)      GET /api/v1/keys        list (viewer)
 * GET    /api/v1/keys/{id}               get (viewer)           PATCH /api/v1/keys/{id} update (operator)
 * DELETE /api/v1/keys/{id}, POST /api/v1/keys/{id}/revoke       revoke (operator)
 * POST   /api/v1/keys/{id}/rotate        new secret, old one kept for a grace period (operator)
 * POST   /api/v1/keys/{id}/expire        expire now or at a time (operator)
 * GET    /api/v1/tiers[/{name}]          tiers (viewer)
 * GET|POST /api/v1/admin-tokens, DELETE /api/v1/admin-tokens/{id}  (admin)
 * GET    /api/v1/audit                   audit log (operator)
 * </pre>
 *
 * <p>Admin calls carry {@code Authorization: Bearer <token>}: none or unknown → 401, too weak a
 * role → 403. Each runs on full mode's blocking pool (the database is never called on an event
 * loop); a database failure answers 503 {@code database_unavailable}. Every key, token and tier
 * operation, refused or done, is audited; no secret is ever logged or audited.
 */
final class PlatformApi {

  static final int ADMIN_BODY_LIMIT = 64 * 1024;
  static final int CHECK_BODY_LIMIT = 4 * 1024;
  private static final int MAX_METADATA_BYTES = 4096;
  private static final Pattern ID = Pattern.compile("(key|tok)_[0-9A-Za-z]{1,36}");
  private static final CharSequence X_API_KEY = HttpHeaders.createOptimized("X-API-Key");
  private static final CharSequence X_FORWARDED_FOR = HttpHeaders.createOptimized("X-Forwarded-For");
  private static final Set<String> CREATE_FIELDS = Set.of("name", "tier", "rate_limit", "limits", "owner_id",
      "metadata", "expires_at", "expires_in", "monthly_quota", "environment");
  private static final Set<String> UPDATE_FIELDS = Set.of("name", "tier", "rate_limit", "limits", "metadata",
      "enabled", "expires_at", "monthly_quota");

  private final FullMode full;

  PlatformApi(FullMode full) {
    this.full = full;
  }

  /** Declares full mode's routes. */
  void routes(VivaRoutes.Table t) {
    t.add(HttpMethod.POST, "/api/v1/rate-limit/check", Http.body(CHECK_BODY_LIMIT), this::check);

    t.add(HttpMethod.POST, "/api/v1/keys", Http.body(ADMIN_BODY_LIMIT), admin(Role.OPERATOR, "key.create",
        this::createKey));
    t.add(HttpMethod.GET, "/api/v1/keys", admin(Role.VIEWER, null, this::listKeys));
    t.add(HttpMethod.GET, "/api/v1/keys/:id", admin(Role.VIEWER, null, this::getKey));
    t.add(HttpMethod.PATCH, "/api/v1/keys/:id", Http.body(ADMIN_BODY_LIMIT), admin(Role.OPERATOR, "key.update",
        this::updateKey));
    t.add(HttpMethod.DELETE, "/api/v1/keys/:id", admin(Role.OPERATOR, "key.revoke", this::revokeKey));
    t.add(HttpMethod.POST, "/api/v1/keys/:id/revoke", Http.body(ADMIN_BODY_LIMIT), admin(Role.OPERATOR,
        "key.revoke", this::revokeKey));
    t.add(HttpMethod.POST, "/api/v1/keys/:id/rotate", Http.body(ADMIN_BODY_LIMIT), admin(Role.OPERATOR,
        "key.rotate", this::rotateKey));
    t.add(HttpMethod.POST, "/api/v1/keys/:id/expire", Http.body(ADMIN_BODY_LIMIT), admin(Role.OPERATOR,
        "key.expire", this::expireKey));

    t.add(HttpMethod.GET, "/api/v1/tiers", admin(Role.VIEWER, null, this::listTiers));
    t.add(HttpMethod.GET, "/api/v1/tiers/:name", admin(Role.VIEWER, null, this::getTier));

    t.add(HttpMethod.GET, "/api/v1/admin-tokens", admin(Role.ADMIN, null, this::listTokens));
    t.add(HttpMethod.POST, "/api/v1/admin-tokens", Http.body(ADMIN_BODY_LIMIT), admin(Role.ADMIN, "token.create",
        this::createToken));
    t.add(HttpMethod.DELETE, "/api/v1/admin-tokens/:id", admin(Role.ADMIN, "token.revoke", this::revokeToken));

    t.add(HttpMethod.GET, "/api/v1/audit", admin(Role.OPERATOR, null, this::audit));

    t.add(HttpMethod.GET, "/api/v1/keys/:id/usage", admin(Role.VIEWER, null, this::keyUsage));
    t.add(HttpMethod.GET, "/api/v1/usage", admin(Role.VIEWER, null, this::ownerUsage));
    t.add(HttpMethod.POST, "/api/v1/usage/flush", Http.body(ADMIN_BODY_LIMIT), admin(Role.OPERATOR, null,
        this::flushUsage));
    t.add(HttpMethod.GET, "/api/v1/invoices", admin(Role.VIEWER, null, this::listInvoices));
    t.add(HttpMethod.GET, "/api/v1/invoices/:id", admin(Role.VIEWER, null, this::getInvoice));
    t.add(HttpMethod.POST, "/api/v1/webhooks", Http.body(ADMIN_BODY_LIMIT), admin(Role.OPERATOR, "webhook.create",
        this::createWebhook));
    t.add(HttpMethod.GET, "/api/v1/webhooks", admin(Role.OPERATOR, null, this::listWebhooks));
    t.add(HttpMethod.DELETE, "/api/v1/webhooks/:id", admin(Role.OPERATOR, "webhook.delete", this::deleteWebhook));
    t.add(HttpMethod.GET, "/api/v1/webhooks/:id/deliveries", admin(Role.OPERATOR, null, this::deliveries));
    t.add(HttpMethod.POST, "/api/v1/invoices/close", Http.body(ADMIN_BODY_LIMIT), admin(Role.OPERATOR,
        "invoice.close", this::closeInvoices));
  }

  // ---- POST /api/v1/rate-limit/check ------------------------------------------------------------

  /** Status per outcome: documented in docs/full-mode.md and openapi.json. */
  static int status(Verification.Code code) {
    return switch (code) {
      case VALID -> 200;
      case NOT_FOUND, EXPIRED -> 401;
      case DISABLED -> 403;
      case USAGE_EXCEEDED, RATE_LIMITED -> 429;
    };
  }

  void check(RoutingContext ctx) {
    Exchange ex = Exchange.of(ctx);
    long cost = 1;
    if (ex.bodyLength > 0) {
      cost = readCost(ex);
    }
    String secret = ctx.request().getHeader(X_API_KEY);
    String client = null;
    if (secret == null) {
      client = full.anonymousClient(ctx.request().remoteAddress(), ctx.request().getHeader(X_FORWARDED_FOR));
    }
    CompletableFuture<Verification> answer = full.verify(secret, client, cost);
    CheckApi.whenDone(ctx, answer, () -> respond(ctx, answer.join()));
  }

  private void respond(RoutingContext ctx, Verification v) {
    StringBuilder sb = new StringBuilder(256);
    sb.append("{\"code\":\"").append(v.code().name()).append("\",\"valid\":").append(v.valid());
    ApiKey key = v.key();
    if (key != null) {
      sb.append(",\"key_id\":");
      Json.string(sb, key.id());
      if (key.ownerId() != null) {
        sb.append(",\"owner_id\":");
        Json.string(sb, key.ownerId());
      }
    }
    if (v.tier() != null) {
      sb.append(",\"tier\":");
      Json.string(sb, v.tier());
    }
    Decision d = v.decision();
    if (d != null) {
      sb.append(",\"rate_limit\":");
      CheckApi.writeResult(sb, d, false);
      CheckApi.headers(ctx, full.policyHeader(v.policy()), d, d.allowed());
    }
    sb.append('}');
    if (v.code() == Verification.Code.USAGE_EXCEEDED) {
      ctx.response().headers().set("Retry-After", Long.toString(secondsToNextMonth()));
    }
    Http.json(ctx, status(v.code()), Buffer.buffer(sb.toString()));
  }

  /** Until the quota resets: the start of the next month, UTC (the Retry-After of USAGE_EXCEEDED). */
  static long secondsToNextMonth() {
    java.time.ZonedDateTime now = java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC);
    java.time.ZonedDateTime next = now.withDayOfMonth(1).toLocalDate().plusMonths(1).atStartOfDay(java.time.ZoneOffset.UTC);
    return Math.max(1, Duration.between(now, next).getSeconds());
  }

  private static long readCost(Exchange ex) {
    long cost = 1;
    try (JsonParser p = Json.FACTORY.createParser(ex.body, 0, ex.bodyLength)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw ApiError.invalid("body: not an object (expected: nothing, or {\"cost\": 1})");
      }
      JsonToken t;
      while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken v = p.nextToken();
        if (!"cost".equals(name)) {
          throw ApiError.invalid(clip(name) + ": unknown field (expected: only cost)");
        }
        if (v != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
            || p.getLongValue() < 0) {
          throw ApiError.invalid("cost: " + clip(p.getText()) + " (expected: an integer >= 0)");
        }
        cost = p.getLongValue();
      }
      if (t != JsonToken.END_OBJECT || p.nextToken() != null) {
        throw ApiError.invalidJson("body: malformed (expected: nothing, or {\"cost\": 1})");
      }
    } catch (JsonProcessingException e) {
      throw CheckApi.jsonError(e);
    } catch (IOException e) {
      throw ApiError.invalidJson("body: unreadable");
    }
    return cost;
  }

  // ---- admin plumbing ---------------------------------------------------------------------------

  /** A reply of an admin handler. */
  private record Reply(int status, JsonNode body) {}

  /** The request as an admin handler sees it. */
  private record Call(RoutingContext ctx, FullMode.Principal principal, Actor actor, JsonNode body) {
    String param(String name) {
      return ctx.pathParam(name);
    }

    String query(String name) {
      return ctx.queryParams().get(name);
    }
  }

  private interface Handler {
    Reply handle(Call call);
  }

  /**
   * Authenticates, authorizes (auditing a refusal of a mutating {@code action}), reads the JSON
   * body and runs {@code handler}, all on the blocking pool; answers on the request's event loop.
   */
  private io.vertx.core.Handler<RoutingContext> admin(Role required, String action, Handler handler) {
    return ctx -> {
      Exchange ex = Exchange.of(ctx);
      String authorization = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
      SocketAddress remote = ctx.request().remoteAddress();
      String ip = remote == null ? null : remote.hostAddress();
      byte[] body = ex.body == null ? null : java.util.Arrays.copyOf(ex.body, ex.bodyLength);
      Context context = Vertx.currentContext();
      Callable<Reply> work = () -> {
        FullMode.Principal p;
        try {
          p = full.authenticate(authorization);
        } catch (StorageUnavailableException e) {
          full.databaseFailed();
          throw unavailable();
        }
        if (p == null) {
          throw new ApiError(401, "unauthorized", "Authorization: missing or unknown token (expected: Bearer <admin"
              + " token>)", "WWW-Authenticate", "Bearer realm=\"viva\"", false);
        }
        Actor actor = new Actor(p.actor(), ip);
        if (!p.role().atLeast(required)) {
          if (action != null) {
            auditQuietly(actor, action, safeParam(ctx), "denied", "role " + p.role().label());
          }
          throw new ApiError(403, "forbidden", "role: " + p.role().label() + " (expected: " + required.label()
              + " or above for " + ctx.request().method().name() + " " + ex.route + ")");
        }
        JsonNode json = null;
        if (body != null && body.length > 0) {
          try {
            json = ConfigTree.readJson(body);
          } catch (ConfigException e) {
            throw ApiError.invalidJson("body: " + e.getMessage());
          }
          if (!json.isObject()) {
            throw ApiError.invalid("body: " + ConfigTree.describe(json) + " (expected: a JSON object)");
          }
        }
        try {
          return handler.handle(new Call(ctx, p, actor, json));
        } catch (StorageUnavailableException e) {
          full.databaseFailed();
          throw unavailable();
        } catch (ApiError e) {
          if (action != null && e.status < 500) {
            auditQuietly(actor, action, safeParam(ctx), e.status == 404 ? "not_found" : "invalid", e.code);
          }
          throw e;
        }
      };
      CompletableFuture<Reply> result = new CompletableFuture<>();
      try {
        full.blocking.execute(() -> {
          try {
            result.complete(work.call());
          } catch (Throwable e) {
            result.completeExceptionally(e);
          }
        });
      } catch (RejectedExecutionException e) {
        throw new ApiError(503, "unavailable", "the server is shutting down");
      }
      result.whenComplete((reply, error) -> context.runOnContext(v -> {
        if (error != null) {
          ctx.fail(error instanceof ApiError ? error : new IllegalStateException(error));
          return;
        }
        try {
          Http.json(ctx, reply.status(), ConfigTree.json().writeValueAsString(reply.body()));
        } catch (JsonProcessingException e) {
          ctx.fail(e);
        }
      }));
    };
  }

  private static ApiError unavailable() {
    return new ApiError(503, "database_unavailable", "the key database is unreachable; key verification continues"
        + " from the cache, changes are refused until it is back (retry later)", "Retry-After", "5", false);
  }

  private void auditQuietly(Actor actor, String action, String target, String result, String detail) {
    try {
      full.store.audit(actor, action, target, result, detail);
    } catch (StorageUnavailableException e) {
      full.databaseFailed();
    }
  }

  private static String safeParam(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    return id != null && ID.matcher(id).matches() ? id : null;
  }

  private static String id(Call c, String kind) {
    String id = c.param("id");
    if (id == null || !ID.matcher(id).matches() || !id.startsWith(kind)) {
      throw new ApiError(404, "not_found", "id: not a " + kind + "... id (expected: an id as returned on creation)");
    }
    return id;
  }

  private static ApiError keyNotFound(String id) {
    return new ApiError(404, "not_found", "key " + id + ": no such key");
  }

  // ---- keys -------------------------------------------------------------------------------------

  private Reply createKey(Call c) {
    JsonNode b = require(c.body(), "{\"name\": \"Production API Key\", \"tier\": \"pro\"}");
    unknownFields(b, CREATE_FIELDS);
    String name = text(b, "name", 200, true);
    String tier = b.has("tier") ? text(b, "tier", 64, true) : "free";
    requireTier(tier, "tier");
    String owner = text(b, "owner_id", 200, false);
    String environment = b.has("environment") ? text(b, "environment", 8, true) : "live";
    if (!environment.equals("live") && !environment.equals("test")) {
      throw ApiError.invalid("environment: \"" + clip(environment) + "\" (expected: live or test)");
    }
    String limits = limits(b);
    Long quota = b.has("monthly_quota") && !b.get("monthly_quota").isNull() ? nonNegative(b, "monthly_quota") : null;
    String metadata = metadata(b);
    Instant expires = null;
    if (b.has("expires_at") && b.has("expires_in")) {
      throw ApiError.invalid("expires_at and expires_in: both given (expected: at most one)");
    }
    if (b.has("expires_at") && !b.get("expires_at").isNull()) {
      expires = instant(b, "expires_at");
    } else if (b.has("expires_in") && !b.get("expires_in").isNull()) {
      expires = now().plus(duration(b, "expires_in"));
    }
    String secret = KeyFormat.generate(environment.equals("test") ? KeyFormat.TEST_PREFIX : KeyFormat.LIVE_PREFIX);
    ApiKey key = full.store.createKey(new PlatformStore.NewKey(name, owner, tier, environment, limits, quota, metadata,
        expires), full.hasher.hash(secret), KeyFormat.visibleStart(secret), c.actor());
    full.verifier.invalidate(key.id());
    full.events.key("key.created", key);
    ObjectNode out = render(key);
    out.put("key", secret);
    return new Reply(201, out);
  }

  private Reply listKeys(Call c) {
    String state = c.query("state");
    KeyState s = null;
    if (state != null) {
      s = KeyState.fromLabel(state);
      if (s == null) {
        throw ApiError.invalid("state: \"" + clip(state) + "\" (expected: active, disabled, expired or revoked)");
      }
    }
    int limit = intQuery(c, "limit", 50, 1, PlatformStore.MAX_PAGE);
    int offset = intQuery(c, "offset", 0, 0, Integer.MAX_VALUE);
    List<ApiKey> keys = full.store.listKeys(new PlatformStore.KeyFilter(c.query("owner_id"), c.query("tier"), s),
        limit, offset);
    ObjectNode out = ConfigTree.json().createObjectNode();
    ArrayNode arr = out.putArray("keys");
    keys.forEach(k -> arr.add(render(k)));
    out.put("limit", limit);
    out.put("offset", offset);
    if (keys.size() == limit) {
      out.put("next_offset", offset + limit);
    } else {
      out.putNull("next_offset");
    }
    return new Reply(200, out);
  }

  private Reply getKey(Call c) {
    String id = id(c, "key_");
    return new Reply(200, render(full.store.getKey(id).orElseThrow(() -> keyNotFound(id))));
  }

  private Reply updateKey(Call c) {
    String id = id(c, "key_");
    JsonNode b = require(c.body(), "{\"tier\": \"pro\"}");
    unknownFields(b, UPDATE_FIELDS);
    String name = b.has("name") ? text(b, "name", 200, true) : null;
    String tier = b.has("tier") ? text(b, "tier", 64, true) : null;
    if (tier != null) {
      requireTier(tier, "tier");
    }
    Optional<String> limits = null;
    if (b.has("limits") || b.has("rate_limit")) {
      limits = Optional.ofNullable(limits(b));
    }
    Optional<Long> quota = null;
    if (b.has("monthly_quota")) {
      quota = b.get("monthly_quota").isNull() ? Optional.empty() : Optional.of(nonNegative(b, "monthly_quota"));
    }
    Optional<String> metadata = b.has("metadata") ? Optional.ofNullable(metadata(b)) : null;
    Boolean enabled = null;
    if (b.has("enabled")) {
      if (!b.get("enabled").isBoolean()) {
        throw ApiError.invalid("enabled: " + ConfigTree.describe(b.get("enabled")) + " (expected: true or false)");
      }
      enabled = b.get("enabled").booleanValue();
    }
    Optional<Instant> expires = null;
    if (b.has("expires_at")) {
      expires = b.get("expires_at").isNull() ? Optional.empty() : Optional.of(instant(b, "expires_at"));
    }
    PlatformStore.KeyUpdate u = new PlatformStore.KeyUpdate(name, tier, limits, quota, metadata, enabled, expires);
    if (u.isEmpty()) {
      throw ApiError.invalid("body: no field to change (expected: one or more of " + String.join(", ",
          UPDATE_FIELDS.stream().sorted().toList()) + ")");
    }
    ApiKey key;
    try {
      key = full.store.updateKey(id, u, c.actor()).orElseThrow(() -> keyNotFound(id));
    } catch (IllegalStateException e) {
      throw new ApiError(409, "conflict", e.getMessage());
    }
    full.verifier.invalidate(id);
    return new Reply(200, render(key));
  }

  private Reply revokeKey(Call c) {
    String id = id(c, "key_");
    ApiKey key = full.store.revokeKey(id, c.actor()).orElseThrow(() -> keyNotFound(id));
    full.verifier.invalidate(id);
    full.events.key("key.revoked", key);
    return new Reply(200, render(key));
  }

  private Reply rotateKey(Call c) {
    String id = id(c, "key_");
    Duration grace = full.config.rotationGrace();
    if (c.body() != null) {
      unknownFields(c.body(), Set.of("grace_period"));
      if (c.body().has("grace_period")) {
        grace = duration(c.body(), "grace_period");
      }
    }
    ApiKey before = full.store.getKey(id).orElseThrow(() -> keyNotFound(id));
    String secret = KeyFormat.generate(before.environment().equals("test") ? KeyFormat.TEST_PREFIX
        : KeyFormat.LIVE_PREFIX);
    ApiKey key;
    try {
      key = full.store.rotateKey(id, full.hasher.hash(secret), KeyFormat.visibleStart(secret), now().plus(grace),
          c.actor()).orElseThrow(() -> keyNotFound(id));
    } catch (IllegalStateException e) {
      throw new ApiError(409, "conflict", e.getMessage());
    }
    full.verifier.invalidate(id);
    full.events.key("key.rotated", key);
    ObjectNode out = render(key);
    out.put("key", secret);
    return new Reply(200, out);
  }

  private Reply expireKey(Call c) {
    String id = id(c, "key_");
    Instant at = null;
    if (c.body() != null) {
      unknownFields(c.body(), Set.of("at"));
      if (c.body().has("at") && !c.body().get("at").isNull()) {
        at = instant(c.body(), "at");
      }
    }
    ApiKey key = full.store.expireKey(id, at, c.actor()).orElseThrow(() -> keyNotFound(id));
    full.verifier.invalidate(id);
    full.events.key("key.expired", key);
    return new Reply(200, render(key));
  }

  private Instant now() {
    return micros(full.clock().micros());
  }

  private static Instant micros(long m) {
    return Instant.ofEpochSecond(Math.floorDiv(m, 1_000_000L), Math.floorMod(m, 1_000_000L) * 1_000L);
  }

  private ObjectNode render(ApiKey k) {
    ObjectNode n = ConfigTree.json().createObjectNode();
    n.put("id", k.id());
    n.put("name", k.name());
    n.put("owner_id", k.ownerId());
    n.put("tier", k.tier());
    n.put("environment", k.environment());
    n.put("state", k.state(now()).label());
    n.put("enabled", k.enabled());
    n.put("key_start", k.visibleStart());
    if (k.limits() != null) {
      try {
        n.set("limits", ConfigTree.json().readTree(k.limits()));
      } catch (JsonProcessingException e) {
        n.putNull("limits");
      }
    } else {
      n.putNull("limits");
    }
    if (k.monthlyQuota() != null) {
      n.put("monthly_quota", k.monthlyQuota());
    } else {
      n.putNull("monthly_quota");
    }
    if (k.metadata() != null) {
      try {
        n.set("metadata", ConfigTree.json().readTree(k.metadata()));
      } catch (JsonProcessingException e) {
        n.putNull("metadata");
      }
    } else {
      n.putNull("metadata");
    }
    time(n, "created_at", k.createdAt());
    time(n, "updated_at", k.updatedAt());
    time(n, "expires_at", k.expiresAt());
    time(n, "revoked_at", k.revokedAt());
    time(n, "last_used_at", k.lastUsedAt());
    time(n, "rotated_at", k.rotatedAt());
    time(n, "previous_key_valid_until", k.previousValidUntil());
    return n;
  }

  private static void time(ObjectNode n, String field, Instant t) {
    if (t == null) {
      n.putNull(field);
    } else {
      n.put(field, t.toString());
    }
  }

  // ---- tiers ------------------------------------------------------------------------------------

  private Reply listTiers(Call c) {
    ObjectNode out = ConfigTree.json().createObjectNode();
    ArrayNode arr = out.putArray("tiers");
    full.tierSpecs().forEach(t -> arr.add(render(t)));
    return new Reply(200, out);
  }

  private Reply getTier(Call c) {
    String name = c.param("name");
    return new Reply(200, full.tierSpecs().stream().filter(t -> t.name().equals(name)).findFirst()
        .map(this::render).orElseThrow(() -> new ApiError(404, "not_found", "tier \"" + clip(name)
            + "\": no such tier")));
  }

  private ObjectNode render(TierFile.TierSpec t) {
    ObjectNode n = ConfigTree.json().createObjectNode();
    n.put("name", t.name());
    if (t.description() != null) {
      n.put("description", t.description());
    }
    if (t.tier().monthlyQuota() == Long.MAX_VALUE) {
      n.put("monthly_quota", "unlimited");
    } else {
      n.put("monthly_quota", t.tier().monthlyQuota());
    }
    n.set("limits", TierFile.renderLimits(t.limits()));
    io.viva.platform.Pricing p = t.pricing();
    if (p != io.viva.platform.Pricing.FREE) {
      ObjectNode b = n.putObject("billing");
      b.put("currency", p.currency());
      b.put("price", p.price());
      if (p.included() == Long.MAX_VALUE) {
        b.put("included", "unlimited");
      } else {
        b.put("included", p.included());
      }
      ArrayNode steps = b.putArray("overage");
      for (io.viva.platform.Pricing.Step st : p.steps()) {
        ObjectNode o = steps.addObject();
        if (st.upTo() != null) {
          o.put("up_to", st.upTo());
        }
        o.put("per_1000", st.per1000());
      }
    }
    return n;
  }

  // ---- admin tokens -----------------------------------------------------------------------------

  private Reply listTokens(Call c) {
    ObjectNode out = ConfigTree.json().createObjectNode();
    ArrayNode arr = out.putArray("tokens");
    full.store.listTokens().forEach(t -> arr.add(render(t)));
    return new Reply(200, out);
  }

  private Reply createToken(Call c) {
    JsonNode b = require(c.body(), "{\"name\": \"ci\", \"role\": \"operator\"}");
    unknownFields(b, Set.of("name", "role"));
    String name = text(b, "name", 200, true);
    String roleName = text(b, "role", 16, true);
    Role role = Role.fromLabel(roleName);
    if (role == null) {
      throw ApiError.invalid("role: \"" + clip(roleName) + "\" (expected: admin, operator or viewer)");
    }
    String secret = KeyFormat.generate(KeyFormat.ADMIN_PREFIX);
    AdminToken t = full.store.createToken(name, role, full.hasher.hash(secret), KeyFormat.visibleStart(secret),
        c.actor());
    ObjectNode out = render(t);
    out.put("token", secret);
    return new Reply(201, out);
  }

  private Reply revokeToken(Call c) {
    String id = id(c, "tok_");
    AdminToken t = full.store.revokeToken(id, c.actor()).orElseThrow(() -> new ApiError(404, "not_found",
        "token " + id + ": no such token"));
    full.forgetTokens();
    return new Reply(200, render(t));
  }

  private static ObjectNode render(AdminToken t) {
    ObjectNode n = ConfigTree.json().createObjectNode();
    n.put("id", t.id());
    n.put("name", t.name());
    n.put("role", t.role().label());
    n.put("token_start", t.visibleStart());
    time(n, "created_at", t.createdAt());
    n.put("created_by", t.createdBy());
    time(n, "revoked_at", t.revokedAt());
    return n;
  }

  // ---- audit ------------------------------------------------------------------------------------

  private Reply audit(Call c) {
    int limit = intQuery(c, "limit", 100, 1, PlatformStore.MAX_PAGE);
    String before = c.query("before");
    Long beforeId = null;
    if (before != null) {
      try {
        beforeId = Long.parseLong(before);
      } catch (NumberFormatException e) {
        throw ApiError.invalid("before: \"" + clip(before) + "\" (expected: an entry id)");
      }
    }
    List<AuditEntry> entries = full.store.listAudit(beforeId, c.query("target"), c.query("action"), limit);
    ObjectNode out = ConfigTree.json().createObjectNode();
    ArrayNode arr = out.putArray("entries");
    for (AuditEntry e : entries) {
      ObjectNode n = arr.addObject();
      n.put("id", e.id());
      n.put("at", e.at().toString());
      n.put("actor", e.actor());
      n.put("action", e.action());
      n.put("target", e.target());
      n.put("source_ip", e.sourceIp());
      n.put("result", e.result());
      n.put("detail", e.detail());
    }
    if (entries.size() == limit) {
      out.put("next_before", entries.get(entries.size() - 1).id());
    } else {
      out.putNull("next_before");
    }
    return new Reply(200, out);
  }

  // ---- usage ------------------------------------------------------------------------------------

  private static final Pattern INVOICE_ID = Pattern.compile("inv_[0-9a-f]{24}");
  private static final Pattern PERIOD = Pattern.compile("\\d{4}-(0[1-9]|1[0-2])");

  private Reply keyUsage(Call c) {
    String id = id(c, "key_");
    String g = c.query("granularity") == null ? "hour" : c.query("granularity");
    int bucket = switch (g) {
      case "minute" -> 1;
      case "hour" -> 60;
      case "day" -> 1440;
      default -> throw ApiError.invalid("granularity: \"" + clip(g) + "\" (expected: minute, hour or day)");
    };
    long[] range = range(c);
    if ((range[1] - range[0]) / bucket > UsageStore.MAX_BUCKETS) {
      throw ApiError.invalid("from/to: " + ((range[1] - range[0]) / bucket) + " " + g + "s (expected: at most "
          + UsageStore.MAX_BUCKETS + " buckets; use a coarser granularity or a shorter range)");
    }
    full.store.getKey(id).orElseThrow(() -> keyNotFound(id));
    ObjectNode out = ConfigTree.json().createObjectNode();
    out.put("key_id", id);
    out.put("from", minuteInstant(range[0]).toString());
    out.put("to", minuteInstant(range[1]).toString());
    out.put("granularity", g);
    java.util.Map<UsageOutcome, Long> totals = new java.util.EnumMap<>(UsageOutcome.class);
    ArrayNode buckets = ConfigTree.json().createArrayNode();
    for (UsageStore.Bucket b : full.usage.series(id, range[0], range[1], bucket)) {
      ObjectNode n = buckets.addObject();
      n.put("start", minuteInstant(b.startMinute()).toString());
      outcomes(n, b.requests());
      b.requests().forEach((o, v) -> totals.merge(o, v, Long::sum));
    }
    outcomes(out.putObject("totals"), totals);
    out.set("buckets", buckets);
    return new Reply(200, out);
  }

  private Reply ownerUsage(Call c) {
    String owner = c.query("owner");
    if (owner == null || owner.isEmpty() || owner.length() > 200) {
      throw ApiError.invalid("owner: " + (owner == null ? "missing" : owner.length() + " characters")
          + " (expected: the owner_id of the keys, 1 to 200 characters)");
    }
    long[] range = range(c);
    ObjectNode out = ConfigTree.json().createObjectNode();
    out.put("owner_id", owner);
    out.put("from", minuteInstant(range[0]).toString());
    out.put("to", minuteInstant(range[1]).toString());
    java.util.Map<UsageOutcome, Long> totals = new java.util.EnumMap<>(UsageOutcome.class);
    ArrayNode keys = ConfigTree.json().createArrayNode();
    for (UsageStore.KeyTotal t : full.usage.totals(owner, range[0], range[1])) {
      ObjectNode n = keys.addObject();
      n.put("key_id", t.keyId());
      n.put("tier", t.lastTier());
      outcomes(n, t.requests());
      t.requests().forEach((o, v) -> totals.merge(o, v, Long::sum));
    }
    outcomes(out.putObject("totals"), totals);
    out.set("keys", keys);
    return new Reply(200, out);
  }

  /** allowed, denied (every other outcome) and each outcome. */
  private static void outcomes(ObjectNode n, java.util.Map<UsageOutcome, Long> m) {
    long allowed = m.getOrDefault(UsageOutcome.ALLOWED, 0L);
    long denied = 0;
    for (UsageOutcome o : UsageOutcome.values()) {
      if (o != UsageOutcome.ALLOWED) {
        denied += m.getOrDefault(o, 0L);
      }
    }
    n.put("allowed", allowed);
    n.put("denied", denied);
    for (UsageOutcome o : UsageOutcome.values()) {
      if (o != UsageOutcome.ALLOWED) {
        n.put(o.label(), m.getOrDefault(o, 0L));
      }
    }
  }

  /** [from, to) in minutes: default the current month so far (to the next minute). */
  private long[] range(Call c) {
    long nowMinute = UsageMeter.minuteOf(full.clock().micros());
    long to = c.query("to") == null ? nowMinute + 1 : minuteOfQuery(c, "to");
    long from = c.query("from") == null ? UsageMeter.monthStart(nowMinute) : minuteOfQuery(c, "from");
    if (from >= to) {
      throw ApiError.invalid("from: not before to (expected: from < to)");
    }
    return new long[] {from, to};
  }

  private static long minuteOfQuery(Call c, String name) {
    String v = c.query(name);
    try {
      return Math.floorDiv(Instant.parse(v).getEpochSecond(), 60);
    } catch (DateTimeParseException e) {
      throw ApiError.invalid(name + ": \"" + clip(v) + "\" (expected: a UTC time such as 2026-11-01T00:00:00Z)");
    }
  }

  private static Instant minuteInstant(long minute) {
    return Instant.ofEpochSecond(minute * 60);
  }

  private Reply flushUsage(Call c) {
    full.flushUsage();
    ObjectNode out = ConfigTree.json().createObjectNode();
    out.put("flushed", true);
    return new Reply(200, out);
  }

  // ---- webhooks ---------------------------------------------------------------------------------

  private static final Pattern WEBHOOK_ID = Pattern.compile("wh_[0-9A-Za-z]{1,36}");

  private Reply createWebhook(Call c) {
    JsonNode b = require(c.body(), "{\"url\": \"https://example.com/hooks/viva\", \"events\": [\"key.created\"],"
        + " \"secret\": \"...\"}");
    unknownFields(b, Set.of("url", "events", "secret"));
    String url = text(b, "url", 2000, true);
    URI uri;
    try {
      uri = URI.create(url);
    } catch (IllegalArgumentException e) {
      throw ApiError.invalid("url: not a URL (expected: http:// or https:// and a host)");
    }
    if (uri.getScheme() == null || !(uri.getScheme().equals("http") || uri.getScheme().equals("https"))
        || uri.getHost() == null) {
      throw ApiError.invalid("url: \"" + clip(url) + "\" (expected: http:// or https:// and a host)");
    }
    String secret = text(b, "secret", 256, true);
    if (secret.length() < 16) {
      throw ApiError.invalid("secret: " + secret.length() + " characters (expected: 16 to 256)");
    }
    JsonNode ev = b.get("events");
    if (ev == null || !ev.isArray() || ev.isEmpty() || ev.size() > 20) {
      throw ApiError.invalid("events: expected a list of 1 to 20 of " + String.join(", ",
          io.viva.platform.WebhookStore.EVENTS.stream().sorted().toList()) + ", or [\"*\"]");
    }
    java.util.List<String> events = new java.util.ArrayList<>();
    for (JsonNode e : ev) {
      if (!e.isTextual() || !(e.textValue().equals("*") || io.viva.platform.WebhookStore.EVENTS.contains(e.textValue()))) {
        throw ApiError.invalid("events: " + clip(e.toString()) + " (expected: one of " + String.join(", ",
            io.viva.platform.WebhookStore.EVENTS.stream().sorted().toList()) + ", or *)");
      }
      if (!events.contains(e.textValue())) {
        events.add(e.textValue());
      }
    }
    io.viva.platform.WebhookStore.Webhook w = full.webhooks.create(url, events, secret, c.actor());
    return new Reply(201, render(w));
  }

  private Reply listWebhooks(Call c) {
    ObjectNode out = ConfigTree.json().createObjectNode();
    ArrayNode arr = out.putArray("webhooks");
    full.webhooks.list().forEach(w -> arr.add(render(w)));
    return new Reply(200, out);
  }

  private Reply deleteWebhook(Call c) {
    String id = webhookId(c);
    if (!full.webhooks.delete(id, c.actor())) {
      throw new ApiError(404, "not_found", "webhook " + id + ": no such webhook");
    }
    ObjectNode out = ConfigTree.json().createObjectNode();
    out.put("id", id);
    out.put("deleted", true);
    return new Reply(200, out);
  }

  private Reply deliveries(Call c) {
    String id = webhookId(c);
    full.webhooks.get(id).orElseThrow(() -> new ApiError(404, "not_found", "webhook " + id + ": no such webhook"));
    int limit = intQuery(c, "limit", 100, 1, PlatformStore.MAX_PAGE);
    ObjectNode out = ConfigTree.json().createObjectNode();
    ArrayNode arr = out.putArray("deliveries");
    for (io.viva.platform.WebhookStore.Delivery d : full.webhooks.deliveries(id, limit)) {
      ObjectNode n = arr.addObject();
      n.put("id", d.id());
      n.put("event_type", d.eventType());
      n.put("state", d.state());
      n.put("attempts", d.attempts());
      if (d.lastStatus() == null) {
        n.putNull("last_status");
      } else {
        n.put("last_status", d.lastStatus());
      }
      n.put("last_error", d.lastError());
      n.put("created_at", d.createdAt().toString());
      n.put("next_attempt_at", d.state().equals("pending") ? d.nextAttemptAt().toString() : null);
      time(n, "delivered_at", d.deliveredAt());
      try {
        n.set("event", ConfigTree.json().readTree(d.payload()));
      } catch (JsonProcessingException e) {
        n.putNull("event");
      }
    }
    return new Reply(200, out);
  }

  private static String webhookId(Call c) {
    String id = c.param("id");
    if (id == null || !WEBHOOK_ID.matcher(id).matches()) {
      throw new ApiError(404, "not_found", "id: not a wh_... id (expected: an id as returned on creation)");
    }
    return id;
  }

  private static ObjectNode render(io.viva.platform.WebhookStore.Webhook w) {
    ObjectNode n = ConfigTree.json().createObjectNode();
    n.put("id", w.id());
    n.put("url", w.url());
    ArrayNode ev = n.putArray("events");
    w.events().forEach(ev::add);
    n.put("created_at", w.createdAt().toString());
    n.put("created_by", w.createdBy());
    return n;
  }

  // ---- invoices ---------------------------------------------------------------------------------

  private Reply listInvoices(Call c) {
    String period = c.query("period");
    if (period != null && !PERIOD.matcher(period).matches()) {
      throw ApiError.invalid("period: \"" + clip(period) + "\" (expected: YYYY-MM such as 2026-11)");
    }
    String owner = c.query("owner");
    if (owner != null && (owner.isEmpty() || owner.length() > 200)) {
      throw ApiError.invalid("owner: " + owner.length() + " characters (expected: 1 to 200)");
    }
    ObjectNode out = ConfigTree.json().createObjectNode();
    ArrayNode arr = out.putArray("invoices");
    full.billing.list(period, owner).forEach(i -> arr.add(render(i)));
    return new Reply(200, out);
  }

  private Reply getInvoice(Call c) {
    String id = c.param("id");
    if (id == null || !INVOICE_ID.matcher(id).matches()) {
      throw new ApiError(404, "not_found", "id: not an inv_... id (expected: an id as listed)");
    }
    return new Reply(200, render(full.billing.get(id).orElseThrow(() -> new ApiError(404, "not_found",
        "invoice " + id + ": no such invoice"))));
  }

  private Reply closeInvoices(Call c) {
    JsonNode b = require(c.body(), "{\"period\": \"2026-11\"}");
    unknownFields(b, Set.of("period"));
    String period = text(b, "period", 7, true);
    if (!PERIOD.matcher(period).matches()) {
      throw ApiError.invalid("period: \"" + clip(period) + "\" (expected: YYYY-MM such as 2026-11)");
    }
    java.time.YearMonth ym = java.time.YearMonth.parse(period);
    if (!ym.isBefore(io.viva.platform.Billing.periodOf(now()))) {
      throw new ApiError(409, "conflict", "period " + period + ": not over yet (expected: a past month)");
    }
    full.flushUsage();
    List<io.viva.platform.Invoice> issued = full.billing.close(ym, full::pricing);
    auditQuietly(c.actor(), "invoice.close", null, "success", "period=" + period + " issued=" + issued.size());
    ObjectNode out = ConfigTree.json().createObjectNode();
    out.put("period", period);
    ArrayNode arr = out.putArray("issued");
    issued.forEach(i -> arr.add(render(i)));
    return new Reply(200, out);
  }

  private static ObjectNode render(io.viva.platform.Invoice i) {
    ObjectNode n = ConfigTree.json().createObjectNode();
    n.put("id", i.id());
    n.put("owner_id", i.ownerId());
    n.put("period", i.period());
    n.put("currency", i.currency());
    n.put("total", i.total());
    n.put("requests", i.requests());
    n.put("issued_at", i.issuedAt().toString());
    ArrayNode lines = n.putArray("lines");
    for (io.viva.platform.Invoice.Line l : i.lines()) {
      ObjectNode ln = lines.addObject();
      ln.put("key_id", l.keyId());
      ln.put("tier", l.tier());
      ln.put("kind", l.kind());
      ln.put("description", l.description());
      ln.put("quantity", l.quantity());
      if (l.unitPrice() == null) {
        ln.putNull("unit_price_per_1000");
      } else {
        ln.put("unit_price_per_1000", l.unitPrice());
      }
      ln.put("amount", l.amount());
    }
    return n;
  }

  // ---- field helpers ----------------------------------------------------------------------------

  private static JsonNode require(JsonNode body, String example) {
    if (body == null) {
      throw ApiError.invalid("body: missing (expected: a JSON object such as " + example + ")");
    }
    return body;
  }

  private static void unknownFields(JsonNode b, Set<String> allowed) {
    for (Iterator<String> it = b.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!allowed.contains(f)) {
        throw ApiError.invalid(clip(f) + ": unknown field (expected: " + String.join(", ", allowed.stream().sorted()
            .toList()) + ")");
      }
    }
  }

  private static String text(JsonNode b, String field, int max, boolean required) {
    JsonNode v = b.get(field);
    if (v == null || v.isNull()) {
      if (required) {
        throw ApiError.invalid(field + ": missing (expected: a string)");
      }
      return null;
    }
    if (!v.isTextual()) {
      throw ApiError.invalid(field + ": " + ConfigTree.describe(v) + " (expected: a string)");
    }
    String s = v.textValue();
    if (s.isEmpty() || s.length() > max) {
      throw ApiError.invalid(field + ": " + s.length() + " characters (expected: 1 to " + max + ")");
    }
    return s;
  }

  private static long nonNegative(JsonNode b, String field) {
    JsonNode v = b.get(field);
    if (!v.canConvertToLong() || !v.isIntegralNumber() || v.longValue() < 0) {
      throw ApiError.invalid(field + ": " + ConfigTree.describe(v) + " (expected: an integer >= 0)");
    }
    return v.longValue();
  }

  private void requireTier(String tier, String field) {
    if (!full.hasTier(tier)) {
      throw ApiError.invalid(field + ": \"" + clip(tier) + "\" (expected: one of " + String.join(", ",
          full.tierSpecs().stream().map(TierFile.TierSpec::name).toList()) + ")");
    }
  }

  /** The key's own limits as stored JSON text: from {@code limits} (a policy limit list) or the {@code rate_limit} shorthand. */
  private static String limits(JsonNode b) {
    JsonNode rate = b.get("rate_limit");
    JsonNode list = b.get("limits");
    boolean hasRate = rate != null && !rate.isNull();
    boolean hasList = list != null && !list.isNull();
    if (hasRate && hasList) {
      throw ApiError.invalid("rate_limit and limits: both given (expected: at most one)");
    }
    if (hasRate) {
      if (!rate.isIntegralNumber() || rate.longValue() < 1 || !rate.canConvertToLong()) {
        throw ApiError.invalid("rate_limit: " + ConfigTree.describe(rate) + " (expected: requests per minute, an"
            + " integer > 0)");
      }
      ArrayNode a = ConfigTree.json().createArrayNode();
      a.addObject().put("name", "rate_limit").put("algorithm", "token_bucket").put("limit", rate.longValue())
          .put("window", "1m");
      list = a;
    } else if (!hasList) {
      return null;
    }
    try {
      return ConfigTree.json().writeValueAsString(TierFile.renderLimits(TierFile.parseKeyLimits(list, "limits")));
    } catch (ConfigException e) {
      throw new ApiError(400, "invalid_limits", e.getMessage());
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String metadata(JsonNode b) {
    JsonNode m = b.get("metadata");
    if (m == null || m.isNull()) {
      return null;
    }
    if (!m.isObject()) {
      throw ApiError.invalid("metadata: " + ConfigTree.describe(m) + " (expected: a JSON object)");
    }
    try {
      String text = ConfigTree.json().writeValueAsString(m);
      if (text.length() > MAX_METADATA_BYTES) {
        throw ApiError.invalid("metadata: " + text.length() + " bytes (expected: at most " + MAX_METADATA_BYTES + ")");
      }
      return text;
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Instant instant(JsonNode b, String field) {
    JsonNode v = b.get(field);
    if (!v.isTextual()) {
      throw ApiError.invalid(field + ": " + ConfigTree.describe(v) + " (expected: a time such as"
          + " 2026-12-31T23:59:59Z)");
    }
    try {
      return Instant.parse(v.textValue());
    } catch (DateTimeParseException e) {
      throw ApiError.invalid(field + ": \"" + clip(v.textValue()) + "\" (expected: a UTC time such as"
          + " 2026-12-31T23:59:59Z)");
    }
  }

  private static Duration duration(JsonNode b, String field) {
    JsonNode v = b.get(field);
    if (v.isTextual() && v.textValue().matches("0+(ms|s|m|h|d)?")) {
      return Duration.ZERO;
    }
    try {
      Duration d = ConfigTree.duration(v, field, "s");
      if (d.isNegative()) {
        throw ApiError.invalid(field + ": negative (expected: a duration >= 0 such as 24h)");
      }
      return d;
    } catch (ConfigException e) {
      throw ApiError.invalid(e.getMessage());
    }
  }

  private static int intQuery(Call c, String name, int dflt, int min, int max) {
    String v = c.query(name);
    if (v == null) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v);
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw ApiError.invalid(name + ": \"" + clip(v) + "\" (expected: an integer from " + min + " to " + max + ")");
  }

  private static String clip(String s) {
    return s == null ? "null" : s.length() > 64 ? s.substring(0, 64) + "..." : s;
  }
}
