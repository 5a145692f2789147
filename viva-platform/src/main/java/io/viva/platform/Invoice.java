package io.viva.platform;

import java.time.Instant;
import java.util.List;

/**
 * A closed billing period of one owner: line items per key, in integer minor units.
 *
 * @param id deterministic from owner and period ({@code inv_...})
 * @param ownerId the owner (a key without owner is billed under its key id)
 * @param period {@code YYYY-MM}
 * @param currency ISO 4217
 * @param total the sum of the lines' amounts
 * @param requests allowed requests billed
 * @param issuedAt when the period was closed
 * @param lines the line items
 */
public record Invoice(String id, String ownerId, String period, String currency, long total, long requests,
    Instant issuedAt, List<Line> lines) {

  /**
   * One line item.
   *
   * @param keyId the key billed
   * @param tier its tier for the period
   * @param kind {@code base}, {@code included} or {@code overage}
   * @param description human text
   * @param quantity requests (1 for the base price)
   * @param unitPrice price per 1,000 requests for overage lines, else null
   * @param amount minor units
   */
  public record Line(String keyId, String tier, String kind, String description, long quantity, Long unitPrice,
      long amount) {}
}
