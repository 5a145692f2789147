package io.viva.server;

import io.viva.core.Clock;
import io.viva.core.Decision;
import io.viva.core.LimitStore;
import io.viva.core.Policy;
import io.viva.server.admin.TrafficRecorder;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The store the policies use, wrapped so every decision from every entry point (HTTP today, gRPC
 * and the gateway later) is counted by the {@link TrafficRecorder} for the admin API. A cost-0
 * check only looks (the admin API's own reads are such looks) and is not counted. Closing is left
 * to the owner of the wrapped store.
 */
final class ObservedLimitStore implements LimitStore {

  private final LimitStore store;
  private final TrafficRecorder traffic;

  ObservedLimitStore(LimitStore store, TrafficRecorder traffic) {
    this.store = store;
    this.traffic = traffic;
  }

  @Override
  public Decision acquire(Policy policy, String key, long cost, String idempotencyKey) {
    Decision d = store.acquire(policy, key, cost, idempotencyKey);
    if (cost > 0) {
      traffic.record(policy.name(), key, d.allowed());
    }
    return d;
  }

  @Override
  public CompletionStage<Decision> acquireAsync(Policy policy, String key, long cost, String idempotencyKey) {
    return observed(policy, key, cost, store.acquireAsync(policy, key, cost, idempotencyKey));
  }

  @Override
  public java.util.List<CompletionStage<Decision>> acquireAllAsync(java.util.List<Request> requests) {
    // The wrapped store's batch (one pipeline on Redis), each result counted as it completes.
    java.util.List<CompletionStage<Decision>> stages = store.acquireAllAsync(requests);
    java.util.List<CompletionStage<Decision>> out = new java.util.ArrayList<>(stages.size());
    for (int i = 0; i < stages.size(); i++) {
      Request r = requests.get(i);
      out.add(observed(r.policy(), r.key(), r.cost(), stages.get(i)));
    }
    return out;
  }

  /** {@code stage}, with its decision counted once it is known (a cost-0 look is not counted). */
  private CompletionStage<Decision> observed(Policy policy, String key, long cost, CompletionStage<Decision> stage) {
    if (cost == 0) {
      return stage;
    }
    // The in-memory store answers at once: record inline, no extra future on the hot path.
    if (stage instanceof CompletableFuture<Decision> f && f.isDone() && !f.isCompletedExceptionally()) {
      traffic.record(policy.name(), key, f.join().allowed());
      return f;
    }
    return stage.thenApply(d -> {
      traffic.record(policy.name(), key, d.allowed());
      return d;
    });
  }

  @Override
  public void reset(Policy policy, String key) {
    store.reset(policy, key);
  }

  @Override
  public long keyCount() {
    return store.keyCount();
  }

  @Override
  public Clock clock() {
    return store.clock();
  }

  @Override
  public void close() {
    // The server closes the wrapped store itself, once.
  }
}
