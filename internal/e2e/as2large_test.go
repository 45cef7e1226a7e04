//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// as2ReceiverConfig is the partner's side of as2KillConfig: group FABRIKAM
// receives AS2 from party contoso on 127.0.0.1, decrypting with its own
// certificate, with bodies limited to 64 MiB.
const as2ReceiverConfig = `
group "fabrikam" {
  signing_certificate = "%[1]s"
  as2_id              = "FABRIKAM"
}
` + storesAndServer + `host "h" {
  decryption_certificate = "%[1]s"
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
party "contoso" {
  as2_id               = "CONTOSO"
  signing_certificates = ["%[2]s"]
}
pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}
receive_location "as2in" {
  host     = host.h
  pipeline = pipeline.decode
  transport "as2" {
    listen   = "%[3]s"
    path     = "/as2"
    max_body = "64MiB"
  }
}
send_port "orders" {
  host   = host.h
  filter = true
  transport "file" { path = "out" }
}
`

// TestAS2HugeBody sends 1 GiB over AS2 to a bizpipe receiver that takes at
// most 64 MiB. The receiver refuses it, with a declared length before
// reading it and without one after 64 MiB, stores nothing and stays small;
// the sender retries, then suspends the message with the receiver's answer
// as its reason, and stays small too while it signs, encrypts and sends
// 1 GiB.
func TestAS2HugeBody(t *testing.T) {
	const size = 1 << 30
	const maxRSS = 96 << 20
	sendDir, p := crashSetup(t)
	addr := "127.0.0.1:" + freePort(t)
	url := "http://" + addr + "/as2"
	cfg := mustReplace(t, as2KillConfig, `interval = "100ms"`, `interval = "10ms"`)
	cfg = mustReplace(t, cfg, `attempts = 5`, `attempts = 1`)
	testpki.WriteFile(t, sendDir, "bizpipe.hcl", []byte(fmt.Sprintf(cfg, p.signer.SHA1(), p.partner.SHA1(), url)))

	recvDir := t.TempDir()
	testpki.WriteFile(t, filepath.Join(recvDir, "stores/personal"), "p.p12", p.partner.PKCS12(t, "pw", false, p.ca))
	testpki.WriteFile(t, filepath.Join(recvDir, "stores/others"), "s.pem", p.signer.CertPEM())
	testpki.WriteFile(t, recvDir, "bizpipe.hcl", []byte(fmt.Sprintf(as2ReceiverConfig, p.partner.SHA1(), p.signer.SHA1(), addr)))
	if err := os.MkdirAll(filepath.Join(recvDir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	recvData := filepath.Join(recvDir, "data")
	var recvLog bytes.Buffer
	receiver := exec.Command(bizpipeBin, "run", "--data-dir", recvData, recvDir)
	receiver.Stdout, receiver.Stderr = &recvLog, &recvLog
	if err := receiver.Start(); err != nil {
		t.Fatal(err)
	}
	recvPeak := watchPeakRSS(receiver.Process.Pid)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			receiver.Process.Signal(syscall.SIGTERM)
			receiver.Wait()
		}
	}
	defer stop()
	waitFor(t, time.Minute, func() bool {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	t.Run("chunked", func(t *testing.T) {
		// Without a Content-Length the receiver reads up to max_body,
		// then refuses: far fewer than 1 GiB leave the client.
		var sent atomic.Int64
		body := io.LimitReader(countingZeros{&sent}, size)
		req, err := http.NewRequest(http.MethodPost, url, io.NopCloser(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("AS2-Version", "1.2")
		req.Header.Set("AS2-From", "CONTOSO")
		req.Header.Set("AS2-To", "FABRIKAM")
		req.Header.Set("Message-ID", "<huge-chunked@contoso>")
		req.Header.Set("Content-Type", "application/pkcs7-mime; smime-type=enveloped-data")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked 1 GiB answered %s, want 413", resp.Status)
			}
		}
		// An error is the server closing the connection on the rest of
		// the upload, after its answer: also a refusal.
		if n := sent.Load(); n >= size/2 {
			t.Errorf("the receiver read %d MiB of the chunked upload before refusing it", n>>20)
		}
	})

	// The sender signs, encrypts and sends 1 GiB: refused at its declared
	// length, retried once, then suspended with the answer as reason.
	writeSettledFunc(t, filepath.Join(sendDir, "in", "huge.edi"), func(w *bufio.Writer) {
		line := bytes.Repeat([]byte("ISA*00*0123456789*~"), 100)
		for n := 0; n < size; n += len(line) {
			w.Write(line[:min(len(line), size-n)])
		}
	})
	sendData := filepath.Join(sendDir, "data")
	// run --once makes the retry when it is due before the run ends;
	// otherwise the next run makes it.
	var sendLog bytes.Buffer
	var sendRSS int64
	for run := 1; ; run++ {
		sender := exec.Command(bizpipeBin, "run", "--once", "--data-dir", sendData, sendDir)
		sender.Stdout, sender.Stderr = &sendLog, &sendLog
		if err := sender.Start(); err != nil {
			t.Fatal(err)
		}
		peak := watchPeakRSS(sender.Process.Pid)
		err := sender.Wait()
		sendRSS = max(sendRSS, peak())
		last := lastLine(sendLog.Bytes())
		if strings.Contains(last, "suspended 1") {
			if err != nil {
				t.Errorf("sender run --once: %v, want exit 0 (the run went through; the message is suspended)", err)
			}
			break
		}
		if err != nil || run == 3 {
			t.Fatalf("sender run --once #%d: %v, want the message retried, then suspended:\n%s", run, err, tail(&sendLog))
		}
		time.Sleep(20 * time.Millisecond) // the retry interval
	}
	stop()
	recvRSS := recvPeak()
	t.Logf("peak RSS: sender %d MiB, receiver %d MiB", sendRSS>>20, recvRSS>>20)
	if sendRSS == 0 || sendRSS > maxRSS {
		t.Errorf("sender's peak RSS %d MiB, want at most %d MiB", sendRSS>>20, maxRSS>>20)
	}
	if recvRSS == 0 || recvRSS > maxRSS {
		t.Errorf("receiver's peak RSS %d MiB, want at most %d MiB", recvRSS>>20, maxRSS>>20)
	}

	box, err := sqlitebox.Open(filepath.Join(sendData, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 || msgs[0].Status != msgbox.StatusSuspended {
		t.Fatalf("sender's box: %+v, %v; want one suspended message", msgs, err)
	}
	d, err := box.Get(context.Background(), msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	reason := d.Deliveries[0].LastError
	for _, want := range []string{`send port "fabrikam"`, "HTTP 413", "body larger than 67108864 bytes", "suspended after 2 attempt(s)"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q does not mention %q", reason, want)
		}
	}

	rbox, err := sqlitebox.Open(filepath.Join(recvData, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rbox.Close()
	if got, err := msgbox.Collect(context.Background(), rbox, msgbox.Filter{}); err != nil || len(got) != 0 {
		t.Errorf("receiver stored %d message(s) (%v), want none", len(got), err)
	}
	if n := strings.Count(recvLog.String(), "body too large"); n != 3 {
		t.Errorf("receiver refused %d request(s) as too large, want 3 (chunked, then the two attempts):\n%s", n, recvLog.String())
	}
}

// countingZeros reads zeros and counts them.
type countingZeros struct{ n *atomic.Int64 }

func (z countingZeros) Read(p []byte) (int, error) {
	clear(p)
	z.n.Add(int64(len(p)))
	return len(p), nil
}
