#!/usr/bin/env bash
# A long run of `bizpipe run` (not --once) on the quickstart: RATE messages
# of 4 KiB a second (300) dropped into its input directory for SECS seconds
# (150), each signed, encrypted and delivered, the outputs taken away as
# they land. Every 10 seconds it prints how many were sent and delivered and
# the process's resident memory, threads and open file descriptors, which
# stay flat when nothing leaks; then it stops the server with SIGTERM and
# fails unless every message was delivered and the server exited 0.
# BOX=postgres puts the message box in a PostgreSQL of the script's own (as
# scripts/bench-scaleout.sh does) and also prints its number of connections.
# BENCH_DIR puts the work on another file system (see scripts/bench-run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
RATE=${RATE:-300}
SECS=${SECS:-150}
BOX=${BOX:-sqlite}
work_dir soak
go build -o "$work/bizpipe" ./cmd/bizpipe
cp -r examples/quickstart "$work/qs"
rm -rf "$work/qs/in"/* "$work/qs/out/fabrikam"/*
psql=""
if [ "$BOX" = postgres ]; then
  pg_box "$work/qs"
  psql="$pgbin/psql"
fi
echo "== bizpipe run ($BOX message box): $RATE messages of 4 KiB a second for $SECS s (clear sign RSA-2048 + AES-256-CBC, file to file)"
python3 - "$work" "$RATE" "$SECS" "$psql" <<'EOF'
import os, signal, subprocess, sys, time

work, rate, secs, psql = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
inp, out = work + "/qs/in", work + "/qs/out/fabrikam"
log = open(work + "/run.log", "w")
p = subprocess.Popen([work + "/bizpipe", "run", "--data-dir", work + "/data", "--log-level", "warn", work + "/qs"],
                     stdout=subprocess.DEVNULL, stderr=log)

sys.path.insert(0, "scripts")
from serverwatch import watch, connections
fail, status = watch(p, log, work + "/run.log")


def take():
    n = 0
    for e in os.listdir(out):
        if e.endswith(".eml"):
            os.unlink(os.path.join(out, e))
            n += 1
    return n

time.sleep(1)
sent = delivered = 0
rss = []
start = last = time.time()
due = start
print("   s    sent delivered  RSS KiB threads fds" + (" conns" if psql else ""), flush=True)
while time.time() - start < secs:
    now = time.time()
    while due < now:
        # Written under a name the pattern does not take, then renamed:
        # the location sees each file whole. Old enough to be taken at once.
        tmp, name = os.path.join(inp, ".m%07d" % sent), os.path.join(inp, "m%07d.xml" % sent)
        with open(tmp, "wb") as f:
            f.write(os.urandom(4096))
        os.utime(tmp, (now - 60, now - 60))
        os.rename(tmp, name)
        sent += 1
        due += 1.0 / rate
    delivered += take()
    if now - last >= 10:
        last = now
        r, t, fds = status()
        rss.append(r)
        print("%4.0f %7d %9d %8d %7d %3d%s" % (now - start, sent, delivered, r, t, fds, connections(psql)), flush=True)
    time.sleep(0.01)
for _ in range(300):  # the backlog, up to a minute
    delivered += take()
    if delivered >= sent:
        break
    time.sleep(0.2)
r, t, fds = status()
p.send_signal(signal.SIGTERM)
code = p.wait()
print("sent %d, delivered %d; RSS first %d, max %d, last %d KiB; %d threads, %d fds at the end; exit %d"
      % (sent, delivered, rss[0] if rss else r, max(rss + [r]), r, t, fds, code))
if delivered != sent or code != 0:
    fail("%d of %d delivered, exit %d" % (delivered, sent, code))
EOF
