package runner_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestStagesRunInOrder: the encoder stages of a pipeline run in the order
// written (language §3), each on the entity the one before made: a
// pipeline that encrypts, then signs the envelope opaque, delivers what
// openssl verifies (the group signing certificate the signer), then
// decrypts, to the message's exact bytes.
func TestStagesRunInOrder(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	p := newPKI(t)
	dir := setup(t, p, common+`
pipeline "encrypt_then_sign" {
  encoder "smime" {
    encrypt = true
  }
  encoder "smime" {
    signature = "opaque"
  }
}
send_port "fabrikam" {
  host                   = host.h
  pipeline               = pipeline.encrypt_then_sign
  encryption_certificate = "{{.Partner}}"
  filter                 = true
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}.p7m"
  }
}
`, nil)
	body := binaryBody(3000)
	put(t, dir, "order.edi", body)
	r, _ := start(t, dir)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Delivered != 1 || sum.Suspended != 0 {
		t.Fatalf("summary %+v, want 1 delivered", sum)
	}
	tmp := t.TempDir()
	caFile := testpki.WriteFile(t, tmp, "ca.pem", p.ca.CertPEM())
	recip := testpki.WriteFile(t, tmp, "partner.pem", p.partner.CertPEM())
	key := testpki.WriteFile(t, tmp, "partner.key", p.partner.KeyPEM())
	signerOut := filepath.Join(tmp, "signer.pem")
	var stderr bytes.Buffer
	verify := exec.Command(openssl, "cms", "-verify", "-CAfile", caFile, "-signer", signerOut, "-in", filepath.Join(dir, "out", "order.edi.p7m"))
	verify.Stderr = &stderr
	envelope, err := verify.Output()
	if err != nil {
		t.Fatalf("openssl cms -verify: %v: %s", err, &stderr)
	}
	if signer, err := os.ReadFile(signerOut); err != nil || !bytes.Equal(bytes.TrimSpace(signer), bytes.TrimSpace(p.signer.CertPEM())) {
		t.Error("the signer is not the group signing certificate")
	}
	stderr.Reset()
	decrypt := exec.Command(openssl, "cms", "-decrypt", "-recip", recip, "-inkey", key)
	decrypt.Stdin, decrypt.Stderr = bytes.NewReader(envelope), &stderr
	entity, err := decrypt.Output()
	if err != nil {
		t.Fatalf("openssl cms -decrypt of the signed content: %v: %s", err, &stderr)
	}
	d, err := smime.Decode(entity, smime.DecodeOptions{})
	if err != nil {
		t.Fatalf("decoding the decrypted entity: %v", err)
	}
	if !bytes.Equal(d.Body, body) {
		t.Errorf("the body differs after verify and decrypt")
	}
}

// TestPortWithoutFilter: a send port without a filter subscribes to
// nothing (language §3.1): a message goes to the ports whose filter holds
// only, and one that no filter takes is a routing failure, not a delivery
// to the port without one.
func TestPortWithoutFilter(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "unfiltered" {
  host = host.h
  transport "file" { path = "unfiltered" }
}
send_port "edi" {
  host   = host.h
  filter = message.file_name == "order.edi"
  transport "file" { path = "out" }
}
`, nil)
	put(t, dir, "order.edi", []byte("ISA*00~"))
	put(t, dir, "stray.txt", []byte("no port takes this"))
	r, box := start(t, dir)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Received != 2 || sum.Delivered != 1 || sum.Suspended != 1 {
		t.Errorf("summary %+v, want 2 received, 1 delivered, 1 suspended", sum)
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "unfiltered", "*")); len(got) != 0 {
		t.Errorf("the port without a filter delivered %q", got)
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "out", "*")); len(got) != 1 {
		t.Errorf("the filtered port delivered %q, want one file", got)
	}
	suspended, err := msgbox.Collect(context.Background(), box, msgbox.Filter{Status: msgbox.StatusSuspended})
	if err != nil || len(suspended) != 1 || suspended[0].FileName != "stray.txt" {
		t.Fatalf("suspended %+v, %v; want stray.txt", suspended, err)
	}
}
