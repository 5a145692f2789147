package io.viva.server;

import io.viva.redis.RedisServerProcess;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The dashboard in headless Chromium (Debian's {@code chromium} and {@code chromium-driver}; .ci/run
 * installs them) against a running Viva with real traffic: log in, watch the charts update, find
 * the offender, look it up; in full mode, manage keys (create, rotate, revoke) with an admin token, chart a key's usage and
 * show a month's invoices.
 * Screenshots go to {@code target/dashboard-screenshots/}.
 */
class DashboardBrowserIT {

  static final String TOKEN = "dash-board-token";
  static final Path SHOTS = Path.of("target", "dashboard-screenshots");
  static final String POLICIES = """
      policies:
        - namespace: api
          algorithm: fixed_window
          limit: 5
          window: 1h
        - namespace: search
          algorithm: token_bucket
          limit: 1000
          window: 1s
      """;

  private WebDriver driver;
  private Path profile;

  @BeforeEach
  void startBrowser() throws IOException {
    String browser = System.getProperty("viva.chromium", "/usr/bin/chromium");
    String chromedriver = System.getProperty("viva.chromedriver", "/usr/bin/chromedriver");
    assertThat(Path.of(browser)).as("Chromium (apt-get install chromium chromium-driver; .ci/run does it)").exists();
    assertThat(Path.of(chromedriver)).as("chromedriver (apt-get install chromium-driver)").exists();
    profile = Files.createTempDirectory("viva-chromium-");
    ChromeOptions options = new ChromeOptions();
    options.setBinary(browser);
    options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1400,1100", "--user-data-dir=" + profile);
    ChromeDriverService service = new ChromeDriverService.Builder()
        .usingDriverExecutable(Path.of(chromedriver).toFile()).usingAnyFreePort().build();
    driver = new ChromeDriver(service, options);
    Files.createDirectories(SHOTS);
  }

