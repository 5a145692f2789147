#!/usr/bin/env bash
# Load-tests Viva's gRPC APIs against its HTTP API in one session, on this machine, and prints the
# markdown rows for docs/benchmarks.md (closed loop, max throughput, checks per second):
#
#   1. HTTP POST /v1/check (the HTTP baseline of this session; LoadGenerator);
#   2. gRPC viva.v1 Check, unary;
#   3. gRPC viva.v1 CheckStream: streams with several messages in flight, BATCH checks each;
#   4. gRPC Envoy RLS v3 ShouldRateLimit, unary, one descriptor (as Envoy sends);
#   5. gRPC CheckStream with one check per message (the per-message cost);
#   6. with FULL=1 (the server, for every run, in full mode: embedded H2, API_KEYS keys on a tier whose limit never
#      binds): HTTP POST /api/v1/rate-limit/check, then gRPC KeyService/VerifyKey (unary, round robin
#      over the keys) closed loop, and open loop at half of its max rate.
#
# Usage:  viva-bench/run-grpc.sh                                    (JVM flags: the ./viva launcher's)
#         DURATION=3s WARMUP=1s viva-bench/run-grpc.sh              (a smoke run)
#         FULL=1 viva-bench/run-grpc.sh                             (adds the VerifyKey rows)
# Env: DURATION (10s), WARMUP (5s), CONNECTIONS (64, HTTP), GRPC_CONNECTIONS (2), DEPTH (32, unary calls
#      in flight per connection), STREAMS (4), STREAM_DEPTH (8, messages in flight per stream),
#      BATCH (100, checks per stream message), PORT (18090), FULL (0), API_KEYS (100, full mode),
#      GRPC_OPEN (0; 1 adds the open-loop VerifyKey row at half max, see below).
set -euo pipefail
source "$(dirname "$0")/bench-env.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-5s}
CONNECTIONS=${CONNECTIONS:-64}
GRPC_CONNECTIONS=${GRPC_CONNECTIONS:-2}
DEPTH=${DEPTH:-32}
STREAMS=${STREAMS:-4}
STREAM_DEPTH=${STREAM_DEPTH:-8}
BATCH=${BATCH:-100}
PORT=${PORT:-18090}
FULL=${FULL:-0}
API_KEYS=${API_KEYS:-100}

bench_build

dir=$(mktemp -d)
cat > "$dir/viva.yaml" <<'YAML'
policies:
  - namespace: bench
    algorithm: token_bucket
    limit: 1000000000
    window: 1s
envoy:
  config: [rules]
YAML
mkdir "$dir/rules"
cat > "$dir/rules/bench.yaml" <<'YAML'
domain: bench
descriptors:
  - key: user
    rate_limit:
      unit: second
      requests_per_unit: 1000000000
YAML
full_env=()
admin_token="bench-$(date +%s%N)"
if [[ $FULL == 1 ]]; then
  full_env=(MODE=full DATA_DIR="$dir/data" ADMIN_TOKEN="$admin_token")
  # One tier whose limit never binds: the runs measure verification + rate limiting, not denials.
  cat >> "$dir/viva.yaml" <<'YAML'
tiers:
  - name: bench
    monthly_quota: unlimited
    limits: [{algorithm: token_bucket, limit: 1000000000, window: 1s}]
YAML
fi

# shellcheck disable=SC2086
env "${full_env[@]}" SERVER_PORT=$PORT ACCESS_LOG=false LOG_LEVEL=warn \
    "$java" $SERVER_JAVA_OPTS -jar "$jar" serve --config "$dir/viva.yaml" > /tmp/viva-grpc-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
await_ready "http://127.0.0.1:$PORT/health/ready" \
    || { echo "the server did not start:" >&2; tail -3 /tmp/viva-grpc-server.log >&2; exit 1; }
sleep 1

grpc() {
  "$java" --sun-misc-unsafe-memory-access=allow -cp "$bench" io.viva.bench.load.GrpcLoadGenerator \
      --target "127.0.0.1:$PORT" --duration "$DURATION" --warmup "$WARMUP" --connections "$GRPC_CONNECTIONS" \
      --namespace bench "$@" 2>/dev/null
}

echo "server JVM flags: $SERVER_JAVA_OPTS"
echo
"$java" -cp "$bench" io.viva.bench.load.LoadGenerator --header x
"$java" --sun-misc-unsafe-memory-access=allow -cp "$bench" io.viva.bench.load.LoadGenerator \
    --url "http://127.0.0.1:$PORT/v1/check" --body '{"identifier":"user-%d","namespace":"bench"}' --keys 10000 \
    --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNECTIONS" --label "HTTP POST /v1/check" 2>/dev/null
grpc --mode unary --depth "$DEPTH" --label "gRPC Check (unary)"
grpc --mode unary --depth "$DEPTH" --label "gRPC Check (unary), again"
grpc --mode stream --streams "$STREAMS" --depth "$STREAM_DEPTH" --batch "$BATCH" --label "gRPC CheckStream ($BATCH checks/msg)"
grpc --mode envoy --depth "$DEPTH" --label "gRPC Envoy ShouldRateLimit (unary)"
grpc --mode stream --streams "$STREAMS" --depth 64 --batch 1 --label "gRPC CheckStream (1 check/msg)"
if [[ $FULL == 1 ]]; then
  keys_file="$dir/keys.txt"
  create_api_keys "$PORT" "$admin_token" "$API_KEYS" "$keys_file"
  "$java" --sun-misc-unsafe-memory-access=allow -cp "$bench" io.viva.bench.load.LoadGenerator \
      --url "http://127.0.0.1:$PORT/api/v1/rate-limit/check" --method POST --api-keys "$keys_file" \
      --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNECTIONS" \
      --label "HTTP POST /api/v1/rate-limit/check ($API_KEYS keys)" 2>/dev/null
  verify_row=$(grpc --mode verify --api-keys "$keys_file" --depth "$DEPTH" \
      --label "gRPC VerifyKey (unary, $API_KEYS keys)")
  echo "$verify_row"
  vmax=$(echo "$verify_row" | awk -F'|' '{gsub(/[ ,]/, "", $4); print int($4)}')
  # The open loop through Vert.x's gRPC client falls behind its schedule at ~30k/s on this 2-core
  # box (backlog of seconds, calls timing out: 2026-11-24), as the HTTP generator did before it
  # moved to plain NIO; until the gRPC client is as lean, the row is opt-in (GRPC_OPEN=1).
  if (( vmax > 1 )) && [[ ${GRPC_OPEN:-0} == 1 ]]; then
    grpc --mode verify --api-keys "$keys_file" --rate "$(( vmax / 2 ))" --label "gRPC VerifyKey at half max"
  elif (( vmax <= 1 )); then
    echo "gRPC VerifyKey: no throughput to halve ($verify_row)" >&2
  fi
fi
