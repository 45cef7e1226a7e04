//go:build linux

package e2e

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// crashMixConfig receives signed and encrypted files through decodingHead's
// pipeline into out/ (named after the input, create_new), and plain HTTP
// POSTs into webout/ (named by message id, overwrite) and to an HTTP
// partner. Its arguments: decodingHead's three, then the HTTP location's
// address, the partner's URL.
const crashMixConfig = decodingHead + `receive_location "in" {
  host     = host.h
  pipeline = pipeline.decode
  transport "file" {
    path          = "in"
    poll_interval = "20ms"
  }
}
receive_location "web" {
  host = host.h
  transport "http" {
    listen = "%[4]s"
    path   = "/orders"
  }
}
send_port "decoded" {
  host   = host.h
  filter = message.receive_location == "in" && message.party == "fabrikam"
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}"
  }
  retry {
    attempts = 1000
    interval = "50ms"
  }
}
send_port "webfiles" {
  host   = host.h
  filter = message.receive_location == "web"
  transport "file" {
    path      = "webout"
    file_name = "${message.id}"
    copy_mode = "overwrite"
  }
  retry {
    attempts = 1000
    interval = "50ms"
  }
}
send_port "partner" {
  host   = host.h
  filter = message.receive_location == "web"
  transport "http" {
    url     = "%[5]s"
    timeout = "5s"
  }
  retry {
    attempts = 1000
    interval = "50ms"
  }
}
`

// crashMixPostgres is what crashMixConfig adds to use a PostgreSQL message
// box, whose URL is the variable database_url.
const crashMixPostgres = `
variable "database_url" {
  type      = string
  sensitive = true
}
message_box {
  postgres { url = var.database_url }
}
`

