package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
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
}
