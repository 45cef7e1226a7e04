#!/usr/bin/env bash
# A long run of `bizpipe run` under persistent failure, to show that nothing
# leaks and nothing hangs. Orders arrive by HTTP POST (RATE a second, 2 KiB
# each, for SECS seconds) at an http receive location (max_body 64 KiB,
# request_timeout 5s) that hostile clients hammer beside them: uploads that
# stall mid-body, clients that disconnect mid-body, declared and chunked
# bodies over max_body, slowloris headers, idle connections. Each order
# goes, signed and encrypted, to an http send port (timeout 2s, 20 retries
# 1 s apart) whose partner, a listener of the script's own on 127.0.0.1,
# changes its behaviour every PHASE seconds (3): it refuses connections
# (its socket closed), answers 500, accepts and never answers (the client's
# timeout must fire), closes the connection mid-answer, answers 200 and then
# trickles its body, answers 200, and mixes these per request. With
# AS2=1 (the default) each order also goes to an as2 send port asking for
# asynchronous MDNs (mdn_timeout 3s) from a partner that never sends one,
# or POSTs a garbled one (or one for no message of ours) to the run's as2
# receive location, when it does not fail as the http partner does.
# Every SAMPLE seconds (5) it prints the server's resident memory, threads,
# open file descriptors, goroutines (go_goroutines of --metrics-addr), the
# files under its data and temporary directories, and how many orders were
# accepted (202) and delivered; these must plateau. Then it stops the
# server with SIGTERM, while the faults go on, and fails unless it exits 0
# within STOP_LIMIT seconds (60: the receive locations' 30 s stop grace
# and the deliveries in flight) and every accepted order is in the box and
# delivered, suspended, retrying, awaiting an MDN, or pending (routed: due
# but not yet attempted, no delivery left in_progress) (`messages list`).
# BOX=postgres puts the message box in a PostgreSQL of the script's own (as
# scripts/soak.sh does) and also prints its number of connections.
# BENCH_DIR puts the work on another file system (see scripts/bench-run.sh).
# LOG_LEVEL sets the server's --log-level (warn); KEEP_LOG=FILE keeps its
# log there. Only 127.0.0.1 is ever contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export LOG_LEVEL=${LOG_LEVEL:-warn}
RATE=${RATE:-20}
SECS=${SECS:-180}
PHASE=${PHASE:-3}
SAMPLE=${SAMPLE:-5}
AS2=${AS2:-1}
BOX=${BOX:-sqlite}
STOP_LIMIT=${STOP_LIMIT:-60}
need python3
work_dir soak-faults
go build -o "$work/bizpipe" ./cmd/bizpipe
mkdir -p "$work/cfg" "$work/tmp"
cp -r examples/quickstart/stores "$work/cfg/stores"
cat > "$work/cfg/bizpipe.hcl" <<'HCL'
group "contoso" {
  signing_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"
  as2_id              = "CONTOSO"
}
variable "p12_password" {
  type      = string
  default   = "demo-only"
  sensitive = true
}
variable "orders_port" { type = number }
variable "partner_port" { type = number }
variable "as2_partner_port" { type = number }
variable "as2_port" { type = number }
variable "as2" { type = bool }
certificate_store "svc_send_personal" {
  path     = "stores/svc_send"
  password = var.p12_password
}
certificate_store "srv1_other_people" {
  path = "stores/srv1_other_people"
}
service_account "svc_send" {
  personal_store = certificate_store.svc_send_personal
}
server "srv1" {
  other_people_store = certificate_store.srv1_other_people
}
host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}
party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["CCFE302DA296CC18B316BA3063F069169382D9FC"]
}
pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
receive_location "orders" {
  host         = host.h
  content_type = "application/xml"
  transport "http" {
    listen          = "127.0.0.1:${var.orders_port}"
    path            = "/orders"
    max_body        = "64KiB"
    request_timeout = "5s"
  }
}
receive_location "as2_in" {
  host = host.h
  transport "as2" {
    listen          = "127.0.0.1:${var.as2_port}"
    path            = "/as2"
    max_body           = "64KiB"
    request_timeout    = "5s"
    async_mdn_attempts = 3
    async_mdn_interval = "1s"
  }
}
send_port "partner_http" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.receive_location == "orders"
  transport "http" {
    url     = "http://127.0.0.1:${var.partner_port}/inbox?id=${urlencode(message.id)}"
    timeout = "2s"
  }
  retry {
    attempts = 20
    interval = "1s"
  }
}
send_port "partner_as2" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = var.as2 && message.receive_location == "orders"
  transport "as2" {
    url           = "http://127.0.0.1:${var.as2_partner_port}/as2"
    partner       = party.fabrikam
    mdn           = "async"
    async_mdn_url = "http://127.0.0.1:${var.as2_port}/as2"
    mdn_timeout   = "3s"
    timeout       = "2s"
  }
  retry {
    attempts = 5
    interval = "1s"
  }
}
HCL
psql=""
if [ "$BOX" = postgres ]; then
  pg_box "$work/cfg"
  psql="$pgbin/psql"
