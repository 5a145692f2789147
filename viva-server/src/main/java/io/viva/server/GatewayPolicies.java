package io.viva.server;

import io.viva.core.Decision;
import io.viva.core.RateLimiter;
import io.viva.server.gateway.PolicyLookup;

/** The gateway's view of the policy registry: the policies in force now, with their overrides and metrics. */
final class GatewayPolicies implements PolicyLookup {

  private final PolicyRegistry registry;

  GatewayPolicies(PolicyRegistry registry) {
    this.registry = registry;
  }

  @Override
  public Bound find(String namespace, String identifier) {
    PolicyRegistry.Namespace ns = registry.snapshot().get(namespace);
    if (ns == null) {
      return null;
    }
    return new Bound(ns, ns.target(identifier));
  }

  private record Bound(PolicyRegistry.Namespace namespace, PolicyRegistry.Target target) implements PolicyLookup.Bound {
    @Override
    public RateLimiter limiter() {
      return target.limiter();
    }

    @Override
    public String policyHeader() {
      return target.policyHeader();
    }

    @Override
    public boolean shadow() {
      return namespace.shadow();
    }

    @Override
    public void record(Decision decision, long nanos) {
      namespace.meters().record(decision.allowed(), !decision.allowed() && namespace.shadow(), nanos);
    }
  }
}
