package cms

import (
	"bytes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Algorithm
		auth bool
		typ  string
	}{
		{"aes128-cbc", AES128CBC, false, "enveloped-data"},
		{"aes256-cbc", AES256CBC, false, "enveloped-data"},
		{"aes128-gcm", AES128GCM, true, "authEnveloped-data"},
		{"aes256-gcm", AES256GCM, true, "authEnveloped-data"},
		{"des3", DES3CBC, false, "enveloped-data"},
		{" AES256-GCM ", AES256GCM, true, "authEnveloped-data"},
	} {
		got, err := ParseAlgorithm(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if got.Authenticated() != tc.auth || got.SMIMEType() != tc.typ || !got.Valid() {
			t.Errorf("%v: Authenticated=%v SMIMEType=%q Valid=%v", got, got.Authenticated(), got.SMIMEType(), got.Valid())
		}
		if back, err := ParseAlgorithm(got.String()); err != nil || back != got {
			t.Errorf("round trip %v: %v %v", got, back, err)
		}
	}
	for _, bad := range []string{"", "aes", "aes192-cbc", "aes192-gcm", "des", "rc2"} {
		if a, err := ParseAlgorithm(bad); err == nil {
			t.Errorf("ParseAlgorithm(%q) = %v, want error", bad, a)
		}
	}
	if Algorithm(0).Valid() || Algorithm(0).String() != "Algorithm(0)" || Algorithm(99).Authenticated() {
		t.Error("invalid algorithm values misbehave")
	}
	if DefaultAlgorithm != AES256CBC || !DES3CBC.Weak() || AES128CBC.Weak() {
		t.Error("DefaultAlgorithm/Weak")
	}
	if got := strings.Join(AlgorithmNames(), ","); got != "aes128-cbc,aes256-cbc,aes128-gcm,aes256-gcm,des3" {
		t.Errorf("AlgorithmNames = %s", got)
	}
}

// TestRoundTrip covers Encrypt→Decrypt for every algorithm and body, in DER
// and in a streaming-style BER rewrite of the same message.
func TestRoundTrip(t *testing.T) {
	alice := testRecipient(t, "alice")
	for _, alg := range allAlgorithms {
		for _, body := range testBodies(true) {
			t.Run(alg.String()+"/"+body.name, func(t *testing.T) {
				der, err := Encrypt(rand.Reader, body.data, alg, alice.cert)
				if err != nil {
					t.Fatal(err)
				}
				checkDERShape(t, der, alg)
				got, err := Decrypt(der, alice.cert, alice.key)
				if err != nil {
					t.Fatalf("Decrypt(DER): %v", err)
				}
				if !bytes.Equal(got, body.data) {
					t.Fatalf("Decrypt(DER) returned %d bytes, want %d (content differs)", len(got), len(body.data))
				}
				for _, chunk := range []int{1, 7, 4096} {
					if chunk == 1 && len(body.data) > 4096 {
						continue
					}
					ber := toBER(t, der, chunk)
					got, err := Decrypt(ber, alice.cert, alice.key)
					if err != nil {
						t.Fatalf("Decrypt(BER chunk %d): %v", chunk, err)
					}
					if !bytes.Equal(got, body.data) {
						t.Fatalf("Decrypt(BER chunk %d): content differs", chunk)
					}
				}
			})
		}
	}
}

