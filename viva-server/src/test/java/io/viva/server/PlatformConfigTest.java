package io.viva.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Full mode's settings and tiers: defaults, file, environment, and errors that name what is wrong. */
class PlatformConfigTest {

  static ServerConfig.FileContents parse(String yaml) throws ConfigException {
    return ServerConfig.parseFile(yaml.getBytes(StandardCharsets.UTF_8), "v.yaml");
  }

  @Test
  void defaultsThenFileThenEnvironment() throws ConfigException {
    PlatformConfig d = ServerConfig.load(null, Map.of("MODE", "full")).platform();
    assertThat(d.databaseUrl()).isNull();
    assertThat(d.dataDir()).isEqualTo(Path.of("data"));
    assertThat(d.rotationGrace()).isEqualTo(Duration.ofHours(24));
    assertThat(d.changePoll()).isEqualTo(Duration.ofSeconds(1));

    PlatformConfig f = PlatformConfig.load(parse("""
        platform:
          database_url: postgres://u:secret@db:5432/viva
          key_pepper: a-pepper-of-16-bytes-or-more
          rotation_grace: 1h
          change_poll_interval: 250ms
        """).platform(), Map.of("DATA_DIR", "/var/lib/viva", "KEY_ROTATION_GRACE", "90"), "full");
    assertThat(f.databaseUrl()).isEqualTo("postgres://u:secret@db:5432/viva");
    assertThat(f.dataDir()).isEqualTo(Path.of("/var/lib/viva"));
    assertThat(f.rotationGrace()).isEqualTo(Duration.ofSeconds(90));
    assertThat(f.changePoll()).isEqualTo(Duration.ofMillis(250));
    assertThat(f.toString()).doesNotContain("secret").doesNotContain("a-pepper");
  }

  @Test
  void errorsNameTheSettingAndNeverTheSecret() {
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("DATABASE_URL", "mysql://u:hunter2@h/db")))
        .hasMessageStartingWith("DATABASE_URL: \"mysql://***@h/db\" (expected: postgres://").hasMessageNotContaining(
            "hunter2");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("API_KEY_PEPPER", "short")))
        .hasMessage("API_KEY_PEPPER: too short (expected: at least 16 bytes of secret; e.g. openssl rand -hex 32)");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("KEY_CACHE_SIZE", "0")))
        .hasMessageStartingWith("KEY_CACHE_SIZE: \"0\" (expected: an integer from 1");
    assertThatThrownBy(() -> parse("platform: {database: x}"))
        .hasMessageStartingWith("v.yaml: platform.database: unknown key");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("KEY_CHANGE_POLL", "0s")))
        .hasMessageStartingWith("KEY_CHANGE_POLL: ");
  }

  @Test
  void trustedProxiesFromTheFileOrTheEnvironment() throws ConfigException {
    assertThat(ServerConfig.load(null, Map.of("MODE", "full")).platform().trustedProxies()).isEmpty();
    PlatformConfig f = PlatformConfig.load(parse("""
        platform:
          trusted_proxies: [10.0.0.0/8, "::1"]
        """).platform(), Map.of(), "full");
    assertThat(f.trustedProxies()).containsExactly("10.0.0.0/8", "::1");
    PlatformConfig e = PlatformConfig.load(parse("platform: {trusted_proxies: [10.0.0.1]}").platform(),
        Map.of("TRUSTED_PROXIES", " 192.168.0.0/16 , 127.0.0.1"), "full");
    assertThat(e.trustedProxies()).containsExactly("192.168.0.0/16", "127.0.0.1");
    assertThatThrownBy(() -> ServerConfig.load(null, Map.of("TRUSTED_PROXIES", "10.0.0.0/99")))
        .hasMessageStartingWith("TRUSTED_PROXIES: ").hasMessageContaining("10.0.0.0/99");
    assertThatThrownBy(() -> parse("platform: {trusted_proxies: 10.0.0.1}"))
        .hasMessageContaining("platform.trusted_proxies: expected a list");
  }

  @Test
  void tiersUseThePolicyLimitForms() throws ConfigException {
    var tiers = parse("""
        tiers:
          - name: free
            monthly_quota: 100
            algorithm: fixed_window
            limit: 10
            window: 1m
          - name: pro
            monthly_quota: unlimited
            limits:
              - {name: per_second, algorithm: gcra, limit: 10, window: 1s, burst: 20}
              - {name: per_day, algorithm: sliding_window, limit: 1000, window: 1d}
        """).tiers();
    assertThat(tiers).extracting(TierFile.TierSpec::name).containsExactly("free", "pro");
    assertThat(tiers.get(0).tier().monthlyQuota()).isEqualTo(100);
    assertThat(tiers.get(0).tier().policy().name()).isEqualTo("tier:free");
    assertThat(tiers.get(1).tier().monthlyQuota()).isEqualTo(Long.MAX_VALUE);
    assertThat(tiers.get(1).tier().policy().limits()).hasSize(2);
    assertThat(TierFile.defaults()).extracting(TierFile.TierSpec::name)
        .containsExactly("anonymous", "free", "basic", "pro", "premium", "enterprise");
  }

  @Test
  void tierErrorsNameThePath() {
    assertThatThrownBy(() -> parse("tiers: [{name: free, limit: 10}]"))
        .hasMessageStartingWith("v.yaml: tiers[0].window: missing");
    assertThatThrownBy(() -> parse("tiers: [{name: free, limit: 10, window: 1m, burst: 5, algorithm: fixed_window}]"))
        .hasMessageStartingWith("v.yaml: tiers[0].burst: 5");
    assertThatThrownBy(() -> parse("tiers: [{name: a, limit: 1, window: 1s}, {name: a, limit: 1, window: 1s}]"))
        .hasMessageStartingWith("v.yaml: tiers[1].name: \"a\" (expected: each tier once)");
    assertThatThrownBy(() -> parse("tiers: [{name: a, limit: 1, window: 1s, monthly_quota: -1}]"))
        .hasMessageStartingWith("v.yaml: tiers[0].monthly_quota: -1");
    assertThatThrownBy(() -> parse("tiers: [{name: a, limit: 1, window: 1s, price: 5}]"))
        .hasMessageStartingWith("v.yaml: tiers[0].price: unknown key");
  }
}
