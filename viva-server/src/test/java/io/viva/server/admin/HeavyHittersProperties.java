package io.viva.server.admin;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/** The Space-Saving guarantees, against exact counts, for single summaries and merges. */
class HeavyHittersProperties {

  @Property(tries = 300)
  void countsBoundTheTruthAndHeavyKeysAreKept(@ForAll @Size(max = 2000) List<@IntRange(max = 60) Integer> stream,
      @ForAll @IntRange(min = 1, max = 20) int capacity) {
    HeavyHitters h = new HeavyHitters(capacity);
    Map<String, Long> exact = new HashMap<>();
    for (int k : stream) {
      // Skewed keys: small numbers are frequent.
      String key = "k" + (k * k / 60);
      h.add(key, 1);
      exact.merge(key, 1L, Long::sum);
    }
    assertBounds(h, exact, stream.size(), capacity);
  }

  @Property(tries = 200)
  void mergedSummariesKeepTheBoundOverTheWholeStream(
      @ForAll @Size(min = 1, max = 6) List<@Size(max = 500) List<@IntRange(max = 40) Integer>> parts,
      @ForAll @IntRange(min = 1, max = 12) int capacity) {
    Map<String, Long> exact = new HashMap<>();
    List<HeavyHitters> summaries = new ArrayList<>();
    long n = 0;
    for (List<Integer> part : parts) {
      HeavyHitters h = new HeavyHitters(capacity);
      for (int k : part) {
        String key = "k" + (k * k / 40);
        h.add(key, 1);
        exact.merge(key, 1L, Long::sum);
        n++;
      }
      summaries.add(h);
    }
    HeavyHitters merged = HeavyHitters.merge(summaries, capacity);
    assertBounds(merged, exact, n, capacity);
    // Merging again (the day window merges merged hours) keeps it.
    HeavyHitters twice = HeavyHitters.merge(List.of(merged, new HeavyHitters(capacity)), capacity);
    assertBounds(twice, exact, n, capacity);
  }

  private static void assertBounds(HeavyHitters h, Map<String, Long> exact, long n, int capacity) {
    assertThat(h.total()).isEqualTo(n);
    assertThat(h.size()).isLessThanOrEqualTo(capacity);
    assertThat(h.maxError()).isLessThanOrEqualTo(n / capacity);
    for (HeavyHitters.Entry e : h.entries()) {
      long truth = exact.getOrDefault(e.key(), 0L);
      assertThat(e.count()).as("count of %s", e.key()).isGreaterThanOrEqualTo(truth);
      assertThat(e.count() - e.error()).as("lower bound of %s", e.key()).isLessThanOrEqualTo(truth);
      assertThat(e.error()).isLessThanOrEqualTo(n / capacity);
    }
    for (Map.Entry<String, Long> e : exact.entrySet()) {
      if (e.getValue() > n / capacity) {
        assertThat(h.estimate(e.getKey()).count()).as("heavy key %s kept", e.getKey())
            .isGreaterThanOrEqualTo(e.getValue());
        assertThat(h.entries().stream().anyMatch(x -> x.key().equals(e.getKey()))).isTrue();
      }
      assertThat(h.estimate(e.getKey()).count()).isGreaterThanOrEqualTo(e.getValue());
    }
  }
}
