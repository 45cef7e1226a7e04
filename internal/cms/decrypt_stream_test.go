package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/smallstep/pkcs7"
)

// decryptStream runs DecryptStream over msg and returns what it wrote.
func decryptStream(ctx context.Context, msg []byte, cert *x509.Certificate, key crypto.Decrypter) ([]byte, error) {
	var out bytes.Buffer
	err := DecryptStream(ctx, bytes.NewReader(msg), int64(len(msg)), cert, key, &out)
	return out.Bytes(), err
}

// checkSameAsDecrypt: DecryptStream accepts exactly what Decrypt accepts,
// with the same content, and fails with the same sentinel errors.
func checkSameAsDecrypt(t testing.TB, name string, msg []byte, cert *x509.Certificate, key crypto.Decrypter) {
	t.Helper()
	key = detDecrypter{key}
	want, wantErr := Decrypt(msg, cert, key)
	got, err := decryptStream(context.Background(), msg, cert, key)
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("%s: Decrypt succeeded, DecryptStream: %v", name, err)
	case wantErr != nil && err == nil:
		t.Fatalf("%s: Decrypt failed (%v), DecryptStream succeeded", name, wantErr)
	case err == nil && !bytes.Equal(got, want):
		t.Fatalf("%s: contents differ (%d and %d octets)", name, len(got), len(want))
	case err != nil:
		for _, sentinel := range []error{ErrDecrypt, ErrNoRecipient} {
			if errors.Is(wantErr, sentinel) != errors.Is(err, sentinel) {
				t.Fatalf("%s: Decrypt: %v; DecryptStream: %v", name, wantErr, err)
			}
		}
	}
}

// detDecrypter makes the "random" key of PKCS #1 v1.5 implicit rejection
// the same on every call, so that two decryptions of a damaged key block
// can be compared.
type detDecrypter struct{ k crypto.Decrypter }

func (d detDecrypter) Public() crypto.PublicKey { return d.k.Public() }
func (d detDecrypter) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return d.k.Decrypt(mrand.NewChaCha8([32]byte{42}), msg, opts)
}

// TestGHASHOpenMatchesStdlib: the incremental GCM decryption agrees with
// crypto/cipher on random keys, nonces (12 octets and others), tag lengths,
// AAD and plaintext lengths, fed in random chunks; a changed tag, AAD or
// ciphertext octet fails.
func TestGHASHOpenMatchesStdlib(t *testing.T) {
	rng := mrand.New(mrand.NewChaCha8([32]byte{7}))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for i := range 400 {
		key := rnd([]int{16, 24, 32}[i%3])
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		nonceLen, tagLen := 12, 12+i%5
		if i%4 == 3 {
			nonceLen, tagLen = []int{1, 8, 16, 60, 64}[i%5], 16
		}
		var aead cipher.AEAD
		if nonceLen == 12 {
			aead, err = cipher.NewGCMWithTagSize(block, tagLen)
		} else {
			aead, err = cipher.NewGCMWithNonceSize(block, nonceLen)
		}
		if err != nil {
			t.Fatal(err)
		}
		ptLen, maxChunk := rng.IntN(3000), 70
		if i%8 == 0 { // across several bulk chunks, fed in pieces of any size
			ptLen, maxChunk = rng.IntN(5*bulkChunk), 3*bulkChunk/2
		}
		nonce, aad, pt := rnd(nonceLen), rnd(rng.IntN(70)), rnd(ptLen)
		sealed := aead.Seal(nil, nonce, pt, aad)
		ct, tag := sealed[:len(pt)], sealed[len(pt):]

		open := func(ct, aad, tag []byte) ([]byte, bool) {
			o, err := newGCMOpener(block, nonce, aad)
			if err != nil {
				t.Fatal(err)
			}
			out := bytes.Clone(ct)
			for rest := out; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(maxChunk))
				if err := o.decrypt(rest[:n], rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			return out, o.verify(tag)
		}
		got, ok := open(ct, aad, tag)
		if !ok || !bytes.Equal(got, pt) {
			t.Fatalf("case %d (nonce %d, tag %d, aad %d, pt %d): ok=%v, plaintext equal=%v", i, nonceLen, tagLen, len(aad), len(pt), ok, bytes.Equal(got, pt))
		}
		badTag := bytes.Clone(tag)
		badTag[rng.IntN(len(badTag))] ^= 1 << rng.IntN(8)
		if _, ok := open(ct, aad, badTag); ok {
			t.Fatalf("case %d: changed tag verified", i)
		}
		if len(aad) > 0 {
			bad := bytes.Clone(aad)
			bad[rng.IntN(len(bad))] ^= 1
			if _, ok := open(ct, bad, tag); ok {
				t.Fatalf("case %d: changed AAD verified", i)
			}
		}
		if len(ct) > 0 {
			bad := bytes.Clone(ct)
			bad[rng.IntN(len(bad))] ^= 1
			if _, ok := open(bad, aad, tag); ok {
				t.Fatalf("case %d: changed ciphertext verified", i)
			}
		}
	}
}

