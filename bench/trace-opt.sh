#!/bin/bash
# What V8's optimizing compiler (TurboFan) compiles during the counted hooks of bench/hook-loop.ts, after a
# warm-up, by function and source position (issue #21 item 5: the compiler was 9.7 M of the typical hook's
# 34 M instructions in bench/instructions.sh):
#
#   bash bench/trace-opt.sh [checkout] [patient] [warm-up hooks] [counted hooks]     (defaults: . typical 2000 100)
#
# The loop runs as production runs it (BENCH_PRODUCTION=1), with `node --log-code` (a V8 log of every code
# object created) and BENCH_MARK (a marker function the loop compiles where the counted hooks begin); every
# TurboFan code object after the marker is one compile in the counted hooks. Prints them by function, the most
# often compiled first, then the deoptimisations (`--trace-deopt`) of the counted hooks. Needs the checkout's
# dist/ (npm run build). A function compiled again and again is optimised code thrown away (a deoptimisation,
# or code whose maps died in a collection); one compiled once is a function that got hot late.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "${1:-.}" && pwd) patient=${2:-typical} warmup=${3:-2000} n=${4:-100}
out=$(mktemp -d /tmp/trace-opt.XXXXXX)
gate="$out/gate"
(cd "$here" && exec env BENCH_ROOT="$root" BENCH_PATIENT="$patient" BENCH_PRODUCTION=1 BENCH_WARMUP="$warmup" BENCH_MAX_HOOKS="$n" \
  BENCH_GATE="$gate" BENCH_MARK=benchCountedHooksBegin \
  node --expose-gc --log-code --logfile="$out/v8.log" --no-logfile-per-isolate --trace-deopt --import tsx bench/hook-loop.ts "$n" \
  >"$out/stdout" 2>"$out/stderr") &
pid=$!
while [ ! -f "$gate.ready" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "the loop ended before its gate; see $out/stderr" >&2; exit 1; }
  sleep 0.3
done
before=$(wc -l <"$out/stdout")
touch "$gate.go"
wait "$pid"
# code-creation,JS,<kind>,<time>,<address>,<size>,<name and position>,<sfi>,<tier>: tier * is TurboFan.
compiles=$(awk -F, '/benchCountedHooksBegin/ { on = 1; next } on && $1 == "code-creation" && $2 == "JS" && $NF == "*" { print $7 }' "$out/v8.log")
echo "TurboFan compiles in $n hooks after $warmup warm-up hooks ($patient, $root): $(printf '%s\n' "$compiles" | grep -c . || true)"
printf '%s\n' "$compiles" | grep . | sed "s|$root/||; s|file://||" | sort | uniq -c | sort -rn
echo
echo "deoptimisations in the counted hooks:"
tail -n +$((before + 1)) "$out/stdout" | grep -o 'bailout (kind: [^)]*): begin. deoptimizing [^,]*<JSFunction [^ >]*' |
  sed -E 's/bailout \(kind: ([^,]*), reason: ([^)]*)\).*<JSFunction (.*)/\3 (\1: \2)/' | sort | uniq -c | sort -rn || true
echo "(V8 log and output in $out)"
