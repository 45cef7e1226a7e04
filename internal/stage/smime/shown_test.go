package smime

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
)

// TestShown: a certificate is named whole when its names and serial are
// short; a serial number of thousands of digits (Go parses any length) is
// cut like a long name, and the certificate then named by its SHA-1
// thumbprint.
func TestShown(t *testing.T) {
	short := &x509.Certificate{Raw: []byte("der"), Subject: pkix.Name{CommonName: "Fabrikam"}, Issuer: pkix.Name{CommonName: "Test CA"}, SerialNumber: big.NewInt(0x1a2b)}
	if got, want := Shown(short), (CertNames{Subject: `"CN=Fabrikam"`, Issuer: `"CN=Test CA"`, Serial: "1a2b"}); got != want {
		t.Errorf("Shown = %+v, want %+v", got, want)
	}
	long := *short
	long.SerialNumber = new(big.Int).Lsh(big.NewInt(1), 4000)
	got := Shown(&long)
	sum := sha1.Sum(long.Raw)
	wantSerial, wantTP := "1"+strings.Repeat("0", 63)+"...", ", SHA-1 thumbprint "+strings.ToUpper(hex.EncodeToString(sum[:]))
	if got.Serial != wantSerial || got.Thumbprint != wantTP || got.Subject != `"CN=Fabrikam"` {
		t.Errorf("Shown = %+v, want serial %q and %q", got, wantSerial, wantTP)
	}
}
