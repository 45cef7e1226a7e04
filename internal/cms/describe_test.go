package cms_test

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/cms"
)

// TestDescribeIssuerSerial: an IssuerAndSerialNumber from a message is
// shown as certificates are, and the sender, who chose it, cannot make an
// error text (and so a log line or a message's history) as long as the
// message: a huge name and a huge serial are clipped.
func TestDescribeIssuerSerial(t *testing.T) {
	name := func(cn string) []byte {
		der, err := asn1.Marshal(pkix.Name{CommonName: cn}.ToRDNSequence())
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 4000)
	for _, tt := range []struct {
		name   string
		issuer []byte
		serial *big.Int
		want   string
	}{
		{"plain", name("Contoso CA"), big.NewInt(0x1a2b), `issuer "CN=Contoso CA", serial 1a2b`},
		{"unreadable name", []byte{0x30, 0x05, 0x01}, big.NewInt(1), `issuer an unreadable issuer name, serial 1`},
		{"trailing bytes", append(name("A"), 0), big.NewInt(1), `issuer an unreadable issuer name, serial 1`},
		{"no name", nil, big.NewInt(1), `issuer an unreadable issuer name, serial 1`},
		{"no serial", name("A"), nil, `issuer "CN=A", serial none`},
		{"huge name", name(strings.Repeat("x", 100_000)), big.NewInt(1), `issuer "CN=` + strings.Repeat("x", 197) + `...", serial 1`},
		{"huge serial", name("A"), huge, `issuer "CN=A", serial 1` + strings.Repeat("0", 63) + `...`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := cms.DescribeIssuerSerial(tt.issuer, tt.serial); got != tt.want {
				t.Errorf("DescribeIssuerSerial = %q\nwant %q", got, tt.want)
			}
		})
	}
}
