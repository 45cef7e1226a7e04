package smime

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestCBCSpliceIsNoOracle: CBC has no integrity, and a signature covers
// only the first part of a multipart/signed: the header section of the
// entity an EnvelopedData holds, and the header of its signature part,
// are nobody's. Copying two ciphertext blocks (C[k-1] xor delta, C[k])
// into the ciphertext of a captured message, followed by a copy of the
// block before them (which restores the plaintext after), puts the
// plaintext of block k, xored with delta, between two random blocks in a
// header field value: the message then decodes, signature and party
// intact, exactly when none of those bytes is a line feed. Were such a
// message accepted (processed) while another delta is refused, the MDN
// would tell the sender whether P[k] xor delta holds a line feed: a
// format oracle that decrypts a captured message byte by byte. Every
// spliced message must therefore be refused, as a decryption failure,
// whatever delta; the message as sent still decodes. Clear and opaque
// signatures, openssl's layout (MIME-Version first: its value begins in
// the first block) and a header after the Content-Type.
func TestCBCSpliceIsNoOracle(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	dir := t.TempDir()
	groupKey := testpki.WriteFile(t, dir, "group.key", p.group.KeyPEM())
	payload := bytes.Repeat([]byte("ISA*00*confidential order line, price 4711.00*~"), 8)
	entity := append([]byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"), payload...)
	in := testpki.WriteFile(t, dir, "entity.mime", entity)
	keysAll := component.Keys{
		Decrypter:    &component.DecryptionIdentity{Cert: p.partner.Cert, Key: p.partner.Key.(crypto.Decrypter)},
		PartySigners: []component.PartyCertificate{{Party: "fabrikam", Cert: p.group.Cert}},
	}
	// One stage that decrypts and verifies; or one that decrypts, followed
	// by one that verifies (the first keeps the signature whole for the
	// second; a runner answers the second's refusals as the first's
	// decryption failures).
	both := newDecoderStage(t, true, true, component.DecoderEnv{Keys: keysAll})
	decrypting := newDecoderStage(t, true, false, component.DecoderEnv{Keys: keysAll, Followed: true})
	verifying := newDecoderStage(t, false, true, component.DecoderEnv{Keys: keysAll})
	pipelines := map[string][]component.DecodeStage{"one stage": {both}, "two stages": {decrypting, verifying}}
	for _, tt := range []struct {
		name string
		sign []string
	}{
		{"clear", nil},
		{"opaque", []string{"-nodetach"}},
	} {
		for pname, stages := range pipelines {
			decode := func(msg []byte) (component.Decoded, error) {
				var d component.Decoded
				h := component.Header{}
				for i, st := range stages {
					var out bytes.Buffer
					var err error
					if d, err = st.Decode(t.Context(), h, bytes.NewReader(msg), &out, time.Now()); err != nil {
						if i > 0 {
							err = component.Unauthenticated(err) // as the runner does
						}
						return d, err
					}
					msg, h = out.Bytes(), d.Header
				}
				return d, nil
			}
			t.Run(tt.name+"/"+pname, func(t *testing.T) {
				signed := run(t, nil, ossl, append([]string{"cms", "-sign", "-binary", "-in", in, "-signer", p.groupPEM, "-inkey", groupKey, "-md", "sha256"}, tt.sign...)...)
				if !bytes.HasPrefix(signed, []byte("MIME-Version: 1.")) {
					t.Fatalf("openssl's signed entity does not start with MIME-Version: %q", signed[:min(40, len(signed))])
				}
				der := run(t, nil, ossl, "cms", "-encrypt", "-binary", "-aes-256-cbc", "-outform", "DER",
					"-in", testpki.WriteFile(t, t.TempDir(), "signed.eml", signed), p.partnerPEM)
				wrap := func(der []byte) []byte {
					return append([]byte("Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: binary\r\n\r\n"), der...)
				}
				if d, err := decode(wrap(der)); err != nil || d.Party != "fabrikam" {
					t.Fatalf("the message as sent: party %q, %v; want fabrikam", d.Party, err)
				}
				ct := encryptedContent(t, der)
				const bs = 16
				blocks := len(ct) / bs
				accepted := 0
				// Blocks of the confidential payload (opaque: of the base64
				// that holds it), each tried as is and with the delta that
				// makes its first octet a line feed (the attacker tries every
				// delta; the one refused tells it the plaintext octet).
				first := blocks / 2
				if i := bytes.Index(signed, []byte("confidential")); i >= 0 {
					first = i/bs + 1
				}
				if first < 2 || first+6 > blocks {
					t.Fatalf("the payload is not where expected (block %d of %d)", first, blocks)
				}
				for k := first; k < first+6; k++ {
					for _, delta := range []byte{0, signed[k*bs] ^ '\n'} {
						spliced := append([]byte(nil), ct[:bs]...) // C1
						prev := append([]byte(nil), ct[(k-1)*bs:k*bs]...)
						prev[0] ^= delta
						spliced = append(spliced, prev...)              // C[k-1] xor delta
						spliced = append(spliced, ct[k*bs:(k+1)*bs]...) // C[k]
						spliced = append(spliced, ct[:bs]...)           // C1 again: restores P2
						spliced = append(spliced, ct[bs:]...)           // C2 ... Cn
						d, err := decode(wrap(replaceEncryptedContent(t, der, spliced)))
						if err == nil {
							accepted++
							t.Errorf("block %d, delta %#x (P xor delta = %q): a spliced ciphertext decoded (party %q), where a line feed there is refused: a format oracle",
								k, delta, xorFirst(signed[k*bs:(k+1)*bs], delta), d.Party)
							continue
						}
						if !errors.Is(err, component.ErrDecryptionFailed) {
							t.Errorf("block %d, delta %#x: %v, not a decryption failure", k, delta, err)
						}
						t.Logf("block %d, P xor delta = %q: refused: %v", k, xorFirst(signed[k*bs:(k+1)*bs], delta), err)
					}
				}
				t.Logf("%d spliced messages accepted", accepted)
			})
		}
	}
}

func xorFirst(b []byte, delta byte) []byte {
	b = append([]byte(nil), b...)
	b[0] ^= delta
	return b
}

// envelopeCI is the DER structure of an EnvelopedData ContentInfo, as far as
// the splice needs it.
type envelopeCI struct {
	Type    asn1.ObjectIdentifier
	Content struct {
		Version    int
		Recipients asn1.RawValue
		ECI        struct {
			Type      asn1.ObjectIdentifier
			Alg       asn1.RawValue
			Encrypted asn1.RawValue `asn1:"tag:0"`
		}
	} `asn1:"explicit,tag:0"`
}

func encryptedContent(t testing.TB, der []byte) []byte {
	t.Helper()
	var ci envelopeCI
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		t.Fatalf("parsing openssl's EnvelopedData: %v", err)
	}
	if ci.Content.ECI.Encrypted.IsCompound {
		t.Fatal("openssl wrote the encrypted content constructed")
	}
	return ci.Content.ECI.Encrypted.Bytes
}

