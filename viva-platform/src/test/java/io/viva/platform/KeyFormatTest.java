package io.viva.platform;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class KeyFormatTest {

  @Test
  void generatedKeysAreWellFormedDistinctAndRecognisable() {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 1000; i++) {
      String k = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
      assertThat(k).startsWith("viva_live_").hasSize(10 + 32 + 6).matches("viva_live_[0-9A-Za-z]{38}");
      assertThat(KeyFormat.isWellFormed(k)).isTrue();
      assertThat(seen.add(k)).isTrue();
    }
    assertThat(KeyFormat.prefixOf(KeyFormat.generate(KeyFormat.TEST_PREFIX))).isEqualTo(KeyFormat.TEST_PREFIX);
    assertThat(KeyFormat.prefixOf(KeyFormat.generate(KeyFormat.ADMIN_PREFIX))).isEqualTo(KeyFormat.ADMIN_PREFIX);
  }

  @Test
  void noiseIsToldApartOffline() {
    assertThat(KeyFormat.isWellFormed(null)).isFalse();
    assertThat(KeyFormat.isWellFormed("")).isFalse();
    assertThat(KeyFormat.isWellFormed("viva_live_")).isFalse();
    assertThat(KeyFormat.isWellFormed("viva_live_" + "a".repeat(38))).isFalse();
    String k = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
    assertThat(KeyFormat.isWellFormed(k.substring(0, k.length() - 1))).isFalse();
    assertThat(KeyFormat.isWellFormed(k + "0")).isFalse();
    assertThat(KeyFormat.isWellFormed("viva_prod_" + k.substring(10))).isFalse();
  }

  @Property(tries = 500)
  void anySingleCharacterChangeBreaksTheChecksum(@ForAll @IntRange(min = 10, max = 47) int position,
      @ForAll @IntRange(min = 1, max = 61) int shift) {
    String k = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
    String alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char c = k.charAt(position);
    char replaced = alphabet.charAt((alphabet.indexOf(c) + shift) % 62);
    String typo = k.substring(0, position) + replaced + k.substring(position + 1);
    assertThat(KeyFormat.isWellFormed(typo)).isFalse();
  }

  @Test
  void visibleStartShowsThePrefixAndSixCharacters() {
    String k = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
    assertThat(KeyFormat.visibleStart(k)).isEqualTo(k.substring(0, 16));
  }

  @Test
  void hashesArePepperedAndStable() {
    String k = KeyFormat.generate(KeyFormat.LIVE_PREFIX);
    SecretHasher a = SecretHasher.of("pepper-one-0123456789");
    SecretHasher b = SecretHasher.of("pepper-two-0123456789");
    assertThat(a.hash(k)).hasSize(64).isEqualTo(a.hash(k)).isNotEqualTo(b.hash(k));
    assertThat(SecretHasher.same(a.hash(k), a.hash(k))).isTrue();
  }
}
