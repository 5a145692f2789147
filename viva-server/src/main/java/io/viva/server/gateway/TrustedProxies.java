package io.viva.server.gateway;

import java.util.List;

/**
 * The proxies whose {@code X-Forwarded-For} is believed, and the client address it yields. Used
 * by the gateway for its per-IP limits and by full mode for the anonymous tier: behind a load
 * balancer every peer is the balancer, so without this all anonymous clients would share one
 * allowance.
 */
public final class TrustedProxies {

  private static final TrustedProxies NONE = new TrustedProxies(IpNetworks.parse(List.of()));

  private final IpNetworks networks;

  private TrustedProxies(IpNetworks networks) {
    this.networks = networks;
  }

  /**
   * Parses addresses and CIDR blocks ({@code 10.0.0.0/8}, {@code ::1}); none trusts nobody.
   *
   * @throws IllegalArgumentException naming the bad entry
   */
  public static TrustedProxies of(List<String> entries) {
    return entries.isEmpty() ? NONE : new TrustedProxies(IpNetworks.parse(entries));
  }

  /** Whether {@code peer} is a trusted proxy. */
  public boolean trusts(String peer) {
    return peer != null && networks.contains(peer);
  }

  /**
   * The client's address: the peer's, unless the peer is a trusted proxy; then the right-most
   * address of {@code X-Forwarded-For} that is not itself a trusted proxy (the left-most if all
   * are). Addresses further left were written by whoever the untrusted hop was and are ignored.
   */
  public String clientIp(String peer, String forwardedFor) {
    if (forwardedFor == null || networks.isEmpty() || !trusts(peer)) {
      return peer;
    }
    int end = forwardedFor.length();
    String last = peer;
    while (end > 0) {
      int comma = forwardedFor.lastIndexOf(',', end - 1);
      String candidate = forwardedFor.substring(comma + 1, end).trim();
      end = comma < 0 ? 0 : comma;
      if (candidate.isEmpty()) {
        continue;
      }
      if (IpNetworks.bytes(candidate) == null) {
        // Not an address (garbage, "unknown"): nothing further left can be believed.
        return last;
      }
      last = candidate;
      if (!networks.contains(candidate)) {
        return candidate;
      }
    }
    return last;
  }
}
