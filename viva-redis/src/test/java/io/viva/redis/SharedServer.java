package io.viva.redis;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A server the tests of a class share: started before them and stopped after them as a JUnit
 * Jupiter extension, and from jqwik's container hooks too (jqwik's engine does not see Jupiter
 * extensions) through {@link #start()} and {@link #stop()}, which count their callers so that the
 * server runs while either engine needs it.
 */
interface SharedServer extends BeforeAllCallback, AfterAllCallback {

  /** Starts the server unless it is running. */
  void start() throws Exception;

  /** Stops the server when its last user is done. */
  void stop() throws Exception;

  @Override
  default void beforeAll(ExtensionContext context) throws Exception {
    start();
  }

  @Override
  default void afterAll(ExtensionContext context) throws Exception {
    stop();
  }
}