// checkDERShape checks the outer structure, version numbers, lengths and
// algorithm parameters of our own output.
func checkDERShape(t *testing.T, der []byte, alg Algorithm) {
	t.Helper()
	ci, rest, err := parseElement(der, 0)
	if err != nil || len(rest) != 0 || ci.indefinite {
		t.Fatalf("outer: %v rest=%d", err, len(rest))
	}
	var walk func(e *element)
	walk = func(e *element) {
		if e.indefinite {
			t.Fatal("indefinite length in DER output")
		}
		if e.constructed {
			if e.is(classUniversal, tagOctetString) || e.is(classContext, 0) && e.depth == 4 {
				t.Fatal("constructed string in DER output")
			}
			r, _ := e.reader()
			for !r.empty() {
				c, err := r.next()
				if err != nil {
					t.Fatal(err)
				}
				walk(&c)
			}
		}
	}
	walk(&ci)
	r, _ := ci.reader()
	oidE, _ := r.next()
	wantType := oidEnvelopedData
	if alg.Authenticated() {
		wantType = oidAuthEnvelopedData
	}
	if !bytes.Equal(oidE.body, wantType) {
		t.Fatalf("content type %x", oidE.body)
	}
	x, _ := r.next()
	xr, _ := x.reader()
	inner, _ := xr.next()
	ir, _ := inner.reader()
	v, _ := ir.next()
	if n, err := smallInt(&v); err != nil || n != 0 {
		t.Fatalf("version %d %v", n, err)
	}
	_, _ = ir.next() // recipientInfos
	eci, _ := ir.next()
	er, _ := eci.reader()
	ct, _ := er.next()
	if !bytes.Equal(ct.body, oidData) {
		t.Fatal("inner content type is not id-data")
	}
	algE, _ := er.next()
	oid, params, err := algorithmIdentifier(&algE)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := alg.spec()
	if !bytes.Equal(oid, spec.oid) {
		t.Fatalf("algorithm OID %s", oidString(oid))
	}
	ec, _ := er.next()
	if !ec.is(classContext, 0) || ec.constructed {
		t.Fatal("encryptedContent is not primitive [0]")
	}
	if alg.Authenticated() {
		nonce, icv, err := gcmParameters(params)
		if err != nil || len(nonce) != 12 || icv != 16 {
			t.Fatalf("GCM params nonce=%d icv=%d err=%v", len(nonce), icv, err)
		}
		mac, err := ir.next()
		if err != nil || !mac.is(classUniversal, tagOctetString) || len(mac.body) != 16 {
			t.Fatalf("mac: %v", err)
		}
	} else {
		ivLen := 16
		if alg == DES3CBC {
			ivLen = 8
		}
		if !params.is(classUniversal, tagOctetString) || len(params.body) != ivLen {
			t.Fatal("CBC IV parameter")
		}
	}
	if !ir.empty() {
		t.Fatal("unexpected trailing fields (authAttrs/unprotectedAttrs?)")
	}
}

func TestEncryptErrors(t *testing.T) {
	alice := testRecipient(t, "alice")
	if _, err := Encrypt(rand.Reader, []byte("x"), Algorithm(0), alice.cert); err == nil {
		t.Error("invalid algorithm accepted")
	}
	if _, err := Encrypt(rand.Reader, []byte("x"), AES256CBC); err == nil {
		t.Error("no recipients accepted")
	}
	if _, err := Encrypt(rand.Reader, []byte("x"), AES256CBC, alice.cert, nil); err == nil {
		t.Error("nil recipient accepted")
	}
	if _, err := Encrypt(io.LimitReader(rand.Reader, 10), []byte("x"), AES256CBC, alice.cert); err == nil {
		t.Error("short random source accepted")
	}
	// Non-RSA recipient.
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := *alice.cert
	tmpl.PublicKey = nil
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, alice.cert, &ek.PublicKey, alice.key)
	if err != nil {
		t.Fatal(err)
	}
	ecCert, _ := x509.ParseCertificate(der)
	if _, err := Encrypt(rand.Reader, []byte("x"), AES256CBC, ecCert); err == nil || !strings.Contains(err.Error(), "RSA") {
		t.Errorf("EC recipient: %v", err)
	}
	// nil rand means crypto/rand.
	out, err := Encrypt(nil, []byte("x"), AES128GCM, alice.cert)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decrypt(out, alice.cert, alice.key); err != nil || string(got) != "x" {
		t.Fatalf("nil rand: %q %v", got, err)
	}
}

func TestEncryptDoesNotModifyContent(t *testing.T) {
	alice := testRecipient(t, "alice")
	body := testBodies(false)[0].data
	orig := bytes.Clone(body)
	for _, alg := range allAlgorithms {
		if _, err := Encrypt(rand.Reader, body, alg, alice.cert); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, orig) {
			t.Fatalf("%v modified the content", alg)
		}
	}
}