  @AfterEach
  void stopBrowser() throws IOException {
    if (driver != null) {
      driver.quit();
    }
    if (profile != null) {
      try (var files = Files.walk(profile)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  @Test
  void logInWatchTrafficFindTheOffenderAndLookItUp() throws Exception {
    try (TestServer t = TestServer.start(TestServer.config("server:\n  admin_token: " + TOKEN + "\n" + POLICIES))) {
      AtomicBoolean stop = new AtomicBoolean();
      Thread traffic = Thread.ofPlatform().daemon().name("dashboard-traffic").start(() -> {
        int i = 0;
        while (!stop.get()) {
          t.post("/v1/check", "{\"identifier\":\"mallory\",\"namespace\":\"api\"}");
          t.post("/v1/check", "{\"identifier\":\"user_" + (i++ % 7) + "\",\"namespace\":\"search\"}");
          if (i % 5 == 0) {
            t.post("/v1/check", "{\"identifier\":\"trudy\",\"namespace\":\"api\"}");
          }
          try {
            Thread.sleep(10);
          } catch (InterruptedException e) {
            return;
          }
        }
      });
      try {
        driver.get(t.base + "/dashboard");
        WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(30));
        wait.until(d -> d.findElement(By.id("login")).isDisplayed());
        // A wrong token stays on the login form with the server's message.
        driver.findElement(By.id("token")).sendKeys("wrong");
        driver.findElement(By.id("login-button")).click();
        wait.until(d -> d.findElement(By.id("login-error")).getText().contains("wrong"));
        shot("01-login-refused");

        driver.findElement(By.id("token")).sendKeys(TOKEN);
        driver.findElement(By.id("login-button")).click();
        wait.until(d -> d.findElement(By.id("app")).isDisplayed());
        assertThat(js("return sessionStorage.getItem('viva.adminToken')")).isEqualTo(TOKEN);
        // Standalone: no key management (the stats say "platform": false).
        wait.until(d -> updates() >= 1);
        assertThat(driver.findElement(By.id("platform")).isDisplayed()).isFalse();

        // The charts are drawn and keep updating with the traffic.
        wait.until(d -> updates() >= 2 && seriesPoints() >= 2);
        long denied1 = number("denied-total");
        long updates1 = updates();
        wait.until(d -> updates() >= updates1 + 2);
        long denied2 = number("denied-total");
        assertThat(denied2).as("denied counter grows with traffic").isGreaterThan(denied1);
        assertThat(driver.findElements(By.cssSelector("#chart-rate canvas"))).isNotEmpty();
        assertThat(Double.parseDouble(String.valueOf(js("return document.getElementById('chart-rate').dataset.lastDenied"))))
            .as("the chart's latest denied rate").isPositive();
        assertThat(driver.findElements(By.cssSelector("#chart-latency canvas"))).isNotEmpty();
        assertThat(driver.findElement(By.id("store")).getText()).contains("memory");
        assertThat(driver.findElement(By.id("banner")).isDisplayed()).isFalse();
        wait.until(d -> !d.findElements(By.cssSelector("#policies table tr")).isEmpty()
            && d.findElement(By.id("policies")).getText().contains("search"));
        shot("02-live-charts");

        // The top offender is mallory; the window switch keeps finding it.
        wait.until(d -> firstOffender().contains("mallory"));
        driver.findElement(By.cssSelector(".switch button[data-window='hour']")).click();
        wait.until(d -> d.findElement(By.id("offenders-note")).getText().contains("hour")
            && firstOffender().contains("mallory"));
        shot("03-offenders-hour");

        // Clicking it looks it up: limit spent, state read without consuming.
        driver.findElement(By.cssSelector("#offenders-bars .offender")).click();
        wait.until(d -> d.findElement(By.id("lookup-result")).getText().contains("mallory"));
        WebElement remaining = driver.findElement(By.cssSelector("#lookup-table td.remaining"));
        assertThat(remaining.getText()).isEqualTo("0 of 5");
        shot("04-lookup-offender");

        // And any identifier typed in.
        WebElement id = driver.findElement(By.id("lookup-id"));
        id.clear();
        id.sendKeys("nobody_yet");
        driver.findElement(By.id("lookup-ns")).sendKeys("api");
        driver.findElement(By.id("lookup-button")).click();
        wait.until(d -> d.findElement(By.id("lookup-result")).getText().contains("nobody_yet"));
        assertThat(driver.findElement(By.cssSelector("#lookup-table td.remaining")).getText()).isEqualTo("5 of 5");
        shot("05-lookup-fresh");
      } finally {
        stop.set(true);
        traffic.join(5_000);
      }
    }
  }

  @Test
  void showsABannerWhenRedisIsDown() throws Exception {
    int port = RedisServerProcess.freePort();
    String config = """
        server:
          admin_token: %s
          store: redis
        redis:
          url: redis://127.0.0.1:%d
          failure_mode: fail_open
          timeout: 1s
        """.formatted(TOKEN, port) + POLICIES;
    try (TestServer t = TestServer.start(TestServer.config(config))) {
      t.post("/v1/check", "{\"identifier\":\"x\",\"namespace\":\"api\"}");
      driver.get(t.base + "/dashboard/");
      WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(30));
      driver.findElement(By.id("token")).sendKeys(TOKEN);
      driver.findElement(By.id("login-button")).click();
      wait.until(d -> d.findElement(By.id("banner")).isDisplayed());
      assertThat(driver.findElement(By.id("banner")).getText()).contains("Store degraded").contains("fail_open");
      assertThat(driver.findElement(By.id("active-keys")).getText()).isEqualTo("n/a");
      // The rest of the page still works.
      wait.until(d -> d.findElement(By.id("policies")).getText().contains("api"));
      shot("06-redis-down-banner");
    }
  }

  @Test
  void fullModeKeysCreateRotateRevoke(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    // Billed tiers (pro: EUR 49.00 a month, 10 requests included) and a clock the test moves past the
    // month's end to close it into invoices; it starts at the browser's now so its usage window fits.
    java.time.Instant started = java.time.Instant.now();
    io.viva.core.ManualClock clock = io.viva.core.ManualClock.at(started);
    ServerConfig config = FullModeIT.config(null, dir, UsageIT.TIERS);
    try (TestServer t = TestServer.start(config, TestServer.options(clock))) {
      String admin = FullModeIT.token(t, FullModeIT.BOOT, "dashboard admin", "admin");
      driver.get(t.base + "/dashboard/");
      WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(30));
      // The key table is rebuilt after each action: an element read while it is replaced is read again.
      wait.ignoring(org.openqa.selenium.StaleElementReferenceException.class);
      driver.findElement(By.id("token")).sendKeys(admin);
      driver.findElement(By.id("login-button")).click();
      wait.until(d -> d.findElement(By.id("platform")).isDisplayed());
      wait.until(d -> d.findElement(By.id("keys-list")).getText().contains("No keys."));
      wait.until(d -> !d.findElements(By.cssSelector("#key-tier option[value='pro']")).isEmpty());

      // Create: the secret is shown once, works, and is kept nowhere in the page's storage.
      driver.findElement(By.id("key-name")).sendKeys("Checkout service");
      new org.openqa.selenium.support.ui.Select(driver.findElement(By.id("key-tier"))).selectByValue("pro");
      driver.findElement(By.id("key-owner")).sendKeys("cus_42");
      driver.findElement(By.id("key-create")).click();
      wait.until(d -> d.findElement(By.id("key-secret")).isDisplayed());
      String first = driver.findElement(By.id("key-secret-value")).getText();
      assertThat(first).startsWith("viva_live_");
      wait.until(d -> d.findElement(By.id("keys-list")).getText().contains("Checkout service"));
      WebElement row = driver.findElement(By.cssSelector("#keys-table tr.key-row"));
      assertThat(row.getText()).contains("pro").contains("active").contains("cus_42").doesNotContain(first.substring(16));
      assertThat(String.valueOf(js("return JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")))
          .doesNotContain(first);
      assertThat(FullModeIT.check(t, first).status()).isEqualTo(200);
      shot("07-full-key-created");
      driver.findElement(By.id("key-secret-dismiss")).click();
      assertThat(driver.findElement(By.id("key-secret")).isDisplayed()).isFalse();

      // Rotate with a grace period: a new secret shown once; both work during the grace.
      WebElement grace = driver.findElement(By.id("keys-grace"));
      grace.clear();
      grace.sendKeys("1h");
      driver.findElement(By.cssSelector("#keys-table tr.key-row button.rotate")).click();
      wait.until(d -> d.findElement(By.id("key-secret")).isDisplayed()
          && !d.findElement(By.id("key-secret-value")).getText().equals(first)
          && !d.findElement(By.id("key-secret-value")).getText().isEmpty());
      String second = driver.findElement(By.id("key-secret-value")).getText();
      assertThat(second).startsWith("viva_live_");
      assertThat(driver.findElement(By.id("key-secret")).getText()).contains("previous key works until");
      wait.until(d -> d.findElement(By.cssSelector("#keys-table td.key-state")).getText().contains("previous key until"));
      assertThat(FullModeIT.check(t, second).status()).isEqualTo(200);
      assertThat(FullModeIT.check(t, first).status()).isEqualTo(200);
      shot("08-full-key-rotated");

      // Usage: three allowed checks so far (one before the rotation, two after, one key id). Shipped
      // to the database now rather than within the flush interval; then charted per key.
      assertThat(t.post("/api/v1/usage/flush", null, FullModeIT.bearer(FullModeIT.BOOT)).status()).isEqualTo(200);
      String keyId = driver.findElement(By.cssSelector("#keys-table tr.key-row")).getAttribute("data-id");
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
        TestServer.Response u = t.get("/api/v1/keys/" + keyId + "/usage?granularity=hour", FullModeIT.bearer(admin));
        assertThat(u.status()).as(u.body()).isEqualTo(200);
        assertThat(u.json().get("totals").get("allowed").asLong()).as(u.body()).isEqualTo(3);
      });
      driver.findElement(By.cssSelector("#keys-table tr.key-row button.usage")).click();
      wait.until(d -> d.findElement(By.id("usage-total")).getText().startsWith("3 allowed, 0 denied in the last 168 hours"));
      assertThat(driver.findElement(By.id("usage-key")).getText()).contains("Checkout service").contains(keyId);
      wait.until(d -> d.findElement(By.id("chart-usage")).isDisplayed()
          && !d.findElements(By.cssSelector("#chart-usage canvas")).isEmpty());
      driver.findElement(By.cssSelector("#usage-granularity button[data-g='minute']")).click();
      wait.until(d -> d.findElement(By.id("usage-total")).getText().startsWith("3 allowed, 0 denied in the last 180 minutes"));
      assertThat(js("return document.getElementById('chart-usage').dataset.allowed")).isEqualTo("3");