// TestGFMul: the bit-serial multiplication agrees with the table one,
// and powers of H are products of H.
func TestGFMul(t *testing.T) {
	rng := mrand.New(mrand.NewChaCha8([32]byte{5}))
	for range 200 {
		var hb [16]byte
		for i := range hb {
			hb[i] = byte(rng.Uint32())
		}
		g := newGHASH(hb[:])
		h := ghashElement{binary.BigEndian.Uint64(hb[:8]), binary.BigEndian.Uint64(hb[8:])}
		y := ghashElement{rng.Uint64(), rng.Uint64()}
		want := g.mulH(y)
		if got := gfMul(y, h); got != want {
			t.Fatalf("gfMul(%x, %x) = %x, table says %x", y, h, got, want)
		}
		n := rng.IntN(300)
		p := ghashElement{low: 1 << 63}
		for range n {
			p = g.mulH(p)
		}
		if got := gfPow(h, n); got != p {
			t.Fatalf("gfPow(h, %d) = %x, want %x", n, got, p)
		}
	}
}

// TestGHASHOpenNIST: test cases 4 and 6 of the GCM specification
// (McGrew and Viega), with a 96-bit and a 480-bit IV.
func TestGHASHOpenNIST(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const (
		key = "feffe9928665731c6d6a8f9467308308"
		pt  = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
		aad = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
	)
	for _, tc := range []struct{ name, iv, ct, tag string }{
		{"case4", "cafebabefacedbaddecaf888",
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
			"5bc94fbc3221a5db94fae95ae7121a47"},
		{"case6", "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
			"8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
			"619cc5aefffe0bfa462af43c1699d050"},
	} {
		block, err := aes.NewCipher(h(key))
		if err != nil {
			t.Fatal(err)
		}
		o, err := newGCMOpener(block, h(tc.iv), h(aad))
		if err != nil {
			t.Fatal(err)
		}
		got := h(tc.ct)
		if err := o.decrypt(got, got); err != nil {
			t.Fatal(err)
		}
		if !o.verify(h(tc.tag)) || !bytes.Equal(got, h(pt)) {
			t.Errorf("%s: tag or plaintext wrong: %x", tc.name, got)
		}
	}
}

// TestGCMCounterWrap: only the low 32 bits of the counter increment, also
// where they wrap (reachable with nonces other than 96 bits).
func TestGCMCounterWrap(t *testing.T) {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	o, err := newGCMOpener(block, make([]byte, 12), nil)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(o.counter[12:], 0xfffffffe)
	start := o.counter
	got := make([]byte, 5*gcmBlock+3)
	for i := 0; i < len(got); i += 7 {
		n := min(7, len(got)-i)
		if err := o.decrypt(got[i:i+n], got[i:i+n]); err != nil {
			t.Fatal(err)
		}
	}
	var want []byte
	c := start
	for len(want) < len(got) {
		var ks [gcmBlock]byte
		block.Encrypt(ks[:], c[:])
		want = append(want, ks[:]...)
		incr32(&c)
	}
	if !bytes.Equal(got, want[:len(got)]) {
		t.Fatalf("keystream across the 32-bit wrap differs:\n got %x\nwant %x", got, want[:len(got)])
	}
	if c[11] != start[11] {
		t.Fatal("test counter carried into the nonce")
	}
}

