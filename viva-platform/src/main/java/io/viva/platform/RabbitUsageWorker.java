package io.viva.platform;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DeliverCallback;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's consumer: takes usage batches off the RabbitMQ queue and applies them to the
 * database ({@link UsageStore#apply}), acknowledging each message only after its transaction
 * committed. A crash before the ack redelivers the message; the batch id makes the second apply a
 * no-op. While the database is down a message is rejected back to the queue after a pause; a
 * message that cannot be decoded is logged, counted and acknowledged (it would never succeed).
 * Reconnects every second while the broker is away.
 */
public final class RabbitUsageWorker implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(RabbitUsageWorker.class);

  private final ConnectionFactory factory;
  private final String queue;
  private final String description;
  private final UsageStore store;
  private final ScheduledExecutorService supervisor;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicLong applied = new AtomicLong();
  private final AtomicLong duplicates = new AtomicLong();
  private final AtomicLong rejected = new AtomicLong();
  private final AtomicLong malformed = new AtomicLong();
  private volatile Connection connection;
  private volatile boolean wasUp = true;

  /** Starts consuming {@code queue} at {@code url} into {@code store}. */
  public RabbitUsageWorker(String url, String queue, UsageStore store) {
    this.factory = RabbitUsagePipeline.factory(url);
    this.queue = queue;
    this.description = PlatformDatabase.redact(url) + " queue " + queue;
    this.store = store;
    this.supervisor = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "viva-usage-worker");
      t.setDaemon(true);
      return t;
    });
    supervisor.scheduleWithFixedDelay(this::ensureConnected, 0, 1, TimeUnit.SECONDS);
  }

  private void ensureConnected() {
    if (closed.get()) {
      return;
    }
    Connection c = connection;
    if (c != null && c.isOpen()) {
      return;
    }
    try {
      c = factory.newConnection("viva-usage-worker");
      Channel ch = c.createChannel();
      RabbitUsagePipeline.declare(ch, queue);
      ch.basicQos(16);
      DeliverCallback deliver = (tag, msg) -> handle(ch, msg.getEnvelope().getDeliveryTag(), msg.getBody());
      ch.basicConsume(queue, false, "viva-usage-worker", deliver, t -> { }, (t, sig) -> { });
      connection = c;
      if (!wasUp) {
        LOG.info("usage worker: connected to {}", description);
      }
      wasUp = true;
    } catch (Exception e) {
      if (wasUp) {
        LOG.warn("usage worker: cannot consume from {} ({}); retrying every second", description, e.getMessage());
      }
      wasUp = false;
      if (c != null) {
        c.abort(1_000);
      }
    }
  }

  private void handle(Channel ch, long tag, byte[] body) throws java.io.IOException {
    UsageBatch batch;
    try {
      batch = UsageBatch.decode(body);
    } catch (IllegalArgumentException e) {
      malformed.incrementAndGet();
      LOG.error("usage worker: dropping a malformed message ({})", e.getMessage());
      ch.basicAck(tag, false);
      return;
    }
    try {
      if (store.apply(batch)) {
        applied.incrementAndGet();
      } else {
        duplicates.incrementAndGet();
      }
    } catch (StorageUnavailableException e) {
      rejected.incrementAndGet();
      LOG.warn("usage worker: database unavailable, batch {} back to the queue ({})", batch.id(), e.getMessage());
      try {
        Thread.sleep(1_000);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
      }
      ch.basicNack(tag, false, true);
      return;
    }
    // Only now: the counts and the batch id committed together.
    ch.basicAck(tag, false);
  }

  /** Batches applied. */
  public long applied() {
    return applied.get();
  }

  /** Redelivered batches that were already applied. */
  public long duplicates() {
    return duplicates.get();
  }

  /** Batches put back while the database was down. */
  public long rejected() {
    return rejected.get();
  }

  /** Messages dropped as unreadable. */
  public long malformed() {
    return malformed.get();
  }

  /** Whether the consumer is connected. */
  public boolean connected() {
    Connection c = connection;
    return c != null && c.isOpen();
  }

  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    supervisor.shutdownNow();
    Connection c = connection;
    if (c != null) {
      try {
        c.close(2_000);
      } catch (Exception e) {
        c.abort(1_000);
      }
    }
  }
}