func replaceEncryptedContent(t testing.TB, der, ct []byte) []byte {
	t.Helper()
	var ci envelopeCI
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		t.Fatal(err)
	}
	ci.Content.ECI.Encrypted = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: ct}
	out, err := asn1.Marshal(ci)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCBCPaddingDecodedAlike: blocks appended to a captured message's
// ciphertext (R, then any block C[j] of it) decrypt after the content,
// and the message ends with a good padding or a bad one depending on
// P[j] xor C[j-1] xor R, which the sender chooses R to learn. Both are
// refused, as decryption failures, but a bad padding refused at once
// would be answered sooner than a good one, refused only after the whole
// content was read (its epilogue is not blank): the time would be the
// padding oracle the answer is not. So a bad padding's content is decoded
// as a good one's is: the same layers, the same checks, in the same
// order (DecodeOptions.trace), before the refusal.
func TestCBCPaddingDecodedAlike(t *testing.T) {
	for _, opaque := range []bool{false, true} {
		t.Run(fmt.Sprintf("opaque=%v", opaque), func(t *testing.T) {
			pr := newPaddingProbe(t, opaque, 8)
			decode := func(last byte) ([]string, error) {
				var steps []string
				opts := pr.opts
				opts.SpoolDir, opts.trace = t.TempDir(), func(s string) { steps = append(steps, s) }
				var out bytes.Buffer
				_, err := DecodeStream(t.Context(), bytes.NewReader(pr.msg(last)), &out, opts)
				if err == nil || out.Len() > 0 {
					t.Fatalf("last octet %#x: decoded (%d octets written)", last, out.Len())
				}
				if !errors.Is(err, component.ErrDecryptionFailed) {
					t.Errorf("last octet %#x: %v, not a decryption failure", last, err)
				}
				return steps, err
			}
			good, goodErr := decode(0x01)
			bad, badErr := decode(0x02)
			if !errors.Is(badErr, cms.ErrBadPadding) || errors.Is(goodErr, cms.ErrBadPadding) {
				t.Fatalf("the padding was not what the test made it: good %v; bad %v", goodErr, badErr)
			}
			if !slices.Equal(good, bad) || len(good) < 2 {
				t.Errorf("a good padding and a bad one were decoded differently:\ngood: %q\nbad:  %q", good, bad)
			}
			t.Logf("both: %q", good)
		})
	}
}

