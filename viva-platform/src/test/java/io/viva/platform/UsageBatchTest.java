package io.viva.platform;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The wire form of usage batches: round trip, and malformed input refused with a reason. */
class UsageBatchTest {

  @Test
  void roundTrips() {
    UsageBatch b = new UsageBatch("i1-abc-1", "i1", List.of(
        new UsageBatch.Count("key_AbC123", 29_000_000, UsageOutcome.ALLOWED, "pro", 12),
        new UsageBatch.Count("key_AbC123", 29_000_000, UsageOutcome.RATE_LIMITED, "pro", 3)));
    UsageBatch back = UsageBatch.decode(b.encode());
    assertThat(back).isEqualTo(b);
    assertThat(back.events()).isEqualTo(15);
  }

  @Test
  void refusesMalformedInput() {
    for (String bad : List.of("", "viva-usage 2\nid a\nsource b\n", "viva-usage 1\nid a\nsource b\nkey_x 1 allowed pro\n",
        "viva-usage 1\nid a\nsource b\nkey_x 1 nope pro 1\n", "viva-usage 1\nid a\nsource b\nkey_x -1 allowed pro 1\n",
        "viva-usage 1\nid a\nsource b\nkey_x 1 allowed pro 0\n", "viva-usage 1\nid a b\nsource b\n",
        "viva-usage 1\nid a\nsource b\nnot_a_key 1 allowed pro 1\n")) {
      assertThatThrownBy(() -> UsageBatch.decode(bad.getBytes(StandardCharsets.UTF_8)))
          .as(bad).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void pricingChecksItsSteps() {
    assertThatThrownBy(() -> new Pricing("USD", 0, 100, List.of(new Pricing.Step(50L, 1))))
        .hasMessageContaining("up_to");
    assertThatThrownBy(() -> new Pricing("USD", 0, 100, List.of(new Pricing.Step(null, 1), new Pricing.Step(500L, 1))))
        .hasMessageContaining("only the last step");
    assertThatThrownBy(() -> new Pricing("usd", 0, 100, List.of())).hasMessageContaining("currency");
    assertThat(Billing.lines("key_a", "pro", 0, new Pricing("USD", 0, 100, List.of()))).hasSize(1);
  }
}
