package io.viva.platform;

import java.time.Instant;

/**
 * An admin API token as stored (its hash only; the secret is shown once).
 *
 * @param id identifier, {@code tok_...}
 * @param name human label
 * @param role what it may do
 * @param visibleStart the secret's first characters, for display
 * @param createdAt when created
 * @param createdBy the actor who created it
 * @param revokedAt when revoked, or null
 */
public record AdminToken(String id, String name, Role role, String visibleStart, Instant createdAt, String createdBy,
    Instant revokedAt) {}
