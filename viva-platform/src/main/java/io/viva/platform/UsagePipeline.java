package io.viva.platform;

/**
 * Where usage batches go on their way to the database: applied in this process ({@link #inProcess})
 * or published to RabbitMQ ({@link RabbitUsagePipeline}) for a worker.
 */
public interface UsagePipeline extends AutoCloseable {

  /**
   * Hands {@code batch} over durably: when this returns, the batch is in the database or in a
   * durable queue. Blocking (called on the usage shipper's thread, never on an event loop).
   *
   * @throws Exception when it could not be handed over (the caller spools it)
   */
  void publish(UsageBatch batch) throws Exception;

  /** A short description for logs, without credentials. */
  String description();

  @Override
  default void close() {}

  /** Applies batches to the database directly, on the caller's thread (embedded setups). */
  static UsagePipeline inProcess(UsageStore store) {
    return new UsagePipeline() {
      @Override
      public void publish(UsageBatch batch) {
        store.apply(batch);
      }

      @Override
      public String description() {
        return "in-process";
      }
    };
  }
}