func TestTwoRecipients(t *testing.T) {
	alice, bob, carol := testRecipient(t, "alice"), testRecipient(t, "bob"), testRecipient(t, "carol")
	body := testBodies(false)[0].data
	for _, alg := range allAlgorithms {
		der, err := Encrypt(rand.Reader, body, alg, alice.cert, bob.cert)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*recipient{alice, bob} {
			got, err := Decrypt(der, r.cert, r.key)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%v %s: %v", alg, r.name, err)
			}
		}
		if _, err := Decrypt(der, carol.cert, carol.key); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("%v carol: %v, want ErrNoRecipient", alg, err)
		}
	}
}

func TestDecryptWrongKey(t *testing.T) {
	alice, bob := testRecipient(t, "alice"), testRecipient(t, "bob")
	body := []byte("secret payload 0123456789")
	for _, alg := range allAlgorithms {
		der, err := Encrypt(rand.Reader, body, alg, alice.cert)
		if err != nil {
			t.Fatal(err)
		}
		// Key that does not match the certificate.
		if got, err := Decrypt(der, alice.cert, bob.key); err == nil {
			t.Fatalf("%v: mismatched key accepted: %q", alg, got)
		}
		// Certificate that is not a recipient.
		if _, err := Decrypt(der, bob.cert, bob.key); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("%v: %v, want ErrNoRecipient", alg, err)
		}
		// A key that claims to be Alice's but is not: PKCS #1 v1.5 implicit
		// rejection yields a random CEK. GCM must fail; CBC fails unless the
		// garbage happens to carry valid padding, and never yields the body.
		for i := 0; i < 8; i++ {
			got, err := Decrypt(der, alice.cert, lyingDecrypter{pub: alice.cert.PublicKey, key: bob.key})
			if alg.Authenticated() && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("%v: lying key: %v, want ErrDecrypt", alg, err)
			}
			if err == nil && bytes.Equal(got, body) {
				t.Fatalf("%v: wrong key recovered the plaintext", alg)
			}
			if err != nil && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("%v: lying key: %v, want ErrDecrypt", alg, err)
			}
		}
	}
	if _, err := Decrypt(nil, nil, alice.key); err == nil {
		t.Fatal("nil cert accepted")
	}
	if _, err := Decrypt(nil, alice.cert, nil); err == nil {
		t.Fatal("nil key accepted")
	}
}

// TestTamperGCM flips one bit in every byte of a GCM message: the result must
// be an error or, for the few fields GCM does not cover and we do not check
// (e.g. the inner content-type OID), the exact original content. Flips in the
// nonce, ciphertext and tag must always fail.
func TestTamperGCM(t *testing.T) {
	alice := testRecipient(t, "alice")
	body := []byte("GCM protects integrity\r\n")
	for _, alg := range []Algorithm{AES128GCM, AES256GCM} {
		der, err := Encrypt(rand.Reader, body, alg, alice.cert)
		if err != nil {
			t.Fatal(err)
		}
		// The last 18+len(body) bytes are ciphertext, "04 10", tag; the
		// nonce follows the algorithm OID.
		spec, _ := alg.spec()
		prefix := append(tlv(0x06, spec.oid), 0x30, 0x11, 0x04, 0x0c)
		ctStart := len(der) - 18 - len(body)
		nonceStart := bytes.Index(der, prefix) + len(prefix)
		if nonceStart < len(prefix) {
			t.Fatal("GCM parameters not found")
		}
		failures := 0
		for i := range der {
			mod := bytes.Clone(der)
			mod[i] ^= 0x01
			got, err := Decrypt(mod, alice.cert, alice.key)
			critical := i >= ctStart || (i >= nonceStart && i < nonceStart+12)
			switch {
			case err == nil && !bytes.Equal(got, body):
				t.Fatalf("%v: flip at %d/%d returned different content without error", alg, i, len(der))
			case err == nil && critical:
				t.Fatalf("%v: flip at %d (nonce/ciphertext/tag) not detected", alg, i)
			case err != nil:
				failures++
			}
		}
		if failures < len(der)*9/10 {
			t.Errorf("%v: only %d of %d flips detected", alg, failures, len(der))
		}
	}
}

