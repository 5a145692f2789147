package io.viva.server.gateway;

import io.viva.core.Decision;
import java.util.concurrent.CompletionStage;

/**
 * Turns the API key of a request into the client it identifies and the policy that limits it.
 * The gateway's own implementation ({@link #staticKeys}) trusts every key: the key identifies the
 * client and a configured policy applies. Full mode plugs in one that verifies keys against its
 * key store and applies the key's tier ({@code PlatformKeys} in the server, with {@code
 * gateway.api_key.keys: platform}); it may complete later (off the event loop), and a refused
 * result is answered with its status (401 for {@link Client#rejected}).
 */
@FunctionalInterface
public interface ClientResolver {

  /** Resolves {@code apiKey} (never null or empty). Implementations must not log the key. */
  CompletionStage<Client> resolve(String apiKey);

  /**
   * A client: {@code id} keys its counters (never the key itself: a hash or an account id),
   * {@code logId} names it in logs, {@code policy} is the namespace that limits it.
   *
   * <p>A resolver that rate limits the key itself while verifying it (full mode's keys and tiers)
   * answers with {@link #verified} (no {@code policy}: the gateway does not limit the key again;
   * {@code decision} and {@code policyHeader} feed the RateLimit headers) or {@link #refused} with
   * its own status (401, 403, 429) and error code; {@code retryAfterSeconds} (when above 0) is sent
   * as {@code Retry-After} with a refusal that has no decision (a used-up quota).
   */
  record Client(String id, String logId, String policy, String rejection, int status, String code,
      String policyHeader, Decision decision, long retryAfterSeconds) {
    /** An accepted client. */
    public static Client of(String id, String logId, String policy) {
      return new Client(id, logId, policy, null, 0, null, null, null, 0);
    }

    /** A key that is refused (unknown, revoked) with 401; {@code reason} is shown to the caller. */
    public static Client rejected(String reason) {
      return refused(401, "invalid_api_key", reason, null, null);
    }

    /** An accepted client whose key's limits the resolver already applied ({@code decision}, allowed). */
    public static Client verified(String id, String logId, String policyHeader, Decision decision) {
      return new Client(id, logId, null, null, 0, null, policyHeader, decision, 0);
    }

    /**
     * A refused key: answered with {@code status} and the JSON error {@code code}/{@code reason},
     * with the RateLimit headers of {@code decision} when not null (a 429).
     */
    public static Client refused(int status, String code, String reason, String policyHeader, Decision decision) {
      return new Client(null, null, null, reason, status, code, policyHeader, decision, 0);
    }

    /** A refused key without a decision, to be retried after {@code seconds} (e.g. a used-up quota: next month). */
    public static Client refused(int status, String code, String reason, long seconds) {
      return new Client(null, null, null, reason, status, code, null, null, seconds);
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
