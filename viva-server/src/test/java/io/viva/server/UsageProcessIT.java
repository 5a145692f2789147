package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.viva.platform.TestDatabase;
import io.viva.platform.UsageBatch;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Usage exactness with real processes: two servers (this JVM and the fat jar) on one PostgreSQL
 * count concurrent checks, and after a flush the database holds exactly the number of requests that
 * were answered 200, with the in-process pipeline and through RabbitMQ with a {@code viva worker}
 * process. Through RabbitMQ the count stays exact across: the worker killed with {@code kill -9}
 * in the middle of the batches, a broker outage (the test's own vhost: permissions withdrawn and its
 * connections closed by {@code rabbitmqctl}, so the shared broker other tests use keeps running),
 * and a server killed with {@code kill -9} while its batches wait in its disk spool.
 */
class UsageProcessIT {

  static final String CONFIG = """
      server:
        event_loops: 2
      tiers:
        - name: pro
          monthly_quota: unlimited
          limits: [{algorithm: fixed_window, limit: 100000000, window: 1h}]
        - name: capped
          monthly_quota: 300
          limits: [{algorithm: fixed_window, limit: 100000000, window: 1h}]
      """;

  static {
    try {
      Class.forName("org.postgresql.Driver"); // DriverManager does not always see it on failsafe's class path
    } catch (ClassNotFoundException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  @TempDir
  Path dir;

  final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  Map<String, String> env(TestDatabase db, String dataDir) {
    Map<String, String> env = FullModeIT.env(db, dir.resolve(dataDir));
    env.put("USAGE_FLUSH_INTERVAL", "200ms");
    env.put("USAGE_FLUSH_EVENTS", "50");
    env.put("QUOTA_REFRESH_INTERVAL", "500ms");
    return env;
  }

  @Test
  void twoProcessesInProcessPipelineCountExactly() throws Exception {
    Path config = dir.resolve("viva.yaml");
    Files.writeString(config, CONFIG);
    TestDatabase db = TestDatabase.create();
    Map<String, String> envB = env(db, "b");
    ChildServer b = ChildServer.serve(config, envB, dir.resolve("b.log"), "192m");
    try (TestServer a = TestServer.start(ServerConfig.load(config, env(db, "a")))) {
      int portB = b.awaitStarted();
      String secret = FullModeIT.createKey(a, FullModeIT.BOOT, "{\"name\":\"k\",\"tier\":\"pro\",\"owner_id\":\"cus_x\"}")
          .get("key").asText();
      long allowed = load(secret, List.of(a.server.port(), portB), 4, 300);
      assertThat(allowed).isEqualTo(1200);
      flush(a.server.port());
      flush(portB);
      assertThat(allowedInDatabase(a.server.port())).isEqualTo(allowed);

      // A monthly quota of 300 across both instances: never refused early, refused by both once the
      // counts are shared (after a flush and a refresh), and what was allowed is counted exactly.
      String capped = FullModeIT.createKey(a, FullModeIT.BOOT, "{\"name\":\"c\",\"tier\":\"capped\","
          + "\"owner_id\":\"cus_cap\"}").get("key").asText();
      Tally statuses = Tally.of(4, 150, (offset, i) ->
          FullModeProcessIT.check(client, (i + offset) % 2 == 0 ? a.server.port() : portB, capped));
      assertThat(statuses.allowed()).as("allowed of 600 with a quota of 300 (overshoot %d)", statuses.allowed() - 300)
          .isGreaterThanOrEqualTo(300);
      flush(a.server.port());
      flush(portB);
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
        assertThat(FullModeProcessIT.check(client, a.server.port(), capped)).isEqualTo(429);
        assertThat(FullModeProcessIT.check(client, portB, capped)).isEqualTo(429);
      });
      HttpResponse<String> u = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.server.port()
          + "/api/v1/usage?owner=cus_cap")).header("Authorization", "Bearer " + FullModeIT.BOOT).GET().build(),
          HttpResponse.BodyHandlers.ofString());
      flush(a.server.port());
      flush(portB);
      var totals = TestServer.JSON.readTree(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
          + a.server.port() + "/api/v1/usage?owner=cus_cap")).header("Authorization", "Bearer " + FullModeIT.BOOT)
          .GET().build(), HttpResponse.BodyHandlers.ofString()).body()).get("totals");
      assertThat(u.statusCode()).isEqualTo(200);
      assertThat(totals.get("allowed").asLong()).isEqualTo(statuses.allowed());
      assertThat(totals.get("usage_exceeded").asLong()).isGreaterThanOrEqualTo(statuses.denied());
    } finally {
      b.stop();
      db.drop();
    }
  }

  @Test
  void throughRabbitMqCountsStayExactAcrossWorkerKillBrokerOutageAndServerKill() throws Exception {
    Path config = dir.resolve("viva.yaml");
    Files.writeString(config, CONFIG);
    TestDatabase db = TestDatabase.create();
    String vhost = "viva_test_" + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36);
    rabbitmqctl("add_vhost", vhost);
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
    String url = "amqp://guest:guest@127.0.0.1:5672/" + vhost;
    Map<String, String> envA = env(db, "a");
    Map<String, String> envB = env(db, "b");
    for (Map<String, String> e : List.of(envA, envB)) {
      e.put("RABBITMQ_URL", url);
      e.put("USAGE_QUEUE", "usage-test");
    }
    Map<String, String> envW = new HashMap<>(envB);
    envW.put("DATA_DIR", dir.resolve("w").toString());
    ChildServer b = ChildServer.serve(config, envB, dir.resolve("b.log"), "192m");
    ChildServer w = ChildServer.worker(config, envW, dir.resolve("w1.log"));
    ChildServer w2 = null;
    try (TestServer a = TestServer.start(ServerConfig.load(config, envA))) {
      int portA = a.server.port();
      int portB = b.awaitStarted();
      w.awaitLog("viva worker started");
      String secret = FullModeIT.createKey(a, FullModeIT.BOOT, "{\"name\":\"k\",\"tier\":\"pro\",\"owner_id\":\"cus_x\"}")
          .get("key").asText();

      // 1. Two servers, one worker.
      long expected = load(secret, List.of(portA, portB), 4, 200);
      assertThat(expected).isEqualTo(800);
      awaitExact(portA, expected);

      // 2. The worker killed (kill -9) while batches flow: unacknowledged batches are redelivered, applied ones skipped.
      long before = expected;
      Future<Long> traffic = Executors.newSingleThreadExecutor().submit(() -> load(secret, List.of(portA, portB), 4, 500));
      await().atMost(Duration.ofSeconds(60)).until(() -> allowedInDatabase(portA) > before + 100);
      w.kill();
      expected += traffic.get(120, TimeUnit.SECONDS);
      assertThat(expected).isEqualTo(before + 2000);
      flush(portA);
      flush(portB);
      w2 = ChildServer.worker(config, envW, dir.resolve("w2.log"));
      awaitExact(portA, expected);

      // 3. The broker unreachable for both servers and the worker: batches spool to disk, then replay.
      rabbitmqctl("clear_permissions", "-p", vhost, "guest");
      rabbitmqctl("close_all_connections", "--vhost", vhost, "test outage");
      expected += load(secret, List.of(portA, portB), 4, 100);
      flush(portA);
      flush(portB);
      await().atMost(Duration.ofSeconds(30)).until(() -> spooledEvents(dir.resolve("b")) > 0);
      rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
      awaitExact(portA, expected);

      // 4. Server B killed (kill -9) with its batches in the spool: its restart replays them.
      rabbitmqctl("clear_permissions", "-p", vhost, "guest");
      rabbitmqctl("close_all_connections", "--vhost", vhost, "test outage");
      long onB = load(secret, List.of(portB), 2, 150);
      assertThat(onB).isEqualTo(300);
      await().atMost(Duration.ofSeconds(30)).until(() -> spooledEvents(dir.resolve("b")) == onB);
      b.kill();
      expected += onB;
      rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
      b = ChildServer.serve(config, envB, dir.resolve("b2.log"), "192m");
      b.awaitStarted();
      awaitExact(portA, expected);
      assertThat(spooledEvents(dir.resolve("b"))).isZero();
      assertThat(b.output()).contains("replaying");
    } finally {
      w.close();
      if (w2 != null) {
        w2.close();
      }
      b.close();
      db.drop();
      rabbitmqctl("delete_vhost", vhost);
    }
    String logs = Files.readString(dir.resolve("w2.log")) + Files.readString(dir.resolve("b.log"));
    assertThat(logs).doesNotContain("viva_live_").doesNotContain(FullModeIT.PEPPER);
  }

  /**
   * RabbitMQ itself stopped and started again (a node of the test's own): batches published before
   * the stop wait in the durable queue across the restart, batches counted while it is down wait in
   * the server's spool, and a worker started afterwards writes exactly what was allowed.
   */
  @Test
  void rabbitMqStoppedAndStartedAgainLosesNothing() throws Exception {
    Path config = dir.resolve("viva.yaml");
    Files.writeString(config, CONFIG);
    TestDatabase db = TestDatabase.create();
    ChildServer w = null;
    try (RabbitNode rabbit = RabbitNode.start()) {
      Map<String, String> env = env(db, "a");
      env.put("RABBITMQ_URL", rabbit.url());
      try (TestServer a = TestServer.start(ServerConfig.load(config, env))) {
        int port = a.server.port();
        String secret = FullModeIT.createKey(a, FullModeIT.BOOT, "{\"name\":\"k\",\"tier\":\"pro\","
            + "\"owner_id\":\"cus_x\"}").get("key").asText();
        long expected = load(secret, List.of(port), 4, 100);
        flush(port);
        assertThat(allowedInDatabase(port)).as("no worker yet: in the queue only").isZero();
        assertThat(spooledEvents(dir.resolve("a"))).as("published, not spooled").isZero();
        rabbit.stop();
        expected += load(secret, List.of(port), 4, 100);
        flush(port);
        await().atMost(Duration.ofSeconds(30)).until(() -> spooledEvents(dir.resolve("a")) > 0);
        rabbit.startAgain();
        await().atMost(Duration.ofSeconds(60)).until(() -> spooledEvents(dir.resolve("a")) == 0);
        Map<String, String> envW = new HashMap<>(env);
        envW.put("DATA_DIR", dir.resolve("w").toString());
        envW.put("METRICS_PORT", "0");
        w = ChildServer.worker(config, envW, dir.resolve("w.log"));
        w.awaitLog("viva worker started");
        assertThat(expected).isEqualTo(800);
        awaitExact(port, expected);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("metrics on [^ :]+:(\\d+)")
            .matcher(w.output());
        assertThat(m.find()).isTrue();
        String scrape = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + m.group(1) + "/metrics"))
            .GET().build(), HttpResponse.BodyHandlers.ofString()).body();
        assertThat(scrape).contains("viva_usage_batches_applied_total").contains("viva_usage_worker_connected 1.0");
      }
    } finally {
      if (w != null) {
        w.close();
      }
      db.drop();
    }
  }

  /** Sends {@code perThread} checks from each of {@code threads} threads, round robin over {@code ports}; returns how many were 200. */
  long load(String secret, List<Integer> ports, int threads, int perThread) throws Exception {
    return Tally.of(threads, perThread, (offset, i) -> {
      int s = FullModeProcessIT.check(client, ports.get((i + offset) % ports.size()), secret);
      assertThat(s).isIn(200);
      return s;
    }).allowed();
  }

  void flush(int port) throws Exception {
    HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
        + "/api/v1/usage/flush")).header("Authorization", "Bearer " + FullModeIT.BOOT)
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
  }

  long allowedInDatabase(int port) throws Exception {
    HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
        + "/api/v1/usage?owner=cus_x")).header("Authorization", "Bearer " + FullModeIT.BOOT).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    var totals = TestServer.JSON.readTree(r.body()).get("totals");
    assertThat(totals.get("denied").asLong()).isZero();
    return totals.get("allowed").asLong();
  }

  /** Waits until the database holds {@code expected}, then checks it stays there (no late duplicate). */
  void awaitExact(int port, long expected) throws Exception {
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() ->
        allowedInDatabase(port) >= expected);
    Thread.sleep(1_500);
    assertThat(allowedInDatabase(port)).isEqualTo(expected);
  }

  static long spooledEvents(Path dataDir) throws IOException {
    Path spool = dataDir.resolve("usage-spool");
    if (!Files.isDirectory(spool)) {
      return 0;
    }
    long n = 0;
    try (Stream<Path> s = Files.list(spool)) {
      for (Path p : s.filter(p -> p.toString().endsWith(".batch")).toList()) {
        try {
          n += UsageBatch.decode(Files.readAllBytes(p)).events();
        } catch (IOException e) {
          // replayed and removed meanwhile
        }
      }
    }
    return n;
  }

  static void rabbitmqctl(String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add("rabbitmqctl");
    cmd.add("--quiet");
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("rabbitmqctl %s: %s", String.join(" ", args), out).isZero();
  }
}
