package io.viva.platform;

import io.viva.core.Clock;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends due webhook deliveries from the {@link WebhookStore}: on its own thread and the JDK's
 * asynchronous HTTP client (never on a server event loop). Each POST carries the event as JSON and
 * {@code Viva-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(secret, t + "." + body)>}. A 2xx
 * answer delivers; anything else (status, timeout, refused connection) is retried with exponential
 * backoff ({@code initialBackoff} × 2^(attempt-1), at most {@code maxBackoff}) until {@code maxAge}
 * after the event, then the delivery is marked failed. The queue is in the database, so a restart
 * continues where it stopped.
 */
public final class WebhookDispatcher implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(WebhookDispatcher.class);
  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  private final WebhookStore store;
  private final Clock clock;
  private final Duration initialBackoff;
  private final Duration maxBackoff;
  private final Duration maxAge;
  private final HttpClient http;
  private final ScheduledExecutorService thread;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicLong delivered = new AtomicLong();
  private final AtomicLong failedAttempts = new AtomicLong();
  private final AtomicLong givenUp = new AtomicLong();

  /** Starts dispatching; polls the queue every {@code poll}. */
  public WebhookDispatcher(WebhookStore store, Clock clock, Duration initialBackoff, Duration maxBackoff,
      Duration maxAge, Duration poll) {
    this.store = store;
    this.clock = clock;
    this.initialBackoff = initialBackoff;
    this.maxBackoff = maxBackoff;
    this.maxAge = maxAge;
    this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "viva-webhooks");
      t.setDaemon(true);
      return t;
    });
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).executor(thread)
        .followRedirects(HttpClient.Redirect.NEVER).build();
    thread.scheduleWithFixedDelay(this::tick, poll.toMillis(), poll.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** The {@code Viva-Signature} header value of {@code body} at {@code unixSeconds}. */
  public static String signature(String secret, long unixSeconds, String body) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      byte[] d = mac.doFinal((unixSeconds + "." + body).getBytes(StandardCharsets.UTF_8));
      return "t=" + unixSeconds + ",v1=" + HexFormat.of().formatHex(d);
    } catch (NoSuchAlgorithmException | InvalidKeyException e) {
      throw new IllegalStateException(e);
    }
  }

  private void tick() {
    if (inFlight.get() > 100) {
      return;
    }
    List<WebhookStore.Due> due;
    try {
      due = store.takeDue(50, TIMEOUT.multipliedBy(3).toNanos() / 1000);
    } catch (StorageUnavailableException e) {
      return;
    }
    for (WebhookStore.Due d : due) {
      send(d);
    }
  }

  private void send(WebhookStore.Due d) {
    WebhookStore.Delivery del = d.delivery();
    long t = Math.floorDiv(clock.micros(), 1_000_000L);
    HttpRequest req;
    try {
      req = HttpRequest.newBuilder(URI.create(d.url())).timeout(TIMEOUT)
          .header("Content-Type", "application/json")
          .header("User-Agent", "viva-webhooks")
          .header("Viva-Event", del.eventType())
          .header("Viva-Delivery", Long.toString(del.id()))
          .header("Viva-Signature", signature(d.secret(), t, del.payload()))
          .POST(HttpRequest.BodyPublishers.ofString(del.payload())).build();
    } catch (IllegalArgumentException e) {
      done(del, null, "bad url");
      return;
    }
    inFlight.incrementAndGet();
    http.sendAsync(req, HttpResponse.BodyHandlers.discarding()).whenComplete((resp, err) -> {
      inFlight.decrementAndGet();
      if (err != null) {
        Throwable c = err.getCause() != null ? err.getCause() : err;
        done(del, null, c.getClass().getSimpleName() + (c.getMessage() != null ? ": " + c.getMessage() : ""));
      } else {
        done(del, resp.statusCode(), resp.statusCode() / 100 == 2 ? null : "HTTP " + resp.statusCode());
      }
    });
  }

  private void done(WebhookStore.Delivery del, Integer status, String error) {
    boolean ok = status != null && status / 100 == 2;
    Long retryAt = null;
    if (!ok) {
      failedAttempts.incrementAndGet();
      int attempt = del.attempts() + 1;
      long backoff = Math.min(maxBackoff.toNanos() / 1000,
          (initialBackoff.toNanos() / 1000) << Math.min(attempt - 1, 30));
      long next = clock.micros() + backoff;
      if (next <= PlatformStore.micros(del.createdAt()) + maxAge.toNanos() / 1000) {
        retryAt = next;
      } else {
        givenUp.incrementAndGet();
        LOG.warn("webhook {}: event {} not delivered after {} attempts ({}); given up", del.webhookId(),
            del.eventId(), attempt, error);
      }
    } else {
      delivered.incrementAndGet();
    }
    try {
      store.recordAttempt(del.id(), status, error, retryAt);
    } catch (StorageUnavailableException e) {
      // The lease runs out and the delivery is sent again: at least once.
      LOG.debug("webhook delivery {}: result not recorded ({})", del.id(), e.getMessage());
    }
  }

  /** Deliveries answered 2xx. */
  public long delivered() {
    return delivered.get();
  }

  /** Attempts that failed (retried or given up). */
  public long failedAttempts() {
    return failedAttempts.get();
  }

  /** Deliveries given up after the retry window. */
  public long givenUp() {
    return givenUp.get();
  }

  @Override
  public void close() {
    thread.shutdownNow();
    try {
      thread.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
