#!/usr/bin/env bash
# CI setup for the integration tests: builds the HAPI FHIR test server (test/fhir-server/) that the vitest
# global setup starts when no Docker engine answers, which is the case on this project's CI machines.
# On a fresh machine ~/.m2 is cold: build.sh's offline attempt fails fast and it builds online from Maven
# Central (~290 MB), which warms ~/.m2 so later builds run offline. Needs Java 17+ and Maven 3.8+.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v java >/dev/null || { echo "setup-fhir-server: java not found (Java 17+ is needed for the HAPI FHIR test server)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "setup-fhir-server: mvn not found (Maven 3.8+ is needed to build the HAPI FHIR test server)" >&2; exit 1; }
echo "setup-fhir-server: $(java -version 2>&1 | head -1); $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')"

repo="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
if [ -d "$repo/ca/uhn/hapi/fhir/hapi-fhir-jpaserver-base" ]; then state=warm; else state=cold; fi
echo "setup-fhir-server: local Maven repository $repo is $state"

start=$(date +%s)
bash test/fhir-server/build.sh ${MAVEN_REPO_LOCAL:+-Dmaven.repo.local="$MAVEN_REPO_LOCAL"}
echo "setup-fhir-server: done in $(( $(date +%s) - start )) s (Maven repository was $state)"
