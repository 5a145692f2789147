package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The real fat jar as a child process: starts, serves, and exits 0 on SIGTERM. */
class FatJarIT {

  @Test
  void fatJarServesAndExitsZeroOnSigterm() throws Exception {
    Path jar = Path.of(System.getProperty("viva.jar", "target/viva-server.jar"));
    assertThat(jar).exists();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-XX:+UseSerialGC", "-Xmx128m", "-jar", jar.toString(),
        "serve", "--listen", "127.0.0.1", "--port", "0");
    pb.environment().put("ACCESS_LOG", "true");
    pb.environment().remove("SERVER_PORT");
    // To a file, not a pipe: Process.destroy() closes the parent's end of pipes, and the shutdown logs would be lost.
    Path log = Files.createTempFile("viva-fatjar", ".log");
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    Process p = pb.start();
    Pattern started = Pattern.compile("viva started: .*listen=127\\.0\\.0\\.1:(\\d+)");
    int[] found = {-1};
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(() -> {
      Matcher m = started.matcher(Files.readString(log));
      if (m.find()) {
        found[0] = Integer.parseInt(m.group(1));
      }
      return found[0] > 0 || !p.isAlive();
    });
    try {
      assertThat(p.isAlive()).as(Files.readString(log)).isTrue();
      int actual = found[0];
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + actual + "/v1/check"))
          .POST(HttpRequest.BodyPublishers.ofString("{\"identifier\":\"u1\"}"))
          .header("Content-Type", "application/x-www-form-urlencoded").build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).startsWith("{\"allowed\":true,\"limit\":100,\"remaining\":99,");
      assertThat(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + actual + "/readyz")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
    } finally {
      p.destroy(); // SIGTERM
    }
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    String output = Files.readString(log);
    Files.delete(log);
    assertThat(p.exitValue()).as(output).isZero();
    assertThat(output)
        .contains("\"logger_name\":\"io.viva.server.access\"", "\"route\":\"/v1/check\"", "\"latency_us\":")
        .contains("shutting down").contains("stopped in");
  }
}