// TestDecryptStreamLikeDecrypt: on our own messages (DER and chunked BER),
// every prefix, one-bit flips of every octet, trailing data, the stored
// OpenSSL samples and wrong keys, DecryptStream agrees with Decrypt.
func TestDecryptStreamLikeDecrypt(t *testing.T) {
	alice, bob := testRecipient(t, "alice"), testRecipient(t, "bob")
	for _, alg := range allAlgorithms {
		t.Run(alg.String(), func(t *testing.T) {
			t.Parallel()
			for _, body := range testBodies(true) {
				der, err := Encrypt(rand.Reader, body.data, alg, alice.cert)
				if err != nil {
					t.Fatal(err)
				}
				for _, chunk := range []int{0, 5, 4096} {
					msg := der
					if chunk > 0 {
						msg = toBER(t, der, chunk)
					}
					name := alg.String() + "/" + body.name
					checkSameAsDecrypt(t, name, msg, alice.cert, alice.key)
					checkSameAsDecrypt(t, name+"/not-a-recipient", msg, bob.cert, bob.key)
					checkSameAsDecrypt(t, name+"/lying-key", msg, alice.cert, lyingDecrypter{pub: alice.cert.PublicKey, key: bob.key})
					if body.name != "odd17" || chunk == 4096 {
						continue // the exhaustive mutations run on one small body
					}
					for n := 0; n < len(msg); n++ {
						checkSameAsDecrypt(t, name+"/prefix", msg[:n], alice.cert, alice.key)
					}
					for i := range msg {
						mod := bytes.Clone(msg)
						mod[i] ^= 0x01
						checkSameAsDecrypt(t, name+"/flip", mod, alice.cert, alice.key)
					}
					for _, tail := range [][]byte{{0}, {0, 0}, {0x04, 0x00}} {
						checkSameAsDecrypt(t, name+"/trailing", append(bytes.Clone(msg), tail...), alice.cert, alice.key)
					}
				}
			}
		})
	}
	r, err := testdataRecipient()
	if err != nil {
		t.Fatal(err)
	}
	for name, msg := range storedSamples(t) {
		checkSameAsDecrypt(t, name, msg, r.cert, r.key)
	}
}

// TestDecryptStreamGCMFailureAfterContent: with a wrong tag, the plaintext
// was written (DecryptStream cannot know before the end) but the error is
// ErrDecrypt, which obliges the caller to discard it.
func TestDecryptStreamGCMFailureAfterContent(t *testing.T) {
	alice := testRecipient(t, "alice")
	body := bytes.Repeat([]byte("tag at the end "), 1000)
	der, err := Encrypt(rand.Reader, body, AES256GCM, alice.cert)
	if err != nil {
		t.Fatal(err)
	}
	der[len(der)-1] ^= 1 // the mac is the last element
	if _, err := decryptStream(context.Background(), der, alice.cert, alice.key); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered tag: %v, want ErrDecrypt", err)
	}
}

// TestDecryptStreamBadPaddingGivesContent: a CBC padding that does not
// check is ErrBadPadding, which is ErrDecrypt with ErrDecrypt's text, and
// the whole content was written, the last block included: the caller
// decodes it as it would a good one, so that the time of its answer does
// not tell the padding.
func TestDecryptStreamBadPaddingGivesContent(t *testing.T) {
	alice := testRecipient(t, "alice")
	for _, alg := range []Algorithm{AES128CBC, AES256CBC, DES3CBC} {
		der, body, bs := fullPadBlock(t, alg, alice)
		// As TestTamperCBC: the last pad octet becomes bs+1.
		der[len(der)-bs-1] ^= 0x01
		got, err := decryptStream(context.Background(), der, alice.cert, alice.key)
		if !errors.Is(err, ErrBadPadding) || !errors.Is(err, ErrDecrypt) || err.Error() != ErrDecrypt.Error() {
			t.Fatalf("%v: bad padding: %v; want ErrBadPadding, also ErrDecrypt, with ErrDecrypt's text", alg, err)
		}
		// The flip garbled the second block and changed the last.
		lastBlock := append(bytes.Repeat([]byte{byte(bs)}, bs-1), byte(bs)^1)
		if len(got) != 3*bs || !bytes.Equal(got[:bs], body[:bs]) || !bytes.Equal(got[2*bs:], lastBlock) {
			t.Fatalf("%v: bad padding wrote %d octets (%q), want the whole content, %d octets, the padding block included", alg, len(got), got, 3*bs)
		}
		// Any other failure is not ErrBadPadding.
		der[len(der)-bs-1] ^= 0x01
		if _, err := decryptStream(context.Background(), der, testRecipient(t, "bob").cert, alice.key); err == nil || errors.Is(err, ErrBadPadding) {
			t.Fatalf("%v: wrong recipient: %v", alg, err)
		}
	}
}

