package runner_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// rolloverConfig signs and encrypts every message into out/, signing with
// {{.Sign}} until {{.At}} and with {{.Next}} from then on (language §12).
const rolloverConfig = `
group "g" {
  signing_certificate = "{{.Sign}}"
  signing_rollover {
    certificate = "{{.Next}}"
    at          = "{{.At}}"
  }
}
` + serverAndHost + `pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "{{if .Opaque}}opaque{{else}}clear{{end}}"
    encrypt   = true
  }
}
receive_location "in" {
  host       = host.h
  properties = { partner = "fabrikam" }
  transport "file" { path = "in" }
}
` + fabrikamFiles

// clock is a settable clock for runner.Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// rolloverSetup writes rolloverConfig with the rollover at at; the
// personal store holds the next certificate (issued by the same CA, with a
// key of its own) with its key when deployNext.
func rolloverSetup(t *testing.T, p *pki, at time.Time, deployNext, opaque bool) (dir string, next *testpki.Cert) {
	t.Helper()
	next = p.ca.Issue(t, testpki.Options{CommonName: "Contoso Signing 2027", Key: testpki.NewKeys().Key(t, testpki.RSA2048, 5)})
	extra := map[string]string{"Next": next.SHA1(), "At": at.UTC().Format(time.RFC3339)}
	if opaque {
		extra["Opaque"] = "yes"
	}
	dir = setup(t, p, rolloverConfig, extra)
	if deployNext {
		testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "signing-2027.p12", next.PKCS12(t, "pw", false, p.ca))
	}
	return dir, next
}

// opensslSigner decrypts out with the partner's key, verifies the signature
// with OpenSSL against the CA, and returns the certificate OpenSSL says
// signed it (-signer), as PEM.
func opensslSigner(t *testing.T, openssl string, p *pki, out string) []byte {
	t.Helper()
	tmp := t.TempDir()
	caFile := testpki.WriteFile(t, tmp, "ca.pem", p.ca.CertPEM())
	recip := testpki.WriteFile(t, tmp, "partner.pem", p.partner.CertPEM())
	key := testpki.WriteFile(t, tmp, "partner.key", p.partner.KeyPEM())
	signerOut := filepath.Join(tmp, "signer.pem")
	plain, err := exec.Command(openssl, "cms", "-decrypt", "-recip", recip, "-inkey", key, "-in", out).Output()
	if err != nil {
		t.Fatalf("%s: openssl cms -decrypt: %v", out, err)
	}
	ver := exec.Command(openssl, "cms", "-verify", "-CAfile", caFile, "-signer", signerOut, "-out", filepath.Join(tmp, "content"))
	ver.Stdin = bytes.NewReader(plain)
	var stderr bytes.Buffer
	ver.Stderr = &stderr
	if err := ver.Run(); err != nil {
		t.Fatalf("%s: openssl cms -verify: %v: %s", out, err, stderr.String())
	}
	pemSigner, err := os.ReadFile(signerOut)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(pemSigner)
}

// TestSigningRolloverSwitch: one runner, never restarted, signs the
// messages it delivers before the rollover's at with signing_certificate
// and those from at on with the rollover certificate, as its clock says;
// OpenSSL verifies each against the CA and names that signer. Clear and
// opaque signatures alike.
func TestSigningRolloverSwitch(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	p := newPKI(t)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, opaque := range []bool{false, true} {
		name := map[bool]string{false: "clear", true: "opaque"}[opaque]
		t.Run(name, func(t *testing.T) {
			dir, next := rolloverSetup(t, p, at, true, opaque)
			clk := &clock{now: at.Add(-time.Second)}
			r, _ := startWith(t, dir, func(o *runner.Options) { o.Now = clk.Now })
			deliver := func(file string) {
				t.Helper()
				put(t, dir, file, []byte("ISA*00*"+file+"~"))
				if sum := runUntilSettled(t, r); sum.Delivered != 1 || sum.Suspended != 0 {
					t.Fatalf("%s: summary %+v, want 1 delivered", file, sum)
				}
			}
			deliver("before.edi")
			clk.set(at) // at is the first instant of the new certificate
			deliver("at.edi")
			clk.set(at.Add(48 * time.Hour))
			deliver("after.edi")
			for file, want := range map[string]*testpki.Cert{"before.edi": p.signer, "at.edi": next, "after.edi": next} {
				got := opensslSigner(t, openssl, p, filepath.Join(dir, "out", file+".p7m"))
				if !bytes.Equal(got, bytes.TrimSpace(want.CertPEM())) {
					t.Errorf("%s: OpenSSL names signer %.80q, want %s", file, got, want.Cert.Subject)
				}
			}
		})
	}
}

// TestSigningRolloverDueAtStart: a run that starts after at signs with the
// rollover certificate, and needs the old certificate no more (it may be
// gone from the store already).
func TestSigningRolloverDueAtStart(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	p := newPKI(t)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	dir, next := rolloverSetup(t, p, at, true, false)
	if err := os.Remove(filepath.Join(dir, "stores/personal/signing.p12")); err != nil {
		t.Fatal(err)
	}
	r, _ := start(t, dir)
	put(t, dir, "m.edi", []byte("ISA*00*~"))
	if sum := runUntilSettled(t, r); sum.Delivered != 1 {
		t.Fatalf("summary %+v, want 1 delivered", sum)
	}
	if got := opensslSigner(t, openssl, p, filepath.Join(dir, "out", "m.edi.p7m")); !bytes.Equal(got, bytes.TrimSpace(next.CertPEM())) {
		t.Errorf("OpenSSL names signer %.80q, want the rollover certificate", got)
	}
}

