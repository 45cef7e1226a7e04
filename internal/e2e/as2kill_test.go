//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2/as2test"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// as2KillConfig signs and encrypts every file from in/ and sends it by AS2
// to the partner at the URL given, asking for a signed MDN.
const as2KillConfig = `
group "g" {
  signing_certificate = "%[1]s"
  as2_id              = "CONTOSO"
}
` + storesAndServer + `host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["%[2]s"]
}
pipeline "sign_encrypt" {
  encoder "smime" {
    signature            = "clear"
    encrypt              = true
    encryption_algorithm = "aes256-cbc"
  }
}
receive_location "in" {
  host         = host.h
  content_type = "application/edi-x12"
  transport "file" {
    path          = "in"
    poll_interval = "20ms"
  }
}
send_port "fabrikam" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "%[2]s"
  filter                 = true
  transport "as2" {
    url     = "%[3]s"
    partner = party.fabrikam
    timeout = "60s"
  }
  retry {
    attempts = 5
    interval = "100ms"
  }
}
`

// TestAS2KilledBeforeMDN kills bizpipe with SIGKILL after the partner has
// read the whole AS2 message and before it answers the MDN. The engine
// that starts next sends the message again with the same Message-ID
// (RFC 4130 §9.5 wants a resend to keep it, so that the partner can drop
// the duplicate), the independent libas2 partner answers a signed MDN whose
// Received-Content-MIC matches, and the message is delivered once.
func TestAS2KilledBeforeMDN(t *testing.T) {
	dir, p := crashSetup(t)
	files := t.TempDir()
	cert, key := as2test.PEMFiles(t, files, "fabrikam", p.partner.CertPEM(), p.partner.KeyPEM())
	ourCert, _ := as2test.PEMFiles(t, files, "contoso", p.signer.CertPEM(), nil)
	partner := as2test.Start(t, as2test.Config{Mode: "receive", ID: "FABRIKAM", Cert: cert, Key: key, PartnerCert: ourCert})
	gate := startStallingProxy(t, partner.URL())
	cfg := fmt.Sprintf(as2KillConfig, p.signer.SHA1(), p.partner.SHA1(), gate.url)
	if err := os.WriteFile(filepath.Join(dir, "bizpipe.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	payload := []byte("ISA*00*          *00*          *ZZ*CONTOSO~\r\nGS*PO*CONTOSO*FABRIKAM~\r\n")
	writeSettled(t, filepath.Join(dir, "in", "order.edi"), payload)
	data := filepath.Join(dir, "data")

	// The first engine sends; the proxy reads the whole request and holds
	// the answer back, and the engine is killed while it waits.
	var log bytes.Buffer
	first := exec.Command(bizpipeBin, "run", "--data-dir", data, dir)
	first.Stderr = &log
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gate.held:
	case <-time.After(time.Minute):
		first.Process.Kill()
		first.Wait()
		t.Fatalf("the message never reached the partner:\n%s", log.String())
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()

	// The next engine finishes the delivery through the proxy, which now
	// passes requests on to libas2.
	out, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", data, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("run --once after the kill: %v\n%s", err, out)
	}
	ids := gate.messageIDs()
	if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("Message-IDs sent: %q, want the same one twice", ids)
	}
	got := partner.Next(t, time.Minute)
	if got.Event != "received" || got.MessageID != ids[0] {
		t.Fatalf("partner: %+v, want message %s received", got, ids[0])
	}
	if !bytes.Equal(got.Content, payload) || got.Disposition == nil || !got.Disposition.Processed {
		t.Errorf("partner read %q with disposition %+v, want the payload, processed", got.Content, got.Disposition)
	}

	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Status != msgbox.StatusDelivered {
		t.Fatalf("box holds %+v, want one delivered message\n%s", msgs, out)
	}
	d, err := box.Get(context.Background(), msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	rc := d.Deliveries[0].Receipt
	want := "Received-Content-MIC " + got.MIC
	if rc == nil || !bytes.Contains([]byte(rc.Summary), []byte(want)) || !bytes.Contains([]byte(rc.Summary), []byte("signed")) {
		t.Errorf("receipt %+v, want libas2's signed MDN with %q", rc, want)
	}
}

// stallingProxy is an HTTP proxy on 127.0.0.1 in front of an AS2 partner.
// It reads the first request whole, records its Message-ID, reports it on
// held and never answers it; it passes every later request on.
type stallingProxy struct {
	url  string
	held chan struct{}
	mu   sync.Mutex
	ids  []string
}

func startStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{url: "http://" + ln.Addr().String() + u.Path, held: make(chan struct{})}
	forward := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.ids = append(p.ids, r.Header.Get("Message-Id"))
		n := len(p.ids)
		p.mu.Unlock()
		if n > 1 {
			forward.ServeHTTP(w, r)
			return
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Errorf("reading the first request: %v", err)
		}
		close(p.held)
		<-r.Context().Done() // the sender is killed: its connection closes
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *stallingProxy) messageIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ids...)
}