// TestDecryptStreamCancelled: a cancelled context stops the walk.
func TestDecryptStreamCancelled(t *testing.T) {
	alice := testRecipient(t, "alice")
	der, err := Encrypt(rand.Reader, make([]byte, 1<<20), AES128CBC, alice.cert)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, msg := range [][]byte{der, toBER(t, der, 16)} {
		if _, err := decryptStream(ctx, msg, alice.cert, alice.key); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
	}
}

// TestDecryptStreamOpenSSLStream: large "openssl cms -encrypt -stream"
// output (indefinite lengths, constructed OCTET STRING) decrypts exactly.
func TestDecryptStreamOpenSSLStream(t *testing.T) {
	openssl(t)
	alice := testRecipient(t, "alice")
	dir := t.TempDir()
	certPath, _ := alice.writePEMs(t, dir)
	body := make([]byte, 3<<20+5)
	r := mrand.NewChaCha8([32]byte{9})
	_, _ = r.Read(body)
	in := filepath.Join(dir, "body.bin")
	if err := os.WriteFile(in, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"-aes-256-cbc", "-aes-256-gcm", "-aes-128-gcm", "-des-ede3-cbc"} {
		t.Run(flag, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "msg.der")
			runOpenSSL(t, "cms", "-encrypt", "-binary", "-stream", "-outform", "DER", flag, "-in", in, "-out", out, "-recip", certPath)
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := DecryptStream(context.Background(), f, st.Size(), alice.cert, alice.key, &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), body) {
				t.Fatal("content differs")
			}
		})
	}
}

// TestStreamSignedData: the content of "openssl cms -sign -nodetach
// -stream" output comes out exactly, and the detached remainder verifies
// with pkcs7 against it.
func TestStreamSignedData(t *testing.T) {
	openssl(t)
	alice := testRecipient(t, "alice")
	dir := t.TempDir()
	certPath, keyPath := alice.writePEMs(t, dir)
	body := make([]byte, 1<<20+11)
	r := mrand.NewChaCha8([32]byte{3})
	_, _ = r.Read(body)
	in := filepath.Join(dir, "body.bin")
	if err := os.WriteFile(in, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, stream := range []bool{false, true} {
		args := []string{"cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", in, "-signer", certPath, "-inkey", keyPath, "-out", filepath.Join(dir, "signed.der")}
		if stream {
			args = append(args, "-stream")
		}
		runOpenSSL(t, args...)
		msg, err := os.ReadFile(filepath.Join(dir, "signed.der"))
		if err != nil {
			t.Fatal(err)
		}
		var content bytes.Buffer
		detached, err := StreamSignedData(context.Background(), bytes.NewReader(msg), int64(len(msg)), &content)
		if err != nil {
			t.Fatalf("stream=%v: %v", stream, err)
		}
		if !bytes.Equal(content.Bytes(), body) {
			t.Fatalf("stream=%v: content differs", stream)
		}
		if len(detached) > 8<<10 {
			t.Fatalf("stream=%v: detached remainder has %d octets", stream, len(detached))
		}
		p7, err := pkcs7.Parse(detached)
		if err != nil {
			t.Fatalf("stream=%v: parsing the remainder: %v", stream, err)
		}
		if len(p7.Content) != 0 {
			t.Fatalf("stream=%v: remainder still has content", stream)
		}
		p7.Content = body
		if err := p7.Verify(); err != nil {
			t.Fatalf("stream=%v: %v", stream, err)
		}
		for n := 0; n < len(msg); n += 1 + n/3 {
			if _, err := StreamSignedData(context.Background(), bytes.NewReader(msg[:n]), int64(n), &bytes.Buffer{}); err == nil {
				t.Fatalf("stream=%v: prefix %d accepted", stream, n)
			}
		}
	}
}

// FuzzDecryptStream: DecryptStream never panics and agrees with Decrypt.
func FuzzDecryptStream(f *testing.F) {
	r, err := testdataRecipient()
	if err != nil {
		f.Fatal(err)
	}
	for _, msg := range storedSamples(f) {
		f.Add(msg)
	}
	for _, alg := range allAlgorithms {
		der, err := Encrypt(rand.Reader, []byte("fuzz me"), alg, r.cert)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
		f.Add(toBER(f, der, 3))
	}
	f.Add(bytes.Repeat([]byte{0x30, 0x80}, 200))
	f.Add([]byte{0x30, 0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameAsDecrypt(t, "fuzz", data, r.cert, r.key)
	})
}
