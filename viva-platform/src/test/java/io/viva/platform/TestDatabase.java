package io.viva.platform;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A throwaway PostgreSQL database on the server of {@code VIVA_TEST_PG} (a JDBC URL to its {@code
 * postgres} database; default the local server, user postgres, trust auth), dropped after the test.
 */
public record TestDatabase(String server, String name) {

  /** The admin URL used when {@code VIVA_TEST_PG} is not set. */
  public static final String DEFAULT_SERVER = "jdbc:postgresql://localhost:5432/postgres?user=postgres";

  /** Creates a new empty database with a random name. */
  public static TestDatabase create() {
    return create(System.getenv().getOrDefault("VIVA_TEST_PG", DEFAULT_SERVER));
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
