#!/usr/bin/env bash
# Prints the idle RSS of `./viva serve` (standalone, embedded in-memory defaults, no config file),
# measured as docs/decisions/0005-idle-memory.md describes: the fat jar started with the ./viva
# launcher's JVM flags and environment, /health/ready polled until it answers, 2 s of sleep, then
# `ps -o rss=`. Repeats RUNS times (default 3) and prints each run and the median.
#
# Usage:  viva-bench/measure-idle-rss.sh
#         NMT=1 viva-bench/measure-idle-rss.sh     (also the JVM's native memory summary, by jcmd)
#         CLASSES=1 viva-bench/measure-idle-rss.sh (also how many classes are loaded)
#         SERVER_JAVA_OPTS="-XX:+UseG1GC" viva-bench/measure-idle-rss.sh   (other flags; "" = JVM defaults)
# Env: RUNS (3), PORT (18090), IDLE (seconds after ready, 2).
set -euo pipefail
source "$(dirname "$0")/bench-env.sh"

RUNS=${RUNS:-3}
PORT=${PORT:-18090}
IDLE=${IDLE:-2}

./mvnw -q -pl viva-server -am package -DskipTests
jar=viva-server/target/viva-server.jar
if [[ -z ${SERVER_JAVA_OPTS+x} ]]; then
  SERVER_JAVA_OPTS=$(./viva --print-java-opts)
fi
extra=()
[[ ${NMT:-0} == 1 ]] && extra+=(-XX:NativeMemoryTracking=summary)
# The launcher's environment (./viva exports MALLOC_ARENA_MAX unless set).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"

echo "JVM flags: $SERVER_JAVA_OPTS ${extra[*]}"
echo "MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX"
server=
trap '[[ -n $server ]] && kill "$server" 2>/dev/null; wait 2>/dev/null || true' EXIT
results=()
for run in $(seq "$RUNS"); do
  log=$(mktemp)
  # shellcheck disable=SC2086 # SERVER_JAVA_OPTS is a list of flags
  SERVER_PORT=$PORT "$java" $SERVER_JAVA_OPTS "${extra[@]}" -jar "$jar" serve > "$log" 2>&1 &
  server=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null || { cat "$log" >&2; exit 1; }
  sleep "$IDLE"
  rss_kb=$(ps -o rss= -p "$server" | tr -d ' ')
  results+=("$rss_kb")
  echo "run $run: idle RSS $((rss_kb / 1024)) MB ($rss_kb kB)"
  if [[ $run == "$RUNS" ]]; then
    if [[ ${CLASSES:-0} == 1 ]]; then
      echo "loaded classes: $("$JAVA_HOME/bin/jcmd" "$server" VM.classes 2>/dev/null | grep -c '^0x' || true)"
    fi
    if [[ ${NMT:-0} == 1 ]]; then
      "$JAVA_HOME/bin/jcmd" "$server" VM.native_memory summary | sed -n '/^Total/,$p' \
        | grep -E '^(Total|-)|committed=' | grep -vE '^\s*\(' || true
    fi
  fi
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
  rm -f "$log"
done
median=$(printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
echo "median idle RSS: $((median / 1024)) MB ($median kB) over $RUNS runs"
