package io.viva.server.admin;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Who may call the admin API. Standalone mode checks one bearer token ({@link #bearerToken});
 * full mode plugs in API keys with roles by implementing this interface, deciding per
 * {@link Action}.
 */
public interface AdminAuth {

  /** What a request wants to do: read state, or change it (reset, replace policies). */
  enum Action { READ, WRITE }

  /** The outcome of {@link #authorize}. */
  sealed interface Result permits Granted, Denied {}

  /** Let through; {@code principal} names the caller in audit records (never a secret). */
  record Granted(String principal) implements Result {}

  /**
   * Refused with an HTTP status (401 unknown caller, 403 not allowed or admin disabled), a stable
   * code, a message for the caller, and the {@code WWW-Authenticate} challenge for a 401 (or null).
   */
  record Denied(int status, String code, String message, String challenge) implements Result {}

  /** Decides a request by its {@code Authorization} header (null when absent). */
  Result authorize(String authorizationHeader, Action action);

  /**
   * {@link #authorize}, for implementations that may have to look a token up (full mode's
   * database): then the answer may complete later, off the event loop. The default answers at once.
   */
  default CompletionStage<Result> authorizeAsync(String authorizationHeader, Action action) {
    return CompletableFuture.completedFuture(authorize(authorizationHeader, action));
  }

  /**
   * Standalone mode: {@code Authorization: Bearer <token>}, compared in constant time; every
   * action allowed. With a null token every request is refused with 403 (admin disabled).
   */
  static AdminAuth bearerToken(String token) {
    return new BearerTokenAuth(token);
  }
}
