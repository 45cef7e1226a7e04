package runner_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// as2LoopConfig is one engine at both ends of an AS2 link: a file's
// message is signed, encrypted and sent by send port "out" to the engine's
// own as2 receive location "as2in" (the party "self" has the group's AS2
// id and signing certificate), which decrypts, verifies, stores and
// answers it with a signed MDN (synchronous, or POSTed back to "as2in"
// with mdn = "async"), and send port "files" writes what it received.
const as2LoopConfig = `
group "g" {
  signing_certificate = "{{.Sign}}"
  as2_id              = "CONTOSO"
}
` + serverAndHost + `party "self" {
  as2_id               = "CONTOSO"
  signing_certificates = ["{{.Sign}}"]
}
pipeline "sign_encrypt" {
  encoder "smime" {
    signature            = "clear"
    encrypt              = true
    encryption_algorithm = "aes256-cbc"
  }
}
` + decodePipeline + `
receive_location "in" {
  host         = host.h
  content_type = "application/edi-x12"
  transport "file" { path = "in" }
}
receive_location "as2in" {
  host     = host.h
  pipeline = pipeline.decode
  transport "as2" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/as2"
    async_mdn_interval = "50ms"
  }
}
send_port "out" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Sign}}"
  filter                 = message.receive_location == "in"
  transport "as2" {
    url           = "http://127.0.0.1:{{.Port}}/as2"
    partner       = party.self
    mdn           = "{{.MDN}}"
    async_mdn_url = "http://127.0.0.1:{{.Port}}/as2"
  }
}
send_port "files" {
  host   = host.h
  filter = message.receive_location == "as2in"
  transport "file" {
    path      = "out"
    file_name = "${message.id}"
  }
}
`

