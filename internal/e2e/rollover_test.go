//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// rolloverConfig signs (clear, no encryption) every file from in/ into
// out/, with %[1]s until %[3]s and with %[2]s from then on.
const rolloverConfig = `
group "g" {
  signing_certificate = "%[1]s"
  signing_rollover {
    certificate = "%[2]s"
    at          = "%[3]s"
  }
}
certificate_store "personal" {
  path     = "stores/personal"
  password = "pw"
}
service_account "svc" { personal_store = certificate_store.personal }
server "srv1" {}
host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
pipeline "sign" {
  encoder "smime" { signature = "clear" }
}
receive_location "in" {
  host = host.h
  transport "file" {
    path          = "in"
    poll_interval = "50ms"
  }
}
send_port "out" {
  host     = host.h
  pipeline = pipeline.sign
  filter   = true
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}.eml"
  }
}
`

// TestSigningRolloverLive runs the real binary with a rollover a few
// seconds ahead and never restarts it: a message delivered before at
// verifies in OpenSSL against the CA with the old certificate as its
// signer, one received after at with the new one. The first message must
// be delivered before at, which a loaded machine may miss: the test then
// tries again with at further ahead, rather than asserting a duration.
func TestSigningRolloverLive(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	keys := testpki.NewKeys()
	ca := testpki.SelfSigned(t, testpki.Options{CommonName: "CA", IsCA: true, Key: keys.Key(t, testpki.RSA2048, 0)})
	old := ca.Issue(t, testpki.Options{CommonName: "Contoso Signing 2026", Key: keys.Key(t, testpki.RSA2048, 1)})
	next := ca.Issue(t, testpki.Options{CommonName: "Contoso Signing 2027", Key: keys.Key(t, testpki.RSA2048, 2)})
	caFile := testpki.WriteFile(t, t.TempDir(), "ca.pem", ca.CertPEM())

	signerOf := func(entity string) []byte {
		t.Helper()
		signer := filepath.Join(t.TempDir(), "signer.pem")
		cmd := exec.Command(openssl, "cms", "-verify", "-CAfile", caFile, "-in", entity, "-signer", signer, "-out", os.DevNull)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl cms -verify %s: %v\n%s", filepath.Base(entity), err, out)
		}
		b, err := os.ReadFile(signer)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSpace(b)
	}

	for _, ahead := range []time.Duration{6 * time.Second, 20 * time.Second, 60 * time.Second} {
		dir := t.TempDir()
		testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "old.p12", old.PKCS12(t, "pw", false, ca))
		testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "next.p12", next.PKCS12(t, "pw", false, ca))
		for _, d := range []string{"in", "out"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// Whole seconds: RFC 3339 as written, and at is then exactly
		// the instant the configuration says.
		at := time.Now().Add(ahead).Truncate(time.Second).Add(time.Second)
		testpki.WriteFile(t, dir, "bizpipe.hcl", []byte(fmt.Sprintf(rolloverConfig, old.SHA1(), next.SHA1(), at.UTC().Format(time.RFC3339))))
		writeSettled(t, filepath.Join(dir, "in", "before.edi"), []byte("ISA*before~"))
		cmd := exec.Command(bizpipeBin, "run", "--data-dir", filepath.Join(dir, "data"), dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stop := func() {
			t.Helper()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
		}
		before := filepath.Join(dir, "out", "before.edi.eml")
		seenBeforeAt := false
		for time.Now().Before(at) {
			if _, err := os.Stat(before); err == nil {
				seenBeforeAt = time.Now().Before(at)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !seenBeforeAt {
			stop()
			t.Logf("the first message was not delivered %v before the rollover; trying with at further ahead", ahead)
			continue
		}
		// Received strictly after at: its signer is chosen later still.
		for !time.Now().After(at) {
			time.Sleep(time.Until(at) + time.Millisecond)
		}
		writeSettled(t, filepath.Join(dir, "in", "after.edi"), []byte("ISA*after~"))
		after := filepath.Join(dir, "out", "after.edi.eml")
		waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(after); return err == nil })
		stop()

		if got := signerOf(before); !bytes.Equal(got, bytes.TrimSpace(old.CertPEM())) {
			t.Errorf("the message delivered before at is signed by %.60q, want the old certificate", got)
		}
		if got := signerOf(after); !bytes.Equal(got, bytes.TrimSpace(next.CertPEM())) {
			t.Errorf("the message received after at is signed by %.60q, want the rollover certificate", got)
		}
		return
	}
	t.Fatal("the first message was never delivered before the rollover's at, even 60s ahead")
}
