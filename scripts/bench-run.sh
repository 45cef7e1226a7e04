#!/usr/bin/env bash
# Measures `bizpipe run --once` end to end (issue 3): 2,000 messages of 4 KiB,
# RSA-2048 clear sign + AES-256-CBC, file to file, on the quickstart's demo
# PKI. Prints it next to
#   (a) the ceiling: the same sign+encrypt in a tight in-process loop on all
#       cores (BenchmarkSignEncrypt4KiB), and
#   (b) a shell loop of `openssl cms -sign | openssl cms -encrypt` per message,
#   (c) the engine alone: the same run with an empty pipeline, whose CPU per
#       message, added to the ceiling's, bounds what run can reach,
#   (d) the floors under (c): the file operations of a delivery alone and
#       the message box alone,
#   (e) the design the core issue's targets came from (its prototype),
#       beside the engine alone, both in process,
# and the peak RSS of one run --once over a single 100 MiB message.
# The machine's speed drifts by a quarter within minutes, so (a) and (b)
# are measured in every round, right beside run --once, and the ratios
# printed at the end are the medians of each round's own ratios.
# Everything happens in a temporary directory; the repository is not touched.
# REF=<revision> also measures that revision, alternated with this tree, and
# prints the ratios (e.g. REF=HEAD~3 for what the last three commits did).
#
# BENCH_DIR puts that directory on another file system, e.g. a freshly made
# journaled ext4 (the common production setup) instead of whatever /tmp is:
#   fallocate -l 3G /tmp/ext4.img && mkfs.ext4 -q /tmp/ext4.img
#   dev=$(losetup --direct-io=on -f --show /tmp/ext4.img)
#   mkdir -p /mnt/bench && mount "$dev" /mnt/bench
#   BENCH_DIR=/mnt/bench scripts/bench-run.sh
# (ext4 without a journal, as some VM images use, makes every file creation
# after many deletions scan the recently freed inodes: slow for any
# file-to-file engine, as the CPU profile shows in the kernel's
# find_inode_bit.)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/engine-alone.sh
N=${N:-2000}
SHELL_N=${SHELL_N:-200}   # the shell loop is slow: time a sample, scale up
RUNS=${RUNS:-3}           # run --once and the engine alone, alternated; medians reported
work_dir bench-run
need time bc

