#!/usr/bin/env bash
# Builds the HAPI FHIR test server into test/fhir-server/target/hapi-fhir-test-server.jar.
#  - Does nothing when the jar is newer than pom.xml and everything under src/.
#  - Builds offline first (mvn -o: fast, no network when ~/.m2 is warm) and falls back to an online
#    build when the local Maven repository is cold (first run on a fresh machine: ~300 MB download).
#  - Extra arguments go to mvn, e.g.  build.sh -Dmaven.repo.local=/path/to/repo
# Works from any directory. Needs Java 17+ and Maven 3.8+.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAR="$DIR/target/hapi-fhir-test-server.jar"

if [ -f "$JAR" ] && [ -z "$(find "$DIR/pom.xml" "$DIR/src" -newer "$JAR" -print -quit)" ]; then
  echo "fhir-server: $JAR is up to date"
  exit 0
fi

command -v mvn >/dev/null || { echo "fhir-server: mvn not found (needs Maven 3.8+ and Java 17+)" >&2; exit 1; }

start=$(date +%s)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
MVN=(mvn -B -q -f "$DIR/pom.xml" -DskipTests "$@" package)

if "${MVN[@]}" -o >"$log" 2>&1; then
  mode=offline
else
  echo "fhir-server: offline build failed (cold Maven repository?), building online ..."
  if "${MVN[@]}" -ntp >"$log" 2>&1; then
    mode=online
  else
    cat "$log" >&2
    echo "fhir-server: BUILD FAILED after $(( $(date +%s) - start )) s" >&2
    exit 1
  fi
fi

[ -f "$JAR" ] || { cat "$log" >&2; echo "fhir-server: build ran but $JAR is missing" >&2; exit 1; }
touch "$JAR" # mvn may leave an unchanged jar with an old mtime; mark it as built from the current sources
echo "fhir-server: built $JAR ($mode) in $(( $(date +%s) - start )) s"
