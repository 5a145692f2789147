package io.viva.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;

/**
 * Full mode's usage, billing and webhook settings, from the environment (docs/configuration.md):
 *
 * <pre>
 * USAGE_COUNTING=on|off        count verifications (default on; off only to measure its cost)
 * RABBITMQ_URL=amqp://...      usage pipeline over RabbitMQ (default: in-process, straight to the database)
 * USAGE_QUEUE=viva.usage       the durable queue
 * USAGE_FLUSH_INTERVAL=1s      flush at least this often
 * USAGE_FLUSH_EVENTS=10000     ... or as soon as this many requests are pending
 * USAGE_SPOOL_DIR=DIR          where batches wait while the pipeline is down (default &lt;data_dir&gt;/usage-spool)
 * USAGE_SPOOL_MAX_BATCHES=100000
 * USAGE_CONSUMER=true|false    this server also runs the RabbitMQ consumer (default false: run `viva worker`)
 * QUOTA_REFRESH_INTERVAL=2s    how often month-to-date totals are reloaded for the quota check
 * BILLING_CLOSE_DELAY=1h       how long after a month ends its invoices are issued (late batches)
 * WEBHOOK_RETRY_INITIAL=1s     first retry delay; doubles per attempt
 * WEBHOOK_RETRY_MAX=10m        longest delay between two attempts
 * WEBHOOK_RETRY_FOR=24h        how long after the event attempts go on before it is marked failed
 * WEBHOOK_DEBOUNCE=60s         at most one rate_limit.exceeded event per key in this time
 * </pre>
 */
record UsageConfig(boolean counting, String rabbitUrl, String queue, Duration flushInterval, long flushEvents,
    Path spoolDir, long spoolMaxBatches, boolean consumer, Duration quotaRefresh, Duration billingCloseDelay,
    Duration webhookRetryInitial, Duration webhookRetryMax, Duration webhookRetryFor, Duration webhookDebounce) {

  static final UsageConfig DEFAULTS = new UsageConfig(true, null, "viva.usage", Duration.ofSeconds(1), 10_000, null,
      100_000, false, Duration.ofSeconds(2), Duration.ofHours(1), Duration.ofSeconds(1), Duration.ofMinutes(10),
      Duration.ofHours(24), Duration.ofSeconds(60));

  /** Never prints the broker password. */
  @Override
  public String toString() {
    return "UsageConfig[counting=" + counting + ", pipeline=" + (rabbitUrl == null ? "in-process"
        : io.viva.platform.PlatformDatabase.redact(rabbitUrl)) + "]";
  }

  /** The spool directory: configured, else under the data directory. */
  Path spool(Path dataDir) {
    return spoolDir != null ? spoolDir : dataDir.resolve("usage-spool");
  }

  static UsageConfig fromEnv(Map<String, String> env) throws ConfigException {
    UsageConfig d = DEFAULTS;
    String e;
    boolean counting = d.counting;
    if ((e = ConfigEnv.get(env, "USAGE_COUNTING")) != null) {
      counting = bool(e, "USAGE_COUNTING");
    }
    String url = d.rabbitUrl;
    if ((e = ConfigEnv.get(env, "RABBITMQ_URL")) != null) {
      if (!(e.startsWith("amqp://") || e.startsWith("amqps://"))) {
        throw new ConfigException("RABBITMQ_URL: \"" + io.viva.platform.PlatformDatabase.redact(e)
            + "\" (expected: amqp://user:pass@host:5672/vhost)");
      }
      url = e;
    }
    String queue = d.queue;
    if ((e = ConfigEnv.get(env, "USAGE_QUEUE")) != null) {
      if (!e.matches("[0-9A-Za-z_.:-]{1,200}")) {
        throw new ConfigException("USAGE_QUEUE: \"" + e + "\" (expected: 1 to 200 of [0-9A-Za-z_.:-])");
      }
      queue = e;
    }
    Duration flush = d.flushInterval;
    if ((e = ConfigEnv.get(env, "USAGE_FLUSH_INTERVAL")) != null) {
      flush = duration(e, "USAGE_FLUSH_INTERVAL");
    }
    long events = d.flushEvents;
    if ((e = ConfigEnv.get(env, "USAGE_FLUSH_EVENTS")) != null) {
      events = ConfigEnv.integer(e, "USAGE_FLUSH_EVENTS", 1, 100_000_000);
    }
    Path spool = d.spoolDir;
    if ((e = ConfigEnv.get(env, "USAGE_SPOOL_DIR")) != null) {
      spool = Path.of(e);
    }
    long spoolMax = d.spoolMaxBatches;
    if ((e = ConfigEnv.get(env, "USAGE_SPOOL_MAX_BATCHES")) != null) {
      spoolMax = ConfigEnv.integer(e, "USAGE_SPOOL_MAX_BATCHES", 1, 100_000_000);
    }
    boolean consumer = d.consumer;
    if ((e = ConfigEnv.get(env, "USAGE_CONSUMER")) != null) {
      consumer = bool(e, "USAGE_CONSUMER");
    }
    Duration refresh = d.quotaRefresh;
    if ((e = ConfigEnv.get(env, "QUOTA_REFRESH_INTERVAL")) != null) {
      refresh = duration(e, "QUOTA_REFRESH_INTERVAL");
    }
    Duration close = d.billingCloseDelay;
    if ((e = ConfigEnv.get(env, "BILLING_CLOSE_DELAY")) != null) {
      close = duration(e, "BILLING_CLOSE_DELAY");
    }
    Duration[] hooks = {d.webhookRetryInitial, d.webhookRetryMax, d.webhookRetryFor, d.webhookDebounce};
    String[] names = {"WEBHOOK_RETRY_INITIAL", "WEBHOOK_RETRY_MAX", "WEBHOOK_RETRY_FOR", "WEBHOOK_DEBOUNCE"};
    for (int i = 0; i < names.length; i++) {
      if ((e = ConfigEnv.get(env, names[i])) != null) {
        hooks[i] = duration(e, names[i]);
      }
    }
    return new UsageConfig(counting, url, queue, flush, events, spool, spoolMax, consumer, refresh, close, hooks[0],
        hooks[1], hooks[2], hooks[3]);
  }

  private static boolean bool(String v, String name) throws ConfigException {
    return switch (v.toLowerCase(Locale.ROOT)) {
      case "on", "true", "1", "yes" -> true;
      case "off", "false", "0", "no" -> false;
      default -> throw new ConfigException(name + ": \"" + v + "\" (expected: on or off)");
    };
  }

  private static Duration duration(String v, String name) throws ConfigException {
    Duration d;
    try {
      d = DurationParser.parse(v, name);
    } catch (IllegalArgumentException ex) {
      throw new ConfigException(ex.getMessage());
    }
    if (d.isZero() || d.isNegative()) {
      throw new ConfigException(name + ": \"" + v + "\" (expected: a positive duration such as 1s)");
    }
    return d;
  }
}