// TestLogKeys: every log line about a message, on the sending side (the
// runner's lines and the receipt's) as on the receiving side (the runner's
// and the as2 transport's), names it with message_id, where it is with
// send_port or receive_location, and the instance, under the same keys; a
// message sent over AS2 and received back takes the info lines the README
// lists, in that order. No line has a key twice: a JSON reader (Vector,
// Loki) would keep one of the two values, and which one is its choice.
func TestLogKeys(t *testing.T) {
	for _, mdn := range []string{"sync", "async"} {
		t.Run(mdn, func(t *testing.T) {
			p := newPKI(t)
			dir := setup(t, p, as2LoopConfig, map[string]string{"Port": freePort(t), "Decrypt": p.signer.SHA1(), "MDN": mdn})
			// The engine encrypts for, and verifies, its own certificate.
			testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "self.pem", p.signer.CertPEM())
			var out syncbuf.Buffer
			r, box := startWith(t, dir, func(o *runner.Options) {
				o.Log = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
			})
			stop := runInBackground(t, r)
			waitListening(t, "http://127.0.0.1:"+portOf(t, dir)+"/as2")
			put(t, dir, "order.edi", []byte("ISA*00*~"))
			waitDelivered(t, box, 2)
			if mdn == "async" {
				// The MDN's POST delivers the sent message before its
				// poster hears the answer and logs it.
				for i := 0; !strings.Contains(out.String(), `"msg":"asynchronous MDN sent"`); i++ {
					if i == 600 {
						t.Fatalf("no asynchronous MDN sent within a minute:\n%s", out.String())
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			stop()

			const who = `host "h" on server "srv1" as service account "svc"`
			lines := map[string]map[string][]string{} // message id → side → messages logged, in order
			as2IDs := map[string]string{}             // message logged → its as2_message_id
			eachLogRecord(t, out.String(), func(line string, rec map[string]any) {
				msg, _ := rec["msg"].(string)
				if as2ID, ok := rec["as2_message_id"].(string); ok {
					as2IDs[msg] = as2ID
				}
				if _, ok := rec["message"]; ok {
					t.Errorf("%q: key message; the message's id is message_id", line)
				}
				id, ok := rec["message_id"].(string)
				if !ok {
					return
				}
				if rec["instance"] != who {
					t.Errorf("%q: instance %v, want %s", line, rec["instance"], who)
				}
				port, isSend := rec["send_port"].(string)
				loc, isRecv := rec["receive_location"].(string)
				if isSend == isRecv || port == "" && loc == "" {
					t.Errorf("%q: want either send_port or receive_location", line)
				}
				side := loc
				if isSend {
					side = port
				}
				if lines[id] == nil {
					lines[id] = map[string][]string{}
				}
				lines[id][side] = append(lines[id][side], msg)
			})
			if len(lines) != 2 {
				t.Fatalf("lines about %d messages, want 2:\n%s", len(lines), out.String())
			}
			// The MDN's arrival, which the transport logs before it knows
			// the message, names the AS2 Message-ID that its wait named.
			if waited := as2IDs["sent; awaiting the asynchronous MDN"]; mdn == "async" &&
				(waited == "" || as2IDs["asynchronous MDN received"] != waited) {
				t.Errorf("as2_message_id awaited %q, received %q; want the same", waited, as2IDs["asynchronous MDN received"])
			}
			want := map[string][]string{
				// Contoso's side: received from a file, sent over AS2.
				"in":  {"message received"},
				"out": {"receipt", "delivered"},
				// Fabrikam's side: received over AS2, written to a file.
				"as2in": {"message received", "MDN built", "AS2 message received"},
				"files": {"delivered"},
			}
			if mdn == "async" {
				want["out"] = []string{"sent; awaiting the asynchronous MDN", "receipt", "delivered"}
				want["as2in"] = []string{"message received", "MDN built", "AS2 message received; asynchronous MDN queued", "asynchronous MDN sent"}
			}
			// In order but for the asynchronous MDN, which may be
			// settled before its wait is logged.
			for _, sides := range lines {
				for side, got := range sides {
					if mdn == "async" {
						slices.Sort(got)
						want[side] = slices.Sorted(slices.Values(want[side]))
					}
					if strings.Join(got, "|") != strings.Join(want[side], "|") {
						t.Errorf("%s: lines %q, want %q", side, got, want[side])
					}
				}
			}
		})
	}
}

// eachLogRecord calls f with each line of the JSON log out and its
// record, failing on a line that is not one JSON object, and reporting one
// that has a key twice.
func eachLogRecord(t *testing.T, out string, f func(line string, rec map[string]any)) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if dup := duplicateKeys(t, sc.Bytes()); len(dup) > 0 {
			t.Errorf("%q: keys %q more than once", sc.Text(), dup)
		}
		f(sc.Text(), rec)
	}
}

// duplicateKeys returns the keys that the JSON object line has more than
// once, at its top level (json.Unmarshal keeps the last one silently).
func duplicateKeys(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line %q: not a JSON object (%v)", line, err)
	}
	seen := map[string]bool{}
	var dup []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		key, _ := tok.(string)
		if seen[key] {
			dup = append(dup, key)
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
	}
	return dup
}

