package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The real fat jar as a child process: starts, serves, and exits 0 on SIGTERM. */
class FatJarIT {

  @Test
  void fatJarServesAndExitsZeroOnSigterm() throws Exception {
    Path log = Files.createTempFile("viva-fatjar", ".log");
    ChildServer child = ChildServer.serve(null, Map.of("ACCESS_LOG", "true"), log, "128m");
    int exit;
    try {
      int actual = child.awaitStarted();
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + actual + "/v1/check"))
          .POST(HttpRequest.BodyPublishers.ofString("{\"identifier\":\"u1\"}"))
          .header("Content-Type", "application/x-www-form-urlencoded").build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).startsWith("{\"allowed\":true,\"limit\":100,\"remaining\":99,");
      assertThat(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + actual + "/readyz")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
    } finally {
      exit = child.stop(); // SIGTERM
    }
    String output = child.output();
    Files.delete(log);
    assertThat(exit).as(output).isZero();
    assertThat(output)
        .contains("\"logger_name\":\"io.viva.server.access\"", "\"route\":\"/v1/check\"", "\"latency_us\":")
        .contains("shutting down").contains("stopped in");
  }
}
