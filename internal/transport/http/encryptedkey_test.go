package http

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestHTTPEncryptedKeyFile: a key_file protected by a passphrase, as
// openssl writes one (PKCS#8 and the traditional form), is refused by the
// client, the TLS listener and the live check alike, saying that the key is
// encrypted rather than only that it cannot be parsed, which reads as a
// corrupt file; the error names the key file and never the passphrase or
// key material.
func TestHTTPEncryptedKeyFile(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	c := ca.Issue(t, testpki.Options{CommonName: "client", KeyType: testpki.RSA2048})
	dir := t.TempDir()
	certFile := testpki.WriteFile(t, dir, "client.pem", c.CertPEM())
	plain := testpki.WriteFile(t, dir, "client.key", c.KeyPEM())
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"PKCS#8", []string{"pkey", "-aes256"}},
		{"traditional", []string{"rsa", "-aes256", "-traditional"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keyFile := filepath.Join(dir, strings.ReplaceAll(tt.name, "#", "")+".key")
			args := append(tt.args, "-in", plain, "-passout", "pass:hunter2", "-out", keyFile)
			if out, err := exec.Command(testpki.OpenSSL(t), args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
			_, clientErr := NewClient(ClientOptions{CertFile: certFile, KeyFile: keyFile})
			var s Serving
			_, serveErr := s.Start(t.Context(), ServeOptions{Location: "in", Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
			attr, liveErr := CheckTLSFiles("", certFile, keyFile)
			if attr != "key_file" {
				t.Errorf("CheckTLSFiles blames %q, want key_file", attr)
			}
			for what, err := range map[string]error{"NewClient": clientErr, "Serving.Start": serveErr, "CheckTLSFiles": liveErr} {
				if err == nil {
					t.Errorf("%s accepted an encrypted key", what)
					continue
				}
				msg := err.Error()
				if !strings.Contains(msg, keyFile) || !strings.Contains(msg, "encrypted") {
					t.Errorf("%s: %q does not say that %s is encrypted", what, msg, keyFile)
				}
				if strings.Contains(msg, "hunter2") || strings.Contains(msg, "-----") {
					t.Errorf("%s: %q quotes the passphrase or PEM", what, msg)
				}
			}
		})
	}
}
