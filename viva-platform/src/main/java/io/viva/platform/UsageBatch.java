package io.viva.platform;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A batch of usage counts on its way from a server to the database: the unit of the usage pipeline,
 * of the disk spool and of idempotency (a batch id is applied at most once).
 *
 * <p>Wire form (the message body on RabbitMQ and the spool file's content), UTF-8 text:
 * <pre>
 * viva-usage 1
 * id &lt;batch id&gt;
 * source &lt;instance id&gt;
 * &lt;key id&gt; &lt;minute&gt; &lt;outcome&gt; &lt;tier&gt; &lt;requests&gt;     (one line per count)
 * </pre>
 *
 * @param id unique batch id
 * @param source the instance that counted it (for operators)
 * @param counts the counts, each at most once per key, minute, outcome and tier
 */
public record UsageBatch(String id, String source, List<Count> counts) {

  /** The most counts one batch carries (a flush of more is split). */
  public static final int MAX_COUNTS = 5_000;

  private static final String MAGIC = "viva-usage 1";
  private static final Pattern ID = Pattern.compile("[0-9A-Za-z_.:-]{1,64}");
  private static final Pattern KEY_ID = Pattern.compile("key_[0-9A-Za-z]{1,36}");
  private static final Pattern TIER = Pattern.compile("[0-9A-Za-z_.:-]{1,64}");

  /**
   * Requests of one key in one minute with one outcome.
   *
   * @param keyId the key's id
   * @param minute minutes since the epoch (UTC)
   * @param outcome the verification outcome
   * @param tier the tier that served the requests
   * @param requests how many (> 0)
   */
  public record Count(String keyId, long minute, UsageOutcome outcome, String tier, long requests) {}

  /** Checks the fields. */
  public UsageBatch {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(source, "source");
    counts = List.copyOf(counts);
    if (!ID.matcher(id).matches() || !ID.matcher(source).matches()) {
      throw new IllegalArgumentException("batch id or source: not 1 to 64 of [0-9A-Za-z_.:-]");
    }
    if (counts.size() > MAX_COUNTS) {
      throw new IllegalArgumentException("batch: " + counts.size() + " counts (expected: at most " + MAX_COUNTS + ")");
    }
  }

  /** Requests in this batch, all outcomes. */
  public long events() {
    long n = 0;
    for (Count c : counts) {
      n += c.requests();
    }
    return n;
  }

  /** The wire form. */
  public byte[] encode() {
    StringBuilder sb = new StringBuilder(64 + counts.size() * 48);
    sb.append(MAGIC).append('\n').append("id ").append(id).append('\n').append("source ").append(source).append('\n');
    for (Count c : counts) {
      sb.append(c.keyId()).append(' ').append(c.minute()).append(' ').append(c.outcome().label()).append(' ')
          .append(c.tier()).append(' ').append(c.requests()).append('\n');
    }
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Reads the wire form.
   *
   * @throws IllegalArgumentException naming what is malformed
   */
  public static UsageBatch decode(byte[] bytes) {
    if (bytes.length > MAX_COUNTS * 200 + 1000) {
      throw new IllegalArgumentException("usage batch: " + bytes.length + " bytes (too large)");
    }
    String[] lines = new String(bytes, StandardCharsets.UTF_8).split("\n");
    if (lines.length < 3 || !lines[0].equals(MAGIC) || !lines[1].startsWith("id ") || !lines[2].startsWith("source ")) {
      throw new IllegalArgumentException("usage batch: bad header (expected: " + MAGIC + ", id, source)");
    }
    List<Count> counts = new ArrayList<>(lines.length - 3);
    for (int i = 3; i < lines.length; i++) {
      if (lines[i].isEmpty()) {
        continue;
      }
      String[] f = lines[i].split(" ");
      if (f.length != 5 || !KEY_ID.matcher(f[0]).matches() || !TIER.matcher(f[3]).matches()) {
        throw new IllegalArgumentException("usage batch: line " + (i + 1) + " malformed");
      }
      UsageOutcome outcome = UsageOutcome.fromLabel(f[2]);
      long minute;
      long requests;
      try {
        minute = Long.parseLong(f[1]);
        requests = Long.parseLong(f[4]);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("usage batch: line " + (i + 1) + " malformed number");
      }
      if (outcome == null || minute < 0 || requests <= 0) {
        throw new IllegalArgumentException("usage batch: line " + (i + 1) + " out of range");
      }
      counts.add(new Count(f[0], minute, outcome, f[3], requests));
    }
    return new UsageBatch(lines[1].substring(3), lines[2].substring(7), counts);
  }
}
