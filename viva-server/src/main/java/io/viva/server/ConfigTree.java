package io.viva.server;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Reads YAML or JSON documents into trees and checks their shape, so that every error names the
 * path of the bad value ({@code policies[2].limits[0].window}) and what was expected. Shared by the
 * server configuration and the policy files.
 */
public final class ConfigTree {

  /** JSON documents; duplicate keys are errors. */
  private static final JsonFactory JSON_FACTORY = JsonFactory.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

  private static volatile JsonFactory yaml;

  private ConfigTree() {}

  /**
   * A mapper for JSON documents (duplicate keys are errors), for the code that writes JSON trees
   * (full mode's API). Created on first use: reading a config file does not need it.
   */
  static ObjectMapper json() {
    return JsonMapperHolder.MAPPER;
  }

  private static final class JsonMapperHolder {
    static final ObjectMapper MAPPER = JsonMapper.builder().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
        .build();
  }

  /** Parses a YAML document (JSON is accepted too); an empty document is an empty object. */
  public static JsonNode readYaml(byte[] bytes) throws ConfigException {
    return read(yamlFactory(), bytes, "YAML");
  }

  /** Parses a JSON document. */
  static JsonNode readJson(byte[] bytes) throws ConfigException {
    return read(JSON_FACTORY, bytes, "JSON");
  }

  private static JsonFactory yamlFactory() {
    JsonFactory f = yaml;
    if (f == null) {
      // Built on first use: most runs never read YAML at all (the default policies are JSON).
      f = YAMLFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
      yaml = f;
    }
    return f;
  }

  private static JsonNode read(JsonFactory factory, byte[] bytes, String format) throws ConfigException {
    try (JsonParser p = factory.createParser(bytes)) {
      JsonToken first = p.nextToken();
      JsonNode node = first == null ? null : tree(p, first);
      return node == null || node.isNull() ? JsonNodeFactory.instance.objectNode() : node;
    } catch (JsonProcessingException e) {
      JsonLocation at = e.getLocation();
      String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
      throw new ConfigException("invalid " + format + where + ": " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new ConfigException("unreadable " + format + ": " + e.getMessage());
    }
  }

  /**
   * The tree of the value that starts with {@code t}: the nodes {@code ObjectMapper.readTree}
   * builds (same node types for each kind of number), from the streaming parser alone. An
   * ObjectMapper loads ~300 classes (serializers, introspection) that reading a config file does
   * not need: ~4 MB of a running server's memory (docs/decisions/0005-idle-memory.md).
   */
  static JsonNode tree(JsonParser p, JsonToken t) throws IOException {
    JsonNodeFactory f = JsonNodeFactory.instance;
    switch (t) {
      case START_OBJECT -> {
        ObjectNode o = f.objectNode();
        for (String name = p.nextFieldName(); name != null; name = p.nextFieldName()) {
          o.set(name, tree(p, p.nextToken()));
        }
        return o;
      }
      case START_ARRAY -> {
        ArrayNode a = f.arrayNode();
        for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) {
          a.add(tree(p, e));
        }
        return a;
      }
      case VALUE_STRING -> {
        return f.textNode(p.getText());
      }
      case VALUE_NUMBER_INT -> {
        return switch (p.getNumberType()) {
          case INT -> f.numberNode(p.getIntValue());
          case LONG -> f.numberNode(p.getLongValue());
          default -> f.numberNode(p.getBigIntegerValue());
        };
      }
      case VALUE_NUMBER_FLOAT -> {
        return switch (p.getNumberType()) {
          case BIG_DECIMAL -> f.numberNode(p.getDecimalValue());
          case FLOAT -> f.numberNode(p.getFloatValue());
          default -> f.numberNode(p.getDoubleValue());
        };
      }
      case VALUE_TRUE, VALUE_FALSE -> {
        return f.booleanNode(t == JsonToken.VALUE_TRUE);
      }
      case VALUE_NULL -> {
        return f.nullNode();
      }
      case VALUE_EMBEDDED_OBJECT -> {
        Object v = p.getEmbeddedObject();
        return v == null ? f.nullNode() : v instanceof byte[] b ? f.binaryNode(b) : f.pojoNode(v);
      }
      default -> throw new com.fasterxml.jackson.core.JsonParseException(p, "unexpected token " + t);
    }
  }

