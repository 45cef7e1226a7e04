package as2

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

func TestParseAlg(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Alg
		ok   bool
	}{
		{"sha256", SHA256, true},
		{"SHA-256", SHA256, true},
		{" sha-256 ", SHA256, true},
		{"Sha384", SHA384, true},
		{"SHA-512", SHA512, true},
		{"sha1", SHA1, true},
		{"SHA-1", SHA1, true},
		{"md5", 0, false},
		{"", 0, false},
		{"sha-224", 0, false},
	} {
		got, err := ParseAlg(tc.in)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("ParseAlg(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMICFormatAndParse(t *testing.T) {
	m := ComputeMIC(SHA256, []byte("hello"))
	s := m.String()
	if !strings.HasSuffix(s, ", sha-256") {
		t.Fatalf("MIC.String() = %q", s)
	}
	for _, in := range []string{
		s,
		strings.Replace(s, "sha-256", "SHA-256", 1), // libas2
		strings.Replace(s, "sha-256", "sha256", 1),
		" " + strings.Replace(s, ", ", " ,  ", 1) + " ",
	} {
		got, err := ParseMIC(in)
		if err != nil || !got.Equal(m) {
			t.Errorf("ParseMIC(%q) = %v, %v; want %v", in, got, err, m)
		}
	}
	for _, bad := range []string{
		"", "abc", "!!!, sha-256", base64.StdEncoding.EncodeToString([]byte("short")) + ", sha-256",
		base64.StdEncoding.EncodeToString(m.Digest) + ", md5",
	} {
		if _, err := ParseMIC(bad); err == nil {
			t.Errorf("ParseMIC(%q) succeeded", bad)
		}
	}
	if ComputeMIC(SHA1, []byte("hello")).Equal(ComputeMIC(SHA256, []byte("hello"))) {
		t.Error("MICs of different algorithms compare equal")
	}
	// The algorithm is compared, not only the digest: the same bytes
	// named sha-256 and another algorithm are not the same MIC.
	for _, other := range []Alg{SHA384, SHA512, SHA1} {
		m := ComputeMIC(SHA256, []byte("hello"))
		if named := (MIC{Alg: other, Digest: m.Digest}); m.Equal(named) || named.Equal(m) {
			t.Errorf("a %s MIC compares equal to the same digest named %s", SHA256, other)
		}
	}
	if (MIC{}).Equal(MIC{}) {
		t.Error("empty MICs compare equal")
	}
}

func TestHasher(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	h := NewHasher()
	h.Write(data[:17])
	h.Write(data[17:])
	for _, a := range algs {
		if got, want := h.MIC(a), ComputeMIC(a, data); !got.Equal(want) {
			t.Errorf("%v: %v, want %v", a, got, want)
		}
	}
}

// TestMessageMIC checks RFC 4130 §7.3.1 on messages built by the smime
// Encoder: for a signed message the MIC equals the message digest the
// signer put in its signature (so it covers exactly the signed entity,
// headers and transfer encoding included), before and after encryption;
// unsigned, it covers the body (plain) or the decrypted entity.
func TestMessageMIC(t *testing.T) {
	us, them := newParty(t, "CONTOSO"), newParty(t, "FABRIKAM")
	binary := make([]byte, 3000)
	for i := range binary {
		binary[i] = byte(i * 7)
	}
	binary = append(binary, "\r\n\n\r\x00--trailing"...)
	for _, tc := range []struct {
		name, ct, cte, digest string
		body                  []byte
	}{
		{"binary/base64", "application/octet-stream", "base64", "sha256", binary},
		{"binary/binary", "application/octet-stream", "binary", "sha256", binary},
		{"edi/binary/sha384", "application/edi-x12", "binary", "sha384", []byte("ISA*00*~\r\nGS*PO~\n\x00")},
		{"text-crlf/base64", "text/plain; charset=utf-8", "base64", "sha256", []byte("line one\r\nline two\r\n")},
		{"text-crlf/binary", "text/plain", "binary", "sha512", []byte("line one\r\nline two\r\n")},
		{"text-lf/8bit", "text/plain", "8bit", "sha1", []byte("line one\nline two\n")},
		{"text-crlf/quoted-printable", "text/plain", "quoted-printable", "sha256", []byte("caf\xc3\xa9 = ok\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alg, err := ParseAlg(tc.digest)
			if err != nil {
				t.Fatal(err)
			}
			plain := signedMessage(t, us, nil, tc.ct, tc.body, tc.cte, tc.digest, true)
			want := signedDigest(t, plain)
			got, err := MessageMIC(plain, false, alg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Digest, want) {
				t.Fatalf("MIC of the signed message %x, the signature's message digest %x", got.Digest, want)
			}

			// The S/MIME decoder's own MIC (what a receive pipeline gets)
			// is the same.
			if d := decodeMIC(t, plain, us, them, alg); !bytes.Equal(d, got.Digest) {
				t.Fatalf("smime.Decode's MIC %x, MessageMIC %x", d, got.Digest)
			}

			// Encrypted: the receiver decrypts and gets the same MIC.
			enc := signedMessage(t, us, them, tc.ct, tc.body, tc.cte, tc.digest, true)
			dec, wasEnc, err := Decrypt(enc, them.Cert.Cert, them.decrypter(t))
			if err != nil || !wasEnc {
				t.Fatalf("Decrypt: %v (encrypted %v)", err, wasEnc)
			}
			got, err = MessageMIC(dec, true, alg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Digest, signedDigest(t, dec)) {
				t.Fatal("MIC of the decrypted signed message differs from its signature's message digest")
			}
			if d := decodeMIC(t, enc, us, them, alg); !bytes.Equal(d, got.Digest) {
				t.Fatalf("smime.Decode's MIC of the encrypted message %x, MessageMIC %x", d, got.Digest)
			}

			// Encrypted, not signed: the decrypted entity.
			encOnly := signedMessage(t, us, them, tc.ct, tc.body, tc.cte, tc.digest, false)
			dec, _, err = Decrypt(encOnly, them.Cert.Cert, them.decrypter(t))
			if err != nil {
				t.Fatal(err)
			}
			want = ComputeMIC(alg, dec).Digest
			if got, err := MessageMIC(dec, true, alg); err != nil || !bytes.Equal(got.Digest, want) {
				t.Fatalf("unsigned, encrypted: MessageMIC %v, %v", got, err)
			}
			if d := decodeMIC(t, encOnly, us, them, alg); !bytes.Equal(d, want) {
				t.Fatalf("unsigned, encrypted: smime.Decode's MIC %x, want %x", d, want)
			}
		})
	}
}

func TestMessageMICUnsigned(t *testing.T) {
	body := []byte("UNB+UNOA:1\r\n")
	entity := append([]byte("Content-Type: application/edifact\r\nAS2-From: X\r\n\r\n"), body...)
	got, err := MessageMIC(entity, false, SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(body); !bytes.Equal(got.Digest, want[:]) {
		t.Error("unsigned, unencrypted: the MIC does not cover the body alone")
	}
	if d := decodeMIC(t, entity, nil, nil, SHA256); !bytes.Equal(d, got.Digest) {
		t.Errorf("unsigned, unencrypted: smime.Decode's MIC %x, MessageMIC %x", d, got.Digest)
	}
	got, err = MessageMIC(entity, true, SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(entity); !bytes.Equal(got.Digest, want[:]) {
		t.Error("unsigned, encrypted: the MIC does not cover the decrypted entity")
	}
}

// decodeMIC returns the MIC smime.Decode computes (DecodeOptions.MICHash)
// for a message from signer to recipient (either may be nil).
func decodeMIC(t *testing.T, entity []byte, signer, recipient *party, alg Alg) []byte {
	t.Helper()
	opts := smime.DecodeOptions{MICHash: alg.Hash()}
	if signer != nil {
		opts.Roots = x509.NewCertPool()
		opts.Roots.AddCert(signer.Cert.Cert)
	}
	if recipient != nil {
		opts.Cert, opts.Key = recipient.Cert.Cert, recipient.decrypter(t)
	}
	d, err := smime.Decode(entity, opts)
	if err != nil {
		t.Fatalf("smime.Decode: %v", err)
	}
	return d.MIC
}
