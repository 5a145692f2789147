package io.viva.server;

import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.micrometer.core.instrument.distribution.HistogramSnapshot;
import io.viva.server.admin.TrafficRecorder;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Once a second, the decision totals and the check-duration histogram (all namespaces added up),
 * kept for the last {@value #KEEP} seconds: the admin API turns them into rates and latency
 * percentiles for the dashboard, so no one parses Prometheus text in a browser.
 */
final class StatsSampler implements AutoCloseable {

  static final int KEEP = 300;

  /** One sample: wall time (ms), totals, and cumulative histogram counts per bucket bound. */
  record Sample(long atMillis, long allowed, long denied, double[] boundsSeconds, double[] cumulative) {}

  /** Rates and percentiles between two samples. */
  record Point(long atMillis, double allowedPerSecond, double deniedPerSecond, Double p50Ms, Double p90Ms,
      Double p99Ms) {}

  private final TrafficRecorder traffic;
  private final Metrics metrics;
  private final Sample[] ring = new Sample[KEEP];
  private final ScheduledExecutorService timer;
  private long count;

  StatsSampler(TrafficRecorder traffic, Metrics metrics) {
    this.traffic = traffic;
    this.metrics = metrics;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "viva-admin-sampler");
      t.setDaemon(true);
      return t;
    });
    sample();
    timer.scheduleAtFixedRate(this::sample, 1, 1, TimeUnit.SECONDS);
  }

  void sample() {
    TrafficRecorder.Traffic t = traffic.totals();
    Collection<Timer> timers = metrics.registry().find("rate_limit_check_duration").timers();
    double[] bounds = null;
    double[] counts = null;
    for (Timer timer : timers) {
      HistogramSnapshot s = timer.takeSnapshot();
      CountAtBucket[] buckets = s.histogramCounts();
      if (bounds == null) {
        bounds = new double[buckets.length + 1];
        counts = new double[buckets.length + 1];
        for (int i = 0; i < buckets.length; i++) {
          bounds[i] = buckets[i].bucket(TimeUnit.SECONDS);
        }
        bounds[buckets.length] = Double.POSITIVE_INFINITY;
      }
      for (int i = 0; i < buckets.length && i < counts.length - 1; i++) {
        counts[i] += buckets[i].count();
      }
      counts[counts.length - 1] += s.count();
    }
    Sample sample = new Sample(System.currentTimeMillis(), t.allowed(), t.denied(),
        bounds == null ? new double[0] : bounds, counts == null ? new double[0] : counts);
    synchronized (this) {
      ring[(int) (count++ % KEEP)] = sample;
    }
  }

  /** The samples of the last {@code seconds} seconds, oldest first. */
  synchronized List<Sample> recent(int seconds) {
    int n = (int) Math.min(Math.min(count, KEEP), seconds + 1L);
    List<Sample> out = new ArrayList<>(n);
    for (long i = count - n; i < count; i++) {
      out.add(ring[(int) (i % KEEP)]);
    }
    return out;
  }

  /** Rates and percentiles over the last {@code seconds} seconds, one point per pair of samples {@code step} apart. */
  List<Point> series(int seconds, int step) {
    List<Sample> s = recent(seconds);
    List<Point> out = new ArrayList<>();
    for (int i = step; i < s.size(); i += 1) {
      out.add(between(s.get(i - step), s.get(i)));
    }
    return out;
  }

  /** The latest rates and percentiles, over the last {@code seconds} seconds (or as many as there are). */
  Point now(int seconds) {
    List<Sample> s = recent(seconds);
    if (s.size() < 2) {
      return null;
    }
    return between(s.get(0), s.get(s.size() - 1));
  }

  static Point between(Sample a, Sample b) {
    double secs = Math.max(0.001, (b.atMillis() - a.atMillis()) / 1000.0);
    double[] delta = new double[b.cumulative().length];
    if (a.cumulative().length == delta.length) {
      for (int i = 0; i < delta.length; i++) {
        delta[i] = b.cumulative()[i] - a.cumulative()[i];
      }
    } else {
      System.arraycopy(b.cumulative(), 0, delta, 0, delta.length);
    }
    return new Point(b.atMillis(), (b.allowed() - a.allowed()) / secs, (b.denied() - a.denied()) / secs,
        quantile(0.5, b.boundsSeconds(), delta), quantile(0.9, b.boundsSeconds(), delta),
        quantile(0.99, b.boundsSeconds(), delta));
  }

  /**
   * The {@code q} quantile in milliseconds from cumulative bucket counts, interpolating linearly
   * within the bucket (as Prometheus' histogram_quantile does); null without observations.
   */
  static Double quantile(double q, double[] bounds, double[] cumulative) {
    if (cumulative.length == 0 || cumulative[cumulative.length - 1] <= 0) {
      return null;
    }
    double rank = q * cumulative[cumulative.length - 1];
    double prevCount = 0;
    double prevBound = 0;
    for (int i = 0; i < cumulative.length; i++) {
      if (cumulative[i] >= rank) {
        if (Double.isInfinite(bounds[i])) {
          return prevBound * 1000;
        }
        double inBucket = cumulative[i] - prevCount;
        double fraction = inBucket <= 0 ? 1 : (rank - prevCount) / inBucket;
        return (prevBound + (bounds[i] - prevBound) * fraction) * 1000;
      }
      prevCount = cumulative[i];
      prevBound = bounds[i];
    }
    return prevBound * 1000;
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
