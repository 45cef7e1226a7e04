package cms

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The testdata recipient is fixed (generated once with openssl 3.0) so that
// fuzzing workers and the stored OpenSSL samples share one key. It is a
// test-only key.
var testdataRecipient = sync.OnceValues(func() (*recipient, error) {
	certPEM, err := os.ReadFile("testdata/recipient.crt.pem")
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile("testdata/recipient.key.pem")
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, os.ErrInvalid
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	return &recipient{name: "testdata", cert: cert, key: k.(*rsa.PrivateKey)}, nil
})

// storedSamples returns the OpenSSL-made messages in testdata (PEM decoded).
func storedSamples(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/openssl-*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata samples: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".pem") {
			blk, _ := pem.Decode(b)
			if blk == nil {
				t.Fatalf("%s: no PEM block", f)
			}
			b = blk.Bytes
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestDecryptStoredSamples decrypts messages produced by OpenSSL 3.0.19
// (GCM stream BER, GCM with subjectKeyIdentifier, CBC with RSA-OAEP-SHA256,
// CBC stream BER, 3DES stream PEM). It needs no openssl binary.
func TestDecryptStoredSamples(t *testing.T) {
	r, err := testdataRecipient()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/sample.bin")
	if err != nil {
		t.Fatal(err)
	}
	for name, msg := range storedSamples(t) {
		got, err := Decrypt(msg, r.cert, r.key)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s: content differs", name)
		}
	}
}

// FuzzDecrypt: Decrypt must never panic, and whatever it accepts must be
// consistent (a second call gives the same result).
func FuzzDecrypt(f *testing.F) {
	r, err := testdataRecipient()
	if err != nil {
		f.Fatal(err)
	}
	for _, msg := range storedSamples(f) {
		f.Add(msg)
	}
	for _, alg := range allAlgorithms {
		for _, body := range [][]byte{nil, []byte("fuzz"), bytes.Repeat([]byte{0xa5}, 33)} {
			der, err := Encrypt(rand.Reader, body, alg, r.cert)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(der)
			f.Add(toBER(f, der, 7))
		}
	}
	for _, junk := range [][]byte{
		{}, {0x30}, {0x30, 0x80}, {0x30, 0x80, 0, 0}, {0x30, 0x00},
		{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff},
		bytes.Repeat([]byte{0x30, 0x80}, 200),
		bytes.Repeat([]byte{0x24, 0x80}, 60),
	} {
		f.Add(junk)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		got, err := Decrypt(data, r.cert, r.key)
		if !bytes.Equal(in, data) {
			t.Fatal("Decrypt modified its input")
		}
		if err != nil && got != nil {
			t.Fatal("error with non-nil content")
		}
	})
}
