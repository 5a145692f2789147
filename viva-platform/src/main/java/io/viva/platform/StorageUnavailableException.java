package io.viva.platform;

/** The database could not be reached or failed; the operation did not happen. Callers answer 503. */
public final class StorageUnavailableException extends RuntimeException {

  /** Wraps the database's error. */
  public StorageUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
