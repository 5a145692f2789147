package io.viva.server;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.RoutingContext;
import io.viva.core.Decision;
import io.viva.core.LimitStore;
import io.viva.core.RateLimiter;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CompletionException;

/**
 * The decision endpoints: {@code POST /v1/check}, {@code POST /v1/check/batch} and {@code POST
 * /allow}. Bodies are read with Jackson's streaming parser straight into a few fields (no object
 * tree); every problem is a 4xx {@link ApiError} naming the field and what was expected. A batch
 * is validated whole before any check is charged: a 400 spends nothing.
 */
final class CheckApi {

  static final int MAX_IDEMPOTENCY_KEY_LENGTH = 256;
  static final String DEFAULT_NAMESPACE = "default";

  private static final CharSequence IDEMPOTENCY_KEY = HttpHeaders.createOptimized("Idempotency-Key");
  private static final String JSON_TYPES = "application/json";

  private final PolicyRegistry registry;
  private final int maxBatchSize;

  CheckApi(PolicyRegistry registry, int maxBatchSize) {
    this.registry = registry;
    this.maxBatchSize = maxBatchSize;
  }

  /** One check's fields as parsed; reused across the items of a batch. */
  static final class CheckFields {
    String identifier;
    String namespace;
    long cost = 1;
    String idempotencyKey;

    void clear() {
      identifier = null;
      namespace = null;
      cost = 1;
      idempotencyKey = null;
    }
  }

  /** A check resolved against a snapshot and ready to run. */
  record Resolved(PolicyRegistry.Namespace namespace, PolicyRegistry.Target target, String identifier,
      long cost, String idempotencyKey) {}

  /** Rejects bodies the route cannot read, before reading them. */
  void requireJson(RoutingContext ctx) {
    if (!Http.jsonContentType(ctx.request())) {
      throw Http.unsupportedType(ctx.request().getHeader(HttpHeaders.CONTENT_TYPE), JSON_TYPES);
    }
    ctx.next();
  }

  // ---- POST /v1/check ------------------------------------------------------------------------

