# Sourced by ./viva, .ci/run and viva-bench/run-benchmarks.sh: picks a JDK 21 or newer.
#
# JAVA_HOME if it is one; otherwise the newest JDK under /usr/lib/jvm (or /Library/Java on macOS);
# otherwise the `java` on PATH if it is new enough; otherwise a clear error. Exports JAVA_HOME and
# JAVA_MAJOR, and on Java 24+ adds to MAVEN_OPTS the flag that quiets Maven's sun.misc.Unsafe
# warnings (the flag does not exist before 23, so it cannot be set unconditionally).

viva_java_major() {
  local v
  v=$("$1" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1)
  [[ -n $v ]] || { echo 0; return; }
  v=${v#1.}
  v=${v%%[!0-9]*}
  echo "${v:-0}"
}

viva_find_java() {
  local major best=0 found="" dir
  if [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME}/bin/java ]]; then
    major=$(viva_java_major "$JAVA_HOME/bin/java")
    if (( major >= 21 )); then
      found=$JAVA_HOME best=$major
    else
      echo "note: JAVA_HOME=$JAVA_HOME is Java $major; looking for Java 21 or newer elsewhere" >&2
    fi
  fi
  if [[ -z $found ]]; then
    for dir in /usr/lib/jvm/*/ /Library/Java/JavaVirtualMachines/*/Contents/Home/; do
      dir=${dir%/}
      [[ -x $dir/bin/java && -x $dir/bin/javac ]] || continue
      major=$(viva_java_major "$dir/bin/java")
      if (( major >= 21 && major > best )); then
        best=$major found=$dir
      fi
    done
  fi
  if [[ -z $found ]] && command -v javac >/dev/null 2>&1; then
    dir=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
    major=$(viva_java_major "$dir/bin/java")
    if (( major >= 21 )); then
      best=$major found=$dir
    fi
  fi
  if [[ -z $found ]]; then
    echo "error: Viva needs a JDK 21 or newer and found none (checked JAVA_HOME, /usr/lib/jvm and PATH)." >&2
    echo "       Install one (e.g. 'apt-get install openjdk-21-jdk') or set JAVA_HOME to it." >&2
    return 1
  fi
  export JAVA_HOME=$found JAVA_MAJOR=$best
  if (( best >= 24 )) && [[ ${MAVEN_OPTS:-} != *sun-misc-unsafe-memory-access* ]]; then
    export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
  fi
}

viva_find_java
