package io.viva.server;

import io.viva.platform.ApiKey;
import io.viva.platform.Verification;
import io.viva.server.gateway.ClientResolver;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The gateway's API keys from full mode ({@code gateway.api_key.keys: platform}): each key is
 * verified and rate limited by its tier (or its own limits) exactly as {@code POST
 * /api/v1/rate-limit/check} does it, through the same {@link io.viva.platform.KeyVerifier} (cached:
 * the database is only read for a key this instance has not seen). Outcomes answer as that
 * endpoint does: unknown or expired 401, disabled or revoked 403, over quota or limit 429.
 */
final class PlatformKeys implements ClientResolver {

  private final FullMode full;

  PlatformKeys(FullMode full) {
    this.full = full;
  }

  @Override
  public CompletionStage<Client> resolve(String apiKey) {
    CompletableFuture<Verification> f = full.verifier.verify(apiKey.trim(), 1);
    return f.handle((v, error) -> {
      if (error != null) {
        full.databaseFailed();
        throw new IllegalStateException("key not cached and the key database is unreachable");
      }
      return client(v);
    });
  }

  private Client client(Verification v) {
    full.count(v, false);
    int status = PlatformApi.status(v.code());
    return switch (v.code()) {
      case VALID -> {
        ApiKey key = v.key();
        yield Client.verified("key:" + key.id(), key.id(), full.policyHeader(v.policy()), v.decision());
      }
      case RATE_LIMITED -> Client.refused(status, "rate_limited", "rate limit exceeded",
          full.policyHeader(v.policy()), v.decision());
      case USAGE_EXCEEDED -> Client.refused(status, "usage_exceeded", "API key: monthly quota used up",
          PlatformApi.secondsToNextMonth());
      case NOT_FOUND -> Client.refused(status, "invalid_api_key", "API key: unknown, malformed or rotated out"
          + " (expected: a valid key)", null, null);
      case DISABLED -> Client.refused(status, "key_disabled", "API key: disabled or revoked", null, null);
      case EXPIRED -> Client.refused(status, "key_expired", "API key: expired", null, null);
    };
  }
}
