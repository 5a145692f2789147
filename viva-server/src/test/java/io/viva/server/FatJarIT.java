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

/**
 * The real fat jar as a child process: starts, serves HTTP and gRPC (Viva's API, Envoy's RLS,
 * reflection: the jar keeps only part of Envoy's API, see the shade filter in pom.xml), and exits 0
 * on SIGTERM.
 */
class FatJarIT {

  @Test
  void fatJarServesAndExitsZeroOnSigterm() throws Exception {
    Path jar = Path.of(System.getProperty("viva.jar", "target/viva-server.jar"));
    assertThat(jar).exists();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-XX:+UseSerialGC", "-Xmx128m", "-jar", jar.toString(),
        "serve", "--listen", "127.0.0.1", "--port", "0");
    pb.environment().put("ACCESS_LOG", "true");
    Path rules = Files.createTempFile("viva-fatjar-rules", ".yaml");
    Files.writeString(rules, """
        domain: edge
        descriptors:
          - key: remote_address
            rate_limit: {unit: minute, requests_per_unit: 1}
        """);
    pb.environment().put("ENVOY_CONFIG", rules.toString());
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
      assertThat(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + actual + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString()).body()).contains("jvm_memory_used_bytes");
      HttpResponse<String> json = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + actual + "/json"))
          .POST(HttpRequest.BodyPublishers.ofString("{\"domain\":\"edge\",\"descriptors\":[{\"entries\":"
              + "[{\"key\":\"remote_address\",\"value\":\"10.0.0.1\"}]}]}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(json.body()).contains("\"overallCode\":\"OK\"");
      grpc(actual);
    } finally {
      p.destroy(); // SIGTERM
      Files.delete(rules);
    }
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    String output = Files.readString(log);
    Files.delete(log);
    assertThat(p.exitValue()).as(output).isZero();
    assertThat(output)
        .contains("\"logger_name\":\"io.viva.server.access\"", "\"route\":\"/v1/check\"", "\"latency_us\":")
        .contains("shutting down").contains("stopped in")
        .doesNotContain("NoClassDefFoundError").doesNotContain("ClassNotFoundException");
  }

  /** Viva's Check, Envoy's ShouldRateLimit (over the limit after /json took it) and reflection on the RLS. */
  private static void grpc(int port) throws Exception {
    io.grpc.ManagedChannel channel = io.grpc.ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    try {
      io.viva.api.v1.CheckResponse check = io.grpc.stub.ClientCalls.blockingUnaryCall(channel, GrpcApiIT.CHECK,
          io.grpc.CallOptions.DEFAULT, GrpcApiIT.req("u1"));
      assertThat(check.getAllowed()).isTrue();
      assertThat(check.getLimit()).isEqualTo(100);
      var rls = io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc.newBlockingStub(channel)
          .shouldRateLimit(EnvoyRlsIT.req("edge", 0, EnvoyRlsIT.d("remote_address", "10.0.0.1")));
      assertThat(rls.getOverallCode()).isEqualTo(io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code.OVER_LIMIT);
      java.util.concurrent.CompletableFuture<io.grpc.reflection.v1.ServerReflectionResponse> answer =
          new java.util.concurrent.CompletableFuture<>();
      var out = io.grpc.reflection.v1.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(
          new io.grpc.stub.StreamObserver<>() {
            @Override
            public void onNext(io.grpc.reflection.v1.ServerReflectionResponse value) {
              answer.complete(value);
            }

            @Override
            public void onError(Throwable t) {
              answer.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {}
          });
      out.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder()
          .setFileContainingSymbol("envoy.service.ratelimit.v3.RateLimitService").build());
      var files = answer.get(30, TimeUnit.SECONDS).getFileDescriptorResponse().getFileDescriptorProtoList();
      out.onCompleted();
      assertThat(files).isNotEmpty();
      assertThat(com.google.protobuf.DescriptorProtos.FileDescriptorProto.parseFrom(files.get(0)).getName())
          .isEqualTo("envoy/service/ratelimit/v3/rls.proto");
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
