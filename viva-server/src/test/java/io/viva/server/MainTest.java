package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class MainTest {

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = Main.commandLine();
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int code = cl.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void helpListsTheCommands() {
    Run r = run("--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Usage: viva", "serve", "version");
    Run serve = run("serve", "--help");
    assertThat(serve.out()).contains("--config=FILE", "--port=N", "SERVER_PORT");
  }

  @Test
  void version() {
    Run r = run("version");
    assertThat(r.code()).isZero();
    assertThat(r.out()).startsWith("viva ").doesNotContain("${");
  }

  @Test
  void badConfigurationExitsTwoWithTheReason() {
    Run r = run("serve", "--config", "/no/such/viva.yaml");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("viva: configuration error: /no/such/viva.yaml: no such file");
    assertThat(run("serve", "--port", "99999").err()).contains("--port: 99999 (expected: 0 to 65535)");
    assertThat(run("serve", "--bogus").code()).isEqualTo(2);
  }

  /** {@code serve}'s own parser (no picocli, for memory) reads what picocli reads, or leaves it to picocli. */
  @Test
  void serveWithValueOptionsIsParsedWithoutPicocliToTheSameValues() {
    List<String[]> direct = List.of(
        new String[] {"serve"},
        new String[] {"serve", "--port", "8081"},
        new String[] {"serve", "-p", "0", "-c", "viva.yaml", "--listen", "127.0.0.1:9000", "--log-level", "warn"},
        new String[] {"serve", "--port=7", "--config=conf/a.yaml", "--listen=:8080", "--log-level=debug"},
        new String[] {"serve", "--port", "99999"});
    for (String[] args : direct) {
      Main.Serve ours = Main.Serve.direct(args);
      assertThat(ours).as(String.join(" ", args)).isNotNull();
      Main.Serve picocli = (Main.Serve) Main.commandLine().parseArgs(args).subcommand().commandSpec().userObject();
      assertThat(ours).as(String.join(" ", args)).usingRecursiveComparison().comparingOnlyFields(
          "config", "port", "listen", "logLevel").isEqualTo(picocli);
    }
    for (String[] args : List.of(new String[] {}, new String[] {"version"}, new String[] {"serve", "--help"},
        new String[] {"serve", "-h"}, new String[] {"serve", "--port", "abc"}, new String[] {"serve", "--port"},
        new String[] {"serve", "--bogus", "x"}, new String[] {"serve", "-p8080"}, new String[] {"serve", "-c=a.yaml"},
        new String[] {"serve", "--port", "1", "-p", "2"}, new String[] {"serve", "--config", "--port", "1"},
        new String[] {"serve", "--config="}, new String[] {"keys", "list"})) {
      assertThat(Main.Serve.direct(args)).as(String.join(" ", args)).isNull();
    }
  }

  /** The options that parser knows are exactly {@code serve}'s (a renamed option would fail here). */
  @Test
  void serveParserKnowsExactlyServesOptions() {
    List<String> names = new CommandLine(new Main.Serve()).getCommandSpec().options().stream()
        .flatMap(o -> java.util.Arrays.stream(o.names())).filter(n -> !n.matches("-h|--help|-V|--version")).sorted()
        .toList();
    assertThat(names).containsExactly("--config", "--listen", "--log-level", "--port", "-c", "-p");
  }
}
