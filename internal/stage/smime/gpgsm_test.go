package smime

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGpgsmVerifiesClearSigned: GnuPG's S/MIME tool, an implementation
// independent of OpenSSL and Go, accepts our clear signatures (GOODSIG and
// VALIDSIG for the group certificate, chained to the CA we mark trusted) and
// rejects a tampered part. It fails, not skips, when gpgsm is missing.
func TestGpgsmVerifiesClearSigned(t *testing.T) {
	if _, err := os.Stat(gpgsmPath); err != nil {
		t.Fatalf("gpgsm is required for this interoperability test: %v", err)
	}
	gpgconf, err := exec.LookPath("gpgconf")
	if err != nil {
		t.Fatalf("gpgconf is required to stop the agent gpgsm starts: %v", err)
	}
	p := newPKI(t)

	// A throwaway GNUPGHOME: trust the CA (relax: our test CA has no CRL
	// distribution point), no CRL checks, no dirmngr.
	home, err := os.MkdirTemp("", "gpgsm") // short path: agent socket names are length-limited
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home, "LC_ALL=C"}
	t.Cleanup(func() {
		// Stop gpg-agent (and dirmngr, had it started) for this home only.
		if _, stderr, err := runErr(nil, env, gpgconf, "--kill", "all"); err != nil {
			t.Errorf("gpgconf --kill all: %v: %s", err, stderr)
		}
		os.RemoveAll(home)
	})
	mustWrite := func(name, data string) {
		if err := os.WriteFile(filepath.Join(home, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("gpgsm.conf", "disable-crl-checks\ndisable-dirmngr\n")
	caFpr := fmt.Sprintf("%X", sha1.Sum(p.ca.DER))
	mustWrite("trustlist.txt", colonHex(caFpr)+" S relax\n")
	gpgsm := func(args ...string) (string, error) {
		stdout, stderr, err := runErr(nil, env, gpgsmPath, append([]string{"--batch", "--status-fd", "1"}, args...)...)
		if err != nil {
			return string(stdout), fmt.Errorf("%w\n%s%s", err, stdout, stderr)
		}
		return string(stdout), nil
	}
	if _, err := gpgsm("--import", p.caPEM); err != nil {
		t.Fatalf("importing the CA: %v", err)
	}

	groupFpr := fmt.Sprintf("%X", sha1.Sum(p.group.DER))
	for _, how := range []string{"encode", "stream"} {
		for _, digest := range []string{"sha256", "sha512"} {
			for _, body := range []testBody{textBody(), binaryBody()} {
				// Not parallel: one agent, one keybox.
				t.Run(how+"/"+digest+"/"+body.name, func(t *testing.T) {
					out := encodeHow(t, how, Options{Signature: "clear", Digest: digest, IncludeCertificate: true}, body.contentType, body.data, p.signer(), nil)
					content, sig := stdSignedParts(t, out)
					dir := t.TempDir()
					sigPath := writeTempIn(t, dir, "smime.p7s", sig)
					contentPath := writeTempIn(t, dir, "content", content)

					status, err := gpgsm("--verify", sigPath, contentPath)
					if err != nil {
						t.Fatalf("gpgsm --verify: %v", err)
					}
					for _, want := range []string{"[GNUPG:] GOODSIG " + groupFpr + " ", "[GNUPG:] VALIDSIG " + groupFpr + " "} {
						if !strings.Contains(status, want) {
							t.Errorf("gpgsm status lacks %q:\n%s", want, status)
						}
					}

					tampered := bytes.Clone(content)
					tampered[len(tampered)-3] ^= 1
					status, _ = gpgsm("--verify", sigPath, writeTempIn(t, dir, "tampered", tampered))
					if strings.Contains(status, "GOODSIG") || !strings.Contains(status, "BADSIG") {
						t.Errorf("gpgsm did not report BADSIG for tampered content:\n%s", status)
					}
				})
			}
		}
	}
}

func colonHex(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

func writeTempIn(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
