#!/usr/bin/env bash
# What one proxied request costs the gateway's process (CPU time and bytes allocated), beside what
# the same request costs the echo upstream when called directly: io.viva.bench.load.GatewayCost
# against the fat jar in gateway mode (the launcher's JVM flags, the configuration of
# run-gateway.sh: one in-memory per-IP policy that never refuses, access log off) in front of
# EchoUpstream. Unlike throughput and latency, these figures hardly depend on what else runs on
# the machine, so it may run on a shared box; the rate is modest on purpose.
#
# Usage:  viva-bench/run-gateway-cost.sh
#         RATE=2000 REQUESTS=20000 WARMUP=100000 ROUNDS=5 viva-bench/run-gateway-cost.sh
#         BASELINE_JAR=/tmp/viva-server-before.jar viva-bench/run-gateway-cost.sh
#             # a second gateway from another build beside this one, measured in the same rounds
#             # (e.g. git stash; ./mvnw -q -pl viva-server -am package -DskipTests; cp the jar; git stash pop)
#         SERVER_JAVA_OPTS="$(./viva --print-java-opts) -XX:StartFlightRecording=filename=/tmp/gw.jfr" \
#             viva-bench/run-gateway-cost.sh          # profile the gateway (jfr view hot-methods /tmp/gw.jfr)
# Env: RATE (2000/s), REQUESTS (20000 per run), WARMUP (100000), ROUNDS (5), CONNECTIONS (8),
#      PORT (18280, the gateway), UPSTREAM_PORT (18281), MANAGEMENT_PORT (19290), BASELINE_JAR,
#      BASELINE_PORT (18282), BASELINE_MANAGEMENT_PORT (19292), SERVER_JAVA_OPTS.
set -euo pipefail
source "$(dirname "$0")/bench-env.sh"

PORT=${PORT:-18280}
UPSTREAM_PORT=${UPSTREAM_PORT:-18281}
MANAGEMENT_PORT=${MANAGEMENT_PORT:-19290}
BASELINE_PORT=${BASELINE_PORT:-18282}
BASELINE_MANAGEMENT_PORT=${BASELINE_MANAGEMENT_PORT:-19292}

bench_build

config=$(gateway_config "$UPSTREAM_PORT")

start_echo_upstream "$UPSTREAM_PORT" 1 /tmp/viva-gateway-cost-upstream.log
pids=$upstream
trap 'kill $pids 2>/dev/null; wait $pids 2>/dev/null; rm -f "$config"' EXIT

# start_gateway JAR PORT MANAGEMENT_PORT LOG: a gateway in front of the upstream; sets `started`.
start_gateway() {
  # shellcheck disable=SC2086
  MODE=gateway SERVER_PORT=$2 METRICS_PORT=$3 ACCESS_LOG=false LOG_LEVEL=warn \
      "$java" $SERVER_JAVA_OPTS -jar "$1" serve --config "$config" > "$4" 2>&1 &
  started=$!
  pids="$pids $started"
  await_ready "http://127.0.0.1:$3/readyz" "http://127.0.0.1:$UPSTREAM_PORT/" || true
  kill -0 "$started" 2>/dev/null || { echo "$1 died; see $4"; exit 1; }
  gateway_answers "$2" "$4"
}

start_gateway "$jar" "$PORT" "$MANAGEMENT_PORT" /tmp/viva-gateway-cost-server.log
server=$started
baseline=()
if [[ -n ${BASELINE_JAR:-} ]]; then
  start_gateway "$BASELINE_JAR" "$BASELINE_PORT" "$BASELINE_MANAGEMENT_PORT" /tmp/viva-gateway-cost-baseline.log
  baseline=(--baseline "http://127.0.0.1:$BASELINE_PORT/api/items?id=1" --baseline-pid "$started")
fi

echo "server JVM flags: $SERVER_JAVA_OPTS"
"$java" -cp "$bench" io.viva.bench.load.GatewayCost \
    --upstream "http://127.0.0.1:$UPSTREAM_PORT/api/items?id=1" --upstream-pid "$upstream" \
    --gateway "http://127.0.0.1:$PORT/api/items?id=1" --gateway-pid "$server" "${baseline[@]}" \
    --rate "${RATE:-2000}" --requests "${REQUESTS:-20000}" --warmup "${WARMUP:-100000}" \
    --rounds "${ROUNDS:-5}" --connections "${CONNECTIONS:-8}"