// waitDelivered waits until box holds n messages, all delivered.
func waitDelivered(t *testing.T, box msgbox.Box, n int) {
	t.Helper()
	var msgs []msgbox.Message
	for range 400 {
		var err error
		msgs, err = msgbox.Collect(t.Context(), box, msgbox.Filter{Status: msgbox.StatusDelivered})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == n {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%d messages delivered, want %d", len(msgs), n)
}

// TestLogKeysMDNWithErrorStatus: the line the as2 transport logs when a
// partner answers a positive synchronous MDN with an error status (taken,
// the message delivered) is a line about a message like any other: its
// message_id, send_port and instance, each once. Here the partner is the
// engine's own as2 receive location behind a proxy that turns its 200
// into a 500.
func TestLogKeysMDNWithErrorStatus(t *testing.T) {
	p := newPKI(t)
	port := freePort(t)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		out, err := http.NewRequestWithContext(req.Context(), req.Method, "http://127.0.0.1:"+port+req.URL.RequestURI(), req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = req.Header.Clone()
		out.ContentLength = req.ContentLength
		resp, err := http.DefaultClient.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(http.StatusInternalServerError)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	cfg := strings.Replace(as2LoopConfig, `url           = "http://127.0.0.1:{{.Port}}/as2"`, `url           = "`+proxy.URL+`/as2"`, 1)
	dir := setup(t, p, cfg, map[string]string{"Port": port, "Decrypt": p.signer.SHA1(), "MDN": "sync"})
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "self.pem", p.signer.CertPEM())
	var out syncbuf.Buffer
	r, box := startWith(t, dir, func(o *runner.Options) {
		o.Log = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	stop := runInBackground(t, r)
	waitListening(t, "http://127.0.0.1:"+port+"/as2")
	put(t, dir, "order.edi", []byte("ISA*00*~"))
	waitDelivered(t, box, 2)
	stop()

	const who = `host "h" on server "srv1" as service account "svc"`
	found := false
	eachLogRecord(t, out.String(), func(line string, rec map[string]any) {
		if msg, _ := rec["msg"].(string); !strings.Contains(msg, "with an error status") {
			return
		}
		found = true
		if id, _ := rec["message_id"].(string); id == "" || rec["send_port"] != "out" || rec["instance"] != who {
			t.Errorf("%q: want message_id, send_port \"out\" and instance %s", line, who)
		}
	})
	if !found {
		t.Fatalf("no line says the MDN came with an error status:\n%s", out.String())
	}
}

// TestStartWarningsNameTheInstance: the start's warnings about a send
// port's output directory (its leftovers and staged copies not readable:
// the directory missing) name the instance, as the port's other lines do.
func TestStartWarningsNameTheInstance(t *testing.T) {
	dir := setup(t, newPKI(t), common+allToFiles, nil)
	if err := os.RemoveAll(filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	var out logBuffer
	r, _ := startWith(t, dir, func(o *runner.Options) { o.Log = slog.New(slog.NewJSONHandler(&out, nil)) })
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	const who = `host "h" on server "srv1" as service account "svc"`
	warned := 0
	eachLogRecord(t, out.String(), func(line string, rec map[string]any) {
		if rec["send_port"] != "files" || rec["level"] != "WARN" {
			return
		}
		warned++
		if rec["instance"] != who {
			t.Errorf("%q: instance %v, want %s", line, rec["instance"], who)
		}
	})
	if warned == 0 {
		t.Fatalf("no warning about send port files's missing directory:\n%s", out.String())
	}
}

// TestStartWarnsOfHostsRunPartly: what validate cannot refuse under the
// contract but run cannot honour is said at start. A host with two
// instances on this server runs once, as the first: the line names it and
// the one not run. A routed send port whose host has no instance anywhere
// keeps what is routed to it in the box: the line names the port and host.
func TestStartWarnsOfHostsRunPartly(t *testing.T) {
	const extra = `
service_account "svc2" { personal_store = certificate_store.personal }
host "h2" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
  instance {
    server          = server.srv1
    service_account = service_account.svc2
  }
}
send_port "second" {
  host   = host.h2
  filter = true
  transport "file" { path = "out2" }
}
host "idle" {}
send_port "parked" {
  host   = host.idle
  filter = true
  transport "file" { path = "out3" }
}
`
	dir := setup(t, newPKI(t), common+allToFiles+extra, nil)
	var out logBuffer
	r, _ := startWith(t, dir, func(o *runner.Options) { o.Log = slog.New(slog.NewJSONHandler(&out, nil)) })
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var several, parked int
	eachLogRecord(t, out.String(), func(line string, rec map[string]any) {
		if rec["level"] != "WARN" {
			return
		}
		switch {
		case rec["host"] == "h2":
			several++
			if rec["instance"] != `host "h2" on server "srv1" as service account "svc"` ||
				rec["not_run"] != `host "h2" on server "srv1" as service account "svc2"` {
				t.Errorf("%s: want the instance run and the one not run named", line)
			}
		case rec["send_port"] == "parked":
			parked++
			if rec["host"] != "idle" {
				t.Errorf("%s: want host idle named", line)
			}
		case rec["host"] != nil:
			t.Errorf("unexpected warning about a host: %s", line)
		}
	})
	if several != 1 || parked != 1 {
		t.Errorf("%d warnings about h2's two instances and %d about parked's idle host, want 1 each:\n%s", several, parked, out.String())
	}
}
