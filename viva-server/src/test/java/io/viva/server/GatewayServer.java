package io.viva.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/** Viva in gateway mode on free ports, from YAML written to a file (so hot reload works), with a real client. */
final class GatewayServer implements AutoCloseable {

  final VivaServer server;
  final Path file;
  final String base;
  final String management;
  final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private GatewayServer(VivaServer server, Path file) {
    this.server = server;
    this.file = file;
    this.base = "http://127.0.0.1:" + server.port();
    this.management = "http://127.0.0.1:" + server.metricsPort();
  }

  static GatewayServer start(String yaml) {
    return start(yaml, Map.of());
  }

  static GatewayServer start(String yaml, Map<String, String> env) {
    try {
      Path dir = Files.createTempDirectory("viva-gateway");
      Path file = dir.resolve("viva.yaml");
      Files.writeString(file, yaml);
      java.util.Map<String, String> e = new java.util.HashMap<>(env);
      e.put("MODE", "gateway");
      ServerConfig config = ServerConfig.load(file, e).with(l -> {
        l.port = 0;
        l.metricsPort = 0;
        l.host = "127.0.0.1";
        l.eventLoops = 2;
        l.gracefulShutdownTimeout = Duration.ofSeconds(10);
      });
      return new GatewayServer(VivaServer.start(config, new VivaServer.Options(io.viva.core.Clock.system(), null,
          Duration.ofMillis(200))), file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (ConfigException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }

  HttpResponse<String> get(String path, String... headers) {
    return send(HttpRequest.newBuilder(URI.create(base + path)).GET(), headers);
  }

  HttpResponse<String> send(HttpRequest.Builder b, String... headers) {
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    try {
      return client.send(b.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    server.stop();
  }
}
