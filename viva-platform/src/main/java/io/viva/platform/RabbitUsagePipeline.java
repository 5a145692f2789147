package io.viva.platform;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.MessageProperties;
import java.io.IOException;
import java.time.Duration;

/**
 * The usage pipeline over RabbitMQ: each batch is one persistent message on a durable queue,
 * published with publisher confirms, so {@link #publish} returns only once the broker has taken
 * responsibility for it. A failure closes the connection; the next publish reconnects (at most once
 * a second), and meanwhile the caller spools.
 */
public final class RabbitUsagePipeline implements UsagePipeline {

  /** How long a publish waits for the broker's confirm. */
  static final Duration CONFIRM_TIMEOUT = Duration.ofSeconds(5);

  private final ConnectionFactory factory;
  private final String queue;
  private final String description;
  private final String connectionName;
  private Connection connection;
  private Channel channel;
  private long lastAttemptNanos;
  private boolean attempted;

  /**
   * A pipeline to the broker at {@code url} ({@code amqp://user:pass@host:5672/vhost}) and queue
   * {@code queue}; {@code connectionName} shows in the broker's connection list.
   */
  public RabbitUsagePipeline(String url, String queue, String connectionName) {
    this.factory = factory(url);
    this.queue = queue;
    this.connectionName = connectionName;
    this.description = "rabbitmq " + PlatformDatabase.redact(url) + " queue " + queue;
  }

  static ConnectionFactory factory(String url) {
    ConnectionFactory f = new ConnectionFactory();
    try {
      f.setUri(url);
    } catch (Exception e) {
      throw new IllegalArgumentException("RABBITMQ_URL: \"" + PlatformDatabase.redact(url)
          + "\" (expected: amqp://user:pass@host:5672/vhost)");
    }
    f.setAutomaticRecoveryEnabled(false);
    f.setConnectionTimeout(2_000);
    f.setHandshakeTimeout(5_000);
    f.setRequestedHeartbeat(10);
    // A lost connection is reported once by the pipeline and the worker (WARN, then INFO when back);
    // the client's own per-event warnings would repeat it at every attempt.
    f.setExceptionHandler(new com.rabbitmq.client.impl.DefaultExceptionHandler() {
      @Override
      public void handleUnexpectedConnectionDriverException(Connection conn, Throwable exception) {
        org.slf4j.LoggerFactory.getLogger(RabbitUsagePipeline.class).debug("rabbitmq connection: {}",
            exception.toString());
      }
    });
    return f;
  }

  /** Declares the queue: durable, not exclusive, not auto-deleted. */
  static void declare(Channel ch, String queue) throws IOException {
    ch.queueDeclare(queue, true, false, false, null);
  }

  @Override
  public synchronized void publish(UsageBatch batch) throws Exception {
    Channel ch = channel();
    try {
      AMQP.BasicProperties props = MessageProperties.PERSISTENT_BASIC.builder().messageId(batch.id())
          .contentType("text/plain").build();
      ch.basicPublish("", queue, true, props, batch.encode());
      ch.waitForConfirmsOrDie(CONFIRM_TIMEOUT.toMillis());
    } catch (Exception e) {
      disconnect();
      throw e;
    }
  }

  private Channel channel() throws IOException {
    if (channel != null && channel.isOpen()) {
      return channel;
    }
    disconnect();
    long now = System.nanoTime();
    if (attempted && now - lastAttemptNanos < 1_000_000_000L) {
      throw new IOException("rabbitmq: not connected (retrying every second)");
    }
    attempted = true;
    lastAttemptNanos = now;
    try {
      connection = factory.newConnection(connectionName);
      channel = connection.createChannel();
      declare(channel, queue);
      channel.confirmSelect();
      return channel;
    } catch (java.util.concurrent.TimeoutException e) {
      disconnect();
      throw new IOException("rabbitmq: connection timed out", e);
    } catch (IOException | RuntimeException e) {
      disconnect();
      throw e;
    }
  }

  private void disconnect() {
    Connection c = connection;
    connection = null;
    channel = null;
    if (c != null) {
      try {
        c.abort(1_000);
      } catch (RuntimeException e) {
        // already gone
      }
    }
  }

  @Override
  public String description() {
    return description;
  }

  @Override
  public synchronized void close() {
    disconnect();
  }
}
