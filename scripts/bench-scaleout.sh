#!/usr/bin/env bash
# Measures the message box as the bottleneck (issue 4): N messages of 4 KiB,
# ECDSA P-256 clear signing, file to file, through
#   - the embedded SQLite box, one process;
#   - a PostgreSQL box, one process;
#   - the same PostgreSQL box, two processes (srv1, srv2) on one input.
# It starts its own PostgreSQL in a temporary directory (as the postgres user
# when run as root) on 127.0.0.1, and removes everything afterwards.
# Each line gives the wall time, the rate and the CPU per message: bizpipe's
# (user + system, from /usr/bin/time) and, with PostgreSQL, the server's too
# (its processes' CPU from /proc, the exited backends' included), since the
# box's work happens there. On a shared machine the CPU per message varies
# far less from run to run than the rate does.
# REF=<revision> also builds that revision and measures it next to this
# tree in each case, each on a database of its own, and prints the ratios.
# RUNS=n measures each case n times (with REF, the two builds taking turns
# to go first) and prints the medians, which the ratios then compare: one
# run of 1-2 s moves by 20-40 % on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N=${N:-2000}
RUNS=${RUNS:-1} # each case RUNS times; medians reported
need time bc
# BENCH_DIR: where to work, as in bench-run.sh (e.g. a fresh journaled ext4;
# ext4 without a journal makes every file creation after many deletions scan
# the recently freed inodes, which dominates this file-to-file benchmark).
work_dir bench-scaleout

go build -o "$work/bizpipe" ./cmd/bizpipe
bins=(bizpipe)
if [ -n "${REF:-}" ]; then
  build_ref "$REF" "$work/bizpipe-ref"
  bins+=(bizpipe-ref)
fi

# PKI: an ECDSA P-256 signing certificate (demo, throwaway).
mkdir -p "$work/cfg/stores/personal"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=bench signing" -keyout "$work/cfg/stores/personal/sign.key" -out "$work/cfg/stores/personal/sign.pem" \
  -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=emailProtection" 2>/dev/null
chmod 600 "$work/cfg/stores/personal/sign.key"
tp=$(openssl x509 -in "$work/cfg/stores/personal/sign.pem" -noout -fingerprint -sha1 | cut -d= -f2)

write_config() { # box-block
  cat > "$work/cfg/bizpipe.hcl" <<HCL
group "bench" { signing_certificate = "$tp" }
variable "database_url" {
  type    = string
  default = ""
}
certificate_store "personal" { path = "stores/personal" }
service_account "svc" { personal_store = certificate_store.personal }
server "srv1" {}
server "srv2" {}
host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc
  }
}
pipeline "sign" {
  encoder "smime" { signature = "clear" }
}
receive_location "in" {
  host = host.h
  transport "file" {
    path          = "in"
    poll_interval = "100ms"
  }
}
send_port "out" {
  host   = host.h
  pipeline = pipeline.sign
  filter = true
  transport "file" { path = "out" }
}
$1
HCL
}

