#!/bin/bash
# CPU per hook of this build against another, interleaved in one run (issue #21 item 5): the typical hook with
# logging and authentication as in production (bench/hook-loop.ts BENCH_PRODUCTION=1), each build in its own
# process, alternating, ROUNDS times; prints each run's CPU time per hook (µs) and the medians. On a shared
# machine the runs spread by about ±25% (bench/results.md); bench/instructions.sh counts instead.
#   git worktree add --detach /tmp/base 06fc1a5 && (cd /tmp/base && npm ci && npx tsc -p tsconfig.build.json)
#   npm run build                                      (a symlinked node_modules will do when the lockfiles match)
#   bash bench/compare-builds.sh /tmp/base            (ROUNDS=5, HOOKS=400)
# bench/hook-loop.ts's own settings pass through: BENCH_PATIENT=heavy for the large Synthea patient, and
# BENCH_WARMUP (200) for how warm both services are when counting starts (4000 compares warm services: the
# first ~2,500 hooks carry V8's re-optimisation tail, bench/results.md "Hook cost").
set -euo pipefail
base=${1:?usage: bench/compare-builds.sh <other checkout with dist/>}
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-5}
hooks=${HOOKS:-400}
run() {
  BENCH_ROOT=$1 BENCH_PRODUCTION=1 BENCH_CPU=1 BENCH_MAX_HOOKS=$hooks node --import tsx "$here/bench/hook-loop.ts" "$hooks" 2>&1 >/dev/null | sed -n 's/^cpu-us-per-hook //p'
}
declare -a a b
for ((i = 0; i < rounds; i++)); do
  a+=("$(run "$base")")
  b+=("$(run "$here")")
  echo "round $((i + 1)): other ${a[-1]} us, this ${b[-1]} us"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "median CPU per hook: other $(median "${a[@]}") us, this $(median "${b[@]}") us"
