# Sourced by the viva-bench/run-*.sh scripts: the repository root as the working directory, a
# JDK 21+ (scripts/java-home.sh) and `java`; bench_build builds the server's fat jar and the
# benchmarks jar and sets `jar`, `bench` and SERVER_JAVA_OPTS (the ./viva launcher's flags unless
# set, even to ""); SKIP_BUILD=1 reuses the jars already built; SERVER_JAR=path runs another build
# of the server (an older one, for a before/after in one session).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/java-home.sh
java="$JAVA_HOME/bin/java"

bench_build() {
  if [[ -z ${SKIP_BUILD:-} ]]; then
    ./mvnw -q -pl viva-server,viva-bench -am package -DskipTests
  fi
  jar=${SERVER_JAR:-viva-server/target/viva-server.jar}
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

# await_ready URL...: waits up to 10 s until every URL answers with a 2xx; fails otherwise.
await_ready() {
  local u ok
  for _ in $(seq 100); do
    ok=1
    for u in "$@"; do
      curl -sf "$u" >/dev/null || { ok=0; break; }
    done
    (( ok )) && return 0
    sleep 0.1
  done
  return 1
}

# create_api_keys PORT ADMIN_TOKEN N FILE: N full-mode keys on the tier `bench`, one secret a line in
# FILE (the answer has no trailing newline: one is added per key).
create_api_keys() {
  local i
  for i in $(seq "$3"); do
    { curl -sf -X POST "http://127.0.0.1:$1/api/v1/keys" -H "Authorization: Bearer $2" \
        -d "{\"name\":\"bench $i\",\"tier\":\"bench\",\"owner_id\":\"bench\"}" \
      | sed -n 's/.*"key":"\(viva_live_[0-9A-Za-z]*\)".*/\1/p'; echo; } >> "$4"
  done
  [[ $(wc -l < "$4") -eq $3 ]] || { echo "could not create $3 keys" >&2; exit 1; }
}

# gateway_config UPSTREAM_PORT: writes a gateway config (one per-IP policy that never refuses, the
# echo upstream) to a new temporary file and prints its path.
gateway_config() {
  local file
  file=$(mktemp --suffix=.yaml)
  cat > "$file" <<YAML
policies:
  - namespace: default
    algorithm: token_bucket
    limit: 1000000000
    window: 1s
gateway:
  upstreams:
    echo: {url: "http://127.0.0.1:$1", max_connections: 256}
YAML
  echo "$file"
}

# start_echo_upstream PORT THREADS LOG: the trivial upstream (EchoUpstream) in the background;
# sets `upstream` to its pid.
start_echo_upstream() {
  "$java" --sun-misc-unsafe-memory-access=allow -cp "$bench" io.viva.bench.load.EchoUpstream \
      --port "$1" --threads "$2" > "$3" 2>&1 &
  upstream=$!
}

# gateway_answers PORT LOG: fails unless the answer on PORT comes through a Viva gateway (it adds the
# rate limit headers), not another process on the port.
gateway_answers() {
  curl -sf -D - -o /dev/null "http://127.0.0.1:$1/through" | grep -qi '^ratelimit-policy:' \
      || { echo "no gateway answers on port $1; see $2"; exit 1; }
}
