//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAS2ReceiverCrashSafety sends messages by AS2 from one bizpipe to
// another and kills the receiving one with SIGKILL at random instants,
// restarting it each time, while the sender retries. Kills land while a
// message is read, after it is stored and before its MDN is answered, and
// between messages. At the end every message is stored once on the
// receiving side (a retry of one already stored is answered with the
// original MDN, not stored again) and delivered once there, and every
// delivery on the sending side holds a verified MDN.
func TestAS2ReceiverCrashSafety(t *testing.T) {
	const messages = 40
	sendDir, p := crashSetup(t)
	addr := "127.0.0.1:" + freePort(t)
	cfg := mustReplace(t, as2KillConfig, `attempts = 5`, `attempts = 1000`)
	cfg = mustReplace(t, cfg, `interval = "100ms"`, `interval = "50ms"`)
	cfg = mustReplace(t, cfg, `timeout = "60s"`, `timeout = "5s"`)
	testpki.WriteFile(t, sendDir, "bizpipe.hcl", []byte(fmt.Sprintf(cfg, p.signer.SHA1(), p.partner.SHA1(), "http://"+addr+"/as2")))

	recvDir := t.TempDir()
	testpki.WriteFile(t, filepath.Join(recvDir, "stores/personal"), "p.p12", p.partner.PKCS12(t, "pw", false, p.ca))
	testpki.WriteFile(t, filepath.Join(recvDir, "stores/others"), "s.pem", p.signer.CertPEM())
	// Kills interrupt the receiver's own deliveries too: each counts as an
	// attempt, retried at once here rather than after the default 5m.
	recvCfg := mustReplace(t, as2ReceiverConfig, `transport "file" { path = "out" }`,
		`transport "file" {
    path      = "out"
    file_name = "${message.id}.edi"
  }
  retry {
    attempts = 1000
    interval = "50ms"
  }`)
	testpki.WriteFile(t, recvDir, "bizpipe.hcl", []byte(fmt.Sprintf(recvCfg, p.partner.SHA1(), p.signer.SHA1(), addr)))
	if err := os.MkdirAll(filepath.Join(recvDir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	recvData := filepath.Join(recvDir, "data")
	startReceiver := func() *exec.Cmd {
		c := exec.Command(bizpipeBin, "run", "--data-dir", recvData, recvDir)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}

	body := func(i int) []byte {
		return []byte(fmt.Sprintf("ISA*00*%06d*~\r\nGS*PO*CONTOSO*FABRIKAM~\r\n%s", i, strings.Repeat("x", i*397%4096)))
	}
	next := 0
	drop := func(n int) {
		for ; n > 0 && next < messages; n-- {
			writeSettled(t, filepath.Join(sendDir, "in", fmt.Sprintf("m%03d.edi", next)), body(next))
			next++
		}
	}
	var sendLog syncbuf.Buffer
	sendData := filepath.Join(sendDir, "data")
	sender := exec.Command(bizpipeBin, "run", "--data-dir", sendData, sendDir)
	sender.Stdout, sender.Stderr = &sendLog, &sendLog
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sender.Process.Signal(syscall.SIGTERM)
		sender.Wait()
	}()

	rng := rand.New(rand.NewPCG(3, 4))
	kills := 0
	// Messages arrive in a few waves, so that kills keep finding some in
	// flight.
	for round := 0; round < 16; round++ {
		if round%4 == 0 {
			drop(messages / 4)
		}
		receiver := startReceiver()
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
		receiver.Process.Signal(syscall.SIGKILL)
		receiver.Wait()
		kills++
	}
	drop(messages)
	// The last receiver runs until the sender has had every MDN.
	var recvLog syncbuf.Buffer
	receiver := exec.Command(bizpipeBin, "run", "--data-dir", recvData, recvDir)
	receiver.Stdout, receiver.Stderr = &recvLog, &recvLog
	if err := receiver.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	deadline := time.Now().Add(3 * time.Minute)
	for deliveredCount(&sendLog) < messages {
		if time.Now().After(deadline) {
			t.Fatalf("after %d kills the sender delivered %d of %d:\n%s\nreceiver:\n%s", kills, deliveredCount(&sendLog),
				messages, tailOf(&sendLog), tailOf(&recvLog))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The receiver delivers what it stored on its own time, after the MDN.
	for deadline := time.Now().Add(2 * time.Minute); countFiles(t, filepath.Join(recvDir, "out")) < messages; {
		if time.Now().After(deadline) {
			t.Fatalf("after %d kills the receiver delivered %d of %d:\n%s", kills, countFiles(t, filepath.Join(recvDir, "out")),
				messages, recvLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	receiver.Process.Signal(syscall.SIGTERM)
	receiver.Wait()
	sender.Process.Signal(syscall.SIGTERM)
	sender.Wait()
	t.Logf("%d kills of the receiver", kills)

	// The receiving side: each message stored once, delivered once, intact.
	rbox, err := sqlitebox.Open(filepath.Join(recvData, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rbox.Close()
	stored, err := msgbox.Collect(context.Background(), rbox, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != messages {
		t.Errorf("the receiver stored %d messages, want %d (one per AS2 message)", len(stored), messages)
	}
	want := map[string]bool{}
	for i := range messages {
		want[string(body(i))] = true
	}
	outs, _ := filepath.Glob(filepath.Join(recvDir, "out", "*.edi"))
	for _, f := range outs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !want[string(b)] {
			t.Errorf("%s: not one of the messages sent, or delivered twice", filepath.Base(f))
		}
		delete(want, string(b))
	}
	if len(want) != 0 || len(outs) != messages {
		t.Errorf("the receiver delivered %d files; %d messages missing", len(outs), len(want))
	}

	// The sending side: every delivery delivered, with its verified MDN.
	sbox, err := sqlitebox.Open(filepath.Join(sendData, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sbox.Close()
	sent, err := msgbox.Collect(context.Background(), sbox, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sent {
		d, err := sbox.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		rc := d.Deliveries[0].Receipt
		if m.Status != msgbox.StatusDelivered || rc == nil || !strings.Contains(rc.Summary, "processed; Received-Content-MIC") ||
			!strings.HasSuffix(rc.Summary, "; signed") {
			t.Errorf("%s: %s with receipt %+v, want delivered with a signed, processed MDN", m.FileName, m.Status, rc)
		}
	}
}

// deliveredCount counts the deliveries a running engine logged.
func deliveredCount(log *syncbuf.Buffer) int {
	return strings.Count(log.String(), "msg=delivered ")
}

// tailOf is the last lines written to b.
func tailOf(b *syncbuf.Buffer) string {
	return tail(bytes.NewBufferString(b.String()))
}
