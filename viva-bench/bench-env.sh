# Sourced by the viva-bench/run-*.sh scripts: the repository root as the working directory, a
# JDK 21+ (scripts/java-home.sh) and `java`; bench_build builds the server's fat jar and the
# benchmarks jar and sets `jar`, `bench` and SERVER_JAVA_OPTS (the ./viva launcher's flags unless
# set, even to ""); SKIP_BUILD=1 reuses the jars already built.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/java-home.sh
java="$JAVA_HOME/bin/java"

bench_build() {
  if [[ -z ${SKIP_BUILD:-} ]]; then
    ./mvnw -q -pl viva-server,viva-bench -am package -DskipTests
  fi
  jar=viva-server/target/viva-server.jar
  bench=viva-bench/target/benchmarks.jar
  if [[ -z ${SERVER_JAVA_OPTS+x} ]]; then
    SERVER_JAVA_OPTS=$(./viva --print-java-opts)
  fi
}

# Filters a load generator's stderr down to its "client CPU" line (the client shares the cores with
# what it measures, so how much it took belongs beside each row).
client_cpu() {
  grep --line-buffered '^client CPU' | sed -u 's/^/    /'
}
