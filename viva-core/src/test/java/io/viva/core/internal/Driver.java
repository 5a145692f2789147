package io.viva.core.internal;

import io.viva.core.Algorithm;

/** Drives one algorithm's state through requests, as a store would; for tests. */
final class Driver {
  final LimitAlgorithm algorithm;
  long[] state;

  Driver(LimitAlgorithm algorithm) {
    this.algorithm = algorithm;
  }

  static Driver of(Algorithm algorithm, long limit, long windowMicros, long burst) {
    return new Driver(LimitAlgorithm.create(algorithm, limit, windowMicros, burst));
  }

  static Driver of(Algorithm algorithm, long limit, long windowMicros) {
    return of(algorithm, limit, windowMicros, limit);
  }

  /** Decides and, if admitted, charges. */
  Outcome check(long cost, long now) {
    Outcome out = look(cost, now);
    if (out.allowed && cost > 0) {
      state = algorithm.commit(state, cost, now, out);
    }
    return out;
  }

  /** Decides without charging. */
  Outcome look(long cost, long now) {
    Outcome out = new Outcome();
    algorithm.evaluate(state, cost, now, out);
    return out;
  }
}
