package cms

import (
	"crypto/rand"
	"fmt"
	"testing"
)

var benchSizes = []struct {
	name string
	n    int
}{
	{"4KiB", 4 << 10},
	{"1MiB", 1 << 20},
}

// BenchmarkEncrypt measures Encrypt for one RSA-2048 recipient. At 4 KiB the
// RSA public-key operation dominates; at 1 MiB the symmetric cipher does.
func BenchmarkEncrypt(b *testing.B) {
	r := testRecipient(b, "alice")
	for _, alg := range allAlgorithms {
		for _, sz := range benchSizes {
			body := make([]byte, sz.n)
			_, _ = rand.Read(body)
			b.Run(fmt.Sprintf("%v/%s", alg, sz.name), func(b *testing.B) {
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Encrypt(rand.Reader, body, alg, r.cert); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecrypt measures Decrypt (RSA-2048 private-key operation plus
// the symmetric cipher) of our DER output and of its streaming BER form.
func BenchmarkDecrypt(b *testing.B) {
	r := testRecipient(b, "alice")
	for _, alg := range allAlgorithms {
		for _, sz := range benchSizes {
			body := make([]byte, sz.n)
			_, _ = rand.Read(body)
			der, err := Encrypt(rand.Reader, body, alg, r.cert)
			if err != nil {
				b.Fatal(err)
			}
			for _, form := range []string{"der", "ber"} {
				msg := der
				if form == "ber" {
					msg = toBER(b, der, 4096)
				}
				b.Run(fmt.Sprintf("%v/%s/%s", alg, sz.name, form), func(b *testing.B) {
					b.SetBytes(int64(sz.n))
					b.ReportAllocs()
					for b.Loop() {
						if _, err := Decrypt(msg, r.cert, r.key); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
