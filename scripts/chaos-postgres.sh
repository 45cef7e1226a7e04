#!/usr/bin/env bash
# PostgreSQL misbehaving under `bizpipe run` (not --once): two processes
# (servers srv1 and srv2 of one group, as in scripts/bench-scaleout.sh)
# share a PostgreSQL box of the script's own on 127.0.0.1 while N messages
# (2000) of about 3 KiB flow into the quickstart's input directory over
# FEED seconds (20), each signed, encrypted and written to a file. Mid-flow,
# each scenario does one thing to the database or to a process:
#   terminate  pg_terminate_backend on every bizpipe connection, 5 times,
#              2 s apart
#   fast       PostgreSQL fast shutdown, restarted DOWN seconds (15) later
#   immediate  PostgreSQL immediate shutdown (a crash), restarted likewise
#   stop       SIGSTOP to the postmaster and its backends for SILENT seconds
#              (30; a silent database), then SIGCONT
#   kill       SIGKILL to srv2; srv1 takes over its leases once they expire
#              (both run with --lease LEASE, 15s), then srv2 starts again
#   lock       LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE for LOCKED
#              seconds (20)
# Then it waits (up to WAIT seconds, 300) for every message to be delivered;
# a process that exited meanwhile is reported (exit code, last log lines)
# and started again. At the end both are stopped with SIGTERM. A scenario
# passes when every input was delivered exactly once (as many output files
# as inputs, each decrypted and verified to the content of one input),
# `bizpipe messages list` shows every message delivered, both processes
# exited 0 at the stop and no log line holds the database password (set in
# the URL on purpose). Each line gives the scenario's recovery time: from
# the end of the fault (for kill, from the kill) until outputs appear again,
# and until the last one was delivered.
# SCENARIOS="terminate lock" runs a subset; the logs stay in KEEP=DIR when
# given. Exit status 1 when a scenario failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N=${N:-2000}
FEED=${FEED:-20}
DOWN=${DOWN:-15}
SILENT=${SILENT:-30}
LOCKED=${LOCKED:-20}
LEASE=${LEASE:-15s}
WAIT=${WAIT:-300}
SCENARIOS=${SCENARIOS:-terminate fast immediate stop kill lock}
need openssl bc python3
work_dir chaos
go build -o "$work/bizpipe" ./cmd/bizpipe
pg_start "$work"
secret=Chaos-S3cret-$RANDOM$RANDOM
as_pg "$pgbin/psql" -q -h 127.0.0.1 -p "$pg_port" -U bizpipe -d postgres -c "ALTER ROLE bizpipe PASSWORD '$secret'"

