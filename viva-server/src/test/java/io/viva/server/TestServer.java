package io.viva.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.viva.core.Clock;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** A Viva server on a free port, in this JVM, and a real HTTP/1.1 client to talk to it. */
final class TestServer implements AutoCloseable {

  static final ObjectMapper JSON = new ObjectMapper();

  final VivaServer server;
  final HttpClient client;
  final String base;

  private TestServer(VivaServer server) {
    this.server = server;
    this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    this.base = "http://127.0.0.1:" + server.port();
  }

  /** Starts a server with {@code yaml} as its config file content (written to {@code dir}), or the defaults if null. */
  static TestServer start(ServerConfig config) {
    return start(config, VivaServer.Options.DEFAULT);
  }

  static TestServer start(ServerConfig config, VivaServer.Options options) {
    return new TestServer(VivaServer.start(config.with(l -> {
      l.port = 0;
      l.host = "127.0.0.1";
      l.eventLoops = 2;
    }), options));
  }

  /** A configuration from YAML text (no file; the policies are as if loaded from one). */
  static ServerConfig config(String yaml) {
    try {
      ServerConfig.FileContents contents = ServerConfig.parseFile(yaml.getBytes(StandardCharsets.UTF_8), "test.yaml");
      ServerConfig base = ServerConfig.defaults().with(l -> l.apply(contents.server()));
      return contents.policies() == null ? base : base.withPoliciesForTest(contents.policies());
    } catch (ConfigException e) {
      throw new IllegalArgumentException(e);
    }
  }

  static VivaServer.Options options(Clock clock) {
    return new VivaServer.Options(clock, null, VivaServer.Options.DEFAULT.pollInterval());
  }

  Response post(String path, String body, String... headers) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
        .POST(HttpRequest.BodyPublishers.ofString(body == null ? "" : body));
    if (body != null && !hasHeader(headers, "Content-Type")) {
      b.header("Content-Type", "application/json");
    }
    return send(b, headers);
  }

  Response get(String path, String... headers) {
    return send(HttpRequest.newBuilder(URI.create(base + path)).GET(), headers);
  }

  Response request(String method, String path, String body, String... headers) {
    return send(HttpRequest.newBuilder(URI.create(base + path))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body)),
        headers);
  }

  Response send(HttpRequest.Builder b, String... headers) {
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    try {
      HttpResponse<String> r = client.send(b.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
      return new Response(r.statusCode(), r.headers().map(), r.body());
    } catch (IOException e) {
      throw new AssertionError("request failed: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  private static boolean hasHeader(String[] headers, String name) {
    for (int i = 0; i < headers.length; i += 2) {
      if (headers[i].equalsIgnoreCase(name)) {
        return true;
      }
    }
    return false;
  }

  /** The value of one sample of the Prometheus exposition, e.g. {@code rate_limit_checks_total{namespace="a",result="allowed"}}. */
  double metric(String name, String labels) {
    String text = get("/metrics").body();
    for (String line : text.split("\n")) {
      if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
        boolean all = true;
        for (String label : labels.split(",")) {
          all &= label.isEmpty() || line.contains(label);
        }
        if (all) {
          return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        }
      }
    }
    return 0;
  }

  @Override
  public void close() {
    server.stop();
  }

  record Response(int status, Map<String, List<String>> headers, String body) {
    Optional<String> header(String name) {
      for (Map.Entry<String, List<String>> e : headers.entrySet()) {
        if (e.getKey().equalsIgnoreCase(name)) {
          return Optional.of(e.getValue().get(0));
        }
      }
      return Optional.empty();
    }

    JsonNode json() {
      try {
        return JSON.readTree(body);
      } catch (IOException e) {
        throw new AssertionError("not JSON (" + e.getMessage() + "): " + body, e);
      }
    }
  }
}
