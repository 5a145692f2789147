package io.viva.server.gateway;

import io.viva.core.Decision;
import io.viva.core.RateLimiter;

/**
 * Finds the limiter of a policy (a namespace of the server's policies) for one identifier. The
 * server implements it over its hot-reloaded policy registry, so the gateway always sees the
 * policies in force and the store they share (in memory or Redis).
 */
@FunctionalInterface
public interface PolicyLookup {

  /** The policy {@code namespace} as it applies to {@code identifier}, or null if no such namespace exists. */
  Bound find(String namespace, String identifier);

  /** A policy bound to its store, ready to decide. */
  interface Bound {
    /** The limiter deciding. */
    RateLimiter limiter();

    /** The constant {@code RateLimit-Policy} header value. */
    String policyHeader();

    /** Whether the policy only reports (never denies). */
    boolean shadow();

    /** Records one decision in the policy's metrics. */
    void record(Decision decision, long nanos);
  }
}
