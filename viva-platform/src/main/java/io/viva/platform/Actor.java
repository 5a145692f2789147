package io.viva.platform;

/**
 * Who performs a change and from where, written into its audit entry.
 *
 * @param name {@code token:<id>}, {@code bootstrap}, {@code config}, ...
 * @param sourceIp the client's address, or null
 */
public record Actor(String name, String sourceIp) {}
