#!/usr/bin/env bash
# Counts the system calls of the engine alone (scripts/bench-run.sh's line
# (c): N messages of 4 KiB, file to file, an empty pipeline), per message
# and by kind: on a virtual machine, where a system call costs several
# microseconds, they are much of the engine's CPU, and unlike CPU time on a
# shared machine the count hardly varies from run to run. futex and
# nanosleep are the exception (the Go scheduler's waits, which follow the
# timing): they are shown, but left out of the total.
#
# REF=<revision> also counts that revision, in the same run, side by side.
# Needs strace and perl (installed with apt-get when missing).
#
#   BENCH_DIR=/mnt/bench REF=HEAD~3 scripts/syscalls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/engine-alone.sh
N=${N:-2000}
work_dir syscalls
need strace perl

go build -o "$work/bizpipe" ./cmd/bizpipe
engine_alone_config examples/quickstart "$work/qsp"
names=(this)
if [ -n "${REF:-}" ]; then
  build_ref "$REF" "$work/bizpipe-ref"
  names+=(ref)
fi

# count NAME BINARY: strace -c of run --once over N fresh inputs, as
# "syscall calls" lines in $work/NAME.
count() {
  fill_inputs "$work/qsp" "$N"
  rm -rf "$work/data"
  strace -f -c -o "$work/$1.strace" "$2" run --once --data-dir "$work/data" "$work/qsp" >/dev/null 2>"$work/run.log"
  local delivered
  delivered=$(ls "$work/qsp/out/fabrikam" | grep -c '\.eml$' || true)
  [ "$delivered" = "$N" ] || { echo "only $delivered of $N delivered" >&2; exit 1; }
  # strace -c's rows: % time, seconds, usecs/call, calls, [errors,] syscall.
  awk '$1 ~ /^[0-9.]+$/ && $NF != "total" {print $NF, $4}' "$work/$1.strace" >"$work/$1"
}
count this "$work/bizpipe"
[ -n "${REF:-}" ] && count ref "$work/bizpipe-ref"

echo "== system calls per message of the engine alone, $N messages of 4 KiB${REF:+ (ref: $REF)}"
perl -e '
  my ($n, @files) = @ARGV;
  my (%c, %all);
  for my $i (0 .. $#files) {
    open(my $f, "<", $files[$i]) or die;
    while (<$f>) { my ($s, $k) = split; $c{$s}[$i] = $k; $all{$s} += $k }
  }
  my @tot = (0) x @files;
  printf "%-18s %8s%s\n", "", "this", @files > 1 ? sprintf(" %8s", "ref") : "";
  for my $s (sort { $all{$b} <=> $all{$a} } keys %all) {
    my @v = map { ($c{$s}[$_] // 0) / $n } 0 .. $#files;
    next if $v[0] < 0.05 && (@v < 2 || $v[1] < 0.05);
    my $wait = $s eq "futex" || $s eq "nanosleep";
    $tot[$_] += $wait ? 0 : $v[$_] for 0 .. $#files;
    printf "%-18s %8.2f%s%s\n", $s, $v[0], @v > 1 ? sprintf(" %8.2f", $v[1]) : "", $wait ? "  (scheduling: not in the total)" : "";
  }
  printf "%-18s %8.2f%s\n", "total", $tot[0], @tot > 1 ? sprintf(" %8.2f  (%.2fx)", $tot[1], $tot[0] / $tot[1]) : "";
' "$N" "${names[@]/#/$work/}"
