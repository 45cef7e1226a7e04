//go:build linux

package runner_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// gateSpec is a test decoder that passes its input through once release
// is closed (or its context ends), telling entered when it starts.
func gateSpec(entered chan<- struct{}, release <-chan struct{}) *component.Spec {
	return testDecoder("gate", "Passes the message through when released (a test stage).",
		func(ctx context.Context, in component.Header, src io.Reader, dst io.Writer, _ time.Time) (component.Decoded, error) {
			select {
			case entered <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
				return component.Decoded{}, ctx.Err()
			}
			_, err := io.Copy(dst, src)
			return component.Decoded{Header: in}, err
		})
}

// TestInboundStopWhileDecoding: a run stopped while a file's S/MIME is
// being decoded finishes it (a file in flight is completed, not rolled
// back: file.Poller.Run): stored once, from its party, acknowledged, and
// delivered once by the next run; no spool file of the decoder stays open.
func TestInboundStopWhileDecoding(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	cfg := `
group "g" { signing_certificate = "{{.Sign}}" }
` + serverAndHost + `party "fabrikam" { signing_certificates = ["{{.Partner}}"] }
pipeline "decode" {
  decoder "gate" {}
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}
receive_location "from_fabrikam" {
  host     = host.h
  pipeline = pipeline.decode
  transport "file" { path = "in" }
}
` + ordersPort
	entered, release := make(chan struct{}, 1), make(chan struct{})
	reg := registry.Builtin()
	if err := reg.Register(gateSpec(entered, release)); err != nil {
		t.Fatal(err)
	}
	p := newPKI(t)
	decrypt := p.ca.Issue(t, testpki.Options{CommonName: "Contoso Decryption", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 0)})
	dir := setup(t, p, cfg, map[string]string{"Decrypt": decrypt.SHA1()})
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "decrypt.pem", append(decrypt.CertPEM(), decrypt.KeyPEM()...))
	work := t.TempDir()
	file := func(name string, data []byte) string { return testpki.WriteFile(t, work, name, data) }
	payload := []byte("ISA*00*stopped~")
	entity := file("entity.mime", append([]byte("Content-Type: application/edi-x12\r\n\r\n"), payload...))
	signed := file("s.eml", mustRun(t, ossl, "cms", "-sign", "-binary", "-in", entity,
		"-signer", file("p.pem", p.partner.CertPEM()), "-inkey", file("p.key", p.partner.KeyPEM())))
	put(t, dir, "order.edi", mustRun(t, ossl, "cms", "-encrypt", "-binary", "-aes256", "-in", signed, file("d.pem", decrypt.CertPEM())))

	spool := t.TempDir()
	opts := testOptionsWith(t, dir, reg)
	opts.SpoolDir = spool
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, r)
	<-entered
	cancel()
	time.Sleep(50 * time.Millisecond) // the stop under way
	close(release)
	if res := <-done; res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	if n := spoolFiles(t, spool); n != 0 {
		t.Errorf("%d spool files still open after the stop", n)
	}
	msgs, err := msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Party != "fabrikam" || msgs[0].Status != msgbox.StatusRouted {
		t.Errorf("after the stop: %+v; want the message stored, from fabrikam, routed", msgs)
	}
	// The next run delivers it, once.
	sum := runUntilSettled(t, r)
	if sum.Delivered != 1 {
		t.Errorf("next run: %+v; want 1 delivered", sum)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "out", "fabrikam-order.edi")); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("delivered %q, %v; want the payload", got, err)
	}
	msgs, _ = msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
	if len(msgs) != 1 {
		t.Errorf("%d messages, want 1", len(msgs))
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "in")); len(left) != 0 {
		t.Errorf("left in the source directory: %v", left)
	}
	if n := spoolFiles(t, spool); n != 0 {
		t.Errorf("%d spool files still open", n)
	}
}
