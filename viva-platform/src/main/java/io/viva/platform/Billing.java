package io.viva.platform;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Usage-based billing (decision 0009): closes a calendar month (UTC) into one invoice per owner,
 * from the usage counts alone, deterministically, and stores it once ({@code UNIQUE (owner_id,
 * period)}).
 *
 * <p>Rules: a key is billed for a period under the tier that served its last counted request of
 * the period (so a mid-period tier change bills the whole month at the tier in force at its end); a
 * rotated key keeps its id, so its usage before and after the rotation is one line; overage is
 * exact per request, rounded once per line item, half up, to the minor unit.
 */
public final class Billing {

  private final PlatformStore store;
  private final UsageStore usage;
  private final io.viva.core.Clock clock;

  /** Billing over the platform's database. */
  public Billing(PlatformStore store, UsageStore usage, io.viva.core.Clock clock) {
    this.store = store;
    this.usage = usage;
    this.clock = clock;
  }

  /** The first and the end (exclusive) minute of {@code period}. */
  public static long[] minutes(YearMonth period) {
    long from = period.atDay(1).atStartOfDay(ZoneOffset.UTC).toEpochSecond() / 60;
    long to = period.plusMonths(1).atDay(1).atStartOfDay(ZoneOffset.UTC).toEpochSecond() / 60;
    return new long[] {from, to};
  }

  /** The invoice id of {@code owner} for {@code period}: the same on every run. */
  public static String invoiceId(String owner, String period) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest((owner + "\n" + period).getBytes(StandardCharsets.UTF_8));
      StringBuilder sb = new StringBuilder("inv_");
      for (int i = 0; i < 12; i++) {
        sb.append(String.format("%02x", d[i]));
      }
      return sb.toString();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The line items of one key's month: base price, included requests, then one line per overage
   * step reached.
   */
  public static List<Invoice.Line> lines(String keyId, String tier, long allowed, Pricing p) {
    List<Invoice.Line> out = new ArrayList<>();
    if (p.price() > 0) {
      out.add(new Invoice.Line(keyId, tier, "base", "Tier " + tier + " base price", 1, null, p.price()));
    }
    long included = Math.min(allowed, p.included());
    out.add(new Invoice.Line(keyId, tier, "included", "Requests included in tier " + tier, included, null, 0));
    long lower = p.included();
    for (Pricing.Step s : p.steps()) {
      if (allowed <= lower) {
        break;
      }
      long upper = s.upTo() == null ? Long.MAX_VALUE : s.upTo();
      long n = Math.min(allowed, upper) - lower;
      out.add(new Invoice.Line(keyId, tier, "overage", "Overage requests " + (lower + 1) + " to "
          + (s.upTo() == null ? "∞" : s.upTo()) + " at " + s.per1000() + " per 1,000", n, s.per1000(),
          overage(n, s.per1000())));
      lower = upper;
    }
    return out;
  }

  /** {@code requests × per1000 / 1000}, rounded half up to the minor unit; exact integer arithmetic. */
  public static long overage(long requests, long per1000) {
    long milli = Math.multiplyExact(requests, per1000);
    return milli / 1000 + (milli % 1000 >= 500 ? 1 : 0);
  }

  /**
   * Closes {@code period} for every owner with usage in it and returns the invoices issued now
   * (already issued ones are kept as they are and not returned).
   *
   * @param pricing the pricing of each tier by name (a tier without pricing is free)
   */
  public List<Invoice> close(YearMonth period, Function<String, Pricing> pricing) {
    long[] m = minutes(period);
    Map<String, List<UsageStore.KeyTotal>> byOwner = new LinkedHashMap<>();
    for (UsageStore.KeyTotal t : usage.totals(null, m[0], m[1])) {
      byOwner.computeIfAbsent(t.ownerId() != null ? t.ownerId() : t.keyId(), k -> new ArrayList<>()).add(t);
    }
    List<Invoice> issued = new ArrayList<>();
    String p = period.toString();
    for (Map.Entry<String, List<UsageStore.KeyTotal>> e : byOwner.entrySet()) {
      List<Invoice.Line> lines = new ArrayList<>();
      String currency = null;
      long total = 0;
      long requests = 0;
      for (UsageStore.KeyTotal t : e.getValue()) {
        Pricing pr = Optional.ofNullable(pricing.apply(t.lastTier())).orElse(Pricing.FREE);
        if (currency == null || (currency.equals(Pricing.FREE.currency()) && pr != Pricing.FREE)) {
          currency = pr.currency();
        }
        for (Invoice.Line l : lines(t.keyId(), t.lastTier(), t.allowed(), pr)) {
          lines.add(l);
          total = Math.addExact(total, l.amount());
        }
        requests += t.allowed();
      }
      Invoice inv = new Invoice(invoiceId(e.getKey(), p), e.getKey(), p, currency, total, requests,
          PlatformStore.instantOf(clock.micros()), lines);
      if (insert(inv)) {
        issued.add(inv);
      }
    }
    return issued;
  }

