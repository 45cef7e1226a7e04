package certstore

import (
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

// fuzzPassword is the store password the fuzzer's PKCS#12 seeds use: no
// problem or note may ever quote it.
const fuzzPassword = "Fuzz-Secret-7f3a"

// FuzzParseFile feeds store files of any content, under each extension the
// store recognises, to the parser: whatever a directory holds (truncated,
// corrupt or hostile files), parsing must not panic, must account for the
// file (a kind, a problem or a note), and must never quote the password or
// key material in what it reports.
func FuzzParseFile(f *testing.F) {
	ca := testpki.NewCA(f, "Fuzz CA")
	leaf := ca.Issue(f, testpki.Options{CommonName: "fuzz leaf", Key: keys.Key(f, testpki.RSA2048, 0)})
	ec := ca.Issue(f, testpki.Options{CommonName: "fuzz ec", KeyType: testpki.ECDSAP256})
	p12 := leaf.PKCS12(f, fuzzPassword, false, ca)
	legacy := ec.PKCS12(f, fuzzPassword, true)
	ecKey, err := x509.MarshalPKCS8PrivateKey(ec.Key)
	if err != nil {
		f.Fatal(err)
	}
	// Without a MAC, read by walkPKCS12: a key bag nested in a
	// SafeContents bag, beside a certificate bag.
	nested := noMACPFX(f, safeContents(f,
		p12Bag(f, oidCertBag, mustMarshal(f, struct {
			ID   asn1.ObjectIdentifier
			Data []byte `asn1:"tag:0,explicit"`
		}{oidX509CertificateBag, ec.DER})),
		p12Bag(f, oidSafeContentsBag, safeContents(f, p12Bag(f, oidKeyBag, ecKey)))))
	seeds := [][]byte{
		leaf.CertPEM(), leaf.KeyPEM(), leaf.KeyPKCS1PEM(f), ec.KeySEC1PEM(f), leaf.Cert.Raw,
		p12, legacy, p12[:len(p12)/2], nested, nested[:len(nested)-9], withMACIterations(f, p12, big.NewInt(1<<31-1)), append(leaf.CertPEM(), ec.KeyPEM()...),
		[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
		{0xef, 0xbb, 0xbf, '-', '-'}, {0xff, 0xfe, '-', 0}, {0x30, 0x82, 0xff, 0xff}, nil,
	}
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	names := []string{"a.pem", "a.key", "a.crt", "a.cer", "a.der", "a.p12", "a.pfx", "a.txt", "noext"}
	secrets := [][]byte{[]byte(fuzzPassword)}
	for _, c := range []*testpki.Cert{leaf, ec} {
		// A base64 line of each key's PEM stands for key material.
		for _, line := range strings.Split(string(c.KeyPEM()), "\n") {
			if len(line) >= 32 && !strings.HasPrefix(line, "-----") {
				secrets = append(secrets, []byte(line))
				break
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		name := names[int(pick)%len(names)]
		r := &fileResult{file: File{Path: "/store/" + name}, isFile: true}
		parseFile(r, data, KnownPassword(fuzzPassword))
		if len(r.certs) == 0 && len(r.keys) == 0 && len(r.problems) == 0 && len(r.notes) == 0 {
			t.Fatalf("%s (%d bytes): nothing reported: no certificate, key, problem or note", name, len(data))
		}
		var said []string
		for _, p := range r.problems {
			if p.Err == nil {
				t.Fatalf("%s: problem %v without an error", name, p.Kind)
			}
			said = append(said, p.Err.Error())
		}
		said = append(said, r.notes...)
		for _, s := range said {
			for _, secret := range secrets {
				if strings.Contains(s, string(secret)) {
					t.Fatalf("%s: report quotes a secret: %q", name, s)
				}
			}
		}
	})
}
