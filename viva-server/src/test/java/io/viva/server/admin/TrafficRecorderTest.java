package io.viva.server.admin;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class TrafficRecorderTest {

  static final long MINUTE = 60_000_000L;
  final AtomicLong now = new AtomicLong(1_700_000_000L / 3600 * 3600 * 1_000_000L); // on an hour boundary
  final TrafficRecorder r = new TrafficRecorder(now::get, 8);

  private void advanceMinutes(long m) {
    now.addAndGet(m * MINUTE);
  }

  @Test
  void countsByNamespaceWithOverridesAndRanksDenials() {
    r.record("api", "a", true);
    r.record("api", "a", false);
    r.record("api", "b", false);
    r.record("api", "b", false);
    r.record("api#vip", "vip", false);
    TrafficRecorder.View v = r.view(TrafficRecorder.Window.MINUTE);
    assertThat(v.byNamespace().get("api")).isEqualTo(new TrafficRecorder.Traffic(1, 4));
    assertThat(v.offenders().top(1).get(0).key()).isEqualTo("api" + TrafficRecorder.SEPARATOR + "b");
    assertThat(v.offenders().estimate("api" + TrafficRecorder.SEPARATOR + "vip").count()).isEqualTo(1);
    assertThat(r.totals()).isEqualTo(new TrafficRecorder.Traffic(1, 4));
  }

  @Test
  void windowsRollMinuteHourDay() {
    r.record("api", "old", false);
    advanceMinutes(1);
    r.record("api", "new", false);
    assertThat(r.view(TrafficRecorder.Window.MINUTE).total().denied()).isEqualTo(2);
    advanceMinutes(1);
    // The first minute left the minute window but not the hour.
    assertThat(r.view(TrafficRecorder.Window.MINUTE).total().denied()).isEqualTo(1);
    assertThat(r.view(TrafficRecorder.Window.HOUR).total().denied()).isEqualTo(2);
    // Into the next hour: the hour closes into an hour bucket, the day still sees it.
    advanceMinutes(58); // minute 60: the first of the next hour; the hour window is minutes 1 to 60
    r.record("api", "later", false);
    assertThat(r.view(TrafficRecorder.Window.HOUR).total().denied()).isEqualTo(2);
    assertThat(r.view(TrafficRecorder.Window.DAY).total().denied()).isEqualTo(3);
    assertThat(r.view(TrafficRecorder.Window.DAY).offenders().estimate("api" + TrafficRecorder.SEPARATOR + "old").count())
        .isEqualTo(1);
    // A day later only the newest is left... and then nothing.
    advanceMinutes(23 * 60);
    assertThat(r.view(TrafficRecorder.Window.DAY).total().denied()).isEqualTo(1);
    advanceMinutes(60);
    assertThat(r.view(TrafficRecorder.Window.DAY).total().denied()).isZero();
    assertThat(r.totals().denied()).isEqualTo(3);
  }

  @Test
  void memoryStaysBoundedUnderManyDistinctKeys() {
    for (int i = 0; i < 10_000; i++) {
      r.record("api", "attacker", false);
      r.record("api", "k" + i, false);
    }
    TrafficRecorder.View v = r.view(TrafficRecorder.Window.MINUTE);
    assertThat(v.offenders().size()).isLessThanOrEqualTo(8);
    assertThat(v.offenders().top(1).get(0).key()).endsWith("attacker");
    assertThat(v.offenders().maxError()).isLessThanOrEqualTo(20_000 / 8);
  }
}
