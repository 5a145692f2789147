package io.viva.platform;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves counted usage from the {@link UsageMeter} to the {@link UsagePipeline}, off the hot path,
 * on one background thread: every {@code flushInterval}, or sooner once {@code flushEvents}
 * requests are pending, it drains the meter and publishes the batches. A batch the pipeline does not
 * take is written to the {@link UsageSpool} (local disk) and replayed, oldest first, once the pipeline
 * takes batches again. Also refreshes the meter's quota totals from the database every {@code
 * quotaRefresh}. {@link #close} drains and ships (or spools) what is left.
 */
public final class UsageShipper implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(UsageShipper.class);
  private static final long TICK_MILLIS = 50;
  private static final int REPLAY_PER_TICK = 200;

  private final UsageMeter meter;
  private final UsagePipeline pipeline;
  private final UsageSpool spool;
  private final UsageStore store;
  private final long flushNanos;
  private final long flushEvents;
  private final long refreshNanos;
  private final ScheduledExecutorService thread;
  private final ArrayDeque<UsageBatch> unspoolable = new ArrayDeque<>();
  /** Ids of batches this process spooled (their counts are held back in the quota until replayed). */
  private final java.util.Set<String> spooledHere = new java.util.HashSet<>();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicLong flushed = new AtomicLong();
  private final AtomicLong spooled = new AtomicLong();
  private final AtomicLong replayed = new AtomicLong();
  private final AtomicLong events = new AtomicLong();
  private final AtomicBoolean healthy = new AtomicBoolean(true);
  private long lastFlush = System.nanoTime();
  private long lastRefresh;
  private long spoolSize;

  /** Settings of a shipper. */
  public record Settings(Duration flushInterval, long flushEvents, Duration quotaRefresh, Path spoolDir,
      long spoolMaxBatches) {}

  /** Starts shipping {@code meter}'s counts into {@code pipeline}. */
  public UsageShipper(UsageMeter meter, UsagePipeline pipeline, UsageStore store, Settings s) throws IOException {
    this.meter = meter;
    this.pipeline = pipeline;
    this.store = store;
    this.spool = new UsageSpool(s.spoolDir(), s.spoolMaxBatches());
    this.flushNanos = s.flushInterval().toNanos();
    this.flushEvents = s.flushEvents();
    this.refreshNanos = s.quotaRefresh().toNanos();
    this.spoolSize = spool.size();
    if (spoolSize > 0) {
      LOG.info("usage spool {}: {} batches from an earlier run, replaying", spool.dir(), spoolSize);
    }
    this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "viva-usage-shipper");
      t.setDaemon(true);
      return t;
    });
    thread.scheduleWithFixedDelay(this::tick, TICK_MILLIS, TICK_MILLIS, TimeUnit.MILLISECONDS);
  }

  private void tick() {
    try {
      long now = System.nanoTime();
      if (now - lastFlush >= flushNanos || meter.pending() >= flushEvents) {
        lastFlush = now;
        flush();
      }
      if (spoolSize > 0 && healthy.get()) {
        replay();
      } else if (spoolSize > 0 && now - lastFlush < TICK_MILLIS * 1_000_000L * 2) {
        replay(); // after a flush attempt: a probe of the pipeline
      }
      if (now - lastRefresh >= refreshNanos) {
        lastRefresh = now;
        refreshQuotas();
      }
    } catch (RuntimeException e) {
      LOG.error("usage shipper: {}", e.toString());
    }
  }

  /** Under the flush lock, so a batch drained but not yet applied is never missed by the refresh. */
  private synchronized void refreshQuotas() {
    try {
      meter.refreshQuotas(store);
    } catch (StorageUnavailableException e) {
      LOG.debug("quota refresh failed: {}", e.getMessage());
    }
  }

  /** Drains the meter and ships the batches now (also used by tests and on shutdown). */
  public synchronized void flush() {
    while (!unspoolable.isEmpty()) {
      if (!ship(unspoolable.peek())) {
        break;
      }
      unspoolable.poll();
    }
    for (UsageBatch b : meter.drain()) {
      if (!ship(b)) {
        unspoolable.add(b);
      }
    }
  }

  /** Publishes, else spools; false only when both failed (kept in memory for the next flush). */
  private boolean ship(UsageBatch b) {
    events.addAndGet(b.events());
    if (spoolSize == 0 || healthy.get()) {
      try {
        pipeline.publish(b);
        flushed.incrementAndGet();
        if (!healthy.getAndSet(true)) {
          LOG.info("usage pipeline {} reachable again", pipeline.description());
        }
        return true;
      } catch (Exception e) {
        if (healthy.getAndSet(false)) {
          LOG.warn("usage pipeline {} unavailable ({}); spooling batches to {}", pipeline.description(),
              e.getMessage() != null ? e.getMessage() : e.toString(), spool.dir());
        }
      }
    }
    try {
      spool.write(b);
      spooled.incrementAndGet();
      spoolSize++;
      if (spooledHere.add(b.id())) {
        meter.spooled(b, true);
      }
      return true;
    } catch (IOException e) {
      LOG.error("usage spool {}: cannot write batch {} ({}); kept in memory", spool.dir(), b.id(), e.getMessage());
      events.addAndGet(-b.events());
      return false;
    }
  }

  private synchronized void replay() {
    List<Path> files;
    try {
      files = spool.oldest(REPLAY_PER_TICK);
    } catch (IOException e) {
      LOG.error("usage spool {}: cannot list ({})", spool.dir(), e.getMessage());
      return;
    }
    for (Path f : files) {
      UsageBatch b;
      try {
        b = spool.read(f);
      } catch (IOException | IllegalArgumentException e) {
        LOG.error("usage spool: {} unreadable ({}), moved aside", f, e.getMessage());
        try {
          spool.quarantine(f);
        } catch (IOException ignored) {
          // left in place; retried
        }
        continue;
      }
      try {
        pipeline.publish(b);
      } catch (Exception e) {
        if (healthy.getAndSet(false)) {
          LOG.warn("usage pipeline {} unavailable during replay ({})", pipeline.description(), e.getMessage());
        }
        return;
      }
      if (spooledHere.remove(b.id())) {
        meter.spooled(b, false);
      }
      try {
        spool.remove(f);
      } catch (IOException e) {
        LOG.warn("usage spool: cannot remove {} (replayed; a second replay is a no-op)", f);
      }
      replayed.incrementAndGet();
      if (!healthy.getAndSet(true)) {
        LOG.info("usage pipeline {} reachable again; replaying the spool", pipeline.description());
      }
    }
    spoolSize = spool.size();
    if (spoolSize == 0 && !files.isEmpty()) {
      LOG.info("usage spool replayed");
    }
  }

  /** Batches handed to the pipeline directly. */
  public long flushed() {
    return flushed.get();
  }

  /** Batches written to the disk spool. */
  public long spooled() {
    return spooled.get();
  }

  /** Spooled batches handed to the pipeline later. */
  public long replayed() {
    return replayed.get();
  }

  /** Requests shipped (published or spooled). */
  public long events() {
    return events.get();
  }

  /** Batches in the spool now. */
  public long spoolSize() {
    return spoolSize;
  }

  /** Whether the last hand-over to the pipeline succeeded. */
  public boolean healthy() {
    return healthy.get();
  }

  /** The pipeline's description. */
  public String pipeline() {
    return pipeline.description();
  }

  /** Stops the thread, then ships (or spools) everything still counted. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    thread.shutdown();
    try {
      thread.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    flush();
    if (!unspoolable.isEmpty()) {
      LOG.error("usage: {} batches could be neither published nor spooled at shutdown", unspoolable.size());
    }
    pipeline.close();
  }
}
