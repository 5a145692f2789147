package io.viva.server;

import io.viva.core.Limit;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import io.viva.core.RateLimiter;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The policies in force: an immutable {@link Snapshot} (namespace to limiter, shadow flag and
 * per-identifier overrides) held in an atomic reference. A reload builds a whole new snapshot and
 * swaps it in one write, so a request sees either the old policies or the new ones, never a mix.
 *
 * <p>Counters live in the shared {@link LimitStore}, keyed by policy name, and a store keeps the
 * state of every limit whose parameters are unchanged when a policy is replaced by one of the same
 * name; so a reload keeps the counters of unchanged policies (and of the unchanged limits of
 * changed ones). An override is a separate policy named {@code namespace#identifier}, so its
 * counters never mix with the namespace's.
 */
final class PolicyRegistry {

  private final LimitStore store;
  private final Metrics metrics;
  private final AtomicReference<Snapshot> current = new AtomicReference<>();

  PolicyRegistry(LimitStore store, Metrics metrics, List<PolicyFile.PolicySpec> initial, String source) {
    this.store = store;
    this.metrics = metrics;
    current.set(build(initial, source, 1));
    metrics.policies(() -> current.get().namespaces.size());
  }

  /** The policies in force now; read once per request and use that snapshot throughout. */
  Snapshot snapshot() {
    return current.get();
  }

  /** Replaces every policy at once; returns the new snapshot. */
  synchronized Snapshot replace(List<PolicyFile.PolicySpec> specs, String source) {
    Snapshot next = build(specs, source, current.get().version + 1);
    current.set(next);
    return next;
  }

  private Snapshot build(List<PolicyFile.PolicySpec> specs, String source, long version) {
    Map<String, Namespace> namespaces = new HashMap<>();
    for (PolicyFile.PolicySpec spec : specs) {
      Map<String, Target> overrides = new HashMap<>();
      for (PolicyFile.OverrideSpec o : spec.overrides()) {
        overrides.put(o.identifier(), target(o.policy()));
      }
      namespaces.put(spec.namespace(), new Namespace(spec.namespace(), target(spec.policy()),
          overrides.isEmpty() ? null : Map.copyOf(overrides), spec.shadow(), metrics.namespace(spec.namespace())));
    }
    return new Snapshot(Map.copyOf(namespaces), specs, version, Instant.now(), source);
  }

  private Target target(Policy policy) {
    return new Target(RateLimiter.builder(policy).store(store).build(), policyHeader(policy));
  }

  /** The {@code RateLimit-Policy} field value: one item per limit, {@code "name";q=100;w=60}. */
  static String policyHeader(Policy policy) {
    StringBuilder sb = new StringBuilder();
    for (Limit limit : policy.limits()) {
      if (sb.length() > 0) {
        sb.append(", ");
      }
      sb.append('"').append(limit.name()).append("\";q=").append(limit.limit())
          .append(";w=").append(windowSeconds(limit));
    }
    return sb.toString();
  }

  /** A limit's window in whole seconds, rounded up (the header's unit); at least 1. */
  static long windowSeconds(Limit limit) {
    return Math.max(1, (limit.windowMicros() + 999_999) / 1_000_000);
  }

  /** A policy bound to the store, with its constant header value. */
  record Target(RateLimiter limiter, String policyHeader) {}

  /** One namespace: its own policy, its overrides (null when none) and whether it is in shadow mode. */
  record Namespace(String name, Target main, Map<String, Target> overrides, boolean shadow,
      Metrics.NamespaceMeters meters) {

    /** The policy that applies to {@code identifier}: its override, else the namespace's. */
    Target target(String identifier) {
      if (overrides == null) {
        return main;
      }
      Target t = overrides.get(identifier);
      return t != null ? t : main;
    }
  }

  /** An immutable set of policies, with where and when it was loaded. */
  record Snapshot(Map<String, Namespace> namespaces, List<PolicyFile.PolicySpec> specs, long version,
      Instant loadedAt, String source) {

    Namespace get(String namespace) {
      return namespaces.get(namespace);
    }

    /** The namespaces, sorted, for error messages (at most 20). */
    String names() {
      List<String> names = namespaces.keySet().stream().sorted().limit(20).toList();
      return String.join(", ", names) + (namespaces.size() > 20 ? ", ..." : "");
    }
  }
}
