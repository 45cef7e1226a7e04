#!/usr/bin/env bash
# Floods an HTTP receive location with connections that send nothing (a
# slowloris client) and prints what the bizpipe process holds before and
# with them: open file descriptors and resident memory. It runs the
# repository's examples/http in a temporary directory, on 127.0.0.1 only.
# With max_connections (1024 by default) the process holds about 1,024 of
# them whatever the flood; REF=<revision> also measures that revision side
# by side (e.g. REF=c16a6f7, before the cap: one descriptor per connection).
#
#   CONNS=5000 scripts/flood-connections.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
CONNS=${CONNS:-5000}
need python3
work_dir flood
if [ "$CONNS" -gt $(($(ulimit -n) - 100)) ]; then
  echo "CONNS=$CONNS is above this shell's open-file limit ($(ulimit -n)) less a margin" >&2
  exit 1
fi

go build -o "$work/bizpipe" ./cmd/bizpipe
[ -z "${REF:-}" ] || build_ref "$REF" "$work/bizpipe-ref"
mkdir "$work/examples"
cp -r examples/http examples/quickstart "$work/examples/"

# flood BINARY NAME: runs BINARY on the example, floods it, prints a line.
flood() {
  rm -rf "$work/data"
  "$1" run --data-dir "$work/data" "$work/examples/http" >"$work/$2.log" 2>&1 &
  local pid=$!
  # Ready once the orders location answers its health check.
  for _ in $(seq 1 100); do
    python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8080/healthz", timeout=1)' 2>/dev/null && break
    sleep 0.1
  done
  python3 - "$pid" "$CONNS" "$2" <<'EOF'
import os, socket, sys, time
pid, n, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def held():
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))
    return fds, rss
before = held()
conns = [socket.create_connection(("127.0.0.1", 8080)) for _ in range(n)]
time.sleep(2)  # for the server to accept what it will
during = held()
print(f"{name:8} before: {before[0]:5d} fds, {before[1] // 1024:4d} MiB RSS; "
      f"with {n} silent connections: {during[0]:5d} fds, {during[1] // 1024:4d} MiB RSS")
for c in conns:
    c.close()
EOF
  kill -TERM "$pid"
  wait "$pid" || true
  grep -c "max_connections open" "$work/$2.log" | sed 's/^/         warnings that the cap was reached: /'
}

flood "$work/bizpipe" "this"
[ -z "${REF:-}" ] || flood "$work/bizpipe-ref" "$REF"
