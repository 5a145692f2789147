package io.viva.server;

import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.reflection.v1.ErrorResponse;
import io.vertx.grpc.reflection.v1.ExtensionNumberResponse;
import io.vertx.grpc.reflection.v1.FileDescriptorResponse;
import io.vertx.grpc.reflection.v1.ListServiceResponse;
import io.vertx.grpc.reflection.v1.ServerReflectionProto;
import io.vertx.grpc.reflection.v1.ServerReflectionRequest;
import io.vertx.grpc.reflection.v1.ServerReflectionResponse;
import io.vertx.grpc.reflection.v1.ServiceResponse;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.Service;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * gRPC server reflection (v1, what grpcurl and Postman ask): lists the services and returns the
 * descriptor files of a symbol or file name with their dependencies. Answers every request of a
 * stream (Vert.x 5.0's own reflection handler ends the stream after the first). The tables are
 * built once, from the services' descriptors.
 */
final class GrpcReflection {

  static final ServiceName NAME = ServiceName.create("grpc.reflection.v1.ServerReflection");
  private static final ServiceMethod<ServerReflectionRequest, ServerReflectionResponse> INFO = ServiceMethod.server(
      NAME, "ServerReflectionInfo", GrpcMessageEncoder.encoder(),
      GrpcApi.decoder(ServerReflectionRequest.parser()));

  private final ListServiceResponse services;
  private final Map<String, FileDescriptor> byFile = new HashMap<>();
  private final Map<String, FileDescriptor> bySymbol = new HashMap<>();

  GrpcReflection(List<ServiceDescriptor> descriptors) {
    ListServiceResponse.Builder list = ListServiceResponse.newBuilder();
    for (ServiceDescriptor s : descriptors) {
      list.addService(ServiceResponse.newBuilder().setName(s.getFullName()));
      index(s.getFile());
    }
    list.addService(ServiceResponse.newBuilder().setName(NAME.fullyQualifiedName()));
    index(ServerReflectionProto.getDescriptor());
    this.services = list.build();
  }

  private void index(FileDescriptor file) {
    if (byFile.putIfAbsent(file.getName(), file) != null) {
      return;
    }
    String pkg = file.getPackage().isEmpty() ? "" : file.getPackage() + ".";
    file.getServices().forEach(s -> {
      bySymbol.put(s.getFullName(), file);
      s.getMethods().forEach(m -> bySymbol.put(m.getFullName(), file));
    });
    file.getMessageTypes().forEach(m -> indexMessage(m, file));
    file.getEnumTypes().forEach(e -> bySymbol.put(e.getFullName(), file));
    bySymbol.putIfAbsent(pkg.isEmpty() ? file.getName() : pkg.substring(0, pkg.length() - 1), file);
    file.getDependencies().forEach(this::index);
  }

  private void indexMessage(com.google.protobuf.Descriptors.Descriptor m, FileDescriptor file) {
    bySymbol.put(m.getFullName(), file);
    m.getNestedTypes().forEach(n -> indexMessage(n, file));
    m.getEnumTypes().forEach(e -> bySymbol.put(e.getFullName(), file));
  }

  /** The reflection service, to add to a gRPC server. */
  Service service() {
    return Service.service(NAME, ServerReflectionProto.getDescriptor().findServiceByName("ServerReflection"))
        .bind(INFO, this::handle).build();
  }

  private void handle(GrpcServerRequest<ServerReflectionRequest, ServerReflectionResponse> request) {
    request.handler(req -> {
      if (req == null) {
        request.response().status(io.vertx.grpc.common.GrpcStatus.INVALID_ARGUMENT)
            .statusMessage("message: not a valid ServerReflectionRequest").end();
      } else {
        request.response().write(answer(req));
      }
    });
    request.endHandler(v -> request.response().end());
  }

  ServerReflectionResponse answer(ServerReflectionRequest req) {
    ServerReflectionResponse.Builder b = ServerReflectionResponse.newBuilder().setValidHost(req.getHost())
        .setOriginalRequest(req);
    switch (req.getMessageRequestCase()) {
      case LIST_SERVICES -> b.setListServicesResponse(services);
      case FILE_BY_FILENAME -> files(b, byFile.get(req.getFileByFilename()), "file " + req.getFileByFilename());
      case FILE_CONTAINING_SYMBOL -> files(b, bySymbol.get(req.getFileContainingSymbol()),
          "symbol " + req.getFileContainingSymbol());
      case ALL_EXTENSION_NUMBERS_OF_TYPE -> {
        if (bySymbol.containsKey(req.getAllExtensionNumbersOfType())) {
          b.setAllExtensionNumbersResponse(ExtensionNumberResponse.newBuilder()
              .setBaseTypeName(req.getAllExtensionNumbersOfType()));
        } else {
          notFound(b, "type " + req.getAllExtensionNumbersOfType());
        }
      }
      default -> notFound(b, "extension or request " + req.getMessageRequestCase());
    }
    return b.build();
  }

  /** The file and every file it depends on, dependencies after it. */
  private static void files(ServerReflectionResponse.Builder b, FileDescriptor file, String what) {
    if (file == null) {
      notFound(b, what);
      return;
    }
    Map<String, FileDescriptor> out = new LinkedHashMap<>();
    Deque<FileDescriptor> todo = new ArrayDeque<>(List.of(file));
    while (!todo.isEmpty()) {
      FileDescriptor f = todo.poll();
      if (out.putIfAbsent(f.getName(), f) == null) {
        todo.addAll(f.getDependencies());
      }
    }
    FileDescriptorResponse.Builder r = FileDescriptorResponse.newBuilder();
    out.values().forEach(f -> r.addFileDescriptorProto(f.toProto().toByteString()));
    b.setFileDescriptorResponse(r);
  }

  private static void notFound(ServerReflectionResponse.Builder b, String what) {
    b.setErrorResponse(ErrorResponse.newBuilder().setErrorCode(5).setErrorMessage(what + " not found"));
  }
}