// BenchmarkCBCPadding times the decoding of a captured 10 MB message with
// two blocks appended (TestCBCPaddingDecodedAlike), its padding good or
// bad: the two should take the same time.
func BenchmarkCBCPadding(b *testing.B) {
	for _, opaque := range []bool{false, true} {
		pr := newPaddingProbe(b, opaque, 10<<20/48)
		for _, last := range []byte{0x01, 0x02} {
			name := map[byte]string{0x01: "good", 0x02: "bad"}[last]
			b.Run(fmt.Sprintf("opaque=%v/%s", opaque, name), func(b *testing.B) {
				msg := pr.msg(last)
				opts := pr.opts
				opts.SpoolDir = b.TempDir()
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					if _, err := DecodeStream(b.Context(), bytes.NewReader(msg), io.Discard, opts); err == nil {
						b.Fatal("decoded")
					}
				}
			})
		}
	}
}

// paddingProbe is a captured message, AES-256-CBC over a signed entity,
// to which blocks are appended that end its plaintext with a chosen
// octet (msg).
type paddingProbe struct {
	der, ct, d []byte // d: the plaintext block the appended C[j] gives under R = 0
	opts       DecodeOptions
	t          testing.TB
}

const probeBlock, probeJ = 16, 3

// newPaddingProbe signs (opaque: -nodetach) and encrypts with openssl an
// entity of repeat lines of 48 octets.
func newPaddingProbe(t testing.TB, opaque bool, repeat int) *paddingProbe {
	ossl := openssl(t)
	p := newPKI(t)
	dir := t.TempDir()
	groupKey := testpki.WriteFile(t, dir, "group.key", p.group.KeyPEM())
	entity := append([]byte("Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"),
		bytes.Repeat([]byte("ISA*00*confidential order line, price 4711.00*~"), repeat)...)
	in := testpki.WriteFile(t, dir, "entity.mime", entity)
	args := []string{"cms", "-sign", "-binary", "-in", in, "-signer", p.groupPEM, "-inkey", groupKey, "-md", "sha256"}
	if opaque {
		args = append(args, "-nodetach")
	}
	signed := run(t, nil, ossl, args...)
	der := run(t, nil, ossl, "cms", "-encrypt", "-binary", "-aes-256-cbc", "-outform", "DER",
		"-in", testpki.WriteFile(t, dir, "signed.eml", signed), p.partnerPEM)
	ct := encryptedContent(t, der)
	// D(C[j]) = P[j] xor C[j-1].
	d := make([]byte, probeBlock)
	for i := range d {
		d[i] = signed[probeJ*probeBlock+i] ^ ct[(probeJ-1)*probeBlock+i]
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.Cert)
	return &paddingProbe{der: der, ct: ct, d: d, t: t, opts: DecodeOptions{
		Cert: p.partner.Cert, Key: p.partner.Key.(crypto.Decrypter), Roots: roots,
		Parties: []component.PartyCertificate{{Party: "fabrikam", Cert: p.group.Cert}},
	}}
}

// msg is the message with R and C[j] appended, R chosen so that the
// plaintext ends in last, the octet before it 0x00: 0x01 is a good
// padding, 0x02 a bad one.
func (pr *paddingProbe) msg(last byte) []byte {
	r := bytes.Repeat([]byte{0x5a}, probeBlock)
	r[probeBlock-2], r[probeBlock-1] = pr.d[probeBlock-2], pr.d[probeBlock-1]^last
	appended := append(append(append([]byte(nil), pr.ct...), r...), pr.ct[probeJ*probeBlock:(probeJ+1)*probeBlock]...)
	return append([]byte("Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: binary\r\n\r\n"),
		replaceEncryptedContent(pr.t, pr.der, appended)...)
}
