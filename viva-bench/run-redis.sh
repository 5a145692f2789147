#!/usr/bin/env bash
# Load-tests Viva's Redis store (viva-redis) on this machine and prints the markdown rows for
# docs/benchmarks.md ("The Redis store"), all in one session against one dedicated redis-server:
#
#   1. redis-benchmark (C, 50 connections): PING, and the exact EVALSHA of viva.lua that a
#      token-bucket decision sends (same KEYS/ARGV layout), for 10,000 uniform keys and one hot
#      key, unpipelined (-P 1) and pipelined (-P 16): the Redis limit on this machine;
#   2. io.viva.bench.redis.RedisStoreLoad, closed loop: Viva's RedisLimitStore.acquireAsync and
#      Bucket4j's LettuceBasedProxyManager (asAsync().tryConsume), 10,000 keys and one hot key, and
#      the trivial peer (Lettuce's asynchronous PING on the same client);
#   3. open loop at half of Viva's max rate (10,000 keys), for the p99: from a pacer thread, and
#      from the event loop that serves the connection (as the server asks; see --caller in
#      RedisStoreLoad). RedisStoreLoad's stderr tells the pacer's own lateness apart from the
#      latency after the send.
#
# Every row also reports the CPU used by redis-server (INFO cpu, delta over the run) and by the
# client process, as a share of one core: client and Redis share the machine's cores.
#
# Usage:  viva-bench/run-redis.sh
# Env: DURATION (default 10s), WARMUP (5s), CLIENT_JAVA_OPTS (default: ParallelGC with a 512 MB young
#      generation; with the JDK's default G1 and heap, young pauses of 10-100 ms in the first
#      seconds put the open-loop p99 at 50-90 ms), CONCURRENCY (50), PORT (16399), N (redis-benchmark
#      requests, 500000), SKIP_BUILD=1 to reuse viva-bench/target/benchmarks.jar.
set -euo pipefail
source "$(dirname "$0")/bench-env.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-5s}
CLIENT_JAVA_OPTS=${CLIENT_JAVA_OPTS--XX:+UseParallelGC -Xms1g -Xmn512m}
CONCURRENCY=${CONCURRENCY:-50}
PORT=${PORT:-16399}
N=${N:-500000}
KEYS=10000

if [[ -z ${SKIP_BUILD:-} ]]; then
  ./mvnw -q -B -ntp -pl viva-bench -am package -DskipTests
fi
bench=viva-bench/target/benchmarks.jar

cli() { redis-cli -p "$PORT" "$@"; }

started=
if ! cli ping >/dev/null 2>&1; then
  redis-server --port "$PORT" --save "" --appendonly no --daemonize yes >/dev/null
  started=1
  for _ in $(seq 50); do cli ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
trap '[[ -n $started ]] && redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT

# Seconds of CPU redis-server has used (user + sys, main thread and others).
redis_cpu() {
  cli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f", s}'
}

# Exactly the bytes of viva.lua (redis-cli -x keeps the trailing newline), so the SHA-1 is the one
# RedisLimitStore sends.
sha=$(cli -x script load < viva-redis/src/main/resources/io/viva/redis/viva.lua)
echo "viva.lua SHA-1: $sha" >&2

# The ARGV of one token-bucket decision of Limit.tokenBucket(1_000_000_000, 1s), cost 1, no
# idempotency key (as RedisLimitStore builds them; see docs/redis.md): now ("" = Redis TIME, the
# store's default clock), cost, idempotency TTL (us), n limits, idempotency id, then code 1 (token
# bucket), unit, rate, capacity, 0, 0.
limit_suffix="v1:token_bucket:1000000000:1000000:1000000000"
argv=("" 1 600000000 1 "" 1 1 1000 1000000000 0 0)

echo "| client | keys | load | connections | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | client CPU | Redis CPU |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"

# redis-benchmark LABEL KEYSDESC PIPELINE ARGS...
rb() {
  local label=$1 keysdesc=$2 pipeline=$3
  shift 3
  cli flushdb >/dev/null
  local c0 t0 t1 c1 csv
  c0=$(redis_cpu)
  t0=$(date +%s.%N)
  csv=$(redis-benchmark -p "$PORT" -n "$N" -c 50 -P "$pipeline" --csv "$@" 2>/dev/null | tail -1)
  t1=$(date +%s.%N)
  c1=$(redis_cpu)
  # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  echo "$csv" | tr -d '"' | awk -F, -v l="$label" -v k="$keysdesc" -v p="$pipeline" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" \
    '{printf "| %s | %s | closed, 50 conns x %d | 50 | %d | %.3f | %.3f | – | %.2f | – | %.0f%% |\n", l, k, p, $2, $5, $7, $8, 100 * (c1 - c0) / (t1 - t0)}'
}

