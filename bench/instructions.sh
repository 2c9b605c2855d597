#!/bin/bash
# Instructions and system calls per hook, as production runs it (issue #21 item 5), for one or more checkouts:
#
#   bash bench/instructions.sh <checkout-dir>...        e.g.  bash bench/instructions.sh /tmp/old .
#
# Each checkout must hold a build (`npm run build`, i.e. dist/) and its node_modules (a symlink to this
# checkout's when the lockfiles match); `git worktree add --detach /tmp/old 06fc1a5` makes one. Prints a table
# and writes the raw counts under $BENCH_OUT (default a new folder under /tmp). Two checkouts took 50 minutes on
# the shared 2-core machine at a load average of 14-24 (2026-12-06), most of it valgrind translating start-up and
# warm-up code; on a quiet one BENCH_PATIENTS=typical took 4 min 47 s for two with 100 counted hooks, and about 12 minutes (warm-up 4,000) or 10 (warm-up 300) with today's 600 counted hooks after 2,000 re-warm hooks. The garbage collector's share
# moves between runs (a major collection falls in the window or not); the other groups repeat within 10%.
#
# What one hook is: bench/hook-loop.ts with BENCH_PRODUCTION=1, i.e. AUTH_MODE=on with a fresh ES384 client
# JWT per hook (signed before the hooks, so only the verification is counted), LOG_LEVEL=info sent to
# /dev/null, the embedded store writing its audit trail and remembered-cards journal (FEEDBACK_FILE in a fresh
# temporary folder), the patient with full prefetch: `typical` (the sle-child-likely example) and `heavy` (the
# largest Synthea bundle).
#
# Method (instructions): per hook = (Ir(N2 hooks) - Ir(N1 hooks)) / (N2 - N1), each count from its own process
# under `valgrind --tool=callgrind --trace-children=no --smc-check=all-non-file --instr-atstart=no`, with the
# normal JIT (no --jitless, no --single-threaded: both change what is measured; every thread's instructions are
# counted, so V8's background compiling and GC count too). Start-up and WARMUP hooks run uninstrumented (about
# 5x slower than native instead of 50-100x); then the loop collects the heap (gc()) and runs REWARM more hooks
# (the forced collection throws V8's optimised code away; without them every run re-optimised its hot code
# inside the counted hooks, which a warm service does not: bench/trace-opt.sh); then the loop waits at a gate, `callgrind_control -i on` switches
# instrumentation on, and the N counted hooks run instrumented. The difference of two runs leaves out whatever
# the switch itself costs. Every counted hook must answer 200 (else the run fails).
# Why 600 counted hooks and 2,000 re-warm hooks (2026-12-07; until then 100 and 200): with 100 counted hooks an
# older build's per-hook count swung with whether a major collection fell inside them (4a0816f: 23.6 to 33.0 M a
# hook in four runs), and 200 re-warm hooks were too few for V8 to optimise again what the gate's collection had
# thrown away: 60 TurboFan compiles fell inside 600 counted hooks after a 4,000-hook warm-up, 7 after 2,000
# re-warm hooks (bench/trace-opt.sh). 600 hooks spread the collector's work over the hooks that made it.
# Method (system calls): `strace -f -c` over the whole process, per hook = (calls(S2) - calls(S1)) / (S2 - S1).
#
# Settings: BENCH_N1 (20) and BENCH_N2 (620) counted hooks under callgrind, BENCH_WARMUP (300) hooks before the
# counted ones, BENCH_REWARM (2000) hooks after the collection at the gate, BENCH_STRACE_N1 (100) and BENCH_STRACE_N2 (500) counted hooks under strace, BENCH_PATIENTS
# ("typical heavy"), BENCH_MEASURE ("instructions syscalls"), BENCH_JOBS (2) valgrind runs at once, BENCH_OUT
# (where the raw counts go). BENCH_MEASURE=none BENCH_OUT=<an earlier run's folder> prints that run's tables again.
set -euo pipefail
[ $# -gt 0 ] || { sed -n '2,9p' "$0"; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
n1=${BENCH_N1:-20} n2=${BENCH_N2:-620} warmup=${BENCH_WARMUP:-300} rewarm=${BENCH_REWARM:-2000} s1=${BENCH_STRACE_N1:-100} s2=${BENCH_STRACE_N2:-500}
patients=${BENCH_PATIENTS:-typical heavy}
measure=${BENCH_MEASURE:-instructions syscalls}
jobs=${BENCH_JOBS:-2}
out=${BENCH_OUT:-$(mktemp -d /tmp/instructions.XXXXXX)}
mkdir -p "$out"
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || { echo "needs valgrind (Debian package valgrind)" >&2; exit 2; }
command -v strace >/dev/null || { echo "needs strace (Debian package strace)" >&2; exit 2; }
roots=()
for dir in "$@"; do
  root=$(cd "$dir" && pwd)
  [ -f "$root/dist/src/app.js" ] || { echo "$root has no dist/ (run npm run build there)" >&2; exit 2; }
  roots+=("$root")
done
max=$((n2 > s2 ? n2 : s2))

# env for one loop run: root patient
loop_env() {
  echo BENCH_ROOT="$1" BENCH_PATIENT="$2" BENCH_PRODUCTION=1 BENCH_MAX_HOOKS="$max" BENCH_WARMUP="$warmup" BENCH_REWARM="$rewarm"
}

# start_loop <tag> <root> <patient> <hooks> [command before node...]: starts the loop in the background with a
# gate, sets $pid, and returns once start-up and warm-up are done and the loop waits at the gate
start_loop() {
  local tag=$1 root=$2 patient=$3 hooks=$4 gate="$out/$1.gate"
  shift 4
  rm -f "$gate.ready" "$gate.go"
  # shellcheck disable=SC2046
  (cd "$here" && exec env $(loop_env "$root" "$patient") BENCH_GATE="$gate" \
    "$@" node --expose-gc --import tsx bench/hook-loop.ts "$hooks" >/dev/null 2>"$out/$tag.err") &
  pid=$!
  while [ ! -f "$gate.ready" ]; do
    kill -0 "$pid" 2>/dev/null || { echo "$tag: the loop ended before its gate; see $out/$tag.err" >&2; return 1; }
    sleep 0.5
  done
}

# open_gate <tag>: lets the loop run its counted hooks and waits for it
open_gate() {
  touch "$out/$1.gate.go"
  wait "$pid" || { echo "$1: failed; see $out/$1.err" >&2; return 1; }
}

# callgrind <tag> <root> <patient> <hooks>: writes $out/<tag>.ir (the instruction count of the counted hooks)
callgrind() {
  local pid
  start_loop "$@" valgrind --tool=callgrind --trace-children=no --smc-check=all-non-file --instr-atstart=no \
    --callgrind-out-file="$out/$1.callgrind"
  callgrind_control -i on "$pid" >>"$out/$1.control" 2>&1
  open_gate "$1"
  sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out/$1.callgrind" >"$out/$1.ir"
}

# syscalls <tag> <root> <patient> <hooks>: writes $out/<tag>.strace (strace -c's table of the counted hooks:
# strace attaches to every thread at the gate, after start-up and warm-up)
syscalls() {
  local pid spid
  start_loop "$@"
  strace -f -c -p "$pid" -o "$out/$1.strace" 2>"$out/$1.control" &
  spid=$!
  while ! grep -q attached "$out/$1.control" 2>/dev/null; do sleep 0.2; done
  sleep 1 # strace names each thread as it attaches; let it reach all of them
  open_gate "$1"
  wait "$spid"
}

# calls <strace file> <syscall>: the number of calls of that syscall
calls() {
  # strace -c columns: % time, seconds, usecs/call, calls, [errors,] syscall
  awk -v s="$2" '$NF == s { print $4; found = 1 } END { if (!found) print 0 }' "$1" | head -1
}

# The valgrind runs, JOBS at a time.
tasks=()
for i in "${!roots[@]}"; do
  for p in $patients; do
    tasks+=("c$i-$p-$n1 ${roots[$i]} $p $n1" "c$i-$p-$n2 ${roots[$i]} $p $n2")
  done
done
running=0
[[ " $measure " == *" instructions "* ]] || tasks=()
for t in "${tasks[@]}"; do
  # shellcheck disable=SC2086
  callgrind $t &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
[[ " $measure " == *" syscalls "* ]] && for i in "${!roots[@]}"; do
  for p in $patients; do
    syscalls "c$i-$p-$s1" "${roots[$i]}" "$p" "$s1"
    syscalls "c$i-$p-$s2" "${roots[$i]}" "$p" "$s2"
  done
done

# per <count at the shorter run> <count at the longer> <hooks between> <printf format>: "-" when not measured
per() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" -v d="$3" -v f="$4" 'BEGIN { printf f, (b - a) / d }' || printf -- '-'; }
total() { [ -f "$1" ] && calls "$1" total; }
count() { [ -f "$1" ] && calls "$1" "$2"; }
syncs() { [ -f "$1" ] && echo $(( $(calls "$1" fsync) + $(calls "$1" fdatasync) )); }
printf '\n| checkout | patient | M instructions / hook | futex / hook | write / hook | fsync+fdatasync / hook | all syscalls / hook |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
for i in "${!roots[@]}"; do
  root=${roots[$i]}
  label="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -z "$(git -C "$root" status --porcelain --untracked-files=no -- src 2>/dev/null)" ] || echo '+changes')"
  for p in $patients; do
    a=$(cat "$out/c$i-$p-$n1.ir" 2>/dev/null || true) b=$(cat "$out/c$i-$p-$n2.ir" 2>/dev/null || true)
    sa="$out/c$i-$p-$s1.strace" sb="$out/c$i-$p-$s2.strace"
    printf '| %s (%s) | %s | %s | %s | %s | %s | %s |\n' "$label" "$root" "$p" \
      "$(per "$a" "$b" $((n2 - n1)) '%.0f' | awk '$1 == "-" { print; next } { printf "%.2f", $1 / 1e6 }')" \
      "$(per "$(count "$sa" futex)" "$(count "$sb" futex)" $((s2 - s1)) '%.1f')" \
      "$(per "$(count "$sa" write)" "$(count "$sb" write)" $((s2 - s1)) '%.1f')" \
      "$(per "$(syncs "$sa")" "$(syncs "$sb")" $((s2 - s1)) '%.2f')" \
      "$(per "$(total "$sa")" "$(total "$sb")" $((s2 - s1)) '%.1f')"
  done
done
# groups <callgrind file>: "<instructions> <group>" lines, each function's self cost summed by what it is
groups() {
  callgrind_annotate --inclusive=no --threshold=100 "$1" 2>/dev/null | awk '
    /^ *[0-9,]+ +\(/ && !/PROGRAM TOTALS/ {
      n = $1; gsub(",", "", n); f = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", f)
      g = "other V8 and node runtime"
      if (f ~ /\[\?\?\?\]$/) g = "JIT-compiled JavaScript (unnamed code)"
      else if (f ~ /(bn_|BN_|ec_|EC_|ecp_|ossl_|EVP_|ECDSA|OPENSSL_|CRYPTO_|sha256|sha512|SHA256|SHA512|BIO_|ASN1|asn1)/) g = "OpenSSL (the ES384 verify)"
      else if (f ~ /Json(Parser|Stringifier)|JsonParse|JsonStringify/) g = "JSON.parse and JSON.stringify"
      else if (f ~ /Builtins_/) g = "V8 builtins (interpreter, property access, strings, regexps)"
      else if (f ~ /v8::internal::(compiler|maglev|baseline)::|Turbofan|OptimizingCompile|CompilationJob/) g = "V8 optimizing compiler"
      else if (f ~ /Mark|Sweep|Scaveng|Evacuat|Compact|MemoryChunk|RememberedSet|SlotSet|ActiveSystemPages|Heap|GC|Worklist|IteratePointers|SizeFromMap|Minor|popcount|IterateObjectCache|Allocat/) g = "V8 garbage collector and allocation"
      else if (f ~ /libc\.so|ld-linux/) g = "libc (memory, system call wrappers)"
      s[g] += n
    }
    END { for (g in s) printf "%.0f %s\n", s[g], g }'
}
if ls "$out"/*.callgrind >/dev/null 2>&1; then
  echo
  echo "Where a hook's instructions go (M per hook: each function's self cost, (N2 run - N1 run) / $((n2 - n1))):"
  for i in "${!roots[@]}"; do
    for p in $patients; do
      [ -f "$out/c$i-$p-$n1.callgrind" ] && [ -f "$out/c$i-$p-$n2.callgrind" ] || continue
      echo
      echo "${roots[$i]}, $p:"
      { groups "$out/c$i-$p-$n1.callgrind" | sed 's/^/a /'; groups "$out/c$i-$p-$n2.callgrind" | sed 's/^/b /'; } |
        awk -v d=$((n2 - n1)) '{ v = $2; k = $0; sub(/^[ab] [0-9]+ /, "", k); if ($1 == "a") a[k] += v; else b[k] += v; keys[k] = 1 }
          END { for (k in keys) printf "%8.2f  %s\n", (b[k] - a[k]) / d / 1e6, k }' | sort -rn
    done
  done
fi
echo
echo "instructions: (Ir(N2=$n2) - Ir(N1=$n1)) / $((n2 - n1)) hooks, after $warmup uninstrumented warm-up hooks, a collection and $rewarm more; system calls: (S2=$s2 - S1=$s1 hooks) / $((s2 - s1)), after the same warm-up; raw counts in $out"