// fullPadBlock encrypts for r, with alg (CBC), a body of two blocks, so
// that the padding is one whole block of octets bs: the message's DER,
// the body and the block size.
func fullPadBlock(t *testing.T, alg Algorithm, r *recipient) (der, body []byte, bs int) {
	t.Helper()
	spec, _ := alg.spec()
	blk, _ := spec.newBlk(make([]byte, spec.keyLen))
	bs = blk.BlockSize()
	body = bytes.Repeat([]byte{'A'}, 2*bs)
	der, err := Encrypt(rand.Reader, body, alg, r.cert)
	if err != nil {
		t.Fatal(err)
	}
	return der, body, bs
}

// TestTamperCBC: CBC has no MAC, but a flip that breaks the padding must be
// reported, not returned as content.
func TestTamperCBC(t *testing.T) {
	alice := testRecipient(t, "alice")
	for _, alg := range []Algorithm{AES128CBC, AES256CBC, DES3CBC} {
		der, _, bs := fullPadBlock(t, alg, alice)
		// Flipping bit 0 of the last byte of the penultimate ciphertext block
		// turns the final pad byte bs into bs^1 = bs+1 > bs: invalid.
		mod := bytes.Clone(der)
		mod[len(mod)-bs-1] ^= 0x01
		if got, err := Decrypt(mod, alice.cert, alice.key); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("%v: padding corruption not detected: %q %v", alg, got, err)
		}
		// Any single-bit flip anywhere must not panic.
		for i := range der {
			mod := bytes.Clone(der)
			mod[i] ^= 0x80
			_, _ = Decrypt(mod, alice.cert, alice.key)
		}
	}
}

func TestTruncatedAndTrailing(t *testing.T) {
	alice := testRecipient(t, "alice")
	for _, alg := range allAlgorithms {
		der, err := Encrypt(rand.Reader, []byte("truncate me, please"), alg, alice.cert)
		if err != nil {
			t.Fatal(err)
		}
		for name, msg := range map[string][]byte{"der": der, "ber": toBER(t, der, 5)} {
			for n := 0; n < len(msg); n++ {
				if got, err := Decrypt(msg[:n], alice.cert, alice.key); err == nil {
					t.Fatalf("%v %s: prefix %d/%d accepted: %q", alg, name, n, len(msg), got)
				}
			}
			for _, tail := range [][]byte{{0}, {0, 0}, {0x04, 0x00}} {
				if _, err := Decrypt(append(bytes.Clone(msg), tail...), alice.cert, alice.key); err == nil {
					t.Fatalf("%v %s: trailing %x accepted", alg, name, tail)
				}
			}
		}
	}
}

// TestSubjectKeyIdentifierRID exercises the subjectKeyIdentifier matching
// path with a hand-built variant of our own output.
func TestSubjectKeyIdentifierRID(t *testing.T) {
	alice := testRecipient(t, "alice")
	der, err := Encrypt(rand.Reader, []byte("ski"), AES128GCM, alice.cert)
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the RID: IssuerAndSerialNumber → [0] SubjectKeyIdentifier.
	ias := tlv(0x30, alice.cert.RawIssuer, mustMarshalInt(t, alice.cert))
	i := bytes.Index(der, ias)
	if i < 0 {
		t.Fatal("IssuerAndSerialNumber not found")
	}
	ski := tlv(0x80, alice.cert.SubjectKeyId)
	mod := rebuild(t, der, ias, ski)
	got, err := Decrypt(mod, alice.cert, alice.key)
	if err != nil || string(got) != "ski" {
		t.Fatalf("SKI RID: %q %v", got, err)
	}
	// A certificate without the extension: the RFC 5280 method-1 value is used.
	noSKI := *alice.cert
	noSKI.SubjectKeyId = nil
	if got, err := Decrypt(mod, &noSKI, alice.key); err != nil || string(got) != "ski" {
		t.Fatalf("computed SKI: %q %v", got, err)
	}
	bad := rebuild(t, der, ias, tlv(0x80, []byte("not the key id")))
	if _, err := Decrypt(bad, alice.cert, alice.key); !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("wrong SKI: %v", err)
	}
}

