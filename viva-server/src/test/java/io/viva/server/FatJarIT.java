package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The real fat jar as a child process: starts, serves HTTP and gRPC (Viva's API, Envoy's RLS,
 * reflection: the jar keeps only part of Envoy's API, see the shade filter in pom.xml), and exits 0
 * on SIGTERM.
 */
class FatJarIT {

  @Test
  void fatJarServesAndExitsZeroOnSigterm() throws Exception {
    Path rules = Files.createTempFile("viva-fatjar-rules", ".yaml");
    Files.writeString(rules, """
        domain: edge
        descriptors:
          - key: remote_address
            rate_limit: {unit: minute, requests_per_unit: 1}
        """);
    Path log = Files.createTempFile("viva-fatjar", ".log");
    ChildServer child = ChildServer.serve(null, Map.of("ACCESS_LOG", "true", "ENVOY_CONFIG", rules.toString()), log, "128m");
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
      assertThat(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + actual + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString()).body()).contains("jvm_memory_used_bytes");
      HttpResponse<String> json = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + actual + "/json"))
          .POST(HttpRequest.BodyPublishers.ofString("{\"domain\":\"edge\",\"descriptors\":[{\"entries\":"
              + "[{\"key\":\"remote_address\",\"value\":\"10.0.0.1\"}]}]}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(json.body()).contains("\"overallCode\":\"OK\"");
      grpc(actual);
    } finally {
      exit = child.stop(); // SIGTERM
      Files.delete(rules);
    }
    String output = child.output();
    Files.delete(log);
    assertThat(exit).as(output).isZero();
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
