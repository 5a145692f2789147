package io.viva.platform;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A throwaway PostgreSQL database, dropped after the test, on the server of (first set wins) {@code
 * VIVA_TEST_PG} (a JDBC URL to a database the test user may CREATE DATABASE from, e.g. {@code
 * jdbc:postgresql://db:5432/postgres?user=postgres}), the server of {@code DATABASE_URL} (its
 * {@code postgres} database, same credentials), or the local server (localhost:5432, user
 * postgres, trust auth).
 */
public record TestDatabase(String server, String name) {

  /** The admin URL used when {@code VIVA_TEST_PG} is not set. */
  public static final String DEFAULT_SERVER = "jdbc:postgresql://localhost:5432/postgres?user=postgres";

  /** Creates a new empty database with a random name. */
  public static TestDatabase create() {
    String explicit = System.getenv("VIVA_TEST_PG");
    if (explicit != null && !explicit.isBlank()) {
      return create(explicit);
    }
    String url = System.getenv("DATABASE_URL");
    return create(url == null || url.isBlank() ? DEFAULT_SERVER : serverOf(url));
  }

  /** The {@code postgres} database on the server of a {@code postgres://user:pass@host:port/db} URL. */
  static String serverOf(String databaseUrl) {
    java.net.URI u = java.net.URI.create(databaseUrl.startsWith("jdbc:") ? databaseUrl.substring(5) : databaseUrl);
    StringBuilder sb = new StringBuilder("jdbc:postgresql://").append(u.getHost())
        .append(u.getPort() > 0 ? ":" + u.getPort() : "").append("/postgres");
    String query = u.getRawQuery();
    if (u.getRawUserInfo() != null) {
      String[] parts = u.getRawUserInfo().split(":", 2);
      sb.append("?user=").append(parts[0]);
      if (parts.length > 1) {
        sb.append("&password=").append(parts[1]);
      }
      if (query != null) {
        sb.append('&').append(query);
      }
    } else if (query != null) {
      sb.append('?').append(query);
    }
    return sb.toString();
  }

  /** Creates a new empty database on the server of {@code adminUrl}. */
  public static TestDatabase create(String adminUrl) {
    String name = "viva_test_" + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36);
    exec(adminUrl, "CREATE DATABASE " + name);
    return new TestDatabase(adminUrl, name);
  }

  /** The JDBC URL of this database. */
  public String url() {
    int q = server.indexOf('?');
    String base = q < 0 ? server : server.substring(0, q);
    return base.substring(0, base.lastIndexOf('/') + 1) + name + (q < 0 ? "" : server.substring(q));
  }

  /** Drops the database, disconnecting anyone still on it. */
  public void drop() {
    exec(server, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  }

  private static void exec(String url, String sql) {
    try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
      s.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException("PostgreSQL at " + url + ": " + e.getMessage(), e);
    }
  }
}