go build -o "$work/bizpipe" ./cmd/bizpipe
cp -r examples/quickstart "$work/qs"
rm -rf "$work/qs/in"/* "$work/qs/out/fabrikam"/*
# The engine alone: the same configuration with an empty pipeline (no
# signing, no encryption), so what remains is receive, message box, routing
# and durable delivery. Its CPU per message plus the ceiling's gives the most
# run could reach with every core busy: the bound printed at the end.
engine_alone_config "$work/qs" "$work/qsp"

# REF=<git revision> also builds that revision and alternates its engine
# alone and run --once with this tree's, printing both medians and their
# ratio: a change's effect measured side by side, in one run, on this
# machine whose speed drifts.
if [ -n "${REF:-}" ]; then
  build_ref "$REF" "$work/bizpipe-ref"
fi
# measure CONFIG_DIR [BINARY]: run_once of BINARY (this tree's by default)
# over CONFIG_DIR: "msgs/s cpu_seconds peak_rss_kib".
measure() { run_once "$1" "${2:-$work/bizpipe}" "$work/data" "$work/run.log"; }
# cpu_of: the cpu-µs/msg of each benchmark line of go test's output.
cpu_of() { awk '/^Benchmark/ {for (i=1;i<=NF;i++) if ($i=="cpu-µs/msg") print $(i-1)}'; }

# (a) the ceiling: the same sign+encrypt in a tight in-process loop on all
# cores, $N messages, as a test binary built once.
go test -c -o "$work/smime.test" ./internal/stage/smime
ceiling_once() {
  (cd "$work" && "$work/smime.test" -test.run '^$' -test.bench '^BenchmarkSignEncrypt4KiB$' -test.benchtime "${N}x") |
    awk '/msgs\/s/ {for (i=1;i<=NF;i++) if ($i=="msgs/s") print $(i-1)}'
}
# (b) the shell loop: openssl cms -sign | openssl cms -encrypt per message,
# one at a time, $SHELL_N messages (it is slow: a sample scaled up).
p12="$work/qs/stores/svc_send/contoso-signing.p12"
openssl pkcs12 -in "$p12" -passin pass:demo-only -nokeys -clcerts -out "$work/signer.pem" 2>/dev/null
openssl pkcs12 -in "$p12" -passin pass:demo-only -nocerts -nodes -out "$work/signer.key" 2>/dev/null
recip="$work/qs/stores/srv1_other_people/fabrikam.pem"
mkdir -p "$work/shell"
head -c 4096 /dev/urandom > "$work/shell/in"
shell_once() {
  local i start end
  start=$(date +%s.%N)
  for i in $(seq 1 "$SHELL_N"); do
    openssl cms -sign -signer "$work/signer.pem" -inkey "$work/signer.key" -md sha256 -in "$work/shell/in" \
      | openssl cms -encrypt -aes256 -out "$work/shell/$i.eml" "$recip"
  done
  end=$(date +%s.%N)
  echo "$SHELL_N / ($end - $start)" | bc -l
}

echo "== run --once: $N messages of 4 KiB (clear sign RSA-2048 + AES-256-CBC, file to file), median of $RUNS"
echo "== beside it in each round: (a) the ceiling, in-process sign+encrypt on $(nproc) cores; (b) the openssl shell loop, $SHELL_N messages; (c) the engine alone, an empty pipeline"
: > "$work/full.txt"; : > "$work/engine.txt"; : > "$work/full-ref.txt"; : > "$work/engine-ref.txt"
: > "$work/ceiling.txt"; : > "$work/shell.txt"; : > "$work/ratios.txt"
for r in $(seq 1 "$RUNS"); do
  # Alternated, so that the VM's speed drifting affects both alike.
  measure "$work/qs" | tee -a "$work/full.txt" > "$work/round.txt"
  read -r rate cpu rss < "$work/round.txt"
  printf "  run --once    %5.0f msgs/s, %.2f s CPU, peak RSS %d KiB\n" "$rate" "$cpu" "$rss"
  ceil=$(ceiling_once); echo "$ceil" >> "$work/ceiling.txt"
  printf "  (a) ceiling   %5.0f msgs/s\n" "$ceil"
  shell=$(shell_once); echo "$shell" >> "$work/shell.txt"
  printf "  (b) shell loop %4.0f msgs/s\n" "$shell"
  # This round's ratios: run --once to the ceiling, to the shell loop, and
  # the ceiling to the shell loop.
  echo "$(echo "$rate / $ceil" | bc -l) $(echo "$rate / $shell" | bc -l) $(echo "$ceil / $shell" | bc -l)" >> "$work/ratios.txt"
  measure "$work/qsp" | tee -a "$work/engine.txt" | awk '{printf "  (c) engine alone  %5.0f msgs/s, %.2f s CPU\n", $1, $2}'
  if [ -n "${REF:-}" ]; then
    measure "$work/qs" "$work/bizpipe-ref" | tee -a "$work/full-ref.txt" | awk '{printf "  REF run --once    %5.0f msgs/s, %.2f s CPU, peak RSS %d KiB\n", $1, $2, $3}'
    measure "$work/qsp" "$work/bizpipe-ref" | tee -a "$work/engine-ref.txt" | awk '{printf "  REF engine alone  %5.0f msgs/s, %.2f s CPU\n", $1, $2}'
  fi
done
read -r run_rate run_cpu _ < <(median < "$work/full.txt")
read -r engine_rate engine_cpu _ < <(median < "$work/engine.txt")
printf "run --once: %.0f msgs/s (%.2f ms CPU per message)\n" "$run_rate" "$(echo "1000 * $run_cpu / $N" | bc -l)"
printf "engine alone: %.0f msgs/s (%.2f ms CPU per message)\n" "$engine_rate" "$(echo "1000 * $engine_cpu / $N" | bc -l)"
if [ -n "${REF:-}" ]; then
  read -r ref_run_rate ref_run_cpu _ < <(median < "$work/full-ref.txt")
  read -r ref_engine_rate ref_engine_cpu _ < <(median < "$work/engine-ref.txt")
  printf "against %s: run --once %.0f msgs/s, %.2f ms CPU (this tree: %.2fx the msgs/s, %.2fx the CPU); engine alone %.0f msgs/s, %.2f ms CPU (%.2fx, %.2fx)\n" \
    "$REF" "$ref_run_rate" "$(echo "1000 * $ref_run_cpu / $N" | bc -l)" "$(echo "$run_rate / $ref_run_rate" | bc -l)" "$(echo "$run_cpu / $ref_run_cpu" | bc -l)" \
    "$ref_engine_rate" "$(echo "1000 * $ref_engine_cpu / $N" | bc -l)" "$(echo "$engine_rate / $ref_engine_rate" | bc -l)" "$(echo "$engine_cpu / $ref_engine_cpu" | bc -l)"
fi

# (d) What the engine cannot go below here: the file system's own cost of
# the file operations a delivery makes (claim, read, remove the input;
# write, stage, place and unstage the output, a syncfs per step for 16),
# and the message box's alone as the engine uses it when its workers keep
# up (receive 64 claiming their deliveries, finish them 16 to a worker:
# BenchmarkHandoffCycle), on the same file system. Their sum is a floor
# under the engine's CPU per message; what the engine takes above it is
# its own orchestration (goroutines, scheduling, routing, logs).
echo "== (d) floors: the file operations alone and the message box alone, 2000 messages each"
floor_fs=$(TMPDIR=${BENCH_DIR:-${TMPDIR:-/tmp}} go test ./internal/transport/file -run '^$' -bench ProtocolFloor -benchtime 2000x | cpu_of)
floor_box=$(TMPDIR=${BENCH_DIR:-${TMPDIR:-/tmp}} go test ./internal/msgbox/sqlitebox -run '^$' -bench HandoffCycle -benchtime 2000x | cpu_of)
printf "floors: file operations %.2f ms + message box %.2f ms = %.2f ms of CPU per message; the engine alone takes %.2f ms\n" \
  "$(echo "$floor_fs / 1000" | bc -l)" "$(echo "$floor_box / 1000" | bc -l)" "$(echo "($floor_fs + $floor_box) / 1000" | bc -l)" \
  "$(echo "1000 * $engine_cpu / $N" | bc -l)"

# (e) The design the core issue's CPU targets came from, rebuilt as that
# issue describes it (internal/runner BenchmarkPrototype: batches of 64, one
# row per message, renameat2 into place, one syncfs per sync point), beside
# the engine alone run in the same way (in process, BenchmarkRunOnce), on
# the same file system, alternated: their ratio is what bizpipe's own design
# costs on this machine, whatever its kernel's speed today.
echo "== (e) the issue's prototype against the engine alone, both in process, median of $RUNS"
go test -c -o "$work/runner.test" ./internal/runner
: > "$work/proto.txt"; : > "$work/inproc.txt"
for r in $(seq 1 "$RUNS"); do
  (cd "$work" && TMPDIR=$work "$work/runner.test" -test.run '^$' -test.bench '^BenchmarkPrototype$' -test.benchtime "${N}x") | cpu_of >> "$work/proto.txt"
  (cd "$work" && TMPDIR=$work "$work/runner.test" -test.run '^$' -test.bench '^BenchmarkRunOnce$/^engine-alone$' -test.benchtime "${N}x") | cpu_of >> "$work/inproc.txt"
done
proto=$(median < "$work/proto.txt"); inproc=$(median < "$work/inproc.txt")
printf "prototype %.2f ms, engine alone in process %.2f ms of CPU per message: the engine is %.1fx the prototype\n" \
  "$(echo "$proto / 1000" | bc -l)" "$(echo "$inproc / 1000" | bc -l)" "$(echo "$inproc / $proto" | bc -l)"

ceiling=$(median < "$work/ceiling.txt")
shell_rate=$(median < "$work/shell.txt")
# Each ratio's median over the rounds, taken by itself.
of_ceiling=$(cut -d' ' -f1 "$work/ratios.txt" | median)
of_shell=$(cut -d' ' -f2 "$work/ratios.txt" | median)
ceiling_of_shell=$(cut -d' ' -f3 "$work/ratios.txt" | median)
printf "\nrun --once %.0f msgs/s = %.0f %% of the ceiling (%.0f msgs/s), %.1fx the shell loop (%.0f msgs/s); ratios are medians of each round's own\n" \
  "$run_rate" "$(echo "100 * $of_ceiling" | bc -l)" "$ceiling" "$of_shell" "$shell_rate"
# What any engine could reach against the shell loop on this machine: the
# ceiling is sign+encrypt alone on every core, the shell loop one message at
# a time on one.
printf "the ceiling itself is %.1fx the shell loop (%d cores): no engine can go past that ratio here\n" \
  "$ceiling_of_shell" "$(nproc)"
# ncpu / (crypto CPU + engine CPU per message): every core busy, no waiting.
bound=$(echo "$(nproc) / ($(nproc) / $ceiling + $engine_cpu / $N)" | bc -l)
printf "bound with every core busy (ceiling's CPU + the engine's per message): %.0f msgs/s = %.0f %% of the ceiling; run --once reaches %.0f %% of it\n" \
  "$bound" "$(echo "100 * $bound / $ceiling" | bc -l)" "$(echo "100 * $run_rate / $bound" | bc -l)"

echo "== peak memory: one 100 MiB message"
rm -rf "$work/qs/in"/* "$work/qs/out/fabrikam"/* "$work/data"
head -c $((100 << 20)) /dev/urandom > "$work/qs/in/big.xml"
touch -d '1 minute ago' "$work/qs/in/big.xml"
/usr/bin/time -f "peak RSS %M KiB, %e s" "$work/bizpipe" run --once --data-dir "$work/data" "$work/qs" 2>"$work/big.log" | tail -1
grep "peak RSS" "$work/big.log"