// TestSigningRolloverNotDeployed: a run may start while the rollover
// certificate is missing and at is ahead (validate warned, BP3007); it
// signs as before, and from at on suspends each delivery (a stage failing
// fails the same way until a restart) with a reason that says what to
// deploy; resumed after that restart, they are delivered. A rollover due
// at start without its certificate stops the start.
func TestSigningRolloverNotDeployed(t *testing.T) {
	p := newPKI(t)
	// Beyond the warning window, so that validate only warns (BP3007).
	at := time.Now().Add(60 * 24 * time.Hour).Truncate(time.Second)
	dir, next := rolloverSetup(t, p, at, false, false)
	clk := &clock{now: at.Add(-time.Minute)}
	opts := testOptions(t, dir)
	opts.Now = clk.Now
	r, err := runner.New(opts)
	if err != nil {
		t.Fatalf("start with the rollover ahead: %v", err)
	}
	put(t, dir, "before.edi", []byte("ISA*00*~"))
	if sum := runUntilSettled(t, r); sum.Delivered != 1 {
		t.Fatalf("before at: summary %+v, want 1 delivered", sum)
	}
	clk.set(at)
	put(t, dir, "after.edi", []byte("ISA*00*~"))
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Delivered != 0 || sum.Suspended != 1 {
		t.Fatalf("after at: summary %+v, want the delivery suspended", sum)
	}
	msgs, err := msgbox.Collect(context.Background(), opts.Box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var reason, afterID string
	for _, m := range msgs {
		if m.FileName == "after.edi" {
			afterID = m.ID
			d, err := opts.Box.Get(context.Background(), m.ID)
			if err != nil {
				t.Fatal(err)
			}
			reason = d.Deliveries[0].LastError
		}
	}
	for _, want := range []string{`personal store "personal"`, strings.ToUpper(next.SHA1()), "signing_rollover", at.UTC().Format(time.RFC3339), "deploy it", "resume"} {
		if !strings.Contains(reason, want) {
			t.Errorf("delivery error %q lacks %q", reason, want)
		}
	}

	// Started after at, the same configuration does not start.
	opts.Box.Close()
	opts = testOptions(t, dir)
	opts.Now = func() time.Time { return at }
	if _, err := runner.New(opts); err == nil || !strings.Contains(err.Error(), "signing_rollover certificate") {
		t.Errorf("start after at without the rollover certificate: %v, want an error naming it", err)
	}
	opts.Box.Close()

	// Deployed, restarted and resumed: delivered.
	testpki.WriteFile(t, filepath.Join(dir, "stores/personal"), "signing-2027.p12", next.PKCS12(t, "pw", false, p.ca))
	opts = testOptions(t, dir)
	opts.Now = func() time.Time { return at }
	r, err = runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := opts.Box.Resume(context.Background(), afterID); err != nil {
		t.Fatal(err)
	}
	if sum := runUntilSettled(t, r); sum.Delivered != 1 {
		t.Fatalf("resumed after the restart: summary %+v, want 1 delivered", sum)
	}
	if got := opensslSigner(t, testpki.OpenSSL(t), p, filepath.Join(dir, "out", "after.edi.p7m")); !bytes.Equal(got, bytes.TrimSpace(next.CertPEM())) {
		t.Errorf("OpenSSL names signer %.80q, want the rollover certificate", got)
	}
}

// TestSigningRolloverAnnounced: a running engine logs the instant the
// rollover takes effect, naming the new certificate.
func TestSigningRolloverAnnounced(t *testing.T) {
	p := newPKI(t)
	// The instant is in whole seconds and must still be ahead once the
	// runner runs: on a loaded machine the setup may outlast it, and the
	// trial is then made again with a later one.
	var (
		at   time.Time
		next *testpki.Cert
		log  *logBuffer
		r    *runner.Runner
	)
	for ahead := 1500 * time.Millisecond; ; ahead *= 2 {
		at = time.Now().Add(ahead).Truncate(time.Second).Add(time.Second)
		var dir string
		dir, next = rolloverSetup(t, p, at, true, false)
		log = new(logBuffer)
		r, _ = startWith(t, dir, func(o *runner.Options) { o.Log = slog.New(slog.NewTextHandler(log, nil)) })
		if time.Until(at) > 200*time.Millisecond {
			break
		}
		if ahead > time.Minute {
			t.Fatalf("the setup outlasts %s", ahead)
		}
		t.Logf("the setup outlasted the rollover at %s; again with a later one", at)
	}
	stop := runInBackground(t, r)
	defer stop()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(log.String(), "signing_rollover takes effect") {
		if time.Now().After(deadline) {
			t.Fatalf("no announcement of the rollover at %s:\n%s", at, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now := time.Now(); now.Before(at) {
		t.Errorf("announced at %s, before the rollover at %s", now, at)
	}
	if line := log.String(); !strings.Contains(line, "certificate="+strings.ToUpper(next.SHA1())) {
		t.Errorf("the announcement does not name the new certificate %s:\n%s", next.SHA1(), line)
	}
}
