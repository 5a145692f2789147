package io.viva.bench.load;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class OpenLoopScheduleTest {

  private static final long MS = 1_000_000L;

  @Test
  void takesEveryRequestDueOnceInOrder() {
    // 1,000 a second from t = 5 s: one due every millisecond, the first at the start.
    long start = 5_000 * MS;
    OpenLoopSchedule s = new OpenLoopSchedule(start, 1_000, start);
    s.advance(start);
    assertThat(s.from()).isEqualTo(0);
    assertThat(s.to()).isEqualTo(1);
    s.advance(start + MS / 2);
    assertThat(s.from()).isEqualTo(1);
    assertThat(s.to()).isEqualTo(1);
    s.advance(start + 3 * MS);
    assertThat(s.from()).isEqualTo(1);
    assertThat(s.to()).isEqualTo(4);
    assertThat(s.due(3)).isEqualTo(start + 3 * MS);
  }

  @Test
  void dropsTheWarmUpsBacklogWhenTheWindowStarts() {
    long start = 0;
    OpenLoopSchedule s = new OpenLoopSchedule(start, 1_000, 100 * MS);
    s.advance(10 * MS);
    assertThat(s.to()).isEqualTo(11);
    // The pacer stalled through the end of the warm-up: requests 11 to 99 are not sent, the
    // window's own (100 on) are, however late.
    s.advance(105 * MS);
    assertThat(s.from()).isEqualTo(100);
    assertThat(s.to()).isEqualTo(106);
    // Only once.
    s.advance(200 * MS);
    assertThat(s.from()).isEqualTo(106);
  }

  @Test
  void parksAboutOneIntervalWithinBounds() {
    assertThat(new OpenLoopSchedule(0, 30_000, 0).parkNanos()).isEqualTo(33_333);
    assertThat(new OpenLoopSchedule(0, 1_000_000, 0).parkNanos()).isEqualTo(10_000);
    assertThat(new OpenLoopSchedule(0, 10, 0).parkNanos()).isEqualTo(100_000);
  }
}
