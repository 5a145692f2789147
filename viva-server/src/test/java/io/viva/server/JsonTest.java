package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class JsonTest {

  @Property
  void isoSecondsMatchesInstant(@ForAll @LongRange(min = 0, max = 253_402_300_799L) long epochSecond) {
    assertThat(Json.isoSeconds(new StringBuilder(), epochSecond).toString())
        .isEqualTo("\"" + Instant.ofEpochSecond(epochSecond) + "\"");
  }

  @Property
  void stringsRoundTripThroughAJsonParser(@ForAll String s) throws Exception {
    String json = Json.string(new StringBuilder(), s).toString();
    String parsed = TestServer.JSON.readTree(json).textValue();
    // Lone surrogates are escaped and come back as themselves.
    assertThat(parsed).isEqualTo(s);
  }

  @Test
  void secondsAreRoundedUpToTheMillisecond() {
    assertThat(Json.seconds(new StringBuilder(), 0, 0).toString()).isEqualTo("0");
    assertThat(Json.seconds(new StringBuilder(), 0, 1).toString()).isEqualTo("0.0");
    assertThat(Json.seconds(new StringBuilder(), 250_000, 0).toString()).isEqualTo("0.25");
    assertThat(Json.seconds(new StringBuilder(), 220_001, 1).toString()).isEqualTo("0.221");
    assertThat(Json.seconds(new StringBuilder(), 1, 0).toString()).isEqualTo("0.001");
    assertThat(Json.seconds(new StringBuilder(), 3_600_000_000L, 0).toString()).isEqualTo("3600");
    assertThat(Json.seconds(new StringBuilder(), 1_500_000, 1).toString()).isEqualTo("1.5");
  }

  @Test
  void decimalsAreRoundedDownWithOneDecimalAtLeast() {
    assertThat(Json.decimal(new StringBuilder(), 7.4).toString()).isEqualTo("7.4");
    assertThat(Json.decimal(new StringBuilder(), 100).toString()).isEqualTo("100.0");
    assertThat(Json.decimal(new StringBuilder(), 0).toString()).isEqualTo("0.0");
    assertThat(Json.decimal(new StringBuilder(), 0.8999).toString()).isEqualTo("0.899");
    assertThat(Json.decimal(new StringBuilder(), Double.NaN).toString()).isEqualTo("0.0");
  }

  @Property
  void decimalIsAJsonNumberNeverAboveTheValue(@ForAll @DoubleRange(min = 0, max = 1e9) double v) throws Exception {
    double parsed = TestServer.JSON.readTree(Json.decimal(new StringBuilder(), v).toString()).doubleValue();
    assertThat(parsed).isLessThanOrEqualTo(v).isGreaterThanOrEqualTo(v - 0.0011);
  }

  @Test
  void errorBodies() throws Exception {
    var node = TestServer.JSON.readTree(Json.error("invalid_request", "x: \"q\"\n(expected: y)", "id-1"));
    assertThat(node.get("error").asText()).isEqualTo("invalid_request");
    assertThat(node.get("message").asText()).isEqualTo("x: \"q\"\n(expected: y)");
    assertThat(node.get("request_id").asText()).isEqualTo("id-1");
  }
}