  private boolean insert(Invoice inv) {
    try {
      return store.tx(c -> {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM invoices WHERE owner_id = ? AND period = ?")) {
          ps.setString(1, inv.ownerId());
          ps.setString(2, inv.period());
          try (ResultSet rs = ps.executeQuery()) {
            if (rs.next()) {
              return false;
            }
          }
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO invoices (id, owner_id, period, currency, total,"
            + " requests, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
          ps.setString(1, inv.id());
          ps.setString(2, inv.ownerId());
          ps.setString(3, inv.period());
          ps.setString(4, inv.currency());
          ps.setLong(5, inv.total());
          ps.setLong(6, inv.requests());
          ps.setLong(7, PlatformStore.micros(inv.issuedAt()));
          ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO invoice_lines (invoice_id, line_no, key_id, tier,"
            + " kind, description, quantity, unit_price, amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
          int n = 0;
          for (Invoice.Line l : inv.lines()) {
            ps.setString(1, inv.id());
            ps.setInt(2, ++n);
            ps.setString(3, l.keyId());
            ps.setString(4, l.tier());
            ps.setString(5, l.kind());
            ps.setString(6, l.description());
            ps.setLong(7, l.quantity());
            if (l.unitPrice() == null) {
              ps.setNull(8, java.sql.Types.BIGINT);
            } else {
              ps.setLong(8, l.unitPrice());
            }
            ps.setLong(9, l.amount());
            ps.addBatch();
          }
          ps.executeBatch();
        }
        return true;
      });
    } catch (StorageUnavailableException e) {
      // Another worker closed the same owner and period at the same moment: theirs stands.
      if (get(inv.id()).isPresent()) {
        return false;
      }
      throw e;
    }
  }

  /** The invoice with {@code id}, with its lines. */
  public Optional<Invoice> get(String id) {
    List<Invoice> found = query("SELECT * FROM invoices WHERE id = ?", id);
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  /** Invoices of {@code period} (all when null), of {@code owner} (all when null), by owner. */
  public List<Invoice> list(String period, String owner) {
    StringBuilder sql = new StringBuilder("SELECT * FROM invoices WHERE 1 = 1");
    List<String> args = new ArrayList<>();
    if (period != null) {
      sql.append(" AND period = ?");
      args.add(period);
    }
    if (owner != null) {
      sql.append(" AND owner_id = ?");
      args.add(owner);
    }
    sql.append(" ORDER BY period DESC, owner_id LIMIT ").append(PlatformStore.MAX_PAGE);
    return query(sql.toString(), args.toArray(String[]::new));
  }

  private List<Invoice> query(String sql, String... args) {
    return store.tx(c -> {
      List<Invoice> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        for (int i = 0; i < args.length; i++) {
          ps.setString(i + 1, args[i]);
        }
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new Invoice(rs.getString("id"), rs.getString("owner_id"), rs.getString("period"),
                rs.getString("currency"), rs.getLong("total"), rs.getLong("requests"),
                PlatformStore.instantOf(rs.getLong("issued_at")), List.of()));
          }
        }
      }
      List<Invoice> full = new ArrayList<>();
      for (Invoice inv : out) {
        full.add(new Invoice(inv.id(), inv.ownerId(), inv.period(), inv.currency(), inv.total(), inv.requests(),
            inv.issuedAt(), lines(c, inv.id())));
      }
      return full;
    });
  }

  private static List<Invoice.Line> lines(java.sql.Connection c, String id) throws SQLException {
    List<Invoice.Line> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT * FROM invoice_lines WHERE invoice_id = ? ORDER BY line_no")) {
      ps.setString(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          long unit = rs.getLong("unit_price");
          Long unitPrice = rs.wasNull() ? null : unit;
          out.add(new Invoice.Line(rs.getString("key_id"), rs.getString("tier"), rs.getString("kind"),
              rs.getString("description"), rs.getLong("quantity"), unitPrice, rs.getLong("amount")));
        }
      }
    }
    return out;
  }

  /** The period (UTC month) containing {@code t}. */
  public static YearMonth periodOf(Instant t) {
    return YearMonth.from(t.atZone(ZoneOffset.UTC));
  }
}
