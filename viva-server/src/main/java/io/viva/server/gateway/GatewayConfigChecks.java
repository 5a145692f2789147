package io.viva.server.gateway;

import java.util.List;

/** The checks the gateway applies when it compiles a configuration, for the parser to run first and report with a path. */
public final class GatewayConfigChecks {

  private GatewayConfigChecks() {}

  /**
   * Checks an endpoint path pattern.
   *
   * @throws IllegalArgumentException with the value and what was expected
   */
  public static void pathPattern(String pattern) {
    PathPattern.parse(pattern);
  }

  /**
   * Checks a trusted proxy entry (an IP address or CIDR block).
   *
   * @throws IllegalArgumentException with the value and what was expected
   */
  public static void network(String entry) {
    IpNetworks.parse(List.of(entry));
  }
}