      // Invoices: the current month is not closed yet, so its table says so; a malformed period is refused.
      String month = java.time.YearMonth.from(started.atZone(java.time.ZoneOffset.UTC)).toString();
      wait.until(d -> d.findElement(By.id("invoices-list")).getText().contains("No invoices for " + month));
      assertThat(driver.findElement(By.id("invoices-period")).getAttribute("value")).isEqualTo(month);
      js("document.getElementById('platform-usage').scrollIntoView()");
      shot("08b-full-usage-and-invoices");

      // Revoke (two clicks): both secrets refused at once.
      WebElement revoke = driver.findElement(By.cssSelector("#keys-table tr.key-row button.revoke"));
      revoke.click();
      wait.until(d -> d.findElement(By.cssSelector("#keys-table tr.key-row button.revoke")).getText()
          .equals("Confirm revoke"));
      assertThat(FullModeIT.check(t, second).status()).as("one click does not revoke").isEqualTo(200);
      driver.findElement(By.cssSelector("#keys-table tr.key-row button.revoke")).click();
      wait.until(d -> d.findElement(By.cssSelector("#keys-table td.key-state")).getText().startsWith("revoked"));
      assertThat(FullModeIT.check(t, second).status()).isEqualTo(403);
      // The rotated-out secret's grace ends with the revocation: unknown from now on.
      assertThat(FullModeIT.check(t, first).status()).isIn(401, 403);
      assertThat(driver.findElements(By.cssSelector("#keys-table tr.key-row button.rotate"))).isEmpty();

