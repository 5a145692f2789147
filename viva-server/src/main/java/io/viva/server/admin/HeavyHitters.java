package io.viva.server.admin;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Space-Saving summary of the most frequent keys of a stream, in memory bounded by its capacity
 * {@code k}. Not thread-safe: callers serialize updates (see {@link TrafficRecorder}).
 *
 * <pre>
 * Space-Saving [1]: keep at most k counters. A key already counted is incremented; a new key
 * takes over the smallest counter m, starting at m + 1 with error m (it may have been any of the
 * evicted keys' occurrences). For every key the summary holds:
 *
 *     count - error <= true count <= count,   error <= min <= N / k
 *
 * where N is the number of increments. So every key occurring more than N / k times is in the
 * summary, and the reported counts overestimate by at most N / k.
 *
 * Merging [2]: summaries of disjoint streams are added key by key; a key missing from a full
 * summary is charged that summary's minimum (its true count there may be anything up to it) both
 * as count and as error; a summary that never evicted (fewer than k keys) is exact, so its absent
 * keys count 0. The k largest are kept. The bound still holds with N the total of the parts.
 *
 * The counters are a binary min-heap with each key's heap position in a hash map, so an update
 * is O(log k) and finding the minimum O(1).
 *
 * [1] A. Metwally, D. Agrawal, A. El Abbadi, "Efficient Computation of Frequent and Top-k Elements
 *     in Data Streams", ICDT 2005.
 * [2] P. Agarwal, G. Cormode, Z. Huang, J. Phillips, Z. Wei, K. Yi, "Mergeable Summaries",
 *     PODS 2012.
 * </pre>
 */
public final class HeavyHitters {

  /** One key's estimate: {@code count - error <= true count <= count}. */
  public record Entry(String key, long count, long error) {}

  private final int capacity;
  private final Map<String, Integer> index;
  private final String[] keys;
  private final long[] counts;
  private final long[] errors;
  private int size;
  private long total;
  private boolean evicted;

  /** An empty summary keeping at most {@code capacity} keys. */
  public HeavyHitters(int capacity) {
    if (capacity < 1 || capacity > 1_000_000) {
      throw new IllegalArgumentException("capacity: " + capacity + " (expected: 1 to 1000000)");
    }
    this.capacity = capacity;
    this.index = new HashMap<>(Math.min(capacity, 1024) * 2);
    this.keys = new String[capacity];
    this.counts = new long[capacity];
    this.errors = new long[capacity];
  }

  /** The most keys this summary keeps. */
  public int capacity() {
    return capacity;
  }

  /** The total of all increments (N), exact. */
  public long total() {
    return total;
  }

  /** The number of keys held. */
  public int size() {
    return size;
  }

  /**
   * The largest amount by which any count here may exceed the truth, and the most a key absent
   * from the summary may have occurred: the smallest counter once the summary has evicted, else 0.
   */
  public long maxError() {
    return evicted && size > 0 ? counts[0] : 0;
  }

  /** Counts {@code weight} (at least 1) occurrences of {@code key}. */
  public void add(String key, long weight) {
    if (weight < 1) {
      throw new IllegalArgumentException("weight: " + weight + " (expected: >= 1)");
    }
    total += weight;
    Integer at = index.get(key);
    if (at != null) {
      counts[at] += weight;
      siftDown(at);
    } else if (size < capacity) {
      int i = size++;
      keys[i] = key;
      counts[i] = weight;
      errors[i] = 0;
      index.put(key, i);
      siftUp(i);
    } else {
      evicted = true;
      long min = counts[0];
      index.remove(keys[0]);
      keys[0] = key;
      counts[0] = min + weight;
      errors[0] = min;
      index.put(key, 0);
      siftDown(0);
    }
  }

  /** The estimate of {@code key}: its entry, or for a key not held count and error {@link #maxError()}. */
  public Entry estimate(String key) {
    Integer at = index.get(key);
    if (at != null) {
      return new Entry(key, counts[at], errors[at]);
    }
    long e = maxError();
    return new Entry(key, e, e);
  }

  /** The {@code n} keys with the largest counts, largest first (ties by key). */
  public List<Entry> top(int n) {
    List<Entry> all = entries();
    all.sort(ORDER);
    return all.size() > n ? new ArrayList<>(all.subList(0, n)) : all;
  }

  /** Every entry, in no particular order. */
  public List<Entry> entries() {
    List<Entry> out = new ArrayList<>(size);
    for (int i = 0; i < size; i++) {
      out.add(new Entry(keys[i], counts[i], errors[i]));
    }
    return out;
  }

  /** A copy (for reading outside the lock that guards this summary). */
  public HeavyHitters copy() {
    HeavyHitters c = new HeavyHitters(capacity);
    System.arraycopy(keys, 0, c.keys, 0, size);
    System.arraycopy(counts, 0, c.counts, 0, size);
    System.arraycopy(errors, 0, c.errors, 0, size);
    c.size = size;
    c.total = total;
    c.evicted = evicted;
    for (int i = 0; i < size; i++) {
      c.index.put(keys[i], i);
    }
    return c;
  }

  /**
   * The merge of summaries of disjoint streams (see the class note), keeping {@code capacity}
   * keys; the parts are not changed.
   */
  public static HeavyHitters merge(Collection<HeavyHitters> parts, int capacity) {
    Map<String, long[]> sum = new HashMap<>();
    long total = 0;
    long absentCharge = 0;
    boolean evicted = false;
    for (HeavyHitters p : parts) {
      total += p.total;
      absentCharge += p.maxError();
      evicted |= p.evicted;
    }
    for (HeavyHitters p : parts) {
      long pMin = p.maxError();
      for (int i = 0; i < p.size; i++) {
        // Start from every part's absent charge, then swap this part's charge for its real numbers.
        long[] ce = sum.computeIfAbsent(p.keys[i], k -> new long[] {0, 0});
        ce[0] += p.counts[i] - pMin;
        ce[1] += p.errors[i] - pMin;
      }
    }
    List<Entry> merged = new ArrayList<>(sum.size());
    for (Map.Entry<String, long[]> e : sum.entrySet()) {
      merged.add(new Entry(e.getKey(), e.getValue()[0] + absentCharge, e.getValue()[1] + absentCharge));
    }
    merged.sort(ORDER);
    HeavyHitters out = new HeavyHitters(capacity);
    out.total = total;
    out.evicted = evicted || merged.size() > capacity;
    int n = Math.min(capacity, merged.size());
    // Largest first is a valid max-heap, not a min-heap: fill from the end so index 0 is the smallest.
    for (int i = 0; i < n; i++) {
      Entry e = merged.get(n - 1 - i);
      out.keys[i] = e.key();
      out.counts[i] = e.count();
      out.errors[i] = e.error();
      out.index.put(e.key(), i);
    }
    out.size = n;
    return out;
  }

  /** Builds a summary from entries read back from elsewhere (see {@link #entries()}). */
  public static HeavyHitters of(int capacity, long total, boolean evicted, List<Entry> entries) {
    List<Entry> sorted = new ArrayList<>(entries);
    sorted.sort(ORDER);
    HeavyHitters out = new HeavyHitters(capacity);
    int n = Math.min(capacity, sorted.size());
    for (int i = 0; i < n; i++) {
      Entry e = sorted.get(n - 1 - i);
      out.keys[i] = e.key();
      out.counts[i] = e.count();
      out.errors[i] = e.error();
      out.index.put(e.key(), i);
    }
    out.size = n;
    out.total = total;
    out.evicted = evicted || sorted.size() > capacity;
    return out;
  }

  /** Whether this summary ever dropped a key (if not, every count is exact). */
  public boolean evicted() {
    return evicted;
  }

  private static final Comparator<Entry> ORDER =
      Comparator.comparingLong(Entry::count).reversed().thenComparing(Entry::key);

  private void siftUp(int i) {
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      if (counts[parent] <= counts[i]) {
        return;
      }
      swap(i, parent);
      i = parent;
    }
  }

  private void siftDown(int i) {
    while (true) {
      int l = 2 * i + 1;
      if (l >= size) {
        return;
      }
      int r = l + 1;
      int smallest = r < size && counts[r] < counts[l] ? r : l;
      if (counts[i] <= counts[smallest]) {
        return;
      }
      swap(i, smallest);
      i = smallest;
    }
  }

  private void swap(int a, int b) {
    String k = keys[a];
    keys[a] = keys[b];
    keys[b] = k;
    long c = counts[a];
    counts[a] = counts[b];
    counts[b] = c;
    long e = errors[a];
    errors[a] = errors[b];
    errors[b] = e;
    index.put(keys[a], a);
    index.put(keys[b], b);
  }

  @Override
  public String toString() {
    return "HeavyHitters" + Arrays.toString(top(10).toArray());
  }
}
