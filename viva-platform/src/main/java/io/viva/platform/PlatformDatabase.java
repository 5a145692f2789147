package io.viva.platform;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/**
 * The connection pool to full mode's database, migrated to the current schema on open. PostgreSQL
 * when a URL is given ({@code postgres://user:pass@host:5432/db} or {@code jdbc:postgresql://...});
 * otherwise an H2 file (PostgreSQL mode) under the data directory, so {@code MODE=full ./viva serve}
 * needs nothing installed.
 */
public final class PlatformDatabase implements AutoCloseable {

  private final HikariDataSource dataSource;
  private final String description;
  private final boolean postgres;

  private PlatformDatabase(HikariDataSource dataSource, String description, boolean postgres) {
    this.dataSource = dataSource;
    this.description = description;
    this.postgres = postgres;
  }

  /**
   * Opens and migrates the database at {@code url}, or the embedded H2 file under {@code dataDir}
   * when {@code url} is null.
   *
   * @throws StorageUnavailableException if it cannot be reached or migrated (the message says which, never the password)
   */
  public static PlatformDatabase open(String url, Path dataDir) {
    Jdbc jdbc = url == null ? h2(dataDir) : jdbc(url);
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(jdbc.url);
    if (jdbc.user != null) {
      hc.setUsername(jdbc.user);
    }
    if (jdbc.password != null) {
      hc.setPassword(jdbc.password);
    }
    hc.setPoolName("viva-db");
    hc.setMaximumPoolSize(8);
    hc.setMinimumIdle(1);
    // Fail fast while the database is down: writes answer 503 within ~2 s instead of hanging.
    hc.setConnectionTimeout(2_000);
    hc.setValidationTimeout(1_000);
    hc.setInitializationFailTimeout(-1);
    HikariDataSource ds = new HikariDataSource(hc);
    PlatformDatabase db = new PlatformDatabase(ds, jdbc.description, jdbc.url.startsWith("jdbc:postgresql:"));
    try {
      Flyway.configure().dataSource(ds).locations("classpath:db/viva").load().migrate();
    } catch (RuntimeException e) {
      ds.close();
      throw new StorageUnavailableException("database " + jdbc.description + ": cannot migrate ("
          + rootMessage(e) + ")", e);
    }
    return db;
  }

  /** The pooled data source. */
  public DataSource dataSource() {
    return dataSource;
  }

  /** Where the database is, without credentials, e.g. {@code postgresql://db:5432/viva}. */
  public String description() {
    return description;
  }

  /** Whether this is PostgreSQL (else embedded H2). */
  public boolean isPostgres() {
    return postgres;
  }

  /** Whether a connection can be had and answers within a second. */
  public boolean healthy() {
    try (Connection c = dataSource.getConnection()) {
      return c.isValid(1);
    } catch (SQLException e) {
      return false;
    }
  }

  @Override
  public void close() {
    dataSource.close();
  }

  private record Jdbc(String url, String user, String password, String description) {}

  private static Jdbc h2(Path dataDir) {
    Path file = dataDir.toAbsolutePath().resolve("viva");
    return new Jdbc("jdbc:h2:file:" + file + ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH",
        "sa", "", "h2:" + file);
  }

  /**
   * Turns {@code postgres://user:pass@host:port/db?opts} into a JDBC URL plus credentials;
   * {@code jdbc:} URLs pass through.
   *
   * @throws IllegalArgumentException naming what is wrong (without the password)
   */
  static Jdbc jdbc(String url) {
    String u = url.trim();
    if (u.startsWith("jdbc:")) {
      return new Jdbc(u, null, null, redact(u.substring(5)));
    }
    if (!(u.startsWith("postgres://") || u.startsWith("postgresql://"))) {
      throw new IllegalArgumentException("DATABASE_URL: \"" + redact(u) + "\" (expected: postgres://user:pass@host:5432/db"
          + " or jdbc:postgresql://host:5432/db)");
    }
    URI uri;
    try {
      uri = URI.create(u);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("DATABASE_URL: \"" + redact(u) + "\" (expected: a valid URL)");
    }
    if (uri.getHost() == null || uri.getPath() == null || uri.getPath().length() < 2) {
      throw new IllegalArgumentException("DATABASE_URL: \"" + redact(u) + "\" (expected: a host and a database name,"
          + " e.g. postgres://user:pass@localhost:5432/viva)");
    }
    String user = null;
    String password = null;
    if (uri.getRawUserInfo() != null) {
      String[] parts = uri.getRawUserInfo().split(":", 2);
      user = URLDecoder.decode(parts[0], StandardCharsets.UTF_8);
      password = parts.length > 1 ? URLDecoder.decode(parts[1], StandardCharsets.UTF_8) : null;
    }
    String hostPort = uri.getHost() + (uri.getPort() > 0 ? ":" + uri.getPort() : "");
    String jdbcUrl = "jdbc:postgresql://" + hostPort + uri.getRawPath()
        + (uri.getRawQuery() != null ? "?" + uri.getRawQuery() : "");
    return new Jdbc(jdbcUrl, user, password, "postgresql://" + hostPort + uri.getRawPath());
  }

  /** {@code url} without a password. */
  public static String redact(String url) {
    return url.replaceFirst("//[^@/]*@", "//***@").replaceAll("(?i)(password=)[^&;]*", "$1***");
  }

  static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return redact(String.valueOf(c.getMessage()));
  }

  /** The default pause between polls of the change log. */
  static final Duration DEFAULT_POLL = Duration.ofSeconds(1);
}