// TestCrashSafetyDecodingAndHTTP kills a running bizpipe with SIGKILL at
// random instants while signed and encrypted files flow through a decoding
// receive location and plain POSTs through an HTTP one (language §9), and
// restarts it each time, with either message box. The client sends each
// POST until it is answered 202, with an Idempotency-Key, as the HTTP
// location asks of it. At the end: nothing is left in the input; every
// file is delivered once, decoded, under its name; every POST is stored
// once and written once (copy_mode overwrite); and the HTTP partner got
// every POST at least once.
func TestCrashSafetyDecodingAndHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		// box returns the configuration's message_box (and what it
		// needs), the environment of every bizpipe run, and opens the
		// box for the checks.
		box func(t *testing.T) (config string, env []string, open func(data string) msgbox.Box)
	}{
		{"sqlite", func(t *testing.T) (string, []string, func(string) msgbox.Box) {
			return "", nil, func(data string) msgbox.Box {
				box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return box
			}
		}},
		{"postgres", func(t *testing.T) (string, []string, func(string) msgbox.Box) {
			url := pgtest.Start(t).NewDatabase(t)
			return crashMixPostgres, []string{"BIZPIPE_VAR_database_url=" + url}, func(string) msgbox.Box {
				box, err := pgbox.Open(context.Background(), url, pgbox.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return box
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boxConfig, env, open := tc.box(t)
			crashMix(t, boxConfig, append(os.Environ(), env...), open)
		})
	}
}

// crashMix is TestCrashSafetyDecodingAndHTTP with the message box that
// boxConfig configures, bizpipe run in env, and open opening that box
// given the data directory.
func crashMix(t *testing.T, boxConfig string, env []string, open func(data string) msgbox.Box) {
	const files, posts = 300, 600
	dir, p := crashSetup(t)
	// The host decrypts with the partner's certificate; the party signs
	// with the group's.
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "h.p12", p.partner.PKCS12(t, "pw", false, p.ca))
	testpki.WriteFile(t, filepath.Join(dir, "stores/others"), "s.pem", p.signer.CertPEM())
	for _, d := range []string{"webout"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	got := map[string]int{} // the partner's POSTs, by body
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got[string(b)]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer partner.Close()
	addr := "127.0.0.1:" + freePort(t)
	testpki.WriteFile(t, dir, "bizpipe.hcl", fmt.Appendf(nil, crashMixConfig+boxConfig, p.signer.SHA1(), p.partner.SHA1(), p.signer.SHA1(),
		addr, partner.URL+"/inbox"))

	enc, err := smime.NewEncoder(smime.Options{Signature: "clear", Digest: "sha256", IncludeCertificate: true, Encrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	signer := &smime.Signer{Cert: p.signer.Cert, Key: p.signer.Key}
	fileBody := func(i int) []byte {
		return fmt.Appendf(nil, "ISA*00*%06d*~\r\nbinary\x00\xff%s", i, strings.Repeat("d", i%89))
	}
	postBody := func(i int) []byte {
		return fmt.Appendf(nil, "<order n=\"%06d\">%s</order>", i, strings.Repeat("w", i%83))
	}
	next := 0
	drop := func(n int) {
		for ; n > 0 && next < files; n-- {
			entity, err := enc.Encode(crand.Reader, "application/octet-stream", fileBody(next), signer, p.partner.Cert)
			if err != nil {
				t.Fatal(err)
			}
			writeSettled(t, filepath.Join(dir, "in", fmt.Sprintf("f%04d.edi", next)), entity)
			next++
		}
	}

	// The client: each POST until a 202, across the kills.
	acked := make(chan int, posts)
	stop := make(chan struct{})
	var client sync.WaitGroup
	client.Add(1)
	go func() {
		defer client.Done()
		c := &http.Client{Timeout: 5 * time.Second}
		for i := 0; i < posts; {
			select {
			case <-stop:
				return
			default:
			}
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/orders", bytes.NewReader(postBody(i)))
			if err != nil {
				panic(err)
			}
			req.Header.Set("Content-Type", "application/xml")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("order-%d", i))
			resp, err := c.Do(req)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			acked <- i
			i++
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
		}
	}()
	defer func() {
		close(stop)
		client.Wait()
	}()

	data := filepath.Join(dir, "data")
	rng := rand.New(rand.NewPCG(5, 6))
	drop(files / 3)
	kills := 0
	for round := 0; round < 40 && (next < files || len(acked) < posts); round++ {
		cmd := exec.Command(bizpipeBin, "run", "--data-dir", data, dir)
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		drop(1 + rng.IntN(15))
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		kills++
	}
	drop(files)
	t.Logf("before the last run: %d POSTs acknowledged, %d files and %d web files out", len(acked),
		countFiles(t, filepath.Join(dir, "out")), countFiles(t, filepath.Join(dir, "webout")))

	// The last run goes on until the client is done and everything is
	// delivered.
	var log syncbuf.Buffer
	last := exec.Command(bizpipeBin, "run", "--data-dir", data, dir)
	last.Stdout, last.Stderr, last.Env = &log, &log, env
	if err := last.Start(); err != nil {
		t.Fatal(err)
	}
	// Up (its signal handlers too) once it answers.
	waitFor(t, time.Minute, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	done := func() bool {
		mu.Lock()
		partnerGot := len(got)
		mu.Unlock()
		return len(acked) == posts && partnerGot == posts &&
			countFiles(t, filepath.Join(dir, "out")) >= files && countFiles(t, filepath.Join(dir, "webout")) >= posts
	}
	for deadline := time.Now().Add(3 * time.Minute); !done(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			last.Process.Kill()
			last.Wait()
			t.Fatalf("after %d kills: %d of %d POSTs acknowledged, %d files out, %d web files out, partner got %d:\n%s",
				kills, len(acked), posts, countFiles(t, filepath.Join(dir, "out")), countFiles(t, filepath.Join(dir, "webout")), len(got), tailOf(&log))
		}
	}
	if err := last.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := last.Wait(); err != nil {
		t.Fatalf("run after SIGTERM: %v\n%s", err, tailOf(&log))
	}
	t.Logf("%d kills", kills)

	// Nothing left in the input, not even a claimed file.
	entries, err := os.ReadDir(filepath.Join(dir, "in"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in the input: %s", e.Name())
	}
	// Every file once, decoded, under its name.
	for i := range files {
		name := fmt.Sprintf("f%04d.edi", i)
		b, err := os.ReadFile(filepath.Join(dir, "out", name))
		if err != nil {
			t.Errorf("%s not delivered: %v", name, err)
			continue
		}
		if !bytes.Equal(b, fileBody(i)) {
			t.Errorf("%s: delivered %q, want the decoded payload %q", name, b, fileBody(i))
		}
	}
	if n := countFiles(t, filepath.Join(dir, "out")); n != files {
		t.Errorf("%d files in out, want %d", n, files)
	}
	// Every POST written once.
	want := map[string]bool{}
	for i := range posts {
		want[string(postBody(i))] = true
	}
	outs, err := os.ReadDir(filepath.Join(dir, "webout"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range outs {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left in webout: %s", e.Name())
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "webout", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !want[string(b)] {
			t.Errorf("webout/%s: %q is not a POST, or was written twice", e.Name(), b)
		}
		delete(want, string(b))
	}
	if len(want) != 0 {
		t.Errorf("%d POSTs not written to webout", len(want))
	}
	// The partner got every POST at least once.
	mu.Lock()
	for i := range posts {
		if got[string(postBody(i))] == 0 {
			t.Errorf("the partner never got POST %d", i)
		}
	}
	mu.Unlock()

	// The box agrees: one message per file and per POST, all delivered.
	box := open(data)
	defer box.Close()
	all, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byLocation := map[string]int{}
	for _, m := range all {
		byLocation[m.ReceiveLocation]++
		if m.Status != msgbox.StatusDelivered {
			t.Errorf("message %s (%s %s) is %s: %s", m.ID, m.ReceiveLocation, m.FileName, m.Status, m.Reason)
		}
	}
	if byLocation["in"] != files || byLocation["web"] != posts {
		t.Errorf("the box holds %d messages from in and %d from web, want %d and %d", byLocation["in"], byLocation["web"], files, posts)
	}
}
