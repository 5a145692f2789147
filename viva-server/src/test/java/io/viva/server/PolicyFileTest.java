package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.viva.core.Algorithm;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class PolicyFileTest {

  static List<PolicyFile.PolicySpec> parse(String yaml) throws ConfigException {
    return PolicyFile.parseDocument(ConfigTree.readYaml(yaml.getBytes(StandardCharsets.UTF_8)));
  }

  static void assertInvalid(String yaml, String message) {
    assertThatThrownBy(() -> parse(yaml)).isInstanceOf(ConfigException.class).hasMessageContaining(message);
  }

  @Test
  void parsesTheDocumentedExample() throws Exception {
    List<PolicyFile.PolicySpec> specs = parse("""
        policies:
          - namespace: api_requests
            algorithm: token_bucket
            limit: 100
            window: 1m
            burst: 150
            shadow: false
          - namespace: multi
            shadow: true
            idempotency_ttl: 30s
            limits:
              - {algorithm: token_bucket, limit: 10, window: 1s}
              - {algorithm: fixed_window, limit: 1000, window: 1d, name: daily}
            overrides:
              - identifier: vip_user
                limits: [{algorithm: token_bucket, limit: 1000, window: 1s}]
        """);
    assertThat(specs).hasSize(2);
    PolicyFile.PolicySpec api = specs.get(0);
    assertThat(api.policy().name()).isEqualTo("api_requests");
    assertThat(api.policy().limits().get(0).burst()).isEqualTo(150);
    assertThat(api.policy().limits().get(0).name()).isEqualTo("api_requests");
    PolicyFile.PolicySpec multi = specs.get(1);
    assertThat(multi.shadow()).isTrue();
    assertThat(multi.policy().idempotencyTtl()).isEqualTo(Duration.ofSeconds(30));
    assertThat(multi.policy().limits()).extracting(l -> l.name()).containsExactly("multi.0", "daily");
    assertThat(multi.policy().limits().get(1).algorithm()).isEqualTo(Algorithm.FIXED_WINDOW);
    assertThat(multi.overrides()).hasSize(1);
    assertThat(multi.overrides().get(0).policy().name()).isEqualTo("multi#vip_user");
    assertThat(multi.overrides().get(0).policy().idempotencyTtl()).isEqualTo(Duration.ofSeconds(30));
  }

  @Test
  void algorithmDefaultsToTokenBucket() throws Exception {
    assertThat(parse("policies: [{namespace: a, limit: 5, window: 1s}]").get(0).policy().limits().get(0).algorithm())
        .isEqualTo(Algorithm.TOKEN_BUCKET);
  }

  @Test
  void errorsNameThePath() {
    assertInvalid("policies: [{namespace: a, limit: 5, window: 1s, limts: []}]",
        "policies[0].limts: unknown key (expected one of: algorithm, burst,");
    assertInvalid("policies: [{namespace: a, limit: 5, window: 5x}]", "policies[0].window: \"5x\" (expected: a duration");
    assertInvalid("policies: [{namespace: a, limit: 0, window: 1s}]", "policies[0].limit: 0 (expected: an integer from 1");
    assertInvalid("policies: [{namespace: a, limit: \"5\", window: 1s}]", "policies[0].limit: \"5\" (expected: an integer");
    assertInvalid("policies: [{namespace: a, algorithm: fixed_window, limit: 5, window: 1s, burst: 9}]",
        "policies[0].burst: 9 (expected: unset; only token_bucket, gcra and leaky_bucket take a burst");
    assertInvalid("policies: [{namespace: a, algorithm: token_buckit, limit: 5, window: 1s}]",
        "policies[0].algorithm: token_buckit (expected: one of token_bucket");
    assertInvalid("policies: [{namespace: a, limit: 5, window: 1s}, {namespace: a, limit: 5, window: 1s}]",
        "policies[1].namespace: \"a\" (expected: each namespace once");
    assertInvalid("policies: [{namespace: a, limit: 5, window: 1s, limits: [{limit: 1, window: 1s}]}]",
        "policies[0]: both limits and algorithm/limit/window/burst/name");
    assertInvalid("policies: [{namespace: a}]", "policies[0]: no limit");
    assertInvalid("policies: [{limit: 5, window: 1s}]", "policies[0].namespace: missing");
    assertInvalid("policies: [{namespace: 'a b', limit: 5, window: 1s}]", "policies[0].namespace: \"a b\" (expected: 1 to 128");
    assertInvalid("policies: [{namespace: 'a#b', limit: 5, window: 1s}]", "policies[0].namespace");
    assertInvalid("policies: []", "policies: [] (expected: at least one policy)");
    assertInvalid("policies: {namespace: a}", "policies: a mapping (expected: a list)");
    assertInvalid("policies: [{namespace: a, limits: [{limit: 1, window: 1s}, {limit: 2, window: 2s, name: a.0}]}]",
        "policies[0].limits[1].name: \"a.0\"");
    assertInvalid("policies: [{namespace: a, limit: 5, window: 1s, overrides: [{identifier: v, limits: [{limit: 1, window: 2y}]}]}]",
        "policies[0].overrides[0].limits[0].window: \"2y\"");
    assertInvalid("policies: [{namespace: a, limit: 5, window: 1s, overrides: [{limits: [{limit: 1, window: 2s}]}]}]",
        "policies[0].overrides[0].identifier: missing");
    assertInvalid("policies: [{namespace: a, limit: 5, window: 1s, overrides: [{identifier: v, limit: 1, window: 1s},"
        + " {identifier: v, limit: 2, window: 1s}]}]", "policies[0].overrides[1].identifier: \"v\" (expected: each identifier once");
    assertInvalid("policies: [{namespace: a, limit: 5, window: 500d}]", "policies[0].window: PT12000H (expected: <= PT9600H)");
    assertInvalid("policies: [{namespace: a, limit: 5, window: 1s, shadow: maybe}]", "policies[0].shadow: \"maybe\" (expected: true or false)");
    assertInvalid("policies:\n  - namespace: a\n    namespace: b\n", "Duplicate field 'namespace'");
    assertInvalid("policies: [{namespace: a", "invalid YAML at line");
    assertInvalid("x: 1", "x: unknown key (expected one of: policies)");
  }

  @Test
  void renderRoundTrips() throws Exception {
    List<PolicyFile.PolicySpec> specs = parse("""
        policies:
          - {namespace: a, algorithm: gcra, limit: 10, window: 1h30m, burst: 20, idempotency_ttl: 1m}
          - namespace: b
            shadow: true
            limits: [{limit: 1, window: 1s, name: fast}, {algorithm: sliding_log, limit: 100, window: 1d}]
            overrides: [{identifier: "who ever", limit: 3, window: 500ms}]
        """);
    String rendered = ConfigTree.json().writeValueAsString(PolicyFile.render(specs));
    List<PolicyFile.PolicySpec> again = PolicyFile.parseDocument(ConfigTree.readJson(rendered.getBytes(StandardCharsets.UTF_8)));
    assertThat(again).extracting(PolicyFile.PolicySpec::policy)
        .isEqualTo(specs.stream().map(PolicyFile.PolicySpec::policy).toList());
    assertThat(again.get(1).overrides().get(0).policy()).isEqualTo(specs.get(1).overrides().get(0).policy());
    assertThat(again.get(1).shadow()).isTrue();
  }

  @Test
  void defaultsAreOneTokenBucketOfAHundredPerMinute() {
    List<PolicyFile.PolicySpec> defaults = PolicyFile.defaults();
    assertThat(defaults).hasSize(1);
    assertThat(defaults.get(0).namespace()).isEqualTo("default");
    assertThat(defaults.get(0).policy().limits().get(0).algorithm()).isEqualTo(Algorithm.TOKEN_BUCKET);
    assertThat(defaults.get(0).policy().limits().get(0).limit()).isEqualTo(100);
    assertThat(defaults.get(0).policy().limits().get(0).window()).isEqualTo(Duration.ofMinutes(1));
  }
}
