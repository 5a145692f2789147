package io.viva.bench.load;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ResponseParserTest {

  private static final String STREAM = ""
      + "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}"
      + "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"
      + "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
      + "HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n"
      + "10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n"
      + "HTTP/1.1 201 Created\r\nCONTENT-LENGTH:3\r\nConnection: close\r\n\r\nabc";

  @Test
  void framesEveryResponseWhereverTheBytesAreSplit() {
    byte[] bytes = STREAM.getBytes(StandardCharsets.US_ASCII);
    Random random = new Random(42);
    for (int run = 0; run < 2_000; run++) {
      ResponseParser parser = new ResponseParser();
      List<Integer> statuses = new ArrayList<>();
      byte[] buf = new byte[bytes.length];
      int start = 0;
      int end = 0;
      int fed = 0;
      while (fed < bytes.length) {
        int n = run == 0 ? 1 : 1 + random.nextInt(bytes.length - fed);
        System.arraycopy(bytes, fed, buf, end, n);
        fed += n;
        end += n;
        start = parser.parse(buf, start, end, statuses::add);
      }
      assertThat(statuses).containsExactly(200, 429, 204, 502, 201);
      assertThat(start).isEqualTo(end);
      assertThat(parser.closeSeen()).isTrue();
    }
  }

  @Test
  void aHeadWithoutItsBlankLineWaitsForMoreBytes() {
    byte[] part = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".getBytes(StandardCharsets.US_ASCII);
    List<Integer> statuses = new ArrayList<>();
    assertThat(new ResponseParser().parse(part, 0, part.length, statuses::add)).isZero();
    assertThat(statuses).isEmpty();
  }

  @Test
  void encodesRequestsWithTheirKeyContentLengthAndApiKey() {
    RequestTemplate template = new RequestTemplate("POST", URI.create("http://127.0.0.1:8080/v1/check?x=1"),
        "{\"identifier\":\"user-%d\"}", 1000, new String[] {"k1", "k2"});
    ByteBuffer out = ByteBuffer.allocate(4096);
    assertThat(template.encode(1234, out)).isTrue();
    assertThat(template.encode(7, out)).isTrue();
    String text = new String(out.array(), 0, out.position(), StandardCharsets.US_ASCII);
    assertThat(text).isEqualTo(""
        + "POST /v1/check?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
        + "X-API-Key: k1\r\nContent-Length: 25\r\n\r\n{\"identifier\":\"user-234\"}"
        + "POST /v1/check?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
        + "X-API-Key: k2\r\nContent-Length: 23\r\n\r\n{\"identifier\":\"user-7\"}");
    assertThat(template.maxSize()).isGreaterThan(100);
    ByteBuffer tiny = ByteBuffer.allocate(10);
    assertThat(template.encode(1, tiny)).isFalse();
    assertThat(tiny.position()).isZero();
  }

  @Test
  void getRequestsHaveNoBodyHeaders() {
    RequestTemplate template = new RequestTemplate("GET", URI.create("http://localhost:9/"), null, 1, null);
    ByteBuffer out = ByteBuffer.allocate(256);
    template.encode(0, out);
    assertThat(new String(out.array(), 0, out.position(), StandardCharsets.US_ASCII))
        .isEqualTo("GET / HTTP/1.1\r\nHost: localhost:9\r\n\r\n");
  }
}
