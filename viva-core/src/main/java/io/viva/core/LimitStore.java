package io.viva.core;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Where rate limit state lives. One call decides one request atomically: evaluate every limit of
 * the policy for the key, charge all of them or none, and remember the decision under the
 * idempotency key if one is given.
 *
 * <p>Implementations: {@link InMemoryLimitStore} (one process; the default) and, in the
 * {@code viva-redis} module, a Redis store shared by many processes. Every implementation must
 * make the same decisions as the in-memory store for the same timeline; the {@code
 * LimitStoreContract} test suite in viva-core's test jar checks that.
 */
public interface LimitStore extends AutoCloseable {

  /**
   * Decides one request. {@code cost} has been checked against the policy ({@code 0 <= cost <=
   * policy.maxCost()}); a cost of 0 only looks.
   *
   * @param idempotencyKey {@code null}, or a key whose first decision is replayed, without
   *     charging again, for {@link Policy#idempotencyTtl()}
   */
  Decision acquire(Policy policy, String key, long cost, String idempotencyKey);

  /** {@link #acquire} without blocking the caller; stores with network I/O override this. */
  default CompletionStage<Decision> acquireAsync(Policy policy, String key, long cost, String idempotencyKey) {
    try {
      return CompletableFuture.completedFuture(acquire(policy, key, cost, idempotencyKey));
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /**
   * Decides several requests, each exactly as {@link #acquireAsync} would, in order; the answers
   * are in the requests' order. The default asks one by one; a store with network I/O overrides
   * it to send all of them at once (the Redis store writes them as one pipeline).
   */
  default List<CompletionStage<Decision>> acquireAllAsync(List<Request> requests) {
    List<CompletionStage<Decision>> out = new ArrayList<>(requests.size());
    for (Request r : requests) {
      out.add(acquireAsync(r.policy(), r.key(), r.cost(), r.idempotencyKey()));
    }
    return out;
  }

  /**
   * One request of {@link #acquireAllAsync}: the arguments of {@link #acquire}.
   *
   * @param idempotencyKey {@code null} for none
   */
  record Request(Policy policy, String key, long cost, String idempotencyKey) {}

  /** Forgets all state of {@code key} under {@code policy}, as if it had never been seen. */
  void reset(Policy policy, String key);

  /** The number of keys holding state, or -1 if the store cannot tell cheaply. */
  default long keyCount() {
    return -1;
  }

  /** The clock this store decides by. */
  Clock clock();

  /** Releases resources; the default does nothing. */
  @Override
  default void close() {}
}