      // Filters: by state and by tier.
      new org.openqa.selenium.support.ui.Select(driver.findElement(By.id("keys-state"))).selectByValue("active");
      wait.until(d -> d.findElement(By.id("keys-list")).getText().contains("No keys."));
      new org.openqa.selenium.support.ui.Select(driver.findElement(By.id("keys-state"))).selectByValue("revoked");
      wait.until(d -> d.findElement(By.id("keys-list")).getText().contains("Checkout service"));
      new org.openqa.selenium.support.ui.Select(driver.findElement(By.id("keys-tier"))).selectByValue("free");
      wait.until(d -> d.findElement(By.id("keys-list")).getText().contains("No keys."));
      shot("09-full-key-revoked-filtered");

      // A viewer sees the keys but may not change them: the refusal is shown, the session stays.
      String viewer = FullModeIT.token(t, FullModeIT.BOOT, "dashboard viewer", "viewer");
      driver.findElement(By.id("logout")).click();
      wait.until(d -> d.findElement(By.id("login")).isDisplayed());
      driver.findElement(By.id("token")).sendKeys(viewer);
      driver.findElement(By.id("login-button")).click();
      wait.until(d -> d.findElement(By.id("keys-list")).getText().contains("Checkout service"));
      driver.findElement(By.id("key-name")).sendKeys("not allowed");
      driver.findElement(By.id("key-create")).click();
      wait.until(d -> d.findElement(By.id("keys-error")).getText().contains("role: viewer"));
      assertThat(driver.findElement(By.id("app")).isDisplayed()).isTrue();
      assertThat(driver.findElement(By.id("key-secret")).isDisplayed()).isFalse();
      shot("10-full-viewer-refused");

      // The actions are in full mode's audit log, by the dashboard's token.
      String audit = t.get("/api/v1/audit", FullModeIT.bearer(FullModeIT.BOOT)).body();
      assertThat(audit).contains("key.create").contains("key.rotate").contains("key.revoke")
          .doesNotContain(first).doesNotContain(second);

      // The month closed (an hour after it ends, here by the API): its invoice for cus_42, shown to the
      // viewer with its line items; amounts in minor units shown in the currency (4900 EUR = EUR 49.00).
      java.time.YearMonth period = java.time.YearMonth.from(started.atZone(java.time.ZoneOffset.UTC));
      clock.setMicros(period.plusMonths(1).atDay(1).atTime(3, 0).toInstant(java.time.ZoneOffset.UTC).toEpochMilli() * 1000);
      TestServer.Response closed = t.post("/api/v1/invoices/close", "{\"period\":\"" + period + "\"}",
          FullModeIT.bearer(FullModeIT.BOOT));
      assertThat(closed.status()).as(closed.body()).isEqualTo(200);
      WebElement periodInput = driver.findElement(By.id("invoices-period"));
      periodInput.clear();
      periodInput.sendKeys(period.toString());
      driver.findElement(By.id("invoices-load")).click();
      wait.until(d -> d.findElement(By.cssSelector("#invoices-table tr.invoice-row")).getText().contains("cus_42"));
      WebElement invoice = driver.findElement(By.cssSelector("#invoices-table tr.invoice-row"));
      assertThat(invoice.getText()).contains(period.toString()).contains("EUR").contains("49.00");
      invoice.click();
      wait.until(d -> d.findElement(By.id("invoice-detail")).isDisplayed());
      assertThat(driver.findElements(By.cssSelector("#invoice-lines tr.invoice-line"))).hasSizeGreaterThanOrEqualTo(2);
      assertThat(driver.findElement(By.id("invoice-lines")).getText()).contains("base").contains("included")
          .contains(keyId).contains("49.00");
      js("document.getElementById('platform-usage').scrollIntoView()");
      shot("11-full-invoice-lines");
    }
  }

  private Object js(String script) {
    return ((JavascriptExecutor) driver).executeScript(script);
  }

  private long updates() {
    Object v = js("return document.getElementById('app').dataset.updates || '0'");
    return Long.parseLong(String.valueOf(v));
  }

  /** The points the rate chart plots (the page records it on the chart element). */
  private long seriesPoints() {
    Object v = js("return document.getElementById('chart-rate').dataset.points || '0'");
    return Long.parseLong(String.valueOf(v));
  }

  private long number(String id) {
    String text = driver.findElement(By.id(id)).getText().trim();
    if (text.endsWith("k")) {
      return Math.round(Double.parseDouble(text.substring(0, text.length() - 1)) * 1000);
    }
    return text.equals("–") ? 0 : Long.parseLong(text);
  }

  private String firstOffender() {
    List<WebElement> rows = driver.findElements(By.cssSelector("#offenders-bars .offender .name"));
    return rows.isEmpty() ? "" : rows.get(0).getText();
  }

  private void shot(String name) throws IOException {
    Files.write(SHOTS.resolve(name + ".png"), ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
  }
}
