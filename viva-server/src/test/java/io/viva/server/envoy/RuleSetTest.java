package io.viva.server.envoy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.viva.core.Algorithm;
import io.viva.core.Limit;
import io.viva.server.ConfigException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RuleSetTest {

  static RuleSet<RuleSpec> parse(boolean extensions, String... files) throws ConfigException {
    List<RuleSet.Source> sources = new ArrayList<>();
    for (int i = 0; i < files.length; i++) {
      sources.add(new RuleSet.Source("f" + i + ".yaml", files[i].getBytes(StandardCharsets.UTF_8)));
    }
    return RuleSet.parse(sources, extensions);
  }

  static String key(RuleSet<RuleSpec> rules, String domain, String... entries) {
    RuleSpec r = rules.match(domain, Entries.of(entries));
    return r == null ? null : r.fullKey();
  }

  static final String MATCHING = """
      domain: edge
      descriptors:
        - key: remote_address
          rate_limit: {unit: second, requests_per_unit: 10}
        - key: remote_address
          value: 50.0.0.5
          rate_limit: {unit: second, requests_per_unit: 0}
        - key: path
          value: /api/*
          rate_limit: {unit: minute, requests_per_unit: 5}
        - key: path
          value: "*.png"
          rate_limit: {unit: minute, requests_per_unit: 6}
        - key: path
          value: /a*b*c
          rate_limit: {unit: minute, requests_per_unit: 7}
        - key: path
          rate_limit: {unit: minute, requests_per_unit: 8}
        - key: message_type
          value: marketing
          descriptors:
            - key: to_number
              rate_limit: {unit: day, requests_per_unit: 5}
        - key: to_number
          rate_limit: {unit: day, requests_per_unit: 100}
        - key: parent
          value: p
          rate_limit: {unit: hour, requests_per_unit: 1}
          descriptors:
            - key: child
              rate_limit: {unit: hour, requests_per_unit: 2}
      """;

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', nullValues = "null", textBlock = """
      remote_address=1.2.3.4                      | edge.remote_address
      remote_address=50.0.0.5                     | edge.remote_address_50.0.0.5
      path=/api/users                             | edge.path_/api/*
      path=/logo.png                              | edge.path_*.png
      path=/api/logo.png                          | edge.path_/api/*
      path=/aXbYc                                 | edge.path_/a*b*c
      path=/abc                                   | edge.path_/a*b*c
      path=/acb                                   | edge.path
      path=/other                                 | edge.path
      message_type=marketing,to_number=2061111111 | edge.message_type_marketing.to_number
      message_type=marketing                      | null
      message_type=other,to_number=1              | null
      to_number=2061111111                        | edge.to_number
      to_number=1,extra=2                         | null
      remote_address=1.2.3.4,more=x               | null
      parent=p                                    | edge.parent_p
      parent=p,child=c                            | edge.parent_p.child
      parent=q,child=c                            | null
      unknown=x                                   | null
      """)
  void matchesAsUpstream(String request, String expected) throws ConfigException {
    List<String> kv = new ArrayList<>();
    for (String pair : request.split(",")) {
      String[] p = pair.split("=", 2);
      kv.add(p[0]);
      kv.add(p[1]);
    }
    assertThat(key(parse(false, MATCHING), "edge", kv.toArray(String[]::new))).isEqualTo(expected);
  }

  @Test
  void unknownDomainMatchesNothing() throws ConfigException {
    RuleSet<RuleSpec> rules = parse(false, MATCHING);
    assertThat(rules.match("other", Entries.of("remote_address", "1"))).isNull();
    assertThat(rules.hasDomain("edge")).isTrue();
    assertThat(rules.hasDomain("other")).isFalse();
  }

  @Test
  void defaultRuleIsAFixedWindowOfTheUnit() throws ConfigException {
    RuleSet<RuleSpec> rules = parse(false, """
        domain: d
        descriptors:
          - {key: a, rate_limit: {unit: SECOND, requests_per_unit: 3}}
          - {key: b, rate_limit: {unit: Minute, requests_per_unit: 4}}
          - {key: c, rate_limit: {unit: hour, requests_per_unit: 5}}
          - {key: e, rate_limit: {unit: day, requests_per_unit: 6}}
          - {key: f, rate_limit: {unit: week, requests_per_unit: 7}}
          - {key: g, rate_limit: {unit: month, requests_per_unit: 8}}
          - {key: h, rate_limit: {unit: year, requests_per_unit: 9}}
        """);
    String[] keys = {"a", "b", "c", "e", "f", "g", "h"};
    Duration[] windows = {Duration.ofSeconds(1), Duration.ofMinutes(1), Duration.ofHours(1), Duration.ofDays(1),
        Duration.ofDays(7), Duration.ofDays(30), Duration.ofDays(365)};
    for (int i = 0; i < keys.length; i++) {
      RuleSpec r = rules.match("d", Entries.of(keys[i], "x"));
      Limit limit = r.policy().limits().get(0);
      assertThat(limit.algorithm()).isEqualTo(Algorithm.FIXED_WINDOW);
      assertThat(limit.window()).isEqualTo(windows[i]);
      assertThat(limit.limit()).isEqualTo(i + 3);
      assertThat(r.unit().duration()).isEqualTo(windows[i]);
    }
  }

  @Test
  void flagsNamesAndReplaces() throws ConfigException {
    RuleSet<RuleSpec> rules = parse(false, """
        domain: d
        descriptors:
          - key: ldap
            rate_limit: {unlimited: true}
          - key: s
            shadow_mode: true
            quota_mode: true
            detailed_metric: true
            rate_limit:
              name: specific
              replaces: [{name: general}, {name: other}]
              unit: second
              requests_per_unit: 2
          - key: z
            rate_limit: {unit: second, requests_per_unit: 0}
          - key: only_nested
        """);
    RuleSpec ldap = rules.match("d", Entries.of("ldap", "x"));
    assertThat(ldap.unlimited()).isTrue();
    assertThat(ldap.policy()).isNull();
    assertThat(ldap.blocksAll()).isFalse();
    RuleSpec s = rules.match("d", Entries.of("s", "v"));
    assertThat(s.shadow()).isTrue();
    assertThat(s.quota()).isTrue();
    assertThat(s.detailedMetric()).isTrue();
    assertThat(s.name()).isEqualTo("specific");
    assertThat(s.replaces()).containsExactly("general", "other");
    assertThat(rules.match("d", Entries.of("z", "v")).blocksAll()).isTrue();
    assertThat(rules.match("d", Entries.of("only_nested", "v"))).isNull();
  }

  @Test
  void severalFilesAndDomains() throws ConfigException {
    RuleSet<RuleSpec> rules = parse(false, "domain: a\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 1}}]",
        "domain: b\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 2}}]");
    assertThat(rules.domains()).containsExactlyInAnyOrder("a", "b");
    assertThat(rules.match("b", Entries.of("k", "v")).requestsPerUnit()).isEqualTo(2);
    assertThat(rules.rules()).hasSize(2);
  }

  @Test
  void valuesMayBeNumbers() throws ConfigException {
    RuleSet<RuleSpec> rules = parse(false, "domain: d\ndescriptors: [{key: port, value: 443, rate_limit: {unit: second, requests_per_unit: 1}}]");
    assertThat(key(rules, "d", "port", "443")).isEqualTo("d.port_443");
  }

  @Test
  void keysOfTheFormatAtTheWrongLevelAreIgnoredWithAWarning() throws ConfigException {
    RuleSet<RuleSpec> rules = parse(false, """
        domain: d
        descriptors:
          - key: k
            unit: second
            rate_limit: {unit: second, requests_per_unit: 1}
        """);
    assertThat(rules.warnings()).containsExactly("descriptors[0].unit: ignored (a key of the format, but not of this level)");
  }

  @ParameterizedTest(name = "{1}")
  @CsvSource(delimiter = '|', textBlock = """
      descriptors: []                                                                              | f0.yaml: domain: missing or empty
      'domain: d\ndescriptors: [{value: v}]'                                                       | f0.yaml: descriptors[0].key: missing or empty
      'domain: d\nfoo: 1'                                                                          | f0.yaml: foo: unknown key (expected one of: descriptors, domain)
      'domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 1, bar: 2}}]' | f0.yaml: descriptors[0].rate_limit.bar: unknown key
      'domain: d\ndescriptors: [{key: k, rate_limit: {unlimited: true, unit: second}}]'             | f0.yaml: descriptors[0].rate_limit: both unlimited: true and unit: second
      'domain: d\ndescriptors: [{key: k, rate_limit: {unit: fortnight, requests_per_unit: 1}}]'     | f0.yaml: descriptors[0].rate_limit.unit: "fortnight" (expected: one of second
      'domain: d\ndescriptors: [{key: k, rate_limit: {requests_per_unit: 1}}]'                      | f0.yaml: descriptors[0].rate_limit.unit: missing
      'domain: d\ndescriptors: [{key: k, value: v}, {key: k, value: v}]'                            | f0.yaml: descriptors[1]: duplicate descriptor composite key 'd.k_v'
      'domain: d\ndescriptors: [{key: k}, {key: k}]'                                                | f0.yaml: descriptors[1]: duplicate descriptor composite key 'd.k'
      'domain: d\ndescriptors: [{key: k, rate_limit: {name: a, replaces: [{name: a}], unit: second}}]' | f0.yaml: descriptors[0].rate_limit.replaces[0].name: "a" is this rate limit's own name
      'domain: d\ndescriptors: [{key: k, rate_limit: {replaces: [{}], unit: second}}]'              | f0.yaml: descriptors[0].rate_limit.replaces[0].name: missing or empty
      'domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: -1}}]'       | f0.yaml: descriptors[0].rate_limit.requests_per_unit: -1 (expected: an integer from 0 to 4294967295)
      'domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, window: 5m}}]'                  | f0.yaml: descriptors[0].rate_limit.window: unknown key (expected one of: name, replaces, requests_per_unit, unit, unlimited; window is a Viva extension
      'domain: d\ndescriptors: [{key: k, rate_limit: [{unit: second, requests_per_unit: 1}]}]'      | f0.yaml: descriptors[0].rate_limit: a list (expected: a mapping; several limits per descriptor are a Viva extension
      'domain: d\ndescriptors: {key: k}'                                                           | f0.yaml: descriptors: a mapping (expected: a list)
      'domain: [d'                                                                                 | f0.yaml: invalid YAML
      """)
  void rejectsWithAClearMessage(String yaml, String message) {
    assertThatThrownBy(() -> parse(false, yaml.replace("\\n", "\n")))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith(message);
  }

  @Test
  void rejectsADomainInTwoFiles() {
    assertThatThrownBy(() -> parse(false, "domain: d", "domain: d"))
        .hasMessage("f1.yaml: domain: \"d\" is already defined in f0.yaml (expected: each domain in one file, or"
            + " MERGE_DOMAIN_CONFIG=true to merge them)");
  }

  @Test
  void mergedDomainsAddUpButStillRejectDuplicates() throws ConfigException {
    List<RuleSet.Source> files = List.of(
        new RuleSet.Source("a.yaml", "domain: d\ndescriptors: [{key: a, rate_limit: {unit: second, requests_per_unit: 1}},\n  {key: n, value: v, descriptors: [{key: x, rate_limit: {unit: second, requests_per_unit: 3}}]}]".getBytes(StandardCharsets.UTF_8)),
        new RuleSet.Source("b.yaml", "domain: d\ndescriptors: [{key: b, rate_limit: {unit: second, requests_per_unit: 2}}]".getBytes(StandardCharsets.UTF_8)));
    RuleSet<RuleSpec> merged = RuleSet.parse(files, false, true, r -> r);
    assertThat(merged.match("d", Entries.of("a", "1")).requestsPerUnit()).isEqualTo(1);
    assertThat(merged.match("d", Entries.of("b", "1")).requestsPerUnit()).isEqualTo(2);
    assertThat(merged.match("d", Entries.of("n", "v", "x", "1")).requestsPerUnit()).isEqualTo(3);
    List<RuleSet.Source> dup = List.of(files.get(0), new RuleSet.Source("c.yaml",
        "domain: d\ndescriptors: [{key: a}]".getBytes(StandardCharsets.UTF_8)));
    assertThatThrownBy(() -> RuleSet.parse(dup, false, true, r -> r))
        .hasMessage("c.yaml: descriptors[0]: duplicate descriptor composite key 'd.a' (expected: each key and value"
            + " once per level)");
  }

  @Test
  void vivaExtensions() throws ConfigException {
    RuleSet<RuleSpec> rules = parse(true, """
        domain: d
        descriptors:
          - key: tb
            rate_limit: {algorithm: token_bucket, requests_per_unit: 10, unit: second, burst: 20}
          - key: w
            rate_limit: {requests_per_unit: 100, window: 5m, algorithm: sliding_window}
          - key: multi
            rate_limit:
              - {requests_per_unit: 10, unit: second}
              - {requests_per_unit: 1000, window: 1h, algorithm: gcra, name: hourly}
        """);
    Limit tb = rules.match("d", Entries.of("tb", "x")).policy().limits().get(0);
    assertThat(tb.algorithm()).isEqualTo(Algorithm.TOKEN_BUCKET);
    assertThat(tb.burst()).isEqualTo(20);
    RuleSpec w = rules.match("d", Entries.of("w", "x"));
    assertThat(w.policy().limits().get(0).window()).isEqualTo(Duration.ofMinutes(5));
    assertThat(w.unit()).isNull();
    RuleSpec multi = rules.match("d", Entries.of("multi", "x"));
    assertThat(multi.policy().limits()).extracting(Limit::algorithm)
        .containsExactly(Algorithm.FIXED_WINDOW, Algorithm.GCRA);
    assertThat(multi.unit()).isEqualTo(Unit.SECOND);
    assertThat(multi.requestsPerUnit()).isEqualTo(10);
  }

  @Test
  void extensionErrorsNameThePath() {
    assertThatThrownBy(() -> parse(true, "domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, window: 5m}}]"))
        .hasMessage("f0.yaml: descriptors[0].rate_limit: both unit and window (expected: one of them)");
    assertThatThrownBy(() -> parse(true, "domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 1, algorithm: magic}}]"))
        .hasMessageStartingWith("f0.yaml: descriptors[0].rate_limit.algorithm: magic (expected: one of token_bucket");
  }
}
