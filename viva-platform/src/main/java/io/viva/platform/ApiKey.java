package io.viva.platform;

import java.time.Instant;
import java.util.Objects;

/**
 * One API key as stored, without its secret: the secret is shown once at creation (and rotation)
 * and only its hash is kept.
 *
 * <p>{@code id} is the key's stable identity: usage, quotas, billing and rate limit counters are
 * per id, so a rotation (a new secret for the same id) keeps them.
 *
 * @param id stable identifier, {@code key_...}
 * @param name human label
 * @param ownerId the customer (external id in the provider's system), or null
 * @param tier the tier name
 * @param environment {@code live} or {@code test} (the secret's prefix)
 * @param limits per-key limits overriding the tier's, as the JSON list of limits of a policy file; null for the tier's
 * @param monthlyQuota per-key monthly request quota overriding the tier's, or null
 * @param metadata a JSON object of the provider's own fields, or null
 * @param enabled false while disabled by an operator
 * @param visibleStart the secret's prefix and first characters, for display
 * @param createdAt when created
 * @param updatedAt when last changed
 * @param expiresAt when it stops verifying, or null for never
 * @param revokedAt when revoked, or null
 * @param lastUsedAt when last verified VALID (approximate: flushed in batches), or null
 * @param rotatedAt when the secret was last rotated, or null
 * @param previousValidUntil until when the secret replaced by the last rotation still verifies, or null
 * @param version increases with every change (optimistic concurrency, cache checks)
 */
public record ApiKey(String id, String name, String ownerId, String tier, String environment, String limits,
    Long monthlyQuota, String metadata, boolean enabled, String visibleStart, Instant createdAt, Instant updatedAt,
    Instant expiresAt, Instant revokedAt, Instant lastUsedAt, Instant rotatedAt, Instant previousValidUntil,
    long version) {

  /** Checks the required fields. */
  public ApiKey {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(tier, "tier");
    Objects.requireNonNull(environment, "environment");
    Objects.requireNonNull(visibleStart, "visibleStart");
    Objects.requireNonNull(createdAt, "createdAt");
    Objects.requireNonNull(updatedAt, "updatedAt");
  }

  /** The state at {@code now}: revoked wins over disabled, which wins over expired. */
  public KeyState state(Instant now) {
    if (revokedAt != null) {
      return KeyState.REVOKED;
    }
    if (!enabled) {
      return KeyState.DISABLED;
    }
    if (expiresAt != null && !now.isBefore(expiresAt)) {
      return KeyState.EXPIRED;
    }
    return KeyState.ACTIVE;
  }
}
