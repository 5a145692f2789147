package io.viva.core;

import io.viva.core.internal.LimitAlgorithm;
import io.viva.core.internal.Outcome;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A {@link LimitStore} in this process's memory: the default, and the fastest.
 *
 * <p>Keys live in a {@link ConcurrentHashMap} per policy; each key's state is guarded by its own
 * monitor, so threads contend only when they check the same key. Memory is bounded two ways:
 * <ul>
 *   <li><b>Idle keys expire.</b> Once a key's every limit is back to its full allowance (and its
 *       idempotency records have lapsed) its state is the same as no state, so it can be dropped
 *       without changing any decision (after {@link Builder#minimumIdle}, default one second). Each
 *       new key sweeps a few others, and each key's every 256th check sweeps 32, driven by the
 *       store's clock, so no background thread is needed.</li>
 *   <li><b>A maximum key count.</b> When a new key would exceed {@link Builder#maximumKeys}, expired
 *       keys are swept first; if none are, the key closest to expiry among a small sample is
 *       evicted (as Redis's {@code volatile-ttl} does). Eviction forgets a key's usage, so size the
 *       maximum above the working set; {@link #evictionCount()} tells when it is too small.</li>
 * </ul>
 */
public final class InMemoryLimitStore implements LimitStore {

  /** The default maximum number of keys: 10 million (about 2 GB of heap at worst: ~150 bytes of state plus the key string). */
  public static final long DEFAULT_MAXIMUM_KEYS = 10_000_000L;

  private static final int SWEEP_SAMPLE_MASK = 255;
  private static final int SWEEP_BUDGET = 32;
  private static final int SWEEP_ON_INSERT = 4;
  private static final int EVICTION_SAMPLE = 8;

  private final Clock clock;
  private final long maximumKeys;
  private final long minimumIdleMicros;
  private final ConcurrentHashMap<String, ConcurrentHashMap<String, Entry>> spaces = new ConcurrentHashMap<>();
  private final LongAdder keys = new LongAdder();
  private final LongAdder evictions = new LongAdder();
  private final ReentrantLock sweepLock = new ReentrantLock();
  private Iterator<ConcurrentHashMap<String, Entry>> spaceCursor;
  private ConcurrentHashMap<String, Entry> cursorSpace;
  private Iterator<Map.Entry<String, Entry>> entryCursor;
  private Space lastSpace;

  private InMemoryLimitStore(Builder builder) {
    this.clock = builder.clock;
    this.maximumKeys = builder.maximumKeys;
    this.minimumIdleMicros = builder.minimumIdleMicros;
  }

  /** A store on the system clock with the default maximum key count. */
  public static InMemoryLimitStore create() {
    return builder().build();
  }

  /** Starts a store configuration. */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  public Decision acquire(Policy policy, String key, long cost, String idempotencyKey) {
    long now = clock.micros();
    ConcurrentHashMap<String, Entry> space = space(policy.name());
    for (;;) {
      Entry entry = space.get(key);
      if (entry == null) {
        entry = new Entry(policy.limitArray());
        Entry raced = space.putIfAbsent(key, entry);
        if (raced != null) {
          entry = raced;
        } else {
          keys.increment();
          // Memory grows only here, so this is where lapsed keys are collected: a few per insert
          // keeps the map within a small factor of the live keys without a background thread.
          if (keys.sum() > maximumKeys) {
            makeRoom(now, entry);
          } else {
            sweep(now, SWEEP_ON_INSERT);
          }
        }
      }
      Decision decision;
      boolean sweep;
      entry.lock();
      try {
        if (entry.dead) {
          continue;
        }
        decision = entry.acquire(policy, cost, idempotencyKey, now, minimumIdleMicros);
        sweep = (++entry.visits & SWEEP_SAMPLE_MASK) == 0;
      } finally {
        entry.unlock();
      }
      if (sweep) {
        // A busy key also pays for a little collection now and then, outside its own monitor.
        sweep(now, SWEEP_BUDGET);
      }
      return decision;
    }
  }

  private ConcurrentHashMap<String, Entry> space(String name) {
    // Most stores serve one hot policy at a time: remember the last one by identity and skip the
    // lookup. A racy read of an immutable holder is safe.
    Space last = lastSpace;
    if (last != null && last.name == name) {
      return last.map;
    }
    ConcurrentHashMap<String, Entry> map = spaces.get(name);
    if (map == null) {
      map = spaces.computeIfAbsent(name, n -> new ConcurrentHashMap<>());
    }
    lastSpace = new Space(name, map);
    return map;
  }

  private record Space(String name, ConcurrentHashMap<String, Entry> map) {}

  @Override
  public void reset(Policy policy, String key) {
    ConcurrentHashMap<String, Entry> space = spaces.get(policy.name());
    if (space == null) {
      return;
    }
    Entry entry = space.get(key);
    if (entry != null) {
      entry.lock();
      try {
        if (!entry.dead && space.remove(key, entry)) {
          entry.dead = true;
          keys.decrement();
        }
      } finally {
        entry.unlock();
      }
    }
  }

  @Override
  public long keyCount() {
    return keys.sum();
  }

  /** How many live keys have been evicted to respect the maximum key count. */
  public long evictionCount() {
    return evictions.sum();
  }

  @Override
  public Clock clock() {
    return clock;
  }

  /**
   * Drops every key whose state has lapsed; returns how many. Calls happen on their own as the
   * store is used; this is for callers who want memory back at once (and for tests).
   */
  public int sweepAll() {
    long now = clock.micros();
    int removed = 0;
    for (ConcurrentHashMap<String, Entry> space : spaces.values()) {
      for (Map.Entry<String, Entry> e : space.entrySet()) {
        if (expire(space, e.getKey(), e.getValue(), now)) {
          removed++;
        }
      }
    }
    return removed;
  }

  private boolean expire(ConcurrentHashMap<String, Entry> space, String key, Entry entry, long now) {
    entry.lock();
    try {
      if (!entry.dead && entry.expiresAt <= now && space.remove(key, entry)) {
        entry.dead = true;
        keys.decrement();
        return true;
      }
    } finally {
      entry.unlock();
    }
    return false;
  }

  private void evict(ConcurrentHashMap<String, Entry> space, String key, Entry entry) {
    entry.lock();
    try {
      if (!entry.dead && space.remove(key, entry)) {
        entry.dead = true;
        keys.decrement();
        evictions.increment();
      }
    } finally {
      entry.unlock();
    }
  }

  /** Sweeps up to {@code budget} keys, resuming where the last sweep stopped. */
  private void sweep(long now, int budget) {
    if (!sweepLock.tryLock()) {
      return;
    }
    try {
      for (int seen = 0; seen < budget; seen++) {
        Map.Entry<String, Entry> next = nextCursorEntry();
        if (next == null) {
          return;
        }
        expire(cursorSpace, next.getKey(), next.getValue(), now);
      }
    } finally {
      sweepLock.unlock();
    }
  }

  /** Brings the key count back to the maximum, never evicting {@code newcomer}. */
  private void makeRoom(long now, Entry newcomer) {
    sweepLock.lock();
    try {
      int budget = 1024;
      for (int seen = 0; seen < budget && keys.sum() > maximumKeys; seen++) {
        Map.Entry<String, Entry> next = nextCursorEntry();
        if (next == null) {
          break;
        }
        expire(cursorSpace, next.getKey(), next.getValue(), now);
      }
      while (keys.sum() > maximumKeys) {
        Map.Entry<String, Entry> victim = null;
        ConcurrentHashMap<String, Entry> victimSpace = null;
        for (int i = 0; i < EVICTION_SAMPLE; i++) {
          Map.Entry<String, Entry> next = nextCursorEntry();
          if (next == null) {
            break;
          }
          if (next.getValue() == newcomer) {
            continue;
          }
          if (victim == null || next.getValue().expiresAt < victim.getValue().expiresAt) {
            victim = next;
            victimSpace = cursorSpace;
          }
        }
        if (victim == null) {
          return;
        }
        evict(victimSpace, victim.getKey(), victim.getValue());
      }
    } finally {
      sweepLock.unlock();
    }
  }

  /** The next entry of a cursor that cycles over every policy's keys; null if the store is empty. */
  private Map.Entry<String, Entry> nextCursorEntry() {
    for (int restarts = 0; restarts < 2; ) {
      if (entryCursor != null && entryCursor.hasNext()) {
        return entryCursor.next();
      }
      if (spaceCursor == null || !spaceCursor.hasNext()) {
        spaceCursor = spaces.values().iterator();
        restarts++;
        if (!spaceCursor.hasNext()) {
          return null;
        }
      }
      cursorSpace = spaceCursor.next();
      entryCursor = cursorSpace.entrySet().iterator();
    }
    return null;
  }

  @Override
  public String toString() {
    return "InMemoryLimitStore[keys=" + keys.sum() + ", maximumKeys=" + maximumKeys + "]";
  }

  /**
   * One key's state under one policy, guarded by its own spin lock.
   *
   * <p>Why not {@code synchronized}: the critical section is a few dozen nanoseconds, and on a hot
   * key contended by several threads a monitor inflates and parks its waiters, which costs
   * microseconds per hand-over (measured: ~780 ns per check with two threads on one key, against
   * ~50 ns uncontended). A CAS, a short busy-wait and then {@link Thread#yield()} keeps waiters
   * running without burning a core when the holder has been descheduled.
   */
  static final class Entry {
    private static final java.lang.invoke.VarHandle LOCK;

    static {
      try {
        LOCK = java.lang.invoke.MethodHandles.lookup().findVarHandle(Entry.class, "locked", int.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    @SuppressWarnings("unused") // accessed through LOCK
    private volatile int locked;

    Limit[] limits;
    long[][] states;
    long expiresAt;
    boolean dead;
    int visits;
    Map<String, Replay> replays;

    void lock() {
      if (LOCK.compareAndSet(this, 0, 1)) {
        return;
      }
      for (int spins = 0; ; spins++) {
        if (locked == 0 && LOCK.compareAndSet(this, 0, 1)) {
          return;
        }
        if (spins < 128) {
          Thread.onSpinWait();
        } else {
          Thread.yield();
        }
      }
    }

    void unlock() {
      LOCK.setRelease(this, 0);
    }

    Entry(Limit[] limits) {
      this.limits = limits;
      this.states = new long[limits.length][];
      // Not yet decided on: not expirable, and the last choice for eviction.
      this.expiresAt = Long.MAX_VALUE;
    }

    Decision acquire(Policy policy, long cost, String idempotencyKey, long now, long minimumIdle) {
      if (idempotencyKey != null && replays != null) {
        Replay replay = replays.get(idempotencyKey);
        if (replay != null && replay.expiresAt > now) {
          return replay.decision;
        }
      }
      Limit[] wanted = policy.limitArray();
      if (limits != wanted) {
        adopt(wanted);
      }
      Decision decision;
      long expiry;
      if (wanted.length == 1) {
        LimitAlgorithm algorithm = wanted[0].algorithmImpl();
        Outcome out = new Outcome();
        algorithm.evaluate(states[0], cost, now, out);
        if (out.allowed && cost > 0) {
          states[0] = algorithm.commit(states[0], cost, now, out);
        }
        decision = Decision.of(wanted[0], out, now);
        expiry = out.resetAt;
      } else {
        Outcome[] outs = new Outcome[wanted.length];
        boolean allowed = true;
        for (int i = 0; i < wanted.length; i++) {
          outs[i] = new Outcome();
          wanted[i].algorithmImpl().evaluate(states[i], cost, now, outs[i]);
          allowed &= outs[i].allowed;
        }
        if (allowed && cost > 0) {
          for (int i = 0; i < wanted.length; i++) {
            states[i] = wanted[i].algorithmImpl().commit(states[i], cost, now, outs[i]);
          }
        }
        Decision[] parts = new Decision[wanted.length];
        expiry = now;
        for (int i = 0; i < wanted.length; i++) {
          if (!allowed && outs[i].allowed) {
            // Nothing was charged, so this limit's numbers are those of a cost-0 look.
            Outcome look = new Outcome();
            wanted[i].algorithmImpl().evaluate(states[i], 0, now, look);
            outs[i] = look;
          }
          parts[i] = Decision.of(wanted[i], outs[i], now);
          expiry = Math.max(expiry, outs[i].resetAt);
        }
        decision = Decision.combine(java.util.Arrays.asList(parts));
      }
      if (idempotencyKey != null) {
        if (replays == null) {
          replays = new HashMap<>(4);
        } else if (replays.size() >= 8) {
          replays.values().removeIf(r -> r.expiresAt <= now);
        }
        long until = now + policy.idempotencyTtlMicros();
        replays.put(idempotencyKey, new Replay(decision, until));
        expiry = Math.max(expiry, until);
      }
      if (replays != null) {
        for (Replay r : replays.values()) {
          expiry = Math.max(expiry, r.expiresAt);
        }
      }
      // A key that lapses at once (a loose limit) would otherwise be dropped and re-created on
      // every visit; keeping it a little longer costs memory only for keys in recent use.
      expiresAt = Math.max(expiry, now + minimumIdle);
      return decision;
    }

    /** Switches to a new policy's limits, keeping the state of every limit that is unchanged. */
    private void adopt(Limit[] wanted) {
      long[][] next = new long[wanted.length][];
      for (int i = 0; i < wanted.length; i++) {
        for (int j = 0; j < limits.length; j++) {
          if (limits[j] != null && Objects.equals(limits[j], wanted[i])) {
            next[i] = states[j];
            break;
          }
        }
      }
      limits = wanted;
      states = next;
    }
  }

  private record Replay(Decision decision, long expiresAt) {}

  /** Configures an {@link InMemoryLimitStore}. */
  public static final class Builder {
    private Clock clock = Clock.system();
    private long maximumKeys = DEFAULT_MAXIMUM_KEYS;
    private long minimumIdleMicros = 1_000_000L;

    private Builder() {}

    /** The clock to decide by; default {@link Clock#system()}. */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** The most keys kept at once (all policies together); default 10 million. */
    public Builder maximumKeys(long maximumKeys) {
      if (maximumKeys <= 0) {
        throw new IllegalArgumentException("maximumKeys: " + maximumKeys + " (expected: > 0)");
      }
      this.maximumKeys = maximumKeys;
      return this;
    }

    /**
     * How long a key is kept after its last check even if its state has already lapsed; default
     * one second. Avoids re-creating the state of a busy key under a loose limit on every visit;
     * never changes a decision.
     */
    public Builder minimumIdle(java.time.Duration minimumIdle) {
      long micros = Times.toMicros(minimumIdle, "minimumIdle");
      if (micros < 0) {
        throw new IllegalArgumentException("minimumIdle: " + minimumIdle + " (expected: >= 0)");
      }
      this.minimumIdleMicros = micros;
      return this;
    }

    /** Builds the store. */
    public InMemoryLimitStore build() {
      return new InMemoryLimitStore(this);
    }
  }
}
