package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * ConfigTree reads documents with Jackson's streaming parser (no ObjectMapper, for memory): the
 * trees are the ones {@code ObjectMapper.readTree} built before, node type for node type.
 */
class ConfigTreeTest {

  private static final ObjectMapper YAML = YAMLMapper.builder()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

  static final List<String> DOCUMENTS = List.of(
      """
      server: {port: 8080, log_level: info, access_log: false, graceful_shutdown_timeout: 15s}
      policies:
        - namespace: api
          algorithm: token_bucket
          limit: 100
          window: 1m
          shadow: true
          limits: [{limit: 5000000000, window: 1d}, {limit: 123456789012345678901234567890, window: 1s}]
        - {namespace: "quoted: yes", cost: 1.5, ratio: 0.1, big: 1e400, empty: "", none: null, nothing: ~}
      list: [1, -2, 2147483648, -9223372036854775809, true, false, "x", [], {}]
      hex: 0x1F
      octal: 0o17
      underscores: 1_000
      date: 2026-01-15
      multi: |
        line one
        line two
      """,
      "just a string",
      "42",
      "[1, 2]",
      "{\"json\": {\"a\": [1, 2.5, null, true]}, \"b\": 9007199254740993}",
      "# only a comment\n");

  @Test
  void yamlTreesAreObjectMapperTrees() throws Exception {
    for (String doc : DOCUMENTS) {
      JsonNode expected = YAML.readTree(doc.getBytes(StandardCharsets.UTF_8));
      if (expected == null || expected.isMissingNode() || expected.isNull()) {
        expected = YAML.createObjectNode();
      }
      JsonNode actual = ConfigTree.readYaml(doc.getBytes(StandardCharsets.UTF_8));
      assertThat(actual).as(doc).isEqualTo(expected);
      assertSameTypes(actual, expected, doc);
    }
  }

  @Test
  void jsonTreesAreObjectMapperTrees() throws Exception {
    for (String doc : List.of("{\"a\": [1, 2147483648, 123456789012345678901234567890, 1.25, -0.0, \"\\u00e9\", null]}",
        "[]", "\"s\"", "false")) {
      JsonNode expected = ConfigTree.json().readTree(doc);
      JsonNode actual = ConfigTree.readJson(doc.getBytes(StandardCharsets.UTF_8));
      assertThat(actual).as(doc).isEqualTo(expected);
      assertSameTypes(actual, expected, doc);
    }
  }

  @Test
  void errorsNameTheLineAndColumn() {
    assertThatThrownBy(() -> ConfigTree.readYaml("a: 1\na: 2\n".getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("invalid YAML at line 2, column")
        .hasMessageContaining("Duplicate field 'a'");
    assertThatThrownBy(() -> ConfigTree.readJson("{\"a\": [1, }".getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("invalid JSON at line 1, column");
  }

  private static void assertSameTypes(JsonNode actual, JsonNode expected, String doc) {
    assertThat(actual.getClass()).as(doc + " at " + expected).isEqualTo(expected.getClass());
    if (expected.isContainerNode()) {
      assertThat(actual.size()).isEqualTo(expected.size());
      if (expected.isArray()) {
        for (int i = 0; i < expected.size(); i++) {
          assertSameTypes(actual.get(i), expected.get(i), doc);
        }
      } else {
        expected.fieldNames().forEachRemaining(name -> assertSameTypes(actual.get(name), expected.get(name), doc));
      }
    }
  }
}
