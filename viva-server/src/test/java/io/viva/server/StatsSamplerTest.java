package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** Percentiles from cumulative histogram buckets, as Prometheus' histogram_quantile computes them. */
class StatsSamplerTest {

  static final double[] BOUNDS = {0.001, 0.005, 0.025, Double.POSITIVE_INFINITY};

  @Test
  void interpolatesWithinTheBucketHoldingTheRank() {
    // 10 observations <= 1 ms, 10 more in (1 ms, 5 ms], 80 more in (5 ms, 25 ms].
    double[] cumulative = {10, 20, 100, 100};
    assertThat(StatsSampler.quantile(0.5, BOUNDS, cumulative)).isCloseTo(5 + 20 * (30.0 / 80), within(1e-9));
    assertThat(StatsSampler.quantile(0.1, BOUNDS, cumulative)).isCloseTo(1.0, within(1e-9));
    assertThat(StatsSampler.quantile(0.99, BOUNDS, cumulative)).isCloseTo(5 + 20 * (79.0 / 80), within(1e-9));
  }

  @Test
  void beyondTheLastBoundIsTheLastFiniteBoundAndNoDataIsNull() {
    assertThat(StatsSampler.quantile(0.99, BOUNDS, new double[] {0, 0, 0, 10})).isEqualTo(25.0);
    assertThat(StatsSampler.quantile(0.5, BOUNDS, new double[] {0, 0, 0, 0})).isNull();
    assertThat(StatsSampler.quantile(0.5, new double[0], new double[0])).isNull();
  }

  @Test
  void ratesAndPercentilesBetweenTwoSamples() {
    StatsSampler.Sample a = new StatsSampler.Sample(1_000, 100, 10, BOUNDS, new double[] {5, 5, 5, 5});
    StatsSampler.Sample b = new StatsSampler.Sample(3_000, 300, 50, BOUNDS, new double[] {5, 105, 105, 105});
    StatsSampler.Point p = StatsSampler.between(a, b);
    assertThat(p.allowedPerSecond()).isEqualTo(100.0);
    assertThat(p.deniedPerSecond()).isEqualTo(20.0);
    // Only the 100 new observations count, all in (1 ms, 5 ms].
    assertThat(p.p50Ms()).isCloseTo(3.0, within(1e-9));
  }
}
