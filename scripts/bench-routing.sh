#!/usr/bin/env bash
# Measures what routing costs when a configuration has many send ports, as
# BizTalk groups do (a send port per partner and document type, each with
# its filter): the engine alone (scripts/bench-run.sh's line (c): N
# messages of 4 KiB, file to file, an empty pipeline), first as the
# quickstart declares it, then with PORTS more send ports whose filters
# compare the same two attributes with other values and match nothing.
# Every message is routed against every filter. Prints messages per second
# and CPU per message for both, and the CPU each extra send port adds to a
# message.
#
# REF=<revision> also measures that revision, alternated with this tree,
# and prints the ratios.
#
#   BENCH_DIR=/mnt/bench PORTS=300 REF=HEAD~1 scripts/bench-routing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/engine-alone.sh
N=${N:-2000}
PORTS=${PORTS:-300}
RUNS=${RUNS:-3}
work_dir bench-routing
need time bc

go build -o "$work/bizpipe" ./cmd/bizpipe
engine_alone_config examples/quickstart "$work/one"
engine_alone_config examples/quickstart "$work/many"
for k in $(seq 1 "$PORTS"); do
  mkdir -p "$work/many/out/p$k"
  cat >>"$work/many/bizpipe.hcl" <<EOF
send_port "p$k" {
  host   = host.send_host
  filter = message.receive_location == "orders_in" && message.properties.partner == "partner$k"
  transport "file" {
    path = "out/p$k"
  }
}
EOF
done
names=(this)
if [ -n "${REF:-}" ]; then
  build_ref "$REF" "$work/bizpipe-ref"
  names+=(ref)
fi

# measure CONFIG_DIR BINARY: run_once of BINARY over CONFIG_DIR
# ("msgs/s cpu_seconds peak_rss_kib"), checking that nothing went to the
# other ports.
measure() {
  run_once "$1" "$2" "$work/data" "$work/run.log"
  local others
  others=$(find "$1/out" -path "$1/out/fabrikam" -prune -o -type f -print | wc -l)
  [ "$others" = 0 ] || { echo "$others messages delivered to the other ports" >&2; exit 1; }
}

for r in $(seq 1 "$RUNS"); do
  for cfg in one many; do
    for name in "${names[@]}"; do
      bin=$work/bizpipe
      [ "$name" = ref ] && bin=$work/bizpipe-ref
      measure "$work/$cfg" "$bin" >>"$work/$name-$cfg.txt"
    done
  done
done

echo "== the engine alone, $N messages of 4 KiB, median of $RUNS${REF:+ (ref: $REF)}"
for name in "${names[@]}"; do
  read -r rate1 cpu1 _ < <(median <"$work/$name-one.txt")
  read -r rate2 cpu2 _ < <(median <"$work/$name-many.txt")
  printf "%-4s 1 send port: %7.0f msgs/s %.3f ms CPU/msg; %d more: %7.0f msgs/s %.3f ms CPU/msg (%.2f µs per send port and message)\n" \
    "$name" "$rate1" "$(echo "1000 * $cpu1 / $N" | bc -l)" "$PORTS" "$rate2" "$(echo "1000 * $cpu2 / $N" | bc -l)" \
    "$(echo "1000000 * ($cpu2 - $cpu1) / $N / $PORTS" | bc -l)"
done
if [ -n "${REF:-}" ]; then
  read -r _ this _ < <(median <"$work/this-many.txt")
  read -r _ ref _ < <(median <"$work/ref-many.txt")
  printf "with %d more send ports, this tree takes %.2f of the reference's CPU\n" "$PORTS" "$(echo "$this / $ref" | bc -l)"
fi