fill() {
  rm -rf "$work/cfg/in" "$work/cfg/out" "$work"/data*
  mkdir -p "$work/cfg/in" "$work/cfg/out"
  for i in $(seq -w 1 "$N"); do head -c 4096 /dev/urandom | base64 -w 76 > "$work/cfg/in/m$i.txt"; done
  touch -d '1 minute ago' "$work/cfg/in"/*
}

# run_timed SERVER DATA BIN: one run --once, its user + system CPU seconds
# appended to $work/cpu.
run_timed() {
  /usr/bin/time -f "%U %S" -a -o "$work/cpu" "$work/$3" run --once --server "$1" --data-dir "$work/$2" "$work/cfg" >/dev/null 2>&1
}
# pg_cpu: the CPU seconds the PostgreSQL server has used so far: its
# processes' own, and the postmaster's exited children's (the backends of
# finished runs, once reaped).
pg_cpu() {
  local pm; pm=$(head -1 "$work/pg/postmaster.pid")
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat"
    for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || true; done
  } | awk -v hz="$(getconf CLK_TCK)" '{t += $1} END {printf "%.3f\n", t / hz}'
}
# rate LABEL START END [PG_CPU_BEFORE]: prints the wall time, the rate and
# the CPU per message (bizpipe's from $work/cpu, which it empties, and the
# PostgreSQL server's since PG_CPU_BEFORE, none without it), and keeps the
# rate in $rate and the total CPU per message in $cpu.
rate() {
  local n; n=$(ls "$work/cfg/out" | wc -l)
  [ "$n" = "$N" ] || { echo "$1: only $n of $N delivered"; exit 1; }
  sleep 0.3 # the runs' backends exit and are reaped: their CPU counts
  local own pg
  own=$(awk '{t += $1 + $2} END {print t}' "$work/cpu"); : > "$work/cpu"
  pg=0
  [ -n "${4:-}" ] && pg=$(echo "$(pg_cpu) - $4" | bc -l)
  rate=$(echo "$N / ($3 - $2)" | bc -l)
  cpu=$(echo "1000 * ($own + $pg) / $N" | bc -l)
  printf "%-38s %6.2f s  %6.0f msgs/s  %5.2f ms CPU/msg (bizpipe %.2f, postgres %.2f)\n" "$1" "$(echo "$3 - $2" | bc -l)" "$rate" \
    "$cpu" "$(echo "1000 * $own / $N" | bc -l)" "$(echo "1000 * $pg / $N" | bc -l)"
}
# label CASE BIN: the label of a line measuring CASE (see measure) with
# binary BIN
label() {
  local l
  case $1 in sqlite) l="sqlite, 1 process" ;; one) l="postgres, 1 process" ;; two) l="postgres, 2 processes" ;; esac
  if [ "$2" = bizpipe-ref ]; then echo "$l (REF)"; else echo "$l"; fi
}
declare -A rates cpus
: > "$work/cpu"

pg_start "$work"
# fresh_db: an empty database for the next measurement (each revision
# creates the schema it knows).
fresh_db() { pg_db bench >/dev/null; }
export BIZPIPE_VAR_database_url="postgres://bizpipe@127.0.0.1:$pg_port/bench"
pgbox='message_box {
  postgres { url = var.database_url }
}'

# measure CASE BIN: one measurement of BIN (sqlite: the embedded box; one:
# PostgreSQL, one process; two: PostgreSQL, two processes), its line
# printed and its rate and CPU per message appended to $work/res.CASE.BIN.
measure() {
  local s e pg0
  case $1 in
  sqlite)
    write_config ""; fill
    s=$(date +%s.%N); run_timed srv1 data "$2"; e=$(date +%s.%N)
    rate "$(label "$1" "$2")" "$s" "$e" ;;
  one)
    write_config "$pgbox"; fresh_db; fill; pg0=$(pg_cpu)
    s=$(date +%s.%N); run_timed srv1 data1 "$2"; e=$(date +%s.%N)
    rate "$(label "$1" "$2")" "$s" "$e" "$pg0" ;;
  two)
    write_config "$pgbox"; fresh_db; fill; pg0=$(pg_cpu)
    s=$(date +%s.%N)
    run_timed srv1 data1 "$2" &
    run_timed srv2 data2 "$2" &
    wait
    e=$(date +%s.%N)
    rate "$(label "$1" "$2")" "$s" "$e" "$pg0" ;;
  esac
  echo "$rate $cpu" >> "$work/res.$1.$2"
}

echo "== $N messages of ~5.5 KiB, ECDSA P-256 clear sign, file to file ($(nproc) cores)${REF:+, against $REF}, $RUNS run(s)"
for r in $(seq 1 "$RUNS"); do
  # With REF, the two builds take turns going first (AB, BA, ...): on a
  # shared machine the first of two runs in a row is not measured alike.
  order=("${bins[@]}")
  if [ $((r % 2)) = 0 ] && [ "${#bins[@]}" = 2 ]; then order=("${bins[1]}" "${bins[0]}"); fi
  for c in sqlite one two; do
    for bin in "${order[@]}"; do measure "$c" "$bin"; done
  done
done
for c in sqlite one two; do
  for bin in "${bins[@]}"; do
    rates[$c,$bin]=$(cut -d' ' -f1 "$work/res.$c.$bin" | median)
    cpus[$c,$bin]=$(cut -d' ' -f2 "$work/res.$c.$bin" | median)
  done
done
if [ "$RUNS" -gt 1 ]; then
  echo "== medians of $RUNS runs"
  for c in sqlite one two; do
    for bin in "${bins[@]}"; do
      printf "%-38s          %6.0f msgs/s  %5.2f ms CPU/msg\n" "$(label "$c" "$bin")" "${rates[$c,$bin]}" "${cpus[$c,$bin]}"
    done
  done
fi

printf "\nscaling ratio (2 processes / 1): %.2f; postgres 1 process / sqlite: %.2f\n" \
  "$(echo "${rates[two,bizpipe]} / ${rates[one,bizpipe]}" | bc -l)" "$(echo "${rates[one,bizpipe]} / ${rates[sqlite,bizpipe]}" | bc -l)"
if [ -n "${REF:-}" ]; then
  printf "this tree against %s: sqlite %.2fx, postgres 1 process %.2fx, 2 processes %.2fx the msgs/s\n" "$REF" \
    "$(echo "${rates[sqlite,bizpipe]} / ${rates[sqlite,bizpipe-ref]}" | bc -l)" \
    "$(echo "${rates[one,bizpipe]} / ${rates[one,bizpipe-ref]}" | bc -l)" \
    "$(echo "${rates[two,bizpipe]} / ${rates[two,bizpipe-ref]}" | bc -l)"
  printf "this tree against %s: sqlite %.2fx, postgres 1 process %.2fx, 2 processes %.2fx the CPU per message\n" "$REF" \
    "$(echo "${cpus[sqlite,bizpipe]} / ${cpus[sqlite,bizpipe-ref]}" | bc -l)" \
    "$(echo "${cpus[one,bizpipe]} / ${cpus[one,bizpipe-ref]}" | bc -l)" \
    "$(echo "${cpus[two,bizpipe]} / ${cpus[two,bizpipe-ref]}" | bc -l)"
fi