  void check(RoutingContext ctx) {
    Exchange ex = Exchange.of(ctx);
    CheckFields f = new CheckFields();
    String headerKey = ctx.request().getHeader(IDEMPOTENCY_KEY);
    try (JsonParser p = parser(ex)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw ApiError.invalid("body: " + describe(p.currentToken()) + " (expected: a JSON object such as"
            + " {\"identifier\": \"user_123\"})");
      }
      readCheck(p, f, "");
      requireEnd(p);
    } catch (JsonProcessingException e) {
      throw jsonError(e);
    } catch (IOException e) {
      throw ApiError.invalidJson("body: unreadable (" + e.getMessage() + ")");
    }
    if (f.idempotencyKey == null && headerKey != null) {
      f.idempotencyKey = checkIdempotencyKey(headerKey, "Idempotency-Key");
    }
    PolicyRegistry.Snapshot snapshot = registry.snapshot();
    Resolved r = resolve(snapshot, f, "");
    CompletableFuture<Decision> decision = run(r);
    whenDone(ctx, decision, () -> {
      Decision d = decision.join();
      boolean shadowDenied = !d.allowed() && r.namespace.shadow();
      boolean allowed = d.allowed() || shadowDenied;
      StringBuilder sb = new StringBuilder(160);
      writeResult(sb, d, shadowDenied);
      headers(ctx, r.target, d, allowed);
      Http.json(ctx, allowed ? 200 : 429, Buffer.buffer(sb.toString()));
    });
  }

  // ---- POST /v1/check/batch ------------------------------------------------------------------

  void batch(RoutingContext ctx) {
    Exchange ex = Exchange.of(ctx);
    PolicyRegistry.Snapshot snapshot = registry.snapshot();
    Resolved[] items = new Resolved[16];
    int count = 0;
    boolean sawChecks = false;
    try (JsonParser p = parser(ex)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw ApiError.invalid("body: " + describe(p.currentToken()) + " (expected: a JSON object such as"
            + " {\"checks\": [{\"identifier\": \"user_123\"}]})");
      }
      CheckFields f = new CheckFields();
      JsonToken t;
      while ((t = p.nextToken()) != JsonToken.END_OBJECT) {
        String name = p.currentName();
        p.nextToken();
        if (!"checks".equals(t == JsonToken.FIELD_NAME ? name : null)) {
          throw ApiError.invalid(fieldLabel(name) + ": unknown field (expected: only checks)");
        }
        if (sawChecks) {
          throw ApiError.invalid("checks: given twice (expected: once)");
        }
        sawChecks = true;
        if (p.currentToken() != JsonToken.START_ARRAY) {
          throw ApiError.invalid("checks: " + describe(p.currentToken()) + " (expected: a list of checks)");
        }
        while (p.nextToken() != JsonToken.END_ARRAY) {
          if (count == maxBatchSize) {
            throw new ApiError(400, "batch_too_large", "checks: more than " + maxBatchSize
                + " items (expected: at most " + maxBatchSize + " per batch; split it)");
          }
          String path = "checks[" + count + "]";
          if (p.currentToken() != JsonToken.START_OBJECT) {
            throw ApiError.invalid(path + ": " + describe(p.currentToken()) + " (expected: a check object)");
          }
          f.clear();
          readCheck(p, f, path);
          if (count == items.length) {
            items = java.util.Arrays.copyOf(items, Math.min(maxBatchSize, count * 2));
          }
          items[count] = resolve(snapshot, f, path);
          count++;
        }
      }
      requireEnd(p);
    } catch (JsonProcessingException e) {
      throw jsonError(e);
    } catch (IOException e) {
      throw ApiError.invalidJson("body: unreadable (" + e.getMessage() + ")");
    }
    if (!sawChecks) {
      throw ApiError.invalid("checks: missing (expected: a list of checks)");
    }
    // One call to the store for the whole batch, in order: the Redis store writes it as one
    // pipeline (one flush); answered when all are done.
    int n = count;
    Resolved[] resolved = items;
    CompletableFuture<Decision>[] decisions = runAll(resolved, n);
    boolean allDone = true;
    for (int i = 0; i < n; i++) {
      allDone &= decisions[i].isDone();
    }
    Runnable respond = () -> {
      StringBuilder sb = new StringBuilder(16 + n * 110);
      sb.append("{\"results\":[");
      for (int i = 0; i < n; i++) {
        Decision d = decisions[i].join();
        if (i > 0) {
          sb.append(',');
        }
        writeResult(sb, d, !d.allowed() && resolved[i].namespace.shadow());
      }
      sb.append("]}");
      Http.json(ctx, 200, Buffer.buffer(sb.toString()));
    };
    whenDone(ctx, allDone ? null : CompletableFuture.allOf(decisions), respond);
  }

  // ---- POST /allow ---------------------------------------------------------------------------

  void allow(RoutingContext ctx) {
    MultiMap params;
    try {
      params = ctx.queryParams();
    } catch (IllegalArgumentException e) {
      throw ApiError.invalid("query: malformed (expected: name=value pairs, percent-encoded)");
    }
    HttpServerRequest request = ctx.request();
    CheckFields f = new CheckFields();
    f.identifier = params.get("user_id");
    if (f.identifier == null) {
      throw ApiError.invalid("user_id: missing (expected: a query parameter naming who is limited, e.g."
          + " user_id=user_123)");
    }
    f.namespace = params.get("resource");
    String cost = params.get("cost");
    if (cost != null) {
      try {
        f.cost = Long.parseLong(cost);
      } catch (NumberFormatException e) {
        throw ApiError.invalid("cost: " + quote(cost) + " (expected: an integer >= 0)");
      }
    }
    String key = request.getHeader(IDEMPOTENCY_KEY);
    if (key == null) {
      key = params.get("idempotency");
    }
    if (key != null) {
      f.idempotencyKey = checkIdempotencyKey(key, "idempotency key");
    }
    Resolved r = resolve(registry.snapshot(), f, "");
    CompletableFuture<Decision> decision = run(r);
    whenDone(ctx, decision, () -> {
      Decision d = decision.join();
      boolean shadowDenied = !d.allowed() && r.namespace.shadow();
      boolean allowed = d.allowed() || shadowDenied;
      StringBuilder sb = new StringBuilder(96);
      sb.append("{\"allowed\":").append(allowed).append(",\"retry_after\":");
      Json.seconds(sb, d.retryAfterMicros(), 1).append(",\"tokens_left\":");
      Json.decimal(sb, d.available());
      if (shadowDenied) {
        sb.append(",\"shadow_denied\":true");
      }
      sb.append('}');
      headers(ctx, r.target, d, allowed);
      Http.json(ctx, allowed ? 200 : 429, Buffer.buffer(sb.toString()));
    });
  }

  // ---- shared --------------------------------------------------------------------------------

  private static JsonParser parser(Exchange ex) throws IOException {
    if (ex.bodyLength == 0) {
      throw ApiError.invalidJson("body: empty (expected: a JSON object)");
    }
    return Json.FACTORY.createParser(ex.body, 0, ex.bodyLength);
  }

  private static void requireEnd(JsonParser p) throws IOException {
    JsonToken extra = p.nextToken();
    if (extra != null) {
      throw ApiError.invalidJson("body: " + describe(extra) + " after the JSON object (expected: nothing)");
    }
  }

  /** Reads the fields of one check object; the parser is on its START_OBJECT and ends on its END_OBJECT. */
  static void readCheck(JsonParser p, CheckFields f, String path) throws IOException {
    int seen = 0;
    JsonToken t;
    while ((t = p.nextToken()) != JsonToken.END_OBJECT) {
      if (t != JsonToken.FIELD_NAME) {
        throw ApiError.invalidJson(join(path, "?") + ": unexpected " + describe(t));
      }
      String name = p.currentName();
      JsonToken v = p.nextToken();
      int bit;
      switch (name) {
        case "identifier" -> {
          bit = 1;
          f.identifier = stringOrNull(p, v, join(path, name), "a non-empty string");
        }
        case "namespace" -> {
          bit = 2;
          f.namespace = stringOrNull(p, v, join(path, name), "a namespace name");
        }
        case "cost" -> {
          bit = 4;
          f.cost = cost(p, v, join(path, name));
        }
        case "idempotency_key" -> {
          bit = 8;
          String key = stringOrNull(p, v, join(path, name), "a string");
          f.idempotencyKey = key == null ? null : checkIdempotencyKey(key, join(path, name));
        }
        default -> throw ApiError.invalid(join(path, fieldLabel(name))
            + ": unknown field (expected: identifier, namespace, cost, idempotency_key)");
      }
      if ((seen & bit) != 0) {
        throw ApiError.invalid(join(path, name) + ": given twice (expected: once)");
      }
      seen |= bit;
    }
  }

  private static String stringOrNull(JsonParser p, JsonToken v, String path, String expected) throws IOException {
    if (v == JsonToken.VALUE_STRING) {
      return p.getText();
    }
    if (v == JsonToken.VALUE_NULL) {
      return null;
    }
    throw ApiError.invalid(path + ": " + describeValue(p, v) + " (expected: " + expected + ")");
  }

  private static long cost(JsonParser p, JsonToken v, String path) throws IOException {
    if (v == JsonToken.VALUE_NULL) {
      return 1;
    }
    if (v == JsonToken.VALUE_NUMBER_INT) {
      if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
        throw ApiError.invalid(path + ": " + p.getText() + " (expected: an integer >= 0 that fits in 64 bits)");
      }
      long cost = p.getLongValue();
      if (cost < 0) {
        throw ApiError.invalid(path + ": " + cost + " (expected: >= 0)");
      }
      return cost;
    }
    throw ApiError.invalid(path + ": " + describeValue(p, v) + " (expected: an integer >= 0)");
  }

  static String checkIdempotencyKey(String key, String what) {
    if (key.isEmpty() || key.length() > MAX_IDEMPOTENCY_KEY_LENGTH) {
      throw ApiError.invalid(what + ": " + key.length() + " characters (expected: 1 to "
          + MAX_IDEMPOTENCY_KEY_LENGTH + ")");
    }
    return key;
  }

  /** Validates a check against the snapshot: identifier, namespace, override, cost. */
  static Resolved resolve(PolicyRegistry.Snapshot snapshot, CheckFields f, String path) {
    String id = f.identifier;
    if (id == null) {
      throw ApiError.invalid(join(path, "identifier") + ": missing (expected: a non-empty string of at most "
          + RateLimiter.MAX_KEY_LENGTH + " characters naming who is limited)");
    }
    if (id.isEmpty()) {
      throw ApiError.invalid(join(path, "identifier") + ": \"\" (expected: a non-empty identifier)");
    }
    if (id.length() > RateLimiter.MAX_KEY_LENGTH) {
      throw ApiError.invalid(join(path, "identifier") + ": " + id.length() + " characters (expected: at most "
          + RateLimiter.MAX_KEY_LENGTH + ")");
    }
    String nsName = f.namespace == null ? DEFAULT_NAMESPACE : f.namespace;
    PolicyRegistry.Namespace ns = snapshot.get(nsName);
    if (ns == null) {
      throw new ApiError(400, "unknown_namespace", join(path, "namespace") + ": " + quote(nsName)
          + " (expected: one of " + snapshot.names() + ")");
    }
    PolicyRegistry.Target target = ns.target(id);
    try {
      target.limiter().policy().checkCost(f.cost);
    } catch (IllegalArgumentException e) {
      throw ApiError.invalid(path.isEmpty() ? e.getMessage() : path + "." + e.getMessage());
    }
    return new Resolved(ns, target, id, f.cost, f.idempotencyKey);
  }

  /**
   * Starts one decision. The in-memory store completes it at once; the Redis store completes it on
   * Lettuce's thread, never blocking the event loop. The duration metric is recorded on completion.
   */
  static CompletableFuture<Decision> run(Resolved r) {
    long t0 = System.nanoTime();
    CompletableFuture<Decision> f =
        r.target.limiter().tryAcquireAsync(r.identifier, r.cost, r.idempotencyKey).toCompletableFuture();
    if (f.isDone() && !f.isCompletedExceptionally()) {
      Decision d = f.join();
      r.namespace.meters().record(d.allowed(), !d.allowed() && r.namespace.shadow(), System.nanoTime() - t0);
      return f;
    }
    return f.thenApply(d -> {
      r.namespace.meters().record(d.allowed(), !d.allowed() && r.namespace.shadow(), System.nanoTime() - t0);
      return d;
    });
  }

  /** Starts the decisions of a batch with one call to the store (all items share the registry's store). */
  private static CompletableFuture<Decision>[] runAll(Resolved[] items, int n) {
    @SuppressWarnings("unchecked")
    CompletableFuture<Decision>[] out = new CompletableFuture[n];
    if (n == 0) {
      return out;
    }
    List<LimitStore.Request> requests = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      Resolved r = items[i];
      requests.add(new LimitStore.Request(r.target.limiter().policy(), r.identifier, r.cost, r.idempotencyKey));
    }
    long t0 = System.nanoTime();
    List<CompletionStage<Decision>> started;
    try {
      started = items[0].target.limiter().store().acquireAllAsync(requests);
    } catch (RuntimeException e) {
      for (int i = 0; i < n; i++) {
        out[i] = CompletableFuture.failedFuture(e);
      }
      return out;
    }
    for (int i = 0; i < n; i++) {
      Resolved r = items[i];
      CompletableFuture<Decision> f = started.get(i).toCompletableFuture();
      if (f.isDone() && !f.isCompletedExceptionally()) {
        Decision d = f.join();
        r.namespace.meters().record(d.allowed(), !d.allowed() && r.namespace.shadow(), System.nanoTime() - t0);
        out[i] = f;
      } else {
        out[i] = f.thenApply(d -> {
          r.namespace.meters().record(d.allowed(), !d.allowed() && r.namespace.shadow(), System.nanoTime() - t0);
          return d;
        });
      }
    }
    return out;
  }

  /**
   * Runs {@code respond} now when {@code pending} is null or done (the in-memory fast path, on the
   * event loop), else on this request's event loop when it completes; a failure goes to the
   * router's failure handler either way.
   */
  static void whenDone(RoutingContext ctx, CompletableFuture<?> pending, Runnable respond) {
    if (pending == null || pending.isDone()) {
      if (pending != null && pending.isCompletedExceptionally()) {
        throw unwrap(pending);
      }
      respond.run();
      return;
    }
    Context context = Vertx.currentContext();
    pending.whenComplete((ok, error) -> context.runOnContext(v -> {
      try {
        if (error != null) {
          throw unwrap(pending);
        }
        respond.run();
      } catch (RuntimeException e) {
        ctx.fail(e);
      }
    }));
  }

  private static RuntimeException unwrap(CompletableFuture<?> failed) {
    try {
      failed.join();
      return new IllegalStateException("not failed");
    } catch (CompletionException e) {
      Throwable t = e.getCause() != null ? e.getCause() : e;
      return t instanceof RuntimeException r ? r : new IllegalStateException(t);
    } catch (RuntimeException e) {
      return e;
    }
  }

  /** {@code {"allowed":..,"limit":..,"remaining":..,"reset_at":..,"retry_after":..}}. */
  static void writeResult(StringBuilder sb, Decision d, boolean shadowDenied) {
    sb.append("{\"allowed\":").append(d.allowed() || shadowDenied)
        .append(",\"limit\":").append(d.limit())
        .append(",\"remaining\":").append(d.remaining())
        .append(",\"reset_at\":");
    Json.isoSeconds(sb, ceilSeconds(d.resetAtMicros()));
    sb.append(",\"retry_after\":");
    Json.seconds(sb, d.retryAfterMicros(), 0);
    if (shadowDenied) {
      sb.append(",\"shadow_denied\":true");
    }
    sb.append('}');
  }

  /** The rate limit headers of a decision (IETF draft and the X-RateLimit-* family). */
  private static void headers(RoutingContext ctx, PolicyRegistry.Target target, Decision d, boolean allowed) {
    RateLimitHeaders.write(ctx.response().headers(), target.policyHeader(), d, allowed);
  }

  /** The rate limit headers of a decision under a policy whose {@code RateLimit-Policy} value is {@code policyHeader}. */
  static void headers(RoutingContext ctx, String policyHeader, Decision d, boolean allowed) {
    RateLimitHeaders.write(ctx.response().headers(), policyHeader, d, allowed);
  }

  static long ceilSeconds(long micros) {
    return micros <= 0 ? 0 : (micros + 999_999) / 1_000_000;
  }

  static ApiError jsonError(JsonProcessingException e) {
    if (e instanceof StreamConstraintsException) {
      return ApiError.invalidJson("body: " + e.getOriginalMessage());
    }
    String m = e.getOriginalMessage();
    if (m != null && m.length() > 200) {
      m = m.substring(0, 200) + "...";
    }
    var at = e.getLocation();
    return ApiError.invalidJson("body: malformed JSON" + (at != null ? " at line " + at.getLineNr() + ", column "
        + at.getColumnNr() : "") + ": " + m);
  }

  private static String join(String path, String name) {
    return path.isEmpty() ? name : path + "." + name;
  }

  private static String fieldLabel(String name) {
    return name == null ? "?" : name.length() > 64 ? name.substring(0, 64) + "..." : name;
  }

  private static String quote(String s) {
    return "\"" + (s.length() > 128 ? s.substring(0, 128) + "..." : s) + "\"";
  }

  private static String describe(JsonToken t) {
    if (t == null) {
      return "nothing";
    }
    return switch (t) {
      case START_OBJECT -> "an object";
      case START_ARRAY -> "a list";
      case VALUE_STRING -> "a string";
      case VALUE_NUMBER_INT -> "an integer";
      case VALUE_NUMBER_FLOAT -> "a decimal number";
      case VALUE_TRUE, VALUE_FALSE -> "a boolean";
      case VALUE_NULL -> "null";
      default -> t.asString() != null ? t.asString() : t.name();
    };
  }

  private static String describeValue(JsonParser p, JsonToken v) throws IOException {
    return switch (v) {
      case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT, VALUE_TRUE, VALUE_FALSE -> {
        String text = p.getText();
        yield text.length() > 64 ? text.substring(0, 64) + "..." : text;
      }
      default -> describe(v);
    };
  }
}
