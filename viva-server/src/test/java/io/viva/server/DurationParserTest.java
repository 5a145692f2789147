package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class DurationParserTest {

  @Test
  void parsesUnitsAndCombinations() {
    assertThat(DurationParser.parse("500ms", "w")).isEqualTo(Duration.ofMillis(500));
    assertThat(DurationParser.parse("1s", "w")).isEqualTo(Duration.ofSeconds(1));
    assertThat(DurationParser.parse("5m", "w")).isEqualTo(Duration.ofMinutes(5));
    assertThat(DurationParser.parse("1h", "w")).isEqualTo(Duration.ofHours(1));
    assertThat(DurationParser.parse("1d", "w")).isEqualTo(Duration.ofDays(1));
    assertThat(DurationParser.parse("1h30m", "w")).isEqualTo(Duration.ofMinutes(90));
    assertThat(DurationParser.parse(" 2m500ms ", "w")).isEqualTo(Duration.ofMillis(120_500));
    assertThat(DurationParser.parse("250us", "w")).isEqualTo(Duration.ofNanos(250_000));
  }

  @Test
  void errorsNameTheValueAndTheExpectedForm() {
    for (String bad : new String[] {"", "5", "5x", "m", "1.5s", "-1s", "1m1h", "1s1s", "0s", "1 h", "99999999999999d"}) {
      assertThatThrownBy(() -> DurationParser.parse(bad, "policies[0].window"))
          .as(bad).isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("policies[0].window: ")
          .hasMessageContaining("expected: ");
    }
    assertThatThrownBy(() -> DurationParser.parse("5x", "w")).hasMessage(
        "w: \"5x\" (expected: a duration like 500ms, 1s, 5m, 1h30m or 1d)");
  }

  @Test
  void formats() {
    assertThat(DurationParser.format(Duration.ofMinutes(90))).isEqualTo("1h30m");
    assertThat(DurationParser.format(Duration.ofMillis(1500))).isEqualTo("1s500ms");
    assertThat(DurationParser.format(Duration.ofDays(2))).isEqualTo("2d");
  }

  @Property
  void formatThenParseIsIdentity(@ForAll @LongRange(min = 1, max = 400L * 86_400_000_000L) long micros) {
    Duration d = Duration.ofSeconds(micros / 1_000_000, (micros % 1_000_000) * 1_000);
    assertThat(DurationParser.parse(DurationParser.format(d), "w")).isEqualTo(d);
  }
}
