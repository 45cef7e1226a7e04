//go:build unix

package http

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestTLSFilesNotRegular: a TLS file that is a FIFO, a device or a
// directory is refused at once, naming the file (validate --live reuses
// this loader, BP6007), instead of the open waiting for a writer forever
// or /dev/zero filling the memory.
func TestTLSFilesNotRegular(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	c := ca.Issue(t, testpki.Options{CommonName: "client", KeyType: testpki.ECDSAP256})
	dir := t.TempDir()
	certFile := testpki.WriteFile(t, dir, "client.pem", c.CertPEM())
	keyFile := testpki.WriteFile(t, dir, "client.key", c.KeyPEM())
	fifo := testfs.MakeFIFO(t, filepath.Join(dir, "fifo.pem"))
	for _, tc := range []struct {
		name string
		opts ClientOptions
		file string
	}{
		{"FIFO CA file", ClientOptions{CAFile: fifo}, fifo},
		{"device CA file", ClientOptions{CAFile: "/dev/zero"}, "/dev/zero"},
		{"FIFO cert file", ClientOptions{CertFile: fifo, KeyFile: keyFile}, fifo},
		{"device key file", ClientOptions{CertFile: certFile, KeyFile: "/dev/urandom"}, "/dev/urandom"},
		{"directory key file", ClientOptions{CertFile: certFile, KeyFile: dir}, dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := testfs.Within(t, "NewClient", func() error {
				h, err := NewClient(tc.opts)
				if err == nil {
					h.Close()
				}
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("NewClient error %v, want one naming %s as not a regular file", err, tc.file)
			}
		})
	}
}