# The quickstart, with a second server and an instance of its host there.
cp -r examples/quickstart "$work/qs"
rm -rf "$work/qs/in"/* "$work/qs/out/fabrikam"/*
# send_host's receive location and send port run on srv2 too.
sed -i 's/^    server          = server.srv1$/&\n    service_account = service_account.svc_send\n  }\n  instance {\n    server          = server.srv2/' "$work/qs/bizpipe.hcl"
cat >> "$work/qs/bizpipe.hcl" <<'HCL'
server "srv2" {
  other_people_store = certificate_store.srv1_other_people
}
HCL
pg_box_hcl >> "$work/qs/bizpipe.hcl"
part="$work/qs/partner"

psql_db() { as_pg "$pgbin/psql" -q -At -h 127.0.0.1 -p "$pg_port" -U bizpipe -d "$db" "$@"; }
pm_pid() { head -1 "$work/pg/postmaster.pid"; }
now() { date +%s.%N; }
outs() { find "$work/qs/out/fabrikam" -name '*.eml' | wc -l; }

# start SRV: bizpipe run on SRV in the background, its log appended to
# $logs/SRV.log; sets pid[SRV].
declare -A pid
start() {
  "$work/bizpipe" run --server "$1" --data-dir "$work/data-$1" --lease "$LEASE" --log-level warn "$work/qs" \
    >>"$logs/$1.log" 2>&1 &
  pid[$1]=$!
}
# reap SRV: if SRV's process exited, reports its code and last lines and
# starts it again.
reap() {
  local rc=0
  kill -0 "${pid[$1]}" 2>/dev/null && return 0
  wait "${pid[$1]}" || rc=$?
  note "$1 exited with $rc at +$(printf %.1f "$(echo "$(now) - $t0" | bc)") s; its last lines:"
  tail -3 "$logs/$1.log" | cut -c1-400 | sed 's/^/      /' | tee -a "$logs/notes"
  start "$1"
}
note() { echo "    $*" | tee -a "$logs/notes"; }

# prepare: N inputs in $work/src, each copied beside its place in the input
# directory as a hidden file (the receive location passes over those),
# written a minute ago: before the clock starts, so that feed does not
# start a process per input (a few milliseconds each on a slow virtual
# machine, which made the feed itself last minutes).
prepare() {
  python3 - "$work/src" "$work/qs/in" "$N" <<'PY'
import base64, os, sys, time
src, dest, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
old = time.time() - 60
for i in range(1, n + 1):
    data = b'<order n="%d">' % i + base64.b64encode(os.urandom(2200)) + b"</order>\n"
    for path in (os.path.join(src, "m%d.xml" % i), os.path.join(dest, ".m%d" % i)):
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (old, old))
PY
}

# feed: renames the prepared inputs into place, N over FEED seconds, from
# one process; notes how long it took.
feed() {
  python3 - "$work/qs/in" "$N" "$FEED" <<'PY'
import os, sys, time
dest, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
for i in range(1, n + 1):
    os.rename(os.path.join(dest, ".m%d" % i), os.path.join(dest, "m%d.xml" % i))
    ahead = start + secs * i / n - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
PY
  note "fed $N inputs in $(printf %.1f "$(echo "$(now) - $t0" | bc)") s"
}

# fault SCENARIO: does it, and sets fault_end.
fault() {
  local i
  case $1 in
  terminate)
    for i in 1 2 3 4 5; do
      note "terminated $(psql_db -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$db' AND application_name = 'bizpipe'") connections"
      sleep 2
    done ;;
  fast | immediate)
    as_pg "$pgbin/pg_ctl" -D "$work/pg" -m "$1" -w stop >/dev/null
    sleep "$DOWN"
    as_pg "$pgbin/pg_ctl" -D "$work/pg" -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $work/pg" -l "$work/pg/log" -w start >/dev/null ;;
  stop)
    local pids; pids="$(pm_pid) $(cat "/proc/$(pm_pid)/task/$(pm_pid)/children")"
    # shellcheck disable=SC2086
    kill -STOP $pids; sleep "$SILENT"
    # shellcheck disable=SC2086
    kill -CONT $pids ;;
  kill)
    kill -KILL "${pid[srv2]}"; wait "${pid[srv2]}" 2>/dev/null || true
    note "srv2 killed with $(outs) of $N delivered" ;;
  lock)
    psql_db -c "BEGIN; LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($LOCKED); COMMIT" >/dev/null ;;
  esac
  fault_end=$(now)
}

# check: every input delivered once, with its content, and nothing left in
# the box but delivered messages. Prints what is wrong.
check() {
  local bad=0 f
  : >"$work/got"
  for f in "$work/qs/out/fabrikam"/*.eml; do
    openssl smime -decrypt -in "$f" -recip "$part/fabrikam.pem" -inkey "$part/fabrikam.key" 2>/dev/null |
      openssl smime -verify -CAfile "$part/ca.pem" 2>/dev/null | tr -d '\r' | awk 'b {print} /^$/ {b = 1}' |
      base64 -d | sha256sum >>"$work/got"
  done
  for f in "$work/src"/*.xml; do sha256sum <"$f"; done | sort >"$work/want"
  sort -o "$work/got" "$work/got"
  local missing dup
  missing=$(comm -23 "$work/want" "$work/got" | wc -l)
  dup=$(uniq -d "$work/got" | wc -l)
  local foreign; foreign=$(comm -13 <(sort -u "$work/want") <(sort -u "$work/got") | wc -l)
  [ "$missing" = 0 ] || { note "FAIL: $missing inputs not delivered (or not with their content)"; bad=1; }
  [ "$dup" = 0 ] || { note "FAIL: $dup inputs delivered more than once"; bad=1; }
  [ "$foreign" = 0 ] || { note "FAIL: $foreign outputs match no input"; bad=1; }
  local left
  left=$(BIZPIPE_VAR_database_url=$url "$work/bizpipe" messages list --format json "$work/qs" |
    grep -o '"status": *"[a-z_]*"' | grep -vc '"delivered"' || true)
  [ "$left" = 0 ] || { note "FAIL: messages list shows $left messages not delivered"; bad=1; }
  if grep -l "$secret" "$logs"/*.log >/dev/null 2>&1; then note "FAIL: the password is in a log"; bad=1; fi
  return $bad
}

failed=0
mkdir -p "$work/logs"
echo "== $N messages over $FEED s, 2 bizpipe run processes on one PostgreSQL box ($(nproc) cores), lease $LEASE"
for sc in $SCENARIOS; do
  db="chaos_$sc"
  pg_db "$db" >/dev/null
  url="postgres://bizpipe:$secret@127.0.0.1:$pg_port/$db"
  export BIZPIPE_VAR_database_url=$url
  logs="$work/logs/$sc"; mkdir -p "$logs"; : >"$logs/notes"
  rm -rf "$work/src" "$work/qs/in"/* "$work/qs/in"/.m* "$work/qs/out/fabrikam"/* "$work"/data-*
  mkdir -p "$work/src"
  echo "-- $sc"
  prepare
  t0=$(now)
  start srv1; start srv2
  feed &
  feeder=$!
  sleep 5
  fault_start=$(now)
  fault "$sc"
  [ "$sc" = kill ] && fault_end=$fault_start # takeover counts from the kill
  n0=$(outs); resumed="" done_at="" killed_back=""
  while :; do
    reap srv1
    if [ "$sc" != kill ] || [ -n "$done_at" ]; then reap srv2; fi
    n=$(outs)
    if [ -z "$resumed" ] && [ "$n" -gt "$n0" ]; then resumed=$(now); fi
    if [ "$n" -ge "$N" ] && ! kill -0 "$feeder" 2>/dev/null; then
      [ -n "$done_at" ] || done_at=$(now)
      if [ "$sc" != kill ] || [ -n "$killed_back" ]; then break; fi
      start srv2; killed_back=1 # the killed one comes back, for the end
      sleep 2; continue
    fi
    if [ "$(echo "$(now) - $fault_end > $WAIT" | bc)" = 1 ]; then note "FAIL: only $n of $N delivered $WAIT s after the fault"; break; fi
    sleep 0.5
  done
  wait "$feeder" || true
  sleep 2 # the last records
  for s in srv1 srv2; do
    rc=0; kill -TERM "${pid[$s]}" 2>/dev/null || true
    wait "${pid[$s]}" || rc=$?
    [ "$rc" = 0 ] || { note "FAIL: $s exited $rc at the stop"; failed=1; }
  done
  printf '    fault lasted %.1f s; outputs again %s s after it; all %d delivered %s s after it\n' \
    "$(echo "$fault_end - $fault_start" | bc)" \
    "$([ -n "$resumed" ] && printf %.1f "$(echo "$resumed - $fault_end" | bc)" || echo never)" "$N" \
    "$([ -n "$done_at" ] && printf %.1f "$(echo "$done_at - $fault_end" | bc)" || echo never)" | tee -a "$logs/notes"
  # The log's most frequent lines, by message.
  grep -h -o 'level=[A-Z]* msg=\("[^"]*"\|[^ ]*\)' "$logs"/srv*.log | sort | uniq -c | sort -rn | head -6 | sed 's/^/      /' || true
  if check; then echo "    ok: every input delivered once; nothing left in the box"; else failed=1; fi
done
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp -r "$work/logs/." "$KEEP/"; fi
exit $failed
