package io.viva.server.gateway;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * The circuit breaker of one upstream, shared by every event loop.
 *
 * <p>Closed: requests pass; each connect error or timeout counts, each answer resets the count.
 * After {@code threshold} consecutive failures it opens: requests are refused at once (the
 * gateway answers 503 without touching the upstream) for {@code openNanos}. Then the next request
 * is let through as the one probe (half-open); its success closes the breaker, its failure opens
 * it again for another period. A probe that ends without a verdict (the client went away) lets
 * the next request probe at once.
 */
final class CircuitBreaker {

  static final int CLOSED = 0;
  static final int OPEN = 1;
  static final int HALF_OPEN = 2;

  private final int threshold;
  private final long openNanos;
  private final LongSupplier nanoTime;
  private final AtomicInteger state = new AtomicInteger(CLOSED);
  private final AtomicInteger failures = new AtomicInteger();
  private volatile long openedAt;

  CircuitBreaker(int threshold, long openNanos, LongSupplier nanoTime) {
    this.threshold = threshold;
    this.openNanos = openNanos;
    this.nanoTime = nanoTime;
  }

  /** Whether a request may go to the upstream now; true obliges the caller to report its outcome. */
  boolean tryAcquire() {
    int s = state.get();
    if (s == CLOSED) {
      return true;
    }
    if (s == OPEN && nanoTime.getAsLong() - openedAt >= openNanos) {
      return state.compareAndSet(OPEN, HALF_OPEN);
    }
    return false;
  }

  /** The upstream answered. */
  void onSuccess() {
    failures.set(0);
    if (state.get() != CLOSED) {
      state.set(CLOSED);
    }
  }

  /** The upstream could not be reached or timed out. */
  void onFailure() {
    if (state.get() == HALF_OPEN) {
      open();
      return;
    }
    if (failures.incrementAndGet() >= threshold && state.compareAndSet(CLOSED, OPEN)) {
      openedAt = nanoTime.getAsLong();
    }
  }

  /** The request ended without telling whether the upstream works (e.g. the client left first). */
  void onAbandoned() {
    if (state.compareAndSet(HALF_OPEN, OPEN)) {
      openedAt = nanoTime.getAsLong() - openNanos;
    }
  }

  private void open() {
    openedAt = nanoTime.getAsLong();
    state.set(OPEN);
  }

  /** CLOSED, OPEN or HALF_OPEN. */
  int state() {
    return state.get();
  }

  /** Nanoseconds until the next probe may go (0 when not open). */
  long retryAfterNanos() {
    if (state.get() != OPEN) {
      return 0;
    }
    return Math.max(0, openNanos - (nanoTime.getAsLong() - openedAt));
  }
}
