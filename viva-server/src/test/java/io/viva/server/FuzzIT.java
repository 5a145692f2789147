package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Thousands of generated requests, mostly bad: random bodies, JSON of the wrong shape, mutated
 * check fields (huge identifiers, bad costs, unknown namespaces), random paths, methods and content
 * types. Every answer must be a 4xx JSON error with error, message and request_id, except where
 * the request happened to be valid, which must get a decision (200/429). Never a 5xx.
 */
class FuzzIT {

  static final Set<String> ROUTES = Set.of("/v1/check", "/v1/check/batch", "/allow", "/v1/ping", "/health/live",
      "/livez", "/health/ready", "/readyz", "/metrics", "/openapi.json", "/admin/policies", "/admin/stats",
      "/admin/top_offenders", "/admin/resources", "/admin/reset");
  static TestServer t;

  @BeforeContainer
  static void start() {
    t = TestServer.start(TestServer.config("""
        policies:
          - {namespace: default, limit: 1000000, window: 1s}
          - {namespace: small, algorithm: fixed_window, limit: 5, window: 1h}
        """));
  }

  @AfterContainer
  static void stop() {
    t.close();
  }

  /** A JSON fragment for one field value and whether it is a valid value for that field. */
  record Value(String json, boolean valid) {}

  /** A generated check: its fields (absent ones are null) and content type. */
  record Check(Value identifier, Value namespace, Value cost, Value key, String extraField, String contentType) {
    boolean valid() {
      boolean ns = namespace == null || namespace.valid;
      boolean c = cost == null || cost.valid;
      if (c && cost != null && namespace != null && namespace.json.equals("\"small\"")) {
        c = Long.parseLong(cost.json) <= 5;
      }
      return identifier != null && identifier.valid && ns && c && (key == null || key.valid) && extraField == null
          && jsonType(contentType);
    }

    String body() {
      List<String> fields = new ArrayList<>();
      if (identifier != null) {
        fields.add("\"identifier\":" + identifier.json);
      }
      if (namespace != null) {
        fields.add("\"namespace\":" + namespace.json);
      }
      if (cost != null) {
        fields.add("\"cost\":" + cost.json);
      }
      if (key != null) {
        fields.add("\"idempotency_key\":" + key.json);
      }
      if (extraField != null) {
        fields.add("\"" + extraField + "\":1");
      }
      return "{" + String.join(",", fields) + "}";
    }
  }

  static boolean jsonType(String contentType) {
    return contentType == null || contentType.isEmpty() || contentType.startsWith("application/json")
        || contentType.equals("application/x-www-form-urlencoded");
  }

  @Provide
  Arbitrary<Check> checks() {
    Arbitrary<Value> identifier = Arbitraries.oneOf(
        Arbitraries.strings().alpha().numeric().ofMinLength(1).ofMaxLength(40).map(s -> new Value("\"" + s + "\"", true)),
        Arbitraries.strings().ofMinLength(1).ofMaxLength(30).map(s -> new Value(TestServer.JSON.valueToTree(s).toString(), true)),
        Arbitraries.integers().between(1000, 1030).map(n -> new Value("\"" + "x".repeat(n) + "\"", n <= 1024)),
        Arbitraries.just(new Value("\"\"", false)),
        Arbitraries.of("1", "true", "[]", "{}", "1.5", "\"a\\u0000b\"").map(v -> new Value(v, v.startsWith("\""))),
        Arbitraries.just(new Value("null", false)));
    Arbitrary<Value> namespace = Arbitraries.oneOf(
        Arbitraries.of("\"default\"", "\"small\"", "null").map(v -> new Value(v, true)),
        Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(20).map(s -> new Value("\"zz" + s + "\"", false)),
        Arbitraries.of("1", "[]", "{\"a\":1}", "false").map(v -> new Value(v, false)));
    Arbitrary<Value> cost = Arbitraries.oneOf(
        Arbitraries.longs().between(0, 10).map(n -> new Value(Long.toString(n), true)),
        Arbitraries.longs().between(Long.MIN_VALUE, -1).map(n -> new Value(Long.toString(n), false)),
        Arbitraries.longs().between(1_000_001, Long.MAX_VALUE).map(n -> new Value(Long.toString(n), false)),
        Arbitraries.of("1.5", "1e3", "\"1\"", "true", "[1]", "99999999999999999999999999", "-0.0")
            .map(v -> new Value(v, false)));
    Arbitrary<Value> key = Arbitraries.oneOf(
        Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(20).map(s -> new Value("\"" + s + "\"", true)),
        Arbitraries.just(new Value("\"" + "k".repeat(300) + "\"", false)),
        Arbitraries.just(new Value("\"\"", false)),
        Arbitraries.just(new Value("7", false)));
    Arbitrary<String> contentType = Arbitraries.of("application/json", "application/json; charset=utf-8",
        "application/x-www-form-urlencoded", "text/plain", "application/xml", "multipart/form-data; boundary=x",
        "image/png", "", "garbage");
    return Combinators.combine(identifier.injectNull(0.1), namespace.injectNull(0.3), cost.injectNull(0.3),
        key.injectNull(0.7), Arbitraries.of("namspace", "costs", "x").injectNull(0.9), contentType.injectNull(0.2))
        .as(Check::new);
  }

