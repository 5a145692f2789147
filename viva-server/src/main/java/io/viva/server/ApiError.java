package io.viva.server;

/**
 * A request the service refuses, with the HTTP status, a stable machine-readable code and a
 * message that names the bad value and what was expected. Rendered as {@code {"error": code,
 * "message": message, "request_id": ...}}. Cheap to throw: no stack trace.
 */
final class ApiError extends RuntimeException {

  final int status;
  final String code;
  /** Extra header (name, value) or nulls, e.g. {@code Allow} on 405. */
  final String headerName;
  final String headerValue;
  /** Whether to close the connection after the response (the request body was not read). */
  final boolean close;

  ApiError(int status, String code, String message) {
    this(status, code, message, null, null, false);
  }

  ApiError(int status, String code, String message, String headerName, String headerValue, boolean close) {
    super(message, null, false, false);
    this.status = status;
    this.code = code;
    this.headerName = headerName;
    this.headerValue = headerValue;
    this.close = close;
  }

  /** 400 {@code invalid_request}. */
  static ApiError invalid(String message) {
    return new ApiError(400, "invalid_request", message);
  }

  /** 400 {@code invalid_json}. */
  static ApiError invalidJson(String message) {
    return new ApiError(400, "invalid_json", message);
  }

  /** 413 {@code payload_too_large}. */
  static ApiError tooLarge(long limit, boolean close) {
    return new ApiError(413, "payload_too_large", "body: larger than " + limit + " bytes (expected: at most "
        + limit + " bytes)", null, null, close);
  }
}