  /** Requires {@code node} to be an object with no keys outside {@code allowed}. */
  public static void requireObject(JsonNode node, String path, Set<String> allowed) throws ConfigException {
    if (!node.isObject()) {
      throw new ConfigException(label(path) + ": " + describe(node) + " (expected: a mapping with keys "
          + String.join(", ", sorted(allowed)) + ")");
    }
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String key = it.next();
      if (!allowed.contains(key)) {
        throw new ConfigException(child(path, key) + ": unknown key (expected one of: "
            + String.join(", ", sorted(allowed)) + ")");
      }
    }
  }

  /** The elements of a list, or an error naming the path. */
  public static List<JsonNode> list(JsonNode node, String path) throws ConfigException {
    if (!node.isArray()) {
      throw new ConfigException(path + ": " + describe(node) + " (expected: a list)");
    }
    List<JsonNode> out = new ArrayList<>(node.size());
    node.forEach(out::add);
    return out;
  }

  public static JsonNode get(JsonNode object, String key) {
    JsonNode v = object.get(key);
    return v == null || v.isNull() ? MissingNode.getInstance() : v;
  }

  /**
   * The value of {@code key} in {@code object} (at {@code path}); when it is missing, an error
   * naming it and what was {@code expected}.
   */
  public static JsonNode required(JsonNode object, String path, String key, String expected) throws ConfigException {
    JsonNode v = get(object, key);
    if (v.isMissingNode()) {
      throw new ConfigException(child(path, key) + ": missing (expected: " + expected + ")");
    }
    return v;
  }

  public static String string(JsonNode node, String path) throws ConfigException {
    if (!node.isTextual()) {
      throw new ConfigException(path + ": " + describe(node) + " (expected: a string)");
    }
    return node.textValue();
  }

  public static long integer(JsonNode node, String path, long min, long max) throws ConfigException {
    if (!node.isIntegralNumber() || !node.canConvertToLong()) {
      throw new ConfigException(path + ": " + describe(node) + " (expected: an integer from " + min + " to " + max + ")");
    }
    long v = node.longValue();
    if (v < min || v > max) {
      throw new ConfigException(path + ": " + v + " (expected: an integer from " + min + " to " + max + ")");
    }
    return v;
  }

  public static boolean bool(JsonNode node, String path) throws ConfigException {
    if (!node.isBoolean()) {
      throw new ConfigException(path + ": " + describe(node) + " (expected: true or false)");
    }
    return node.booleanValue();
  }

  /** A duration: a string such as {@code 1h30m}, or (when {@code bareUnit} is not null) a bare number in that unit. */
  public static Duration duration(JsonNode node, String path, String bareUnit) throws ConfigException {
    if (bareUnit != null && node.isIntegralNumber() && node.canConvertToLong() && node.longValue() >= 0) {
      return bareUnit.equals("s") ? Duration.ofSeconds(node.longValue()) : Duration.ofMillis(node.longValue());
    }
    if (!node.isTextual()) {
      throw new ConfigException(path + ": " + describe(node)
          + " (expected: a duration like 500ms, 1s, 5m, 1h30m or 1d" + (bareUnit == null ? "" : ", or a number of seconds") + ")");
    }
    try {
      return DurationParser.parse(node.textValue(), path);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
  }

  public static String child(String path, String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  private static String label(String path) {
    return path.isEmpty() ? "document" : path;
  }

  /** Describes a node for an error message: its value if short, else its type. */
  public static String describe(JsonNode node) {
    if (node.isMissingNode() || node.isNull()) {
      return "missing";
    }
    if (node.isTextual()) {
      String t = node.textValue();
      return "\"" + (t.length() > 64 ? t.substring(0, 64) + "..." : t) + "\"";
    }
    if (node.isValueNode()) {
      return node.asText();
    }
    return node.isArray() ? "a list" : "a mapping";
  }

  private static List<String> sorted(Set<String> keys) {
    List<String> list = new ArrayList<>(keys);
    list.sort(null);
    return list;
  }
}
