package io.viva.platform;

import java.time.Instant;

/**
 * One line of the audit log. Never holds key material or tokens: targets are ids.
 *
 * @param id increasing sequence number
 * @param at when
 * @param actor who: {@code token:<id>}, {@code bootstrap}, {@code config}
 * @param action what, e.g. {@code key.create}, {@code key.revoke}, {@code token.create}, {@code tier.update}
 * @param target the id acted on, or null
 * @param sourceIp the client's address, or null
 * @param result {@code success}, {@code denied}, {@code not_found}, {@code invalid} or {@code failed}
 * @param detail a short description, or null
 */
public record AuditEntry(long id, Instant at, String actor, String action, String target, String sourceIp,
    String result, String detail) {}
