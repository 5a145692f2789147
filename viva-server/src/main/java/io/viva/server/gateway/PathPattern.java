package io.viva.server.gateway;

import java.util.ArrayList;
import java.util.List;

/**
 * An endpoint path pattern, split into segments once at load: a literal segment matches itself,
 * {@code *} matches any one segment, and a final {@code **} matches any rest (also none). Matching
 * walks the path's characters against the segments without allocating (no regular expressions).
 */
final class PathPattern {

  private static final String ONE = "*";
  private static final String REST = "**";

  private final String text;
  private final String[] segments;
  private final boolean rest;

  private PathPattern(String text, String[] segments, boolean rest) {
    this.text = text;
    this.segments = segments;
    this.rest = rest;
  }

  /**
   * Parses a pattern such as {@code /api/users/*} or {@code /api/reports/**}.
   *
   * @throws IllegalArgumentException naming the problem
   */
  static PathPattern parse(String pattern) {
    if (pattern.isEmpty() || pattern.charAt(0) != '/') {
      throw new IllegalArgumentException("\"" + pattern + "\" (expected: a path starting with /)");
    }
    List<String> parts = new ArrayList<>();
    int start = 1;
    while (start <= pattern.length()) {
      int slash = pattern.indexOf('/', start);
      int end = slash < 0 ? pattern.length() : slash;
      parts.add(pattern.substring(start, end));
      if (slash < 0) {
        break;
      }
      start = slash + 1;
    }
    boolean rest = false;
    for (int i = 0; i < parts.size(); i++) {
      String p = parts.get(i);
      if (p.equals(REST)) {
        if (i != parts.size() - 1) {
          throw new IllegalArgumentException("\"" + pattern + "\" (expected: ** only as the last segment)");
        }
        rest = true;
      } else if (p.indexOf('*') >= 0 && !p.equals(ONE)) {
        throw new IllegalArgumentException("\"" + pattern + "\" (expected: * or ** as whole segments only)");
      }
    }
    if (rest) {
      parts.remove(parts.size() - 1);
    }
    return new PathPattern(pattern, parts.toArray(new String[0]), rest);
  }

  /** Whether {@code path} (starting with /, without the query) matches. */
  boolean matches(String path) {
    if (path.isEmpty() || path.charAt(0) != '/') {
      return false;
    }
    int pos = 1;
    for (int i = 0; i < segments.length; i++) {
      if (pos > path.length()) {
        return false;
      }
      int slash = path.indexOf('/', pos);
      int end = slash < 0 ? path.length() : slash;
      String seg = segments[i];
      if (seg != ONE && !seg.equals(ONE)) {
        if (end - pos != seg.length() || !path.regionMatches(pos, seg, 0, seg.length())) {
          return false;
        }
      }
      if (slash < 0) {
        pos = path.length() + 1;
      } else {
        pos = slash + 1;
      }
    }
    if (rest) {
      return true;
    }
    return pos == path.length() + 1;
  }

  @Override
  public String toString() {
    return text;
  }
}
