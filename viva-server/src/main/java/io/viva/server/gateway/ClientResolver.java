package io.viva.server.gateway;

import java.util.concurrent.CompletionStage;

/**
 * Turns the API key of a request into the client it identifies and the policy that limits it.
 * The gateway's own implementation ({@link #staticKeys}) trusts every key: the key identifies the
 * client and a configured policy applies. Full mode plugs in one that verifies keys against its
 * key store and maps the key's tier to a policy; it may complete later (off the event loop), and
 * a {@link Client#rejected} result is answered with 401.
 */
@FunctionalInterface
public interface ClientResolver {

  /** Resolves {@code apiKey} (never null or empty). Implementations must not log the key. */
  CompletionStage<Client> resolve(String apiKey);

  /**
   * A client: {@code id} keys its counters (never the key itself: a hash or an account id),
   * {@code logId} names it in logs, {@code policy} is the namespace that limits it.
   */
  record Client(String id, String logId, String policy, String rejection) {
    /** An accepted client. */
    public static Client of(String id, String logId, String policy) {
      return new Client(id, logId, policy, null);
    }

    /** A key that is refused (unknown, revoked); {@code reason} is shown to the caller. */
    public static Client rejected(String reason) {
      return new Client(null, null, null, reason);
    }

    /** Whether the key was refused. */
    public boolean isRejected() {
      return rejection != null;
    }
  }

  /**
   * Every key is accepted; the client is identified by the key's SHA-256 and limited by {@code
   * tiers.get(sha256)} or else {@code defaultPolicy}.
   */
  static ClientResolver staticKeys(GatewayConfig.ApiKey config) {
    return new StaticKeys(config);
  }
}
