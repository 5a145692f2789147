#!/usr/bin/env bash
# Load-tests Viva's server on this machine and prints the markdown rows for docs/benchmarks.md:
#
#   1. closed loop (max throughput): GET /v1/ping and POST /v1/ping with a check's body (the
#      trivial endpoint, same router and middleware), POST /v1/check (10,000 identifiers),
#      POST /v1/check/batch (100 checks each);
#   2. open loop at half of /v1/check's max rate, for latency percentiles without coordinated
#      omission;
#   3. idle RSS of the server process after start-up.
#
# Usage:  viva-bench/run-load.sh            (JVM flags: the ./viva launcher's defaults)
#         SERVER_JAVA_OPTS="-XX:+UseParallelGC" viva-bench/run-load.sh   (other flags)
#         FULL=1 viva-bench/run-load.sh     (the server in full mode, embedded H2: adds the rows of
#                                             POST /api/v1/rate-limit/check with real API keys, then
#                                             the same closed loop on a second server started with
#                                             USAGE_COUNTING=off: the cost of usage counting)
#         STORE=redis viva-bench/run-load.sh  (the server on the Redis store: a dedicated redis-server
#                                              on REDIS_PORT, default 16400, started and stopped here;
#                                              REDIS_CLOCK, REDIS_SHORT_CIRCUIT_KEYS passed through)
# Env: DURATION (default 10s), WARMUP (5s), OPEN_WARMUP (15s, the open-loop runs), CONNECTIONS (64), DEPTH (1: no pipelining), PORT (18080),
#      FULL (0), API_KEYS (full mode: how many keys to create and rotate through, default 100).
# Client and server share the machine's cores, as they would on one 2-core box; the trivial
# endpoint is measured in the same session so the ratio is meaningful. Every row is followed by the
# client's and the server's CPU over its measured window. SERVER_JAR=path runs another build of the
# server (a before/after in one session).
set -euo pipefail
source "$(dirname "$0")/bench-env.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-5s}
# The open-loop runs warm up longer: a fresh client JVM still JIT-compiling on the shared cores
# shows up as milliseconds in the p99 (measured: 2.2 ms after 5 s, 1.6 ms after 15 s).
OPEN_WARMUP=${OPEN_WARMUP:-15s}
CONNECTIONS=${CONNECTIONS:-64}
DEPTH=${DEPTH:-1}
PORT=${PORT:-18080}

bench_build

config=$(mktemp --suffix=.yaml)
cat > "$config" <<'YAML'
policies:
  - namespace: bench
    algorithm: token_bucket
    limit: 1000000000
    window: 1s
YAML

store_env=()
redis_started=
if [[ ${STORE:-memory} == redis ]]; then
  REDIS_PORT=${REDIS_PORT:-16400}
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >/dev/null
  redis_started=1
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  store_env=(REDIS_URL="redis://127.0.0.1:$REDIS_PORT")
  [[ -n ${REDIS_CLOCK:-} ]] && store_env+=(REDIS_CLOCK="$REDIS_CLOCK")
  [[ -n ${REDIS_SHORT_CIRCUIT_KEYS:-} ]] && store_env+=(REDIS_SHORT_CIRCUIT_KEYS="$REDIS_SHORT_CIRCUIT_KEYS")
  echo "store: redis on port $REDIS_PORT ${store_env[*]:1}"
fi

FULL=${FULL:-0}
API_KEYS=${API_KEYS:-100}
data_dir=$(mktemp -d)
admin_token="bench-$(date +%s%N)"
if [[ $FULL == 1 ]]; then
  # One tier whose limit never binds: the run measures verification + rate limiting, not 429s.
  cat >> "$config" <<'YAML'
tiers:
  - name: bench
    monthly_quota: unlimited
    limits: [{algorithm: token_bucket, limit: 1000000000, window: 1s}]
YAML
fi
mode=standalone
[[ $FULL == 1 ]] && mode=full
# shellcheck disable=SC2086
env "${store_env[@]}" MODE=$mode DATA_DIR=$data_dir ADMIN_TOKEN=$admin_token SERVER_PORT=$PORT ACCESS_LOG=false \
    LOG_LEVEL=warn "$java" $SERVER_JAVA_OPTS -jar "$jar" serve --config "$config" > /tmp/viva-load-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$config" "$data_dir";
  [[ -n $redis_started ]] && redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT
await_ready "http://127.0.0.1:$PORT/health/ready" || true
sleep 2
rss_kb=$(ps -o rss= -p "$server" | tr -d ' ')

