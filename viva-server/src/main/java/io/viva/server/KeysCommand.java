package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code viva keys create|list|revoke|rotate}: the key lifecycle from the command line, through a
 * running full-mode server's admin API (never the database directly, so the audit log and every
 * instance's cache see the change). The server from {@code --url} or {@code VIVA_URL}; the token from
 * {@code --token}, {@code VIVA_ADMIN_TOKEN} or {@code ADMIN_TOKEN}. Prints the server's JSON answer;
 * exit code 0 on success, 1 when the server refuses or cannot be reached, 2 on bad usage.
 */
@Command(name = "keys", mixinStandardHelpOptions = true, description = "Manages API keys on a full-mode server.",
    subcommands = {KeysCommand.Create.class, KeysCommand.ListKeys.class, KeysCommand.Revoke.class,
        KeysCommand.Rotate.class})
final class KeysCommand implements Callable<Integer> {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return 2;
  }

  /** Where the server is and how to authenticate; shared by every subcommand. */
  static final class Target {
    @Option(names = "--url", paramLabel = "URL", description = "Server base URL (default: $VIVA_URL or"
        + " http://localhost:8080).")
    String url;

    @Option(names = "--token", paramLabel = "TOKEN", description = "Admin token (default: $VIVA_ADMIN_TOKEN, else"
        + " $ADMIN_TOKEN).")
    String token;

    String url() {
      String u = url != null ? url : System.getenv().getOrDefault("VIVA_URL", "http://localhost:8080");
      return u.endsWith("/") ? u.substring(0, u.length() - 1) : u;
    }

    String token() {
      if (token != null) {
        return token;
      }
      String t = System.getenv("VIVA_ADMIN_TOKEN");
      return t != null ? t : System.getenv("ADMIN_TOKEN");
    }
  }

  abstract static class Base implements Callable<Integer> {
    @CommandLine.Mixin
    TargetMixin target;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    abstract HttpRequest.Builder request(String base) throws IOException;

    @Override
    public Integer call() throws Exception {
      PrintWriter out = spec.commandLine().getOut();
      PrintWriter err = spec.commandLine().getErr();
      String token = target.t.token();
      if (token == null || token.isBlank()) {
        err.println("viva keys: no admin token (expected: --token, VIVA_ADMIN_TOKEN or ADMIN_TOKEN)");
        err.flush();
        return 2;
      }
      HttpRequest.Builder b;
      try {
        b = request(target.t.url());
      } catch (IllegalArgumentException e) {
        err.println("viva keys: " + e.getMessage());
        err.flush();
        return 2;
      }
      HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
      HttpResponse<String> r;
      try {
        r = client.send(b.header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
            .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
      } catch (IOException e) {
        err.println("viva keys: cannot reach " + target.t.url() + " (" + e + ")");
        err.flush();
        return 1;
      }
      String body = r.body();
      try {
        body = ConfigTree.json().writerWithDefaultPrettyPrinter().writeValueAsString(ConfigTree.json().readTree(body));
      } catch (IOException e) {
        // not JSON: print as is
      }
      (r.statusCode() < 300 ? out : err).println(body);
      out.flush();
      err.flush();
      return r.statusCode() < 300 ? 0 : 1;
    }
  }

  /** Picocli mixin holding {@link Target}. */
  static final class TargetMixin {
    @CommandLine.ArgGroup(exclusive = false)
    Target t = new Target();
  }

  /** {@code viva keys create}. */
  @Command(name = "create", mixinStandardHelpOptions = true, description = "Creates a key; prints it (shown once).")
  static final class Create extends Base {
    @Option(names = "--name", required = true, description = "Human label.")
    String name;
    @Option(names = "--tier", description = "Tier (default free).")
    String tier;
    @Option(names = "--owner", description = "Owner / customer id.")
    String owner;
    @Option(names = "--rate-limit", paramLabel = "N", description = "Own limit: N requests per minute.")
    Long rateLimit;
    @Option(names = "--expires-in", paramLabel = "DURATION", description = "e.g. 30d.")
    String expiresIn;
    @Option(names = "--metadata", paramLabel = "JSON", description = "A JSON object.")
    String metadata;
    @Option(names = "--test", description = "A test key (viva_test_...).")
    boolean test;

    @Override
    HttpRequest.Builder request(String base) throws IOException {
      ObjectNode body = ConfigTree.json().createObjectNode();
      body.put("name", name);
      if (tier != null) {
        body.put("tier", tier);
      }
      if (owner != null) {
        body.put("owner_id", owner);
      }
      if (rateLimit != null) {
        body.put("rate_limit", rateLimit);
      }
      if (expiresIn != null) {
        body.put("expires_in", expiresIn);
      }
      if (metadata != null) {
        JsonNode m;
        try {
          m = ConfigTree.json().readTree(metadata);
        } catch (IOException e) {
          throw new IllegalArgumentException("--metadata: not JSON (expected: an object such as {\"plan\":\"x\"})");
        }
        body.set("metadata", m);
      }
      if (test) {
        body.put("environment", "test");
      }
      return HttpRequest.newBuilder(URI.create(base + "/api/v1/keys"))
          .POST(HttpRequest.BodyPublishers.ofString(ConfigTree.json().writeValueAsString(body)));
    }
  }

  /** {@code viva keys list}. */
  @Command(name = "list", mixinStandardHelpOptions = true, description = "Lists keys (newest first).")
  static final class ListKeys extends Base {
    @Option(names = "--owner", description = "Only this owner's keys.")
    String owner;
    @Option(names = "--tier", description = "Only keys on this tier.")
    String tier;
    @Option(names = "--state", description = "active, disabled, expired or revoked.")
    String state;
    @Option(names = "--limit", description = "Page size (default 50).")
    Integer limit;
    @Option(names = "--offset", description = "Skip this many.")
    Integer offset;

    @Override
    HttpRequest.Builder request(String base) {
      List<String> q = new ArrayList<>();
      add(q, "owner_id", owner);
      add(q, "tier", tier);
      add(q, "state", state);
      add(q, "limit", limit == null ? null : limit.toString());
      add(q, "offset", offset == null ? null : offset.toString());
      return HttpRequest.newBuilder(URI.create(base + "/api/v1/keys" + (q.isEmpty() ? "" : "?" + String.join("&", q))))
          .GET();
    }

    private static void add(List<String> q, String name, String value) {
      if (value != null) {
        q.add(name + "=" + URLEncoder.encode(value, StandardCharsets.UTF_8));
      }
    }
  }

  /** {@code viva keys revoke ID}. */
  @Command(name = "revoke", mixinStandardHelpOptions = true, description = "Revokes a key for good.")
  static final class Revoke extends Base {
    @Parameters(paramLabel = "KEY_ID")
    String id;

    @Override
    HttpRequest.Builder request(String base) {
      return HttpRequest.newBuilder(URI.create(base + "/api/v1/keys/" + encode(id) + "/revoke"))
          .POST(HttpRequest.BodyPublishers.noBody());
    }
  }

  /** {@code viva keys rotate ID [--grace D]}. */
  @Command(name = "rotate", mixinStandardHelpOptions = true,
      description = "Gives a key a new secret (printed once); the old one works for the grace period.")
  static final class Rotate extends Base {
    @Parameters(paramLabel = "KEY_ID")
    String id;
    @Option(names = "--grace", paramLabel = "DURATION", description = "How long the old secret keeps working"
        + " (default: the server's rotation_grace).")
    String grace;

    @Override
    HttpRequest.Builder request(String base) throws IOException {
      ObjectNode body = ConfigTree.json().createObjectNode();
      if (grace != null) {
        body.put("grace_period", grace);
      }
      return HttpRequest.newBuilder(URI.create(base + "/api/v1/keys/" + encode(id) + "/rotate"))
          .POST(HttpRequest.BodyPublishers.ofString(ConfigTree.json().writeValueAsString(body)));
    }
  }

  private static String encode(String id) {
    return URLEncoder.encode(id, StandardCharsets.UTF_8);
  }
}