# load SUBJECT KEYS ARGS... : one RedisStoreLoad run, Redis CPU appended.
load() {
  cli flushdb >/dev/null
  local c0 c1 row
  c0=$(redis_cpu)
  # shellcheck disable=SC2086
  row=$("$java" $CLIENT_JAVA_OPTS -cp "$bench" io.viva.bench.redis.RedisStoreLoad --redis "redis://127.0.0.1:$PORT" \
      --duration "$DURATION" --warmup "$WARMUP" --subject "$1" --keys "$2" "${@:3}" 2> >(grep --line-buffered "pacer lateness" | sed -u "s/^/    /" >&2))
  c1=$(redis_cpu)
  # The row ends "| denied | errors |"; replace them with Redis CPU over warm-up + measurement.
  local secs
  secs=$(( ${DURATION%s} + ${WARMUP%s} + 1 ))
  echo "$row" | awk -F'|' -v c="$(echo "$c0 $c1 $secs" | awk '{printf "%.0f%%", 100 * ($2 - $1) / $3}')" \
    'BEGIN {OFS="|"} {if ($12 + 0 != 0 || $13 + 0 != 0) print "WARNING: denied " $12 ", errors " $13 > "/dev/stderr"; NF = 11; print $0 "| " c " |"}'
}


# 1. The Redis limit.
rb "redis-benchmark PING" "–" 1 ping
rb "redis-benchmark EVALSHA viva.lua" "10,000" 1 -r "$KEYS" evalsha "$sha" 2 \
  "viva:{5:bench:user-__rand_int__}:$limit_suffix" "viva:{5:bench:user-__rand_int__}:v1:idem" "${argv[@]}"
rb "redis-benchmark EVALSHA viva.lua" "1 (hot)" 1 evalsha "$sha" 2 \
  "viva:{5:bench:hot}:$limit_suffix" "viva:{5:bench:hot}:v1:idem" "${argv[@]}"
rb "redis-benchmark EVALSHA viva.lua" "10,000" 16 -r "$KEYS" evalsha "$sha" 2 \
  "viva:{5:bench:user-__rand_int__}:$limit_suffix" "viva:{5:bench:user-__rand_int__}:v1:idem" "${argv[@]}"
rb "redis-benchmark EVALSHA viva.lua" "1 (hot)" 16 evalsha "$sha" 2 \
  "viva:{5:bench:hot}:$limit_suffix" "viva:{5:bench:hot}:v1:idem" "${argv[@]}"

# 2. Closed loop, the Java clients (and Lettuce's own PING, the trivial peer).
load ping "$KEYS" --concurrency "$CONCURRENCY"
viva_row=$(load viva "$KEYS" --concurrency "$CONCURRENCY")
echo "$viva_row"
load viva 1 --concurrency "$CONCURRENCY"
b4j_row=$(load bucket4j "$KEYS" --concurrency "$CONCURRENCY")
echo "$b4j_row"
load bucket4j 1 --concurrency "$CONCURRENCY"
# More in flight, and more connections (is one Lettuce connection the bottleneck?).
load viva "$KEYS" --concurrency 200
load viva "$KEYS" --concurrency "$CONCURRENCY" --connections 4
load bucket4j 1 --concurrency 4
# As the server asks: on the event loop that serves the connection (no hand-off between threads).
load viva "$KEYS" --concurrency "$CONCURRENCY" --caller loop
# Few callers, about half the max rate: the closed-loop latency there.
load viva "$KEYS" --concurrency 8

# 3. Open loop at half of each one's max (10,000 keys), and Bucket4j at Viva's half too.
half() { echo $(( $(echo "$1" | awk -F'|' '{gsub(/[ ,]/, "", $6); print $6}') / 2 )); }
load viva "$KEYS" --rate "$(half "$viva_row")"
load viva "$KEYS" --rate "$(half "$viva_row")" --caller loop
# The trivial peer at the same rate: Lettuce's PING, no limiter (this client, JVM and machine's floor).
load ping "$KEYS" --rate "$(half "$viva_row")"
load bucket4j "$KEYS" --rate "$(half "$b4j_row")"
load bucket4j "$KEYS" --rate "$(half "$viva_row")"
