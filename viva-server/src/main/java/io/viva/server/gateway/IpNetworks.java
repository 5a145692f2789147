package io.viva.server.gateway;

import io.netty.util.NetUtil;
import java.util.List;

/**
 * A set of IP addresses and CIDR blocks (IPv4 and IPv6; an IPv4-mapped IPv6 address counts as
 * its IPv4 address). Parsed once at load with Netty's literal parser, which never resolves names,
 * so checking an address on the event loop cannot block.
 */
final class IpNetworks {

  private final byte[][] networks;
  private final int[] prefixes;

  private IpNetworks(byte[][] networks, int[] prefixes) {
    this.networks = networks;
    this.prefixes = prefixes;
  }

  /**
   * Parses {@code 10.0.0.0/8}, {@code 127.0.0.1}, {@code ::1}, {@code fd00::/8} ...
   *
   * @throws IllegalArgumentException naming the bad entry
   */
  static IpNetworks parse(List<String> entries) {
    byte[][] nets = new byte[entries.size()][];
    int[] prefixes = new int[entries.size()];
    for (int i = 0; i < entries.size(); i++) {
      String e = entries.get(i).trim();
      int slash = e.indexOf('/');
      byte[] addr = bytes(slash < 0 ? e : e.substring(0, slash));
      if (addr == null) {
        throw new IllegalArgumentException("\"" + e + "\" (expected: an IP address or CIDR block such as 10.0.0.0/8)");
      }
      int bits = addr.length * 8;
      int prefix = bits;
      if (slash >= 0) {
        try {
          prefix = Integer.parseInt(e.substring(slash + 1));
        } catch (NumberFormatException ex) {
          prefix = -1;
        }
        if (prefix < 0 || prefix > bits) {
          throw new IllegalArgumentException("\"" + e + "\" (expected: a prefix length from 0 to " + bits + ")");
        }
      }
      nets[i] = addr;
      prefixes[i] = prefix;
    }
    return new IpNetworks(nets, prefixes);
  }

  /** The address bytes of an IP literal (4 for IPv4, IPv4-mapped IPv6 included), or null. */
  static byte[] bytes(String literal) {
    String s = literal;
    if (s.startsWith("[") && s.endsWith("]")) {
      s = s.substring(1, s.length() - 1);
    }
    byte[] b = NetUtil.createByteArrayFromIpAddressString(s);
    if (b != null && b.length == 16 && isV4Mapped(b)) {
      return new byte[] {b[12], b[13], b[14], b[15]};
    }
    return b;
  }

  private static boolean isV4Mapped(byte[] b) {
    for (int i = 0; i < 10; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return b[10] == (byte) 0xff && b[11] == (byte) 0xff;
  }

  /** Whether the set is empty. */
  boolean isEmpty() {
    return networks.length == 0;
  }

  /** Whether {@code literal} is an IP address inside one of the networks. */
  boolean contains(String literal) {
    if (networks.length == 0 || literal == null) {
      return false;
    }
    byte[] addr = bytes(literal);
    if (addr == null) {
      return false;
    }
    for (int i = 0; i < networks.length; i++) {
      if (networks[i].length == addr.length && matches(networks[i], addr, prefixes[i])) {
        return true;
      }
    }
    return false;
  }

  private static boolean matches(byte[] net, byte[] addr, int prefix) {
    int full = prefix / 8;
    for (int i = 0; i < full; i++) {
      if (net[i] != addr[i]) {
        return false;
      }
    }
    int rest = prefix % 8;
    if (rest == 0) {
      return true;
    }
    int mask = (0xff << (8 - rest)) & 0xff;
    return (net[full] & mask) == (addr[full] & mask);
  }
}
