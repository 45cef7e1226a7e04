#!/usr/bin/env bash
# Splits the CPU of the engine alone (BenchmarkRunOnce/engine-alone: N
# messages of 4 KiB, file to file, an empty pipeline) and of
# BenchmarkPrototype (the issue's leaner reference design of the same
# durable work) by where it goes, both profiled with perf in one run on
# the same file system: the kernel, the SQLite engine (modernc.org's
# translation of its C), the driver and database/sql, the Go runtime's
# allocation, collection and scheduling, and the rest of Go. It prints
# each as microseconds of CPU per message, side by side, and their
# difference: what the engine does beyond the prototype, and where.
#
# A benchmark's setup (its input files, its keys) is left out: samples
# whose stack holds it are not counted. Both benchmarks also print the
# CPU per message they measure, which the split is scaled to.
#
# Needs perf (the linux-perf package) and Python 3; perf needs
# kernel.perf_event_paranoid <= 1 or root.
#
#   BENCH_DIR=/mnt/bench scripts/cpu-split.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N=${N:-2000}
work_dir cpu-split
type -P perf >/dev/null || apt-get install -y -qq linux-perf >/dev/null
need python3

go test -c -o "$work/runner.test" ./internal/runner
# profile NAME BENCH: perf samples of one benchmark run, as perf script
# text in $work/NAME.txt, and its cpu-µs/msg in $work/NAME.cpu.
profile() {
  (cd "$work" && TMPDIR="$work" perf record -q -e cpu-clock -g -o "$work/$1.data" ./runner.test \
    -test.run '^$' -test.bench "^$2\$" -test.benchtime "${N}x" >"$work/$1.out" 2>&1) ||
    { cat "$work/$1.out" >&2; exit 1; }
  { grep -o '[0-9.]* cpu-µs/msg' "$work/$1.out" || true; } | awk '{print $1}' >"$work/$1.cpu"
  [ -s "$work/$1.cpu" ] || { cat "$work/$1.out" >&2; exit 1; }
  perf script -i "$work/$1.data" 2>/dev/null >"$work/$1.txt"
}
profile engine 'BenchmarkRunOnce/engine-alone'
profile prototype 'BenchmarkPrototype'

echo "== CPU per message by where it goes, $N messages of 4 KiB (µs)"
python3 - "$work" <<'EOF'
import collections, sys
work = sys.argv[1]
SETUP = ("GenerateKey", "runner_test.put", "os.WriteFile", "testpki.")
ORDER = ["kernel", "SQLite engine", "SQLite driver, database/sql", "Go runtime: allocation and collection",
         "Go runtime: scheduling and the rest", "bizpipe and the standard library"]

def syscall(stack):
    for f, _ in stack:
        for prefix in ("__x64_sys_", "__do_sys_", "__se_sys_"):
            if f.startswith(prefix):
                return f[len(prefix):]
    return "no system call: scheduling, faults, interrupts"

def kind(stack):
    leaf, dso = stack[0]
    whole = " ".join(f for f, _ in stack)
    if "kernel" in dso:
        return "kernel"
    if "gcBgMarkWorker" in whole or "bgsweep" in whole or "mallocgc" in leaf or "gcAssist" in whole:
        return "Go runtime: allocation and collection"
    if "modernc.org/sqlite/lib." in leaf or "modernc.org/libc" in leaf or "modernc.org/memory" in leaf:
        return "SQLite engine"
    if leaf.startswith("modernc.org/sqlite.") or leaf.startswith("database/sql."):
        return "SQLite driver, database/sql"
    if leaf.startswith("runtime.") or leaf.startswith("internal/runtime") or leaf == "[unknown]":
        return "Go runtime: scheduling and the rest"
    return "bizpipe and the standard library"

def split(name):
    counts, calls, stack = collections.Counter(), collections.Counter(), []
    def flush():
        if stack and not any(s in f for f, _ in stack for s in SETUP):
            k = kind(stack)
            counts[k] += 1
            if k == "kernel":
                calls[syscall(stack)] += 1
    for line in open(f"{work}/{name}.txt", errors="replace"):
        if not line.strip():
            flush(); stack.clear(); continue
        if line[0] in " \t":
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                sym, _, dso = parts[1].rpartition(" (")
                stack.append((sym.split("+0x")[0], dso))
    flush()
    cpu = float(open(f"{work}/{name}.cpu").read().split()[0])
    total = sum(counts.values())
    if total == 0:
        sys.exit(f"{name}: perf recorded no call stacks (is perf allowed to sample? see kernel.perf_event_paranoid)")
    return {k: cpu * v / total for k, v in counts.items()}, {k: cpu * v / total for k, v in calls.items()}, cpu

eng, ecalls, ecpu = split("engine")
pro, pcalls, pcpu = split("prototype")
row = lambda k, e, p: print(f"{k:48s} {e:8.0f} {p:10.0f} {e - p:11.0f}")
print(f"{'':48s} {'engine':>8s} {'prototype':>10s} {'difference':>11s}")
for k in ORDER:
    row(k, eng.get(k, 0), pro.get(k, 0))
    if k == "kernel":
        for c in sorted(set(ecalls) | set(pcalls), key=lambda c: -ecalls.get(c, 0) - pcalls.get(c, 0))[:12]:
            row("  " + c[:46], ecalls.get(c, 0), pcalls.get(c, 0))
row("total (as the benchmarks measured it)", ecpu, pcpu)
print(f"the engine takes {ecpu / pcpu:.2f} times the prototype's CPU")
EOF
