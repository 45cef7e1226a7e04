package certstore

import (
	"path/filepath"
	"testing"
)

// TestNegativeSerial: a certificate whose serial number is negative (old
// CAs issued some; RFC 5280 §4.1.2.2 asks users to handle them gracefully,
// and Windows and OpenSSL accept them) is loaded with its key, as BizTalk
// would use it, instead of refused by Go's default (x509negativeserial,
// set in go.mod).
func TestNegativeSerial(t *testing.T) {
	dir := t.TempDir()
	runOpenSSL(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=Old Partner", "-days", "30",
		"-set_serial", "-5", "-keyout", filepath.Join(dir, "old.key"), "-out", filepath.Join(dir, "old.pem"))
	s := mustLoad(t, dir, NoPassword())
	if len(s.Problems) != 0 {
		t.Fatalf("problems: %v", s.Problems[0])
	}
	if len(s.Certificates) != 1 || s.Certificates[0].Key == nil {
		t.Fatalf("loaded %d certificates, want the one with its key", len(s.Certificates))
	}
	if got := s.Certificates[0].Cert.SerialNumber.Int64(); got != -5 {
		t.Errorf("serial %d, want -5", got)
	}
}
