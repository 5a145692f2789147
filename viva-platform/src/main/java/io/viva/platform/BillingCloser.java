package io.viva.platform;

import io.viva.core.Clock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes the previous month into invoices once it has been over for {@code delay} (so batches still
 * in the pipeline at midnight land first). Run it periodically from the process that applies usage
 * (the worker, or the server with the in-process pipeline). Closing is idempotent and deterministic
 * (see {@link Billing}), so several workers may run it.
 */
public final class BillingCloser implements Runnable {

  private static final Logger LOG = LoggerFactory.getLogger(BillingCloser.class);

  private final Billing billing;
  private final Clock clock;
  private final Duration delay;
  private final Function<String, Pricing> pricing;
  private final Consumer<Invoice> issued;
  private volatile YearMonth closed;

  /** A closer; {@code issued} hears of each invoice issued (e.g. for webhooks). */
  public BillingCloser(Billing billing, Clock clock, Duration delay, Function<String, Pricing> pricing,
      Consumer<Invoice> issued) {
    this.billing = billing;
    this.clock = clock;
    this.delay = delay;
    this.pricing = pricing;
    this.issued = issued;
  }

  @Override
  public void run() {
    try {
      java.time.Instant now = PlatformStore.instantOf(clock.micros());
      YearMonth due = Billing.periodOf(now.minus(delay)).minusMonths(1);
      if (due.equals(closed)) {
        return;
      }
      List<Invoice> out = billing.close(due, pricing);
      closed = due;
      if (!out.isEmpty()) {
        LOG.info("billing: closed {} with {} invoices", due, out.size());
      }
      out.forEach(issued);
    } catch (RuntimeException e) {
      LOG.warn("billing: closing the last period failed ({}); retried", e.getMessage());
    }
  }
}
