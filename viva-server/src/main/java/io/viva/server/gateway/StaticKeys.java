package io.viva.server.gateway;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** {@link ClientResolver#staticKeys}: the key's SHA-256 identifies the client; no key is refused. */
final class StaticKeys implements ClientResolver {

  private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  });

  private final GatewayConfig.ApiKey config;

  StaticKeys(GatewayConfig.ApiKey config) {
    this.config = config;
  }

  @Override
  public CompletionStage<Client> resolve(String apiKey) {
    String hash = sha256(apiKey);
    String policy = config.tiers().getOrDefault(hash, config.policy());
    // 128 bits of the hash key the counters; 12 hex digits are enough to tell clients apart in logs.
    return CompletableFuture.completedFuture(Client.of("key:" + hash.substring(0, 32), hash.substring(0, 12), policy));
  }

  /** The SHA-256 of the key's UTF-8 bytes, lower-case hex. */
  static String sha256(String key) {
    return HexFormat.of().formatHex(SHA256.get().digest(key.getBytes(StandardCharsets.UTF_8)));
  }
}
