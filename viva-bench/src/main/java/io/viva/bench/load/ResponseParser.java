package io.viva.bench.load;

import java.util.function.IntConsumer;

/**
 * An incremental HTTP/1.1 response parser for the load generator: it finds where each response on
 * a keep-alive connection ends (a {@code Content-Length} body, a chunked body, or no body) and
 * reports its status code, without building any objects per response.
 *
 * <p>It reads only what a load test needs: the status, {@code Content-Length}, {@code
 * Transfer-Encoding: chunked} and {@code Connection: close}. Bytes may arrive split anywhere; the
 * caller keeps the unconsumed tail of its buffer (an incomplete head or chunk-size line) and feeds
 * it again with what the next read adds.
 */
final class ResponseParser {

  private static final int HEAD = 0;
  private static final int BODY = 1;
  private static final int CHUNK_SIZE = 2;
  private static final int CHUNK_DATA = 3;
  private static final int TRAILER = 4;

  private int state = HEAD;
  /** Body or chunk bytes (with the chunk's CRLF) still to skip. */
  private long remaining;
  private int status;
  private boolean closeAfter;
  private boolean closeSeen;

  /**
   * Consumes {@code buf[from, to)}, calling {@code onResponse} with the status of each response
   * that completes, and returns the index of the first byte not consumed (an incomplete line or
   * head, to be fed again with more bytes behind it).
   */
  int parse(byte[] buf, int from, int to, IntConsumer onResponse) {
    int p = from;
    while (p < to) {
      switch (state) {
        case HEAD -> {
          int end = indexOf(buf, p, to, true);
          if (end < 0) {
            return p;
          }
          boolean chunked = parseHead(buf, p, end);
          p = end + 4;
          if (chunked) {
            state = CHUNK_SIZE;
          } else if (remaining > 0) {
            state = BODY;
          } else {
            complete(onResponse);
          }
        }
        case BODY, CHUNK_DATA -> {
          int n = (int) Math.min(remaining, to - p);
          p += n;
          remaining -= n;
          if (remaining == 0) {
            if (state == BODY) {
              complete(onResponse);
            } else {
              state = CHUNK_SIZE;
            }
          }
        }
        case CHUNK_SIZE -> {
          int eol = indexOf(buf, p, to, false);
          if (eol < 0) {
            return p;
          }
          long size = parseHex(buf, p, eol);
          p = eol + 2;
          if (size == 0) {
            state = TRAILER;
          } else {
            remaining = size + 2;
            state = CHUNK_DATA;
          }
        }
        case TRAILER -> {
          int eol = indexOf(buf, p, to, false);
          if (eol < 0) {
            return p;
          }
          boolean empty = eol == p;
          p = eol + 2;
          if (empty) {
            complete(onResponse);
          }
        }
        default -> throw new IllegalStateException("state " + state);
      }
    }
    return p;
  }

  /** Whether a response so far said {@code Connection: close}: the server will close after it. */
  boolean closeSeen() {
    return closeSeen;
  }

  private void complete(IntConsumer onResponse) {
    state = HEAD;
    if (closeAfter) {
      closeSeen = true;
    }
    onResponse.accept(status);
  }

  /** Reads the status line and the headers of {@code buf[from, end)}; returns whether chunked. */
  private boolean parseHead(byte[] buf, int from, int end) {
    // "HTTP/1.1 200 OK": the status is the three digits after the first space.
    int sp = from;
    while (sp < end && buf[sp] != ' ') {
      sp++;
    }
    if (sp + 4 > end) {
      throw new IllegalStateException("not an HTTP response: " + new String(buf, from, Math.min(40, end - from)));
    }
    status = (buf[sp + 1] - '0') * 100 + (buf[sp + 2] - '0') * 10 + (buf[sp + 3] - '0');
    remaining = 0;
    closeAfter = false;
    boolean chunked = false;
    int line = indexOf(buf, from, end, false);
    while (line >= 0 && line < end) {
      int start = line + 2;
      int eol = indexOf(buf, start, end, false);
      int stop = eol < 0 ? end : eol;
      int colon = start;
      while (colon < stop && buf[colon] != ':') {
        colon++;
      }
      if (colon < stop) {
        int value = colon + 1;
        while (value < stop && buf[value] == ' ') {
          value++;
        }
        if (nameIs(buf, start, colon, "content-length")) {
          long n = 0;
          for (int i = value; i < stop && buf[i] >= '0' && buf[i] <= '9'; i++) {
            n = n * 10 + (buf[i] - '0');
          }
          remaining = n;
        } else if (nameIs(buf, start, colon, "transfer-encoding")) {
          chunked = containsIgnoreCase(buf, value, stop, "chunked");
        } else if (nameIs(buf, start, colon, "connection")) {
          closeAfter = containsIgnoreCase(buf, value, stop, "close");
        }
      }
      line = eol;
    }
    // 1xx, 204 and 304 answers have no body whatever their headers say.
    if (status < 200 || status == 204 || status == 304) {
      remaining = 0;
      chunked = false;
    }
    return chunked;
  }

  /** The index of the next CRLF (or, with {@code blank}, CRLFCRLF) in {@code buf[from, to)}, or -1. */
  private static int indexOf(byte[] buf, int from, int to, boolean blank) {
    int need = blank ? 4 : 2;
    for (int i = from; i + need <= to; i++) {
      if (buf[i] == '\r' && buf[i + 1] == '\n' && (!blank || (buf[i + 2] == '\r' && buf[i + 3] == '\n'))) {
        return i;
      }
    }
    return -1;
  }

  private static boolean nameIs(byte[] buf, int from, int to, String lowerName) {
    if (to - from != lowerName.length()) {
      return false;
    }
    for (int i = 0; i < lowerName.length(); i++) {
      if ((buf[from + i] | 0x20) != lowerName.charAt(i)) { // header names: letters and '-', which | 0x20 keeps
        return false;
      }
    }
    return true;
  }

  private static boolean containsIgnoreCase(byte[] buf, int from, int to, String lowerWord) {
    outer:
    for (int i = from; i + lowerWord.length() <= to; i++) {
      for (int j = 0; j < lowerWord.length(); j++) {
        if ((buf[i + j] | 0x20) != lowerWord.charAt(j)) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  private static long parseHex(byte[] buf, int from, int to) {
    long n = 0;
    for (int i = from; i < to; i++) {
      int c = buf[i];
      int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
      if (d < 0) {
        break; // chunk extensions (";name=value") and spaces end the size
      }
      n = n * 16 + d;
    }
    return n;
  }
}
