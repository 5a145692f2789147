package io.viva.server.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class HeavyHittersTest {

  @Test
  void exactWhileUnderCapacity() {
    HeavyHitters h = new HeavyHitters(4);
    for (int i = 0; i < 5; i++) {
      h.add("a", 1);
    }
    h.add("b", 2);
    h.add("c", 1);
    assertThat(h.evicted()).isFalse();
    assertThat(h.maxError()).isZero();
    assertThat(h.top(2)).containsExactly(new HeavyHitters.Entry("a", 5, 0), new HeavyHitters.Entry("b", 2, 0));
    assertThat(h.estimate("zzz").count()).isZero();
  }

  @Test
  void aNewKeyTakesOverTheSmallestCounterWithItAsError() {
    HeavyHitters h = new HeavyHitters(2);
    h.add("a", 3);
    h.add("b", 1);
    h.add("c", 1);
    assertThat(h.evicted()).isTrue();
    assertThat(h.top(5)).containsExactly(new HeavyHitters.Entry("a", 3, 0), new HeavyHitters.Entry("c", 2, 1));
    assertThat(h.estimate("b")).isEqualTo(new HeavyHitters.Entry("b", 2, 2));
  }

  @Test
  void mergeOfExactPartsIsExact() {
    HeavyHitters x = new HeavyHitters(3);
    x.add("a", 2);
    x.add("b", 1);
    HeavyHitters y = new HeavyHitters(3);
    y.add("a", 1);
    y.add("c", 4);
    HeavyHitters m = HeavyHitters.merge(List.of(x, y), 3);
    assertThat(m.total()).isEqualTo(8);
    assertThat(m.top(3)).containsExactly(new HeavyHitters.Entry("c", 4, 0), new HeavyHitters.Entry("a", 3, 0),
        new HeavyHitters.Entry("b", 1, 0));
    assertThat(m.copy().top(3)).isEqualTo(m.top(3));
  }

  @Test
  void rejectsBadArguments() {
    assertThatThrownBy(() -> new HeavyHitters(0)).hasMessageContaining("capacity: 0");
    assertThatThrownBy(() -> new HeavyHitters(1).add("a", 0)).hasMessageContaining("weight: 0");
  }
}
