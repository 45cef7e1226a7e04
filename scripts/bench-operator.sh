#!/usr/bin/env bash
# How long an operator's command waits beside `bizpipe run` at full load:
# examples/http (orders POSTed, signed, encrypted and POSTed to the simulated
# partner) while CLIENTS (200) clients post 4 KiB orders without pause for
# SECS (25) seconds, and N (15) `bizpipe messages resubmit` commands, one
# every half second, each timed whole (its process start and configuration
# load included). Prints the orders accepted a second and the commands'
# times, sorted; fails if a command or a post fails.
#
# REF=<revision> also measures that revision, the two builds taking turns,
# RUNS (2) times each. BENCH_DIR puts the message box on another file
# system (see scripts/bench-run.sh). Uses the ports 8080 and 8081 of
# 127.0.0.1, as the example does.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
CLIENTS=${CLIENTS:-200}
SECS=${SECS:-25}
N=${N:-15}
RUNS=${RUNS:-2}
work_dir operator
need curl

go build -o "$work/bizpipe" ./cmd/bizpipe
names=(this)
if [ -n "${REF:-}" ]; then
  build_ref "$REF" "$work/bizpipe-ref"
  names+=(ref)
fi

# The load: a client per goroutine, each posting as soon as its last post
# was answered. Standard library only, so go run needs no module.
cat > "$work/load.go" <<'EOF'
package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	clients, _ := strconv.Atoi(os.Args[1])
	secs, _ := strconv.Atoi(os.Args[2])
	body := bytes.Repeat([]byte("<order>0123456789</order>\n"), 4096/26)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
	var ok, failed atomic.Int64
	end := time.Now().Add(time.Duration(secs) * time.Second)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(end) {
				resp, err := c.Post("http://127.0.0.1:8080/orders", "application/xml", bytes.NewReader(body))
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode/100 != 2 {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("%.0f %d\n", float64(ok.Load())/float64(secs), failed.Load())
}
EOF
go build -o "$work/load" "$work/load.go"

# measure NAME BINARY: one run; prints "orders/s" then the sorted times.
measure() {
  local bin=$2 dir="$work/run-$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -r examples "$dir/"
  "$bin" run --data-dir "$dir/data" "$dir/examples/http" >"$dir/run.out" 2>"$dir/run.log" &
  local server=$!
  local up=""
  for _ in $(seq 100); do
    if curl -sf -o /dev/null -H 'Content-Type: application/xml' -d '<order/>' http://127.0.0.1:8080/orders; then up=1; break; fi
    sleep 0.1
  done
  [ -n "$up" ] || { echo "bizpipe run did not listen on 127.0.0.1:8080" >&2; cat "$dir/run.log" >&2; exit 1; }
  local id=""
  for _ in $(seq 100); do
    id=$("$bin" messages list --data-dir "$dir/data" "$dir/examples/http" | awk 'NR > 1 && $2 == "delivered" {print $1; exit}')
    [ -n "$id" ] && break
    sleep 0.1
  done
  [ -n "$id" ] || { echo "the first order was not delivered" >&2; exit 1; }
  "$work/load" "$CLIENTS" "$SECS" >"$dir/load.out" &
  local load=$!
  sleep 3
  : >"$dir/times"
  for _ in $(seq "$N"); do
    local start end
    start=$(date +%s%N)
    "$bin" messages resubmit --data-dir "$dir/data" "$id" "$dir/examples/http" >/dev/null
    end=$(date +%s%N)
    echo $(((end - start) / 1000000)) >>"$dir/times"
    sleep 0.5
  done
  wait "$load"
  kill -TERM "$server"
  wait "$server"
  read -r rate failed <"$dir/load.out"
  [ "$failed" = 0 ] || { echo "$failed posts failed" >&2; exit 1; }
  echo "$rate $(sort -n "$dir/times" | tr '\n' ' ')"
}

echo "== examples/http under $CLIENTS clients for $SECS s; $N messages resubmit commands, ms, sorted"
for r in $(seq "$RUNS"); do
  for name in "${names[@]}"; do
    bin="$work/bizpipe"
    [ "$name" = ref ] && bin="$work/bizpipe-ref"
    measure "$name" "$bin" >"$work/result" # not in a subshell: a failure stops the script
    read -r rate times <"$work/result"
    printf '  %-4s run %d: %5s orders/s accepted; resubmit: %s\n' "$name" "$r" "$rate" "$times"
  done
done