# The server's CPU (user + system) over a run's measured window, as a share of one core: sampled
# from /proc when the warm-up ends and when the run does. With the client on the same cores, CPU per
# request says more than requests per second alone.
server_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
load() {
  local warm=$WARMUP i next
  for ((i = 1; i < $#; i++)); do
    next=$((i + 1))
    [[ ${!i} == --warmup ]] && warm=${!next}
  done
  "$java" --sun-misc-unsafe-memory-access=allow -cp "$bench" io.viva.bench.load.LoadGenerator \
      --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNECTIONS" --depth "$DEPTH" "$@" 2> >(client_cpu >&2) &
  local generator=$! t0 s0 t1 s1
  sleep "${warm%s}"
  t0=$(server_ticks); s0=$(date +%s.%N)
  wait "$generator"
  t1=$(server_ticks); s1=$(date +%s.%N)
  awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v s0="$s0" -v s1="$s1" \
    'BEGIN {printf "    server CPU: %.0f%% of one core over the window\n", 100 * t / hz / (s1 - s0)}' >&2
}
batch_body='{"checks":['
for i in $(seq 0 99); do
  batch_body+="{\"identifier\":\"u%d-$i\",\"namespace\":\"bench\"}"
  (( i < 99 )) && batch_body+=','
done
batch_body+=']}'

echo "server JVM flags: $SERVER_JAVA_OPTS"
echo "idle RSS after start: $((rss_kb / 1024)) MB ($rss_kb kB)"
echo
"$java" -cp "$bench" io.viva.bench.load.LoadGenerator --header x
load --url "http://127.0.0.1:$PORT/v1/ping" --label "GET /v1/ping (trivial)"
load --url "http://127.0.0.1:$PORT/v1/ping" --body '{"identifier":"user-%d","namespace":"bench"}' \
    --keys 10000 --label "POST /v1/ping (trivial, same body as a check)"
check_row=$(load --url "http://127.0.0.1:$PORT/v1/check" --body '{"identifier":"user-%d","namespace":"bench"}' \
    --keys 10000 --label "POST /v1/check")
echo "$check_row"
load --url "http://127.0.0.1:$PORT/v1/check/batch" --body "$batch_body" --keys 100 --label "POST /v1/check/batch (100 checks)"
max=$(echo "$check_row" | awk -F'|' '{gsub(/[ ,]/, "", $4); print int($4)}')
half=$(( max / 2 ))
load --url "http://127.0.0.1:$PORT/v1/check" --body '{"identifier":"user-%d","namespace":"bench"}' \
    --keys 10000 --rate "$half" --warmup "$OPEN_WARMUP" --label "POST /v1/check at half max"
if [[ $FULL == 1 ]]; then
  keys_file="$data_dir/keys.txt"
  create_api_keys "$PORT" "$admin_token" "$API_KEYS" "$keys_file"
  verify_row=$(load --url "http://127.0.0.1:$PORT/api/v1/rate-limit/check" --method POST --api-keys "$keys_file" \
      --label "POST /api/v1/rate-limit/check ($API_KEYS keys)")
  echo "$verify_row"
  vmax=$(echo "$verify_row" | awk -F'|' '{gsub(/[ ,]/, "", $4); print int($4)}')
  load --url "http://127.0.0.1:$PORT/api/v1/rate-limit/check" --method POST --api-keys "$keys_file" \
      --rate "$(( vmax / 2 ))" --warmup "$OPEN_WARMUP" --label "POST /api/v1/rate-limit/check at half max"
  # The same closed loop with usage counting off, same session: the main server stops first so the
  # two never share the cores.
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
  off_dir=$(mktemp -d)
  # shellcheck disable=SC2086
  MODE=full USAGE_COUNTING=off DATA_DIR=$off_dir ADMIN_TOKEN=$admin_token SERVER_PORT=$PORT ACCESS_LOG=false \
      LOG_LEVEL=warn "$java" $SERVER_JAVA_OPTS -jar "$jar" serve --config "$config" > /tmp/viva-load-server-off.log 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$config" "$data_dir" "$off_dir"' EXIT
  await_ready "http://127.0.0.1:$PORT/health/ready" || true
  sleep 2
  keys_off="$off_dir/keys.txt"
  create_api_keys "$PORT" "$admin_token" "$API_KEYS" "$keys_off"
  off_row=$(load --url "http://127.0.0.1:$PORT/api/v1/rate-limit/check" --method POST --api-keys "$keys_off" \
      --label "POST /api/v1/rate-limit/check ($API_KEYS keys, usage counting off)")
  echo "$off_row"
  omax=$(echo "$off_row" | awk -F'|' '{gsub(/[ ,]/, "", $4); print int($4)}')
  (( omax > 0 )) && echo "usage counting on/off: $(( vmax * 1000 / omax / 10 )).$(( vmax * 1000 / omax % 10 ))% of the throughput without counting (target: > 90%)"
fi
echo
echo "RSS after the runs: $(( $(ps -o rss= -p "$server" | tr -d ' ') / 1024 )) MB"