func mustMarshalInt(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	b, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rebuild replaces old with new inside der and fixes every enclosing
// definite length by re-encoding the tree.
func rebuild(t *testing.T, der, old, new []byte) []byte {
	t.Helper()
	var re func(b []byte) []byte
	re = func(b []byte) []byte {
		var out []byte
		for len(b) > 0 {
			e, rest, err := parseElement(b, 0)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case bytes.Equal(e.raw, old):
				out = append(out, new...)
			case e.constructed:
				out = appendTLV(out, e.raw[:headerIDLen(e.raw)], re(e.body))
			default:
				out = append(out, e.raw...)
			}
			b = rest
		}
		return out
	}
	return re(der)
}

func TestConcurrentAlgorithms(t *testing.T) {
	alice, bob := testRecipient(t, "alice"), testRecipient(t, "bob")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 4; g++ {
		for _, alg := range allAlgorithms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					body := []byte(fmt.Sprintf("goroutine %d alg %v iteration %d %s", g, alg, i, strings.Repeat("x", i*13)))
					der, err := Encrypt(rand.Reader, body, alg, alice.cert, bob.cert)
					if err != nil {
						errs <- err
						return
					}
					r := alice
					if i%2 == 1 {
						r = bob
					}
					got, err := Decrypt(der, r.cert, r.key)
					if err != nil || !bytes.Equal(got, body) {
						errs <- fmt.Errorf("%v: %v", alg, err)
						return
					}
					// The ContentInfo type must match this goroutine's algorithm.
					wantAuth := bytes.Contains(der[:20], oidAuthEnvelopedData)
					if wantAuth != alg.Authenticated() {
						errs <- fmt.Errorf("%v: wrong content type (shared state?)", alg)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestUnpad(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		n    int
		good bool
	}{
		{append(bytes.Repeat([]byte{'a'}, 15), 1), 15, true},
		{bytes.Repeat([]byte{16}, 16), 0, true},
		{append(bytes.Repeat([]byte{'a'}, 14), 2, 2), 14, true},
		{append(bytes.Repeat([]byte{'a'}, 14), 1, 2), 0, false},
		{append(bytes.Repeat([]byte{'a'}, 15), 0), 0, false},
		{append(bytes.Repeat([]byte{'a'}, 15), 17), 0, false},
		{append(bytes.Repeat([]byte{'a'}, 15), 255), 0, false},
		{append(bytes.Repeat([]byte{16}, 15), 16), 0, true},
		{append(append(bytes.Repeat([]byte{'a'}, 16), 15), bytes.Repeat([]byte{16}, 15)...), 0, false},
	} {
		n, ok := unpad(tc.in, 16)
		if ok != tc.good || ok && n != tc.n {
			t.Errorf("unpad(%x) = %d,%v want %d,%v", tc.in, n, ok, tc.n, tc.good)
		}
	}
}

func TestBERReaderLimits(t *testing.T) {
	// Deeply nested indefinite lengths must fail cleanly, not overflow the stack.
	deep := bytes.Repeat([]byte{0x30, 0x80}, 100000)
	deep = append(deep, bytes.Repeat([]byte{0, 0}, 100000)...)
	if _, _, err := parseElement(deep, 0); !errors.Is(err, errTooDeep) {
		t.Fatalf("deep: %v", err)
	}
	for _, in := range [][]byte{
		{},
		{0x30},
		{0x30, 0x81},
		{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		{0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{0x04, 0x80, 0, 0},       // primitive indefinite
		{0x00, 0x00},             // bare EOC
		{0x30, 0xff},             // reserved length
		{0x1f, 0x80, 0x01, 0x00}, // high tag with leading 0x80
		{0x1f, 0x05, 0x00},       // high-tag form for a low tag
		{0x30, 0x80, 0x02, 0x01, 0x00},
	} {
		if _, _, err := parseElement(in, 0); err == nil {
			t.Errorf("parseElement(%x) accepted", in)
		}
	}
	e, rest, err := parseElement([]byte{0x3f, 0x81, 0x00, 0x80, 0x04, 0x01, 'x', 0, 0, 0xaa}, 0)
	if err != nil || e.tag != 128 || !e.indefinite || len(rest) != 1 {
		t.Fatalf("high tag indefinite: %+v %v", e, err)
	}
}

// TestAuthAttrs builds an AuthEnvelopedData with authAttrs (which openssl's
// CLI cannot produce) and checks they are authenticated as RFC 5083 says:
// AAD = DER of the attributes with the SET OF tag.
func TestAuthAttrs(t *testing.T) {
	alice := testRecipient(t, "alice")
	body := []byte("authenticated attributes")
	cek := bytes.Repeat([]byte{0x42}, 16)
	// Encrypt reads the content-encryption key first.
	der, err := Encrypt(io.MultiReader(bytes.NewReader(cek), rand.Reader), body, AES128GCM, alice.cert)
	if err != nil {
		t.Fatal(err)
	}
	// Take the message apart.
	ci, _, _ := parseElement(der, 0)
	r, _ := ci.reader()
	_, _ = r.next()
	x, _ := r.next()
	xr, _ := x.reader()
	inner, _ := xr.next()
	ir, _ := inner.reader()
	_, _ = ir.next()
	riSet, _ := ir.next()
	eci, _ := ir.next()
	er, _ := eci.reader()
	_, _ = er.next()
	algE, _ := er.next()
	_, params, _ := algorithmIdentifier(&algE)
	nonce, _, err := gcmParameters(params)
	if err != nil {
		t.Fatal(err)
	}

	// contentType attribute (1.2.840.113549.1.9.3) = id-data.
	attr := tlv(0x30, tlv(0x06, mustOIDBytes(1, 2, 840, 113549, 1, 9, 3)), tlv(0x31, tlv(0x06, oidData)))
	build := func(aadAttrs, sentAttrs []byte) []byte {
		blk, _ := AES128GCM.specMust().newBlk(cek)
		aead, _ := cipher.NewGCMWithTagSize(blk, 16)
		var aad []byte
		if aadAttrs != nil {
			aad = tlv(0x31, aadAttrs)
		}
		sealed := aead.Seal(nil, nonce, body, aad)
		ct, tag := sealed[:len(body)], sealed[len(body):]
		parts := [][]byte{{0x02, 0x01, 0x00}, riSet.raw,
			tlv(0x30, tlv(0x06, oidData), algE.raw, tlv(0x80, ct))}
		if sentAttrs != nil {
			parts = append(parts, tlv(0xa1, sentAttrs))
		}
		parts = append(parts, tlv(0x04, tag))
		return tlv(0x30, tlv(0x06, oidAuthEnvelopedData), tlv(0xa0, tlv(0x30, parts...)))
	}
	good := build(attr, attr)
	for name, msg := range map[string][]byte{"der": good, "ber": toBER(t, good, 3)} {
		got, err := Decrypt(msg, alice.cert, alice.key)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%s: with authAttrs: %q %v", name, got, err)
		}
	}
	otherAttr := tlv(0x30, tlv(0x06, mustOIDBytes(1, 2, 840, 113549, 1, 9, 3)), tlv(0x31, tlv(0x06, oidEnvelopedData)))
	for name, msg := range map[string][]byte{
		"attrs changed":    build(attr, otherAttr),
		"attrs dropped":    build(attr, nil),
		"attrs not in AAD": build(nil, attr),
	} {
		if _, err := Decrypt(msg, alice.cert, alice.key); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: %v, want ErrDecrypt", name, err)
		}
	}
}

// TestHostileBERCost: adversarial BER that maximises re-walking must be
// rejected or handled quickly (bounded work, no deep recursion).
func TestHostileBERCost(t *testing.T) {
	alice := testRecipient(t, "alice")
	der, err := Encrypt(rand.Reader, []byte("x"), AES128CBC, alice.cert)
	if err != nil {
		t.Fatal(err)
	}
	ber := toBER(t, der, 1)
	// Replace the encryptedContent (the last "[0] indefinite" with its
	// segments) by a deeply nested constructed string holding 1M empty
	// segments.
	i := bytes.LastIndex(ber, []byte{0xa0, 0x80})
	j := len(ber) - 8 // the 4 EOCs closing ECI, inner SEQ, [0], ContentInfo
	for _, nest := range []int{1, 4, 40} {
		var mid []byte
		mid = append(mid, 0xa0, 0x80)
		for k := 1; k < nest; k++ {
			mid = append(mid, 0x24, 0x80)
		}
		mid = append(mid, bytes.Repeat([]byte{0x04, 0x00}, 1<<20)...)
		mid = append(mid, bytes.Repeat([]byte{0, 0}, nest)...)
		msg := append(append(bytes.Clone(ber[:i]), mid...), ber[j:]...)
		start := time.Now()
		_, err := Decrypt(msg, alice.cert, alice.key)
		d := time.Since(start)
		t.Logf("nest %d, %d bytes: %v in %v", nest, len(msg), err, d)
		if err == nil {
			t.Fatalf("nest %d: accepted", nest)
		}
		if d > 10*time.Second {
			t.Fatalf("nest %d: took %v", nest, d)
		}
	}
}

// TestUnsupportedOIDClipped: an algorithm whose OID is far longer than any
// real one (whoever made the message chose it) is named by its start, so
// that the error, which becomes a suspended message's reason and a log
// line, stays short instead of growing with the message.
func TestUnsupportedOIDClipped(t *testing.T) {
	alice := testRecipient(t, "alice")
	der, err := Encrypt(rand.Reader, []byte("x"), AES128CBC, alice.cert)
	if err != nil {
		t.Fatal(err)
	}
	hugeOID := func(n int) []byte {
		return appendTLV(nil, []byte{0x06}, append([]byte{0x2a}, bytes.Repeat([]byte{0x01}, n)...))
	}
	tests := []struct {
		name     string
		old, new []byte
		want     string
	}{
		// The recipient infos may hold 1 MiB, the algorithm identifier
		// of the content 64 KiB (DecryptStream's bounds).
		{"key-encryption", tlv(0x06, oidRSAEncryption), hugeOID(500_000), "unsupported key-encryption algorithm (OID of 500001 octets"},
		{"content-encryption", tlv(0x06, oidAES128CBC), hugeOID(60_000), "unsupported content-encryption algorithm (OID of 60001 octets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := rebuild(t, der, tt.old, tt.new)
			_, err := Decrypt(msg, alice.cert, alice.key)
			_, serr := decryptStream(t.Context(), msg, alice.cert, alice.key)
			for _, err := range []error{err, serr} {
				if err == nil || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > 200 {
					t.Errorf("error of %d octets, want one under 200 with %q: %.300v", len(fmt.Sprint(err)), tt.want, err)
				}
			}
		})
	}
}

// TestEncryptNonRSARecipientNamesKey: a recipient certificate without an
// RSA key is refused naming its algorithm in words, as validate names it,
// not by a Go type (*ecdsa.PublicKey) that means nothing to an operator.
func TestEncryptNonRSARecipientNamesKey(t *testing.T) {
	alice := testRecipient(t, "alice")
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  any
		want string
	}{
		{"ECDSA", &ecKey.PublicKey, "has an ECDSA key"},
		{"Ed25519", edPub, "has an Ed25519 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := *alice.cert
			tmpl.PublicKey = nil
			der, err := x509.CreateCertificate(rand.Reader, &tmpl, alice.cert, tt.pub, alice.key)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Encrypt(rand.Reader, []byte("x"), AES256CBC, cert)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "PublicKey") {
				t.Errorf("Encrypt: %v, want it to say %q and name no Go type", err, tt.want)
			}
		})
	}
}