  @Property(tries = 1200)
  void mutatedChecks(@ForAll("checks") Check check) {
    String[] headers = check.contentType() == null ? new String[0] : new String[] {"Content-Type", check.contentType()};
    TestServer.Response r = t.send(HttpRequest.newBuilder(URI.create(t.base + "/v1/check"))
        .POST(HttpRequest.BodyPublishers.ofString(check.body())), headers);
    if (check.valid()) {
      assertThat(r.status()).as(check.body() + " -> " + r.body()).isIn(200, 429);
      assertThat(r.json().has("allowed")).isTrue();
    } else {
      assertJsonError(r, check.body());
    }
  }

  @Provide
  Arbitrary<String> garbage() {
    Arbitrary<String> json = Arbitraries.recursive(
        () -> Arbitraries.oneOf(Arbitraries.strings().ofMaxLength(10).map(s -> TestServer.JSON.valueToTree(s).toString()),
            Arbitraries.integers().map(String::valueOf), Arbitraries.of("true", "null", "1.5e300")),
        inner -> Arbitraries.oneOf(
            inner.list().ofMaxSize(4).map(l -> "[" + String.join(",", l) + "]"),
            Combinators.combine(Arbitraries.of("identifier", "namespace", "cost", "checks", "x"), inner)
                .as((k, v) -> "\"" + k + "\":" + v).list().ofMaxSize(4).map(l -> "{" + String.join(",", l) + "}")),
        0, 4);
    return Arbitraries.oneOf(
        Arbitraries.strings().ofMaxLength(200),
        Arbitraries.strings().withChars("{}[]\":,0123456789.-eEtrufalsn ").ofMaxLength(80),
        json,
        json.map(j -> "{\"checks\":" + j + "}"),
        json.map(j -> "{\"checks\":[" + j + "]}"));
  }

  @Property(tries = 800)
  void randomBodies(@ForAll("garbage") String body, @ForAll boolean batch) throws Exception {
    String path = batch ? "/v1/check/batch" : "/v1/check";
    TestServer.Response r = t.post(path, body);
    if (r.status() == 200 || r.status() == 429) {
      // Only a well-formed request can be decided; check that this one was.
      JsonNode parsed = TestServer.JSON.valueToTree(r.json());
      assertThat(parsed.has(batch ? "results" : "allowed")).as(body).isTrue();
      JsonNode request = TestServer.JSON.readTree(body);
      assertThat(request.isObject()).isTrue();
    } else {
      assertJsonError(r, body);
    }
  }

  @Provide
  Arbitrary<String> paths() {
    Arbitrary<String> segment = Arbitraries.strings().withChars("abcdefghijklmnopqrstuvwxyz0123456789-._~").ofMaxLength(12);
    return Arbitraries.oneOf(Arbitraries.of(ROUTES.toArray(new String[0])),
        segment.list().ofMinSize(1).ofMaxSize(5).map(l -> "/" + String.join("/", l)),
        Arbitraries.of(ROUTES.toArray(new String[0])).map(p -> p + "/x"),
        Arbitraries.of("/allow?user_id=", "/allow?cost=-1&user_id=a", "/allow?user_id=a&cost=1.5",
            "/allow?user_id=a&resource=zz", "/allow?user_id=" + "u".repeat(1100), "/v1/check?x=1"));
  }

  @Property(tries = 800)
  void randomRoutesAndMethods(@ForAll("paths") String path,
      @ForAll("methods") String method, @ForAll("bodies") String body) {
    TestServer.Response r = t.request(method, path, body);
    String route = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
    boolean decision = r.status() == 429 || (r.status() >= 200 && r.status() < 300);
    if (decision) {
      assertThat(ROUTES).as(method + " " + path).contains(route);
      assertThat(method).isIn("GET", "POST");
    } else {
      assertThat(r.status()).as(method + " " + path + " -> " + r.body()).isBetween(400, 499);
      if (!method.equals("HEAD")) {
        assertJsonError(r, method + " " + path);
      }
    }
    if (!ROUTES.contains(route)) {
      assertThat(r.status()).isEqualTo(404);
    }
  }

  @Provide
  Arbitrary<String> methods() {
    return Arbitraries.of("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO", "PROPFIND");
  }

  @Provide
  Arbitrary<String> bodies() {
    return Arbitraries.of("", "{}", "{\"identifier\":\"x\"}", "not json", "policies: []").injectNull(0.3);
  }

  static void assertJsonError(TestServer.Response r, String what) {
    assertThat(r.status()).as(what + " -> " + r.status() + " " + r.body()).isBetween(400, 499);
    JsonNode json = r.json();
    assertThat(json.path("error").isTextual()).as(r.body()).isTrue();
    assertThat(json.path("message").isTextual()).as(r.body()).isTrue();
    assertThat(json.path("request_id").asText()).as(r.body()).isNotEmpty();
  }
}
