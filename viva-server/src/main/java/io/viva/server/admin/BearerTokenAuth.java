package io.viva.server.admin;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The standalone admin check: one shared token. Compared as SHA-256 digests in constant time, so
 * neither the token's content nor its length leaks through timing.
 */
final class BearerTokenAuth implements AdminAuth {

  private final byte[] tokenDigest;

  BearerTokenAuth(String token) {
    this.tokenDigest = token == null ? null : sha256(token);
  }

  @Override
  public Result authorize(String header, Action action) {
    if (tokenDigest == null) {
      return new Denied(403, "admin_disabled", "the admin API is disabled (expected: set ADMIN_TOKEN, or"
          + " server.admin_token in the config file, and send Authorization: Bearer <token>)", null);
    }
    byte[] given = null;
    if (header != null && header.length() > 7 && header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      given = sha256(header.substring(7).trim());
    }
    // Always compare, so a missing header takes as long as a wrong one.
    boolean ok = MessageDigest.isEqual(given != null ? given : new byte[tokenDigest.length], tokenDigest)
        && given != null;
    if (ok) {
      return new Granted("admin-token");
    }
    return new Denied(401, "unauthorized", header == null
        ? "Authorization: missing (expected: Bearer <admin token>)"
        : "Authorization: wrong or malformed token (expected: Bearer <admin token>)",
        "Bearer realm=\"viva-admin\"");
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