fi
echo "== bizpipe run ($BOX box) under faults: $RATE orders of 2 KiB a second for $SECS s, partner behaviour changing every $PHASE s, AS2=$AS2"
python3 - "$work" "$RATE" "$SECS" "$PHASE" "$SAMPLE" "$AS2" "$STOP_LIMIT" "$psql" <<'EOF'
import json, os, random, re, signal, socket, subprocess, sys, threading, time, urllib.request

work, rate, secs, phase, sample, as2, stop_limit, psql = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4]), float(sys.argv[5]), sys.argv[6] == "1", float(sys.argv[7]), sys.argv[8]
H = "127.0.0.1"
stopping = threading.Event()
sigterm = threading.Event()

def free_port():
    s = socket.socket()
    s.bind((H, 0))
    p = s.getsockname()[1]
    s.close()
    return p

ports = {k: free_port() for k in ("orders_port", "partner_port", "as2_partner_port", "as2_port", "metrics")}

def spawn(fn, *a):
    t = threading.Thread(target=fn, args=a, daemon=True)
    t.start()
    return t

def close(s):
    try:
        s.close()
    except OSError:
        pass

def read_request(c):
    """Reads one HTTP request (Content-Length only) from c; returns its headers, or None."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        d = c.recv(65536)
        if not d:
            return None
        rest += d
    return head

# The partners. MODES cycle every PHASE seconds; "mixed" draws one per connection.
MODES = ["refuse", "500", "stall", "midclose", "trickle", "ok", "mixed"]
served = {}
def mode_now():
    return MODES[int(time.time() / phase) % len(MODES)]

def answer(c, mode, ok):
    if mode == "mixed":
        mode = random.choice(["500", "stall", "midclose", "trickle", "ok", "rst"])
    served[mode] = served.get(mode, 0) + 1
    if mode == "stall":
        # Never answer (nor read the body): the client's timeout must fire.
        while not stopping.is_set() and c.recv(65536):
            pass
        return
    head = read_request(c)
    if head is None:
        return
    if mode == "500":
        c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops\n")
    elif mode == "midclose":
        c.sendall(random.choice([b"HTTP/1.1 20", b"HTTP/1.1 200 OK\r\nContent-Le",
                                 b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\nhalf"]))
    elif mode == "rst":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    elif mode == "trickle":
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
        while not stopping.is_set():
            c.sendall(b"x")
            time.sleep(0.5)
    else:
        ok(c, head)

def partner(port, ok):
    ls = None
    while not stopping.is_set():
        if mode_now() == "refuse":
            if ls:
                close(ls)
                ls = None
            time.sleep(0.05)
            continue
        if ls is None:
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((H, port))
            ls.listen(128)
            ls.settimeout(0.1)
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        c.settimeout(None)
        def conn(c=c, m=mode_now()):
            try:
                answer(c, m, ok)
            except OSError:
                pass
            close(c)
        spawn(conn)

def http_ok(c, head):
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

as2_ids = []
mdns_taken = [0]
def as2_ok(c, head):
    # Accepted; the asynchronous MDN never comes, or comes garbled.
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    if head.startswith(b"POST /mdn "):
        mdns_taken[0] += 1  # an MDN of the run's as2 location for as2_sender's message
        return
    m = re.search(rb"(?i)\r\nmessage-id:\s*(\S+)", head)
    if m and random.random() < 0.5:
        as2_ids.append(m.group(1).decode())

def garbled_mdns():
    kinds = [
        ("multipart/report; report-type=disposition-notification; boundary=b", None),
        ("multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=s", None),
        ("multipart/report; report-type=disposition-notification; boundary=b", "unknown"),
        ("text/plain", None),
    ]
    while not stopping.is_set():
        time.sleep(0.2)
        if not as2_ids:
            continue
        mid = as2_ids.pop(0)
        ct, which = random.choice(kinds)
        ref = "<no-such-message@fabrikam>" if which else mid
        body = ("--b\r\nContent-Type: text/plain\r\n\r\nYour message\r\n--b\r\n"
                "Content-Type: message/disposition-notification\r\n\r\n"
                "Original-Message-ID: %s\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\n"
                "Received-Content-MIC: garbage, sha-256\r\n" % ref).encode()
        body += os.urandom(random.randint(0, 2000))
        req = ("POST /as2 HTTP/1.1\r\nHost: x\r\nAS2-From: FABRIKAM\r\nAS2-To: CONTOSO\r\nAS2-Version: 1.2\r\n"
               "Message-ID: <mdn-%d@fabrikam>\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
               % (random.getrandbits(40), ct, len(body))).encode() + body
        try:
            s = socket.create_connection((H, ports["as2_port"]), timeout=10)
            s.sendall(req)
            s.recv(65536)
            close(s)
        except OSError:
            pass

# AS2 messages to the run's as2 location, asking for asynchronous MDNs at
# the partner's address, which fails as it does: the location's MDN
# poster must ride it out (async_mdn_attempts) without piling up.
as2_sent = {}
def as2_sender():
    while not stopping.is_set():
        time.sleep(0.5)
        body = b"<order/>" + os.urandom(500).hex().encode()
        req = ("POST /as2 HTTP/1.1\r\nHost: x\r\nAS2-From: FABRIKAM\r\nAS2-To: CONTOSO\r\nAS2-Version: 1.2\r\n"
               "Message-ID: <in-%d@fabrikam>\r\nContent-Type: application/xml\r\n"
               "Disposition-Notification-To: mdn@fabrikam\r\n"
               "Disposition-Notification-Options: signed-receipt-protocol=optional, pkcs7-signature; "
               "signed-receipt-micalg=optional, sha-256\r\n"
               "Receipt-Delivery-Option: http://%s:%d/mdn\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
               % (random.getrandbits(40), H, ports["as2_partner_port"], len(body))).encode() + body
        k = "?"
        try:
            s = socket.create_connection((H, ports["as2_port"]), timeout=30)
            s.sendall(req)
            k = s.recv(65536)[9:12].decode()
            close(s)
        except OSError as e:
            k = type(e).__name__
        if sigterm.is_set():
            continue
        as2_sent[k] = as2_sent.get(k, 0) + 1

# The hostile clients of the receive locations.
hostile = {}
def hostile_client(kind, path_port):
    while not stopping.is_set():
        outcome = "?"
        try:
            s = socket.create_connection((H, ports[path_port]), timeout=60)
            path = "/orders" if path_port == "orders_port" else "/as2"
            extra = "AS2-From: FABRIKAM\r\nAS2-To: CONTOSO\r\nMessage-ID: <h%d@f>\r\n" % random.getrandbits(40)
            hdr = "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/xml\r\n" % (path, extra)
            if kind == "stall":         # stops mid-body: the idle or request timeout must end it
                s.sendall((hdr + "Content-Length: 20000\r\n\r\n").encode() + b"a" * 3000)
                outcome = s.recv(65536)[9:12].decode()
            elif kind == "disconnect":  # goes away mid-body
                s.sendall((hdr + "Content-Length: 20000\r\n\r\n").encode() + b"a" * 5000)
                time.sleep(random.random() * 0.5)
            elif kind == "oversize":    # declared over max_body
                s.sendall((hdr + "Content-Length: 10000000\r\n\r\n").encode() + b"a" * 1000)
                outcome = s.recv(65536)[9:12].decode()
            elif kind == "chunked":     # chunked, over max_body
                s.sendall((hdr + "Transfer-Encoding: chunked\r\n\r\n").encode())
                for _ in range(100):
                    s.sendall(b"1000\r\n" + b"a" * 4096 + b"\r\n")
                outcome = s.recv(65536)[9:12].decode()
            elif kind == "slowloris":   # a header line a second, never done
                s.sendall(hdr.encode())
                while not stopping.is_set():
                    s.sendall(b"X-a: b\r\n")
                    time.sleep(1)
            elif kind == "idle":        # connects and says nothing
                s.recv(65536)
            close(s)
        except OSError as e:
            outcome = type(e).__name__
        if sigterm.is_set():
            continue  # the server is stopping: what it answers now is not counted
        k = (kind, path_port[:-5], outcome)
        hostile[k] = hostile.get(k, 0) + 1
        time.sleep(0.1)

accepted = []
refused = {}
def good_clients():
    due = time.time()
    n = 0
    while not stopping.is_set() and time.time() - t0 < secs:
        now = time.time()
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        due += 1.0 / rate
        n += 1
        body = b"<order n='%d'>" % n + os.urandom(1000).hex().encode() + b"</order>"
        req = urllib.request.Request("http://%s:%d/orders" % (H, ports["orders_port"]), data=body, method="POST",
                                     headers={"Content-Type": "application/xml", "Idempotency-Key": "k%d" % n})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                if r.status == 202:
                    accepted.append(r.headers["Bizpipe-Message-Id"])
        except Exception as e:
            k = type(e).__name__
            refused[k] = refused.get(k, 0) + 1

def metric(name):
    try:
        text = urllib.request.urlopen("http://%s:%d/metrics" % (H, ports["metrics"]), timeout=5).read().decode()
    except Exception:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out

def files(d):
    return sum(len(fs) for _, _, fs in os.walk(d))


log = open(work + "/run.log", "w")
env = dict(os.environ, TMPDIR=work + "/tmp")
args = [work + "/bizpipe", "run", "--data-dir", work + "/data", "--log-level", os.environ.get("LOG_LEVEL", "warn"),
        "--metrics-addr", "%s:%d" % (H, ports["metrics"])]
for k in ("orders_port", "partner_port", "as2_partner_port", "as2_port"):
    args += ["--var", "%s=%d" % (k, ports[k])]
args += ["--var", "as2=%s" % ("true" if as2 else "false"), work + "/cfg"]
p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=env)

sys.path.insert(0, "scripts")
from serverwatch import watch, connections
fail, status = watch(p, log, work + "/run.log")

for _ in range(100):
    if metric("go_goroutines"):
        break
    time.sleep(0.1)
else:
    fail("the server did not start")
for k in ("orders_port", "as2_port"):  # the receive locations listen once the box is open
    for _ in range(300):
        try:
            close(socket.create_connection((H, ports[k])))
            break
        except OSError:
            time.sleep(0.1)
spawn(partner, ports["partner_port"], http_ok)
if as2:
    spawn(partner, ports["as2_partner_port"], as2_ok)
    spawn(garbled_mdns)
    spawn(as2_sender)
for kind, n in (("stall", 8), ("disconnect", 2), ("oversize", 1), ("chunked", 1), ("slowloris", 8), ("idle", 4)):
    for _ in range(n):
        spawn(hostile_client, kind, "orders_port")
        if as2 and kind in ("stall", "slowloris", "chunked"):
            spawn(hostile_client, kind, "as2_port")
t0 = time.time()
spawn(good_clients)
rows = []
print("   s  accepted delivered  RSS KiB threads fds goroutines files" + (" conns" if psql else ""), flush=True)
while time.time() - t0 < secs:
    time.sleep(sample)
    r, t, fds = status()
    g = int(metric("go_goroutines").get("go_goroutines", -1))
    d = int(sum(metric("bizpipe_messages_delivered_total").values()))
    f = files(work + "/data") + files(work + "/tmp")
    rows.append((r, t, fds, g, f))
    print("%4.0f %9d %9d %8d %7d %3d %10d %5d%s" % (time.time() - t0, len(accepted), d, r, t, fds, g, f, connections(psql)),
          flush=True)
statuses = metric("bizpipe_messages{")
stop_at = time.time()
sigterm.set()
p.send_signal(signal.SIGTERM)
try:
    code = p.wait(timeout=stop_limit)
except subprocess.TimeoutExpired:
    subprocess.run(["kill", "-QUIT", str(p.pid)])
    time.sleep(1)
    fail("the server did not exit within %.0f s of SIGTERM (SIGQUIT's goroutine dump is in the log)" % stop_limit)
took = time.time() - stop_at
log.flush()
if os.environ.get("KEEP_LOG"):
    subprocess.run(["cp", work + "/run.log", os.environ["KEEP_LOG"]])
stopping.set()
out = subprocess.run([work + "/bizpipe", "messages", "list", "--format", "json", "--data-dir", work + "/data",
                      "--location", "orders", work + "/cfg"], capture_output=True, text=True, env=env)
if out.returncode != 0:
    fail("messages list: " + out.stderr)
doc = json.loads(out.stdout)
msgs = doc["messages"] if isinstance(doc, dict) else doc
by = {}
for m in msgs:
    by[m["status"]] = by.get(m["status"], 0) + 1
missing = set(accepted) - {m["id"] for m in msgs}
first, last = rows[0], rows[-1]
print("partner answers: %s" % dict(sorted(served.items())))
if as2:
    print("AS2 messages sent to the as2 location: %s; its MDNs the partner took: %d" % (as2_sent, mdns_taken[0]))
print("hostile requests: %s; good requests refused: %s" % (dict(sorted(hostile.items())), refused))
print("backlog at the stop (metrics): %s" % {k.split('"')[1]: int(v) for k, v in statuses.items()})
print("accepted %d, in the box %d by status %s; RSS first %d, max %d, last %d KiB; threads %d..%d; fds %d..%d; "
      "goroutines %d..%d (max %d); files %d..%d; stop took %.1f s, exit %d"
      % (len(accepted), len(msgs), dict(sorted(by.items())), first[0], max(x[0] for x in rows), last[0],
         first[1], last[1], first[2], last[2], first[3], last[3], max(x[3] for x in rows), first[4], last[4], took, code))
# routed: a delivery not yet attempted (pending), which the next run makes;
# but none may be left in_progress by a clean stop.
inprog = 0
for m in msgs:
    if m["status"] == "routed":
        show = subprocess.run([work + "/bizpipe", "messages", "show", "--format", "json", "--data-dir", work + "/data",
                               m["id"], work + "/cfg"], capture_output=True, text=True, env=env)
        inprog += sum(d["state"] not in ("pending", "awaiting_mdn", "delivered", "retrying", "suspended")
                      for d in json.loads(show.stdout)["deliveries"])
print("deliveries left in_progress: %d" % inprog)
bad = {s: n for s, n in by.items() if s not in ("delivered", "suspended", "retrying", "awaiting_mdn", "routed")}
if inprog:
    bad["in_progress deliveries"] = inprog
if code != 0 or missing or bad:
    fail("exit %d; %d accepted orders not in the box; not delivered, suspended or waiting: %s"
         % (code, len(missing), bad))
EOF
