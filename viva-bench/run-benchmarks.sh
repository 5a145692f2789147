#!/usr/bin/env bash
# Builds viva-bench and runs every benchmark, keeping the results in viva-bench/results/:
#
#   keyed-check-t1.{txt,json}   KeyedCheckBenchmark (Viva, Bucket4j, Guava, Resilience4j), 1 thread
#   keyed-check-t2.{txt,json}   the same, 2 threads
#   algorithms-t1.{txt,json}    AlgorithmBenchmark (Viva's six algorithms), 1 thread
#   algorithms-t2.{txt,json}    the same, 2 threads
#   memory-per-key.md           MemoryPerKey, heap bytes per tracked key with 1,000,000 keys
#   environment.txt             JDK, CPU, load and commit the numbers were taken on
#
# Usage, from anywhere:  viva-bench/run-benchmarks.sh
#
# The JMH settings suit a 2-core machine (one fork, 3 x 2 s warm-up, 5 x 2 s measurement; about
# 13 minutes in all). Override them with JMH_OPTS, e.g. for a smoke run:
#   JMH_OPTS="-f 1 -wi 1 -w 1s -i 1 -r 1s" viva-bench/run-benchmarks.sh
# Numbers are only meaningful on an otherwise idle machine: with 2 threads on 2 cores, anything
# else running (a build, an IDE) shows up directly in the results.
#
# The JDK is chosen by scripts/java-home.sh: $JAVA_HOME if it is 21 or later, else the newest
# JDK under /usr/lib/jvm.
set -euo pipefail

JMH_OPTS=${JMH_OPTS:-"-f 1 -wi 3 -w 2s -i 5 -r 2s"}
MEMORY_KEYS=${MEMORY_KEYS:-1000000}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

source scripts/java-home.sh
major=$JAVA_MAJOR
java="$JAVA_HOME/bin/java"
echo "Using $JAVA_HOME (Java $major)"

# JMH 1.37 uses sun.misc.Unsafe, which Java 24+ warns about on every fork; allow it quietly.
# JMH passes the host JVM's options on to the forked JVMs.
jvm_opts=()
if (( major >= 24 )); then
  jvm_opts+=(--sun-misc-unsafe-memory-access=allow)
fi

./mvnw -q -pl viva-bench -am package -DskipTests
jar=viva-bench/target/benchmarks.jar
results=viva-bench/results
mkdir -p "$results"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- viva-core viva-bench 2>/dev/null || echo ' (with local changes)')"
  echo "java: $("$java" -version 2>&1 | tr '\n' ' ')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
  echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
  echo "jmh options: $JMH_OPTS"
} > "$results/environment.txt"
cat "$results/environment.txt"

run_jmh() { # name benchmark-regexp threads
  local name=$1 regexp=$2 threads=$3
  echo
  echo "=== $name, $threads thread(s)"
  # shellcheck disable=SC2086 # JMH_OPTS is a list of options
  "$java" ${jvm_opts[@]+"${jvm_opts[@]}"} -jar "$jar" "$regexp" $JMH_OPTS -t "$threads" \
      -rf json -rff "$results/$name-t$threads.json" 2>&1 | tee "$results/$name-t$threads.txt"
}

for threads in 1 2; do
  run_jmh keyed-check '^io\.viva\.bench\.KeyedCheckBenchmark\.' "$threads"
done
for threads in 1 2; do
  run_jmh algorithms '^io\.viva\.bench\.AlgorithmBenchmark\.' "$threads"
done

echo
echo "=== MemoryPerKey"
"$java" ${jvm_opts[@]+"${jvm_opts[@]}"} -Xmx4g -XX:+UseParallelGC -cp "$jar" io.viva.bench.MemoryPerKey "$MEMORY_KEYS" \
    | tee "$results/memory-per-key.md"

echo
echo "Results in $results/"
