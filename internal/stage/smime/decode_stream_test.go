package smime

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/ber"
	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// decodeStream runs DecodeStream over msg with a fresh spool directory and
// checks what must hold whatever the outcome: the spool directory is empty
// afterwards, and on error nothing reached dst.
func decodeStream(t testing.TB, ctx context.Context, msg []byte, opts DecodeOptions) (*DecodeResult, []byte, error) {
	t.Helper()
	opts.SpoolDir = t.TempDir()
	var dst bytes.Buffer
	res, err := DecodeStream(ctx, bytes.NewReader(msg), &dst, opts)
	checkSpoolEmpty(t, opts.SpoolDir)
	switch {
	case err != nil && (res != nil || dst.Len() > 0):
		t.Fatalf("DecodeStream failed (%v) but returned a result or wrote %d octets", err, dst.Len())
	case err == nil && res == nil:
		t.Fatal("DecodeStream: nil result without an error")
	case err == nil && res.Size != int64(dst.Len()):
		t.Fatalf("DecodeStream: Size %d, wrote %d", res.Size, dst.Len())
	case err == nil && res.Signed && res.Signer == nil:
		t.Fatal("DecodeStream: signed without a signer")
	}
	return res, dst.Bytes(), err
}

func checkSpoolEmpty(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("spool file left behind: %s", e.Name())
	}
}

// decodeBoth is the in-memory reference decoder, checked against
// DecodeStream (and Decode, its wrapper): they accept the same messages
// with the same results and reject the rest. The Decode tests call it, so
// every message they build tests the streaming decoder against the
// reference.
func decodeBoth(t testing.TB, msg []byte, opts DecodeOptions) (*Decoded, error) {
	t.Helper()
	d, err := decodeInMemory(msg, opts)
	if dd, derr := Decode(msg, opts); (derr == nil) != (err == nil) || (derr == nil && !bytes.Equal(dd.Body, d.Body)) {
		t.Errorf("Decode (%v) and decodeInMemory (%v) disagree", derr, err)
	}
	res, body, serr := decodeStream(t, context.Background(), msg, opts)
	switch {
	case err == nil && serr != nil:
		t.Errorf("Decode succeeded, DecodeStream failed: %v", serr)
	case err != nil && serr == nil:
		t.Errorf("Decode failed (%v), DecodeStream succeeded", err)
	case err == nil:
		if res.ContentType != d.ContentType || res.Signed != d.Signed || res.Encrypted != d.Encrypted ||
			(res.Signer == nil) != (d.Signer == nil) || (res.Signer != nil && !res.Signer.Equal(d.Signer)) {
			t.Errorf("DecodeStream result %+v differs from Decode's (%q signed=%v encrypted=%v)", res, d.ContentType, d.Signed, d.Encrypted)
		}
		if !bytes.Equal(body, d.Body) {
			t.Errorf("DecodeStream body (%d octets) differs from Decode's (%d)", len(body), len(d.Body))
		}
	}
	return d, err
}

// TestDecodeStreamHostile: damaged and hostile messages are refused with a
// clear error, nothing reaches dst and no spool file is left (decodeStream
// checks both), in every layer: GCM tag, wrong recipient key, content that
// is not what was signed, huge declared lengths, indefinite lengths that
// never end, and truncation.
func TestDecodeStreamHostile(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	groupKey := writeGroupKey(t, p)
	other := p.ca.Issue(t, testpki.Options{CommonName: "someone else", Key: keys.Key(t, testpki.RSA2048, 3)})
	dir := t.TempDir()

	// A 2 MiB body, so that GCM plaintext reaches the spool file long
	// before the tag is checked.
	body := largeBody(2 << 20)
	entity := append([]byte("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"), body...)
	entityPath := writeTemp(t, "entity", entity)
	binaryMIME := func(typ string, der []byte) []byte {
		return append([]byte("Content-Type: application/pkcs7-mime; smime-type="+typ+"\r\nContent-Transfer-Encoding: binary\r\n\r\n"), der...)
	}
	opensslDER := func(args ...string) []byte {
		out := filepath.Join(dir, "out.der")
		run(t, nil, ossl, append(append([]string{"cms"}, args...), "-binary", "-stream", "-outform", "DER", "-out", out)...)
		return readFile(t, out)
	}
	gcm := opensslDER("-encrypt", "-aes-256-gcm", "-in", entityPath, "-recip", p.partnerPEM)
	cbc := opensslDER("-encrypt", "-aes-256-cbc", "-in", entityPath, "-recip", p.partnerPEM)
	opaque := opensslDER("-sign", "-nodetach", "-in", entityPath, "-signer", p.groupPEM, "-inkey", groupKey)
	clearMsg := run(t, nil, ossl, "cms", "-sign", "-binary", "-in", entityPath, "-signer", p.groupPEM, "-inkey", groupKey)

	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0x01
		return b
	}
	// The 16-octet mac is the last element before the closing
	// end-of-contents octets of the streamed encoding.
	i := bytes.LastIndex(gcm, []byte{0x04, 0x10})
	if i < 0 {
		t.Fatal("GCM mac not found")
	}
	badTag := flip(gcm, i+2+15)
	mid := len(body) / 2
	opaqueChanged := flip(opaque, bytes.Index(opaque, body[mid:mid+64])+10)
	clearChanged := flip(clearMsg, bytes.Index(clearMsg, body[mid:mid+64])+10)

	sdPrefix := mustHex(t, "3080 06092a864886f70d010702 a080")
	never := append(bytes.Clone(sdPrefix), 0x30, 0x80)
	never = append(never, bytes.Repeat([]byte{0x05, 0x00}, 100000)...)
	hugeOuter := []byte{0x30, 0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	hugeContent := append(bytes.Clone(sdPrefix), mustHex(t, "3080 020101 3100 3080 06092a864886f70d010701 a080 0488 0000010000000000")...)
	hugeContent = append(hugeContent, make([]byte, 100)...)

	withKey := func(o *DecodeOptions) { o.Cert, o.Key = other.Cert, other.Key.(*rsa.PrivateKey) }
	tests := []struct {
		name    string
		msg     []byte
		opts    func(*DecodeOptions)
		wantErr string
	}{
		{"gcm tag", binaryMIME("authEnveloped-data", badTag), nil, "decryption failed"},
		{"gcm for someone else", binaryMIME("authEnveloped-data", gcm), withKey, "not encrypted for this certificate"},
		{"cbc for someone else", binaryMIME("enveloped-data", cbc), withKey, "not encrypted for this certificate"},
		{"opaque content changed", binaryMIME("signed-data", opaqueChanged), nil, "signature verification failed"},
		{"clear content changed", clearChanged, nil, "signature verification failed"},
		{"indefinite length never ends", binaryMIME("signed-data", never), nil, "truncated"},
		{"huge ContentInfo length", binaryMIME("signed-data", hugeOuter), nil, "truncated"},
		{"huge content length", binaryMIME("signed-data", hugeContent), nil, "truncated"},
		{"huge header", append(bytes.Repeat([]byte("X-A: b\r\n"), 40000), "\r\n"...), nil, "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := p.decodeOpts()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			_, _, err := decodeStream(t, context.Background(), tt.msg, opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "smime: ") {
				t.Fatalf("err = %v, want %q with package context", err, tt.wantErr)
			}
		})
	}

	// The undamaged messages decode, so the failures above are the damage.
	for name, msg := range map[string][]byte{
		"gcm": binaryMIME("authEnveloped-data", gcm), "cbc": binaryMIME("enveloped-data", cbc),
		"opaque": binaryMIME("signed-data", opaque), "clear": clearMsg,
	} {
		_, got, err := decodeStream(t, context.Background(), msg, p.decodeOpts())
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: undamaged message: %v", name, err)
		}
	}
}

// TestDecodeStreamTruncated: a message cut anywhere, in any layer (the
// inner layers are cut and then properly wrapped by the outer ones), is an
// error, except where the cut leaves a well-formed unsigned entity (within
// a header section: no Content-Type means text/plain), which is then never
// reported as signed. Decode agrees in every case.
func TestDecodeStreamTruncated(t *testing.T) {
	p := newPKI(t)
	body := largeBody(10000)
	enc := func(o Options, ct string, b []byte) []byte {
		o.IncludeCertificate = true
		return mustEncode(t, mustEncoder(t, o), ct, b, p.signer(), p.partner.Cert)
	}
	inner := map[string][]byte{
		"clear":  enc(Options{Signature: "clear", ContentTransferEncoding: "binary"}, "application/octet-stream", body),
		"opaque": enc(Options{Signature: "opaque", ContentTransferEncoding: "binary"}, "application/octet-stream", body),
	}
	for name, msg := range inner {
		for _, alg := range []cms.Algorithm{0, cms.AES256CBC, cms.AES256GCM} {
			t.Run(name+"/"+alg.String(), func(t *testing.T) {
				t.Parallel()
				step := max(1, len(msg)/40)
				for n := 0; n < len(msg); n += step {
					cut := msg[:n]
					if alg != 0 {
						// The outer layer is intact; the inner one is cut.
						o := Options{Encrypt: true, Algorithm: alg, ContentTransferEncoding: "binary"}
						cut = mustEncode(t, mustEncoder(t, o), "message/rfc822", cut, nil, p.partner.Cert)
						cut = bytes.Replace(cut, []byte("Content-Type: message/rfc822\r\n"), nil, 1)
					}
					checkCut(t, cut, msg[n:], p.decodeOpts())
				}
				if alg != 0 {
					return
				}
				whole := enc(Options{Signature: name, Encrypt: true, Algorithm: cms.AES256GCM}, "application/octet-stream", body)
				for n := 0; n < len(whole); n += max(1, len(whole)/40) {
					checkCut(t, whole[:n], whole[n:], p.decodeOpts())
				}
			})
		}
	}
}

// checkCut decodes msg, which lacks cutOff: if only the final line break
// is missing, the content is intact; otherwise it must not be signed.
func checkCut(t *testing.T, msg, cutOff []byte, opts DecodeOptions) {
	t.Helper()
	d, err := decodeBoth(t, msg, opts)
	if err == nil && d.Signed && len(bytes.Trim(cutOff, "\r\n")) > 0 {
		t.Fatalf("cut at %d of %d accepted as signed content", len(msg), len(msg)+len(cutOff))
	}
}

// TestDecodeStreamCancelled: a cancelled context stops the decoder,
// before it starts and while it reads the message.
func TestDecodeStreamCancelled(t *testing.T) {
	p := newPKI(t)
	msg := mustEncode(t, mustEncoder(t, Options{Signature: "opaque", IncludeCertificate: true}), "application/octet-stream", largeBody(4<<20), p.signer(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := decodeStream(t, ctx, msg, p.decodeOpts()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	src := &cancellingReader{r: bytes.NewReader(msg), after: 1 << 20, cancel: cancel}
	opts := p.decodeOpts()
	opts.SpoolDir = t.TempDir()
	var dst bytes.Buffer
	if _, err := DecodeStream(ctx, src, &dst, opts); !errors.Is(err, context.Canceled) || dst.Len() > 0 {
		t.Fatalf("cancelled while reading: %v, %d octets written", err, dst.Len())
	}
	checkSpoolEmpty(t, opts.SpoolDir)
}

// cancellingReader cancels a context once it has delivered after octets,
// like a caller giving up while a large message arrives.
type cancellingReader struct {
	r      io.Reader
	after  int
	n      int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

// TestDecodeStreamErrorClipped: what a hostile message quotes into an
// error (a signer's name, an algorithm identifier, a digest) can be
// megabytes long; the error, which becomes a suspended message's reason
// and a log line, is clipped instead, and still says what kind of
// refusal it is.
func TestDecodeStreamErrorClipped(t *testing.T) {
	p := newPKI(t)
	// A stranger's certificate, its name 1 MB long, signs.
	stranger := testpki.SelfSigned(t, testpki.Options{CommonName: strings.Repeat("N", 1<<20), Key: keys.Key(t, testpki.RSA2048, 3)})
	hugeName := mustEncode(t, mustEncoder(t, Options{Signature: "opaque", Digest: "sha256", IncludeCertificate: true}),
		"text/plain", []byte("hello\r\n"), &Signer{Cert: stranger.Cert, Key: stranger.Key}, nil)

	// The signer info's signature algorithm is a 300 KB OID.
	signed := mustEncode(t, mustEncoder(t, Options{Signature: "opaque", Digest: "sha256", IncludeCertificate: true, ContentTransferEncoding: "binary"}),
		"text/plain", []byte("hello\r\n"), p.signer(), nil)
	i := bytes.Index(signed, []byte("\r\n\r\n")) + 4
	der, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(signed[i:], []byte("\r\n"), nil)))
	if err != nil {
		t.Fatal(err)
	}
	sha256RSA := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}
	oid := append([]byte{0x2a}, bytes.Repeat([]byte{0x01}, 300_000)...)
	hugeOID := append(append([]byte{0x06}, ber.AppendLength(nil, len(oid))...), oid...)
	der = replaceLast(t, der, sha256RSA, hugeOID)
	hugeAlg := append([]byte("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
		base64.StdEncoding.EncodeToString(der)...)

	for _, tt := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"signer name", hugeName, `smime: signer certificate "CN=NNNN`},
		{"signature algorithm", hugeAlg, `smime: signature verification failed: pkcs7: unsupported algorithm "1.2.1.1.1`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeStream(t, context.Background(), tt.msg, p.decodeOpts())
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || len(err.Error()) > 5000 {
				t.Errorf("error of %d octets, want at most 5000 starting %q: %.200v", len(fmt.Sprint(err)), tt.want, err)
			}
			if !errors.Is(err, component.ErrAuthenticationFailed) {
				t.Errorf("error %.200v is not an authentication failure", err)
			}
		})
	}
}

// replaceLast replaces the last element equal to old in the DER tree der
// by new, fixing the lengths of the elements around it.
func replaceLast(t *testing.T, der, old, new []byte) []byte {
	t.Helper()
	n, seen := bytes.Count(der, old), 0
	var re func(b []byte) []byte
	re = func(b []byte) []byte {
		var out []byte
		for len(b) > 0 {
			h, err := ber.ParseHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			raw := b[:h.Len+h.Length]
			b = b[len(raw):]
			switch {
			case bytes.Equal(raw, old):
				if seen++; seen == n {
					raw = new
				}
				out = append(out, raw...)
			case h.Constructed:
				body := re(raw[h.Len:])
				out = append(ber.AppendLength(append(out, raw[:h.IDLen]...), len(body)), body...)
			default:
				out = append(out, raw...)
			}
		}
		return out
	}
	return re(der)
}

// TestDecodeStreamManySigners: a SignedData may hold thousands of copies
// of one valid SignerInfo within its 4 or 8 MiB, each an RSA verification
// before any signer's certificate is checked (seconds of CPU for one
// message, more with large keys); one with more signers than any real
// message has is refused before its signatures are verified, saying why.
// A message signed twice (a signer during its certificate's rollover)
// still verifies.
func TestDecodeStreamManySigners(t *testing.T) {
	p := newPKI(t)
	signed := mustEncode(t, mustEncoder(t, Options{Signature: "opaque", Digest: "sha256", IncludeCertificate: true, ContentTransferEncoding: "binary"}),
		"text/plain", []byte("hello\r\n"), p.signer(), nil)
	i := bytes.Index(signed, []byte("\r\n\r\n")) + 4
	der, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(signed[i:], []byte("\r\n"), nil)))
	if err != nil {
		t.Fatal(err)
	}
	set, err := signerInfosSet(der)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := ber.Children(set)
	if err != nil || len(infos) != 1 {
		t.Fatalf("%d signer infos, %v", len(infos), err)
	}
	withSigners := func(n int) []byte {
		body := bytes.Repeat(infos[0], n)
		mod := replaceLast(t, der, set, append(ber.AppendLength([]byte{0x31}, len(body)), body...))
		return append([]byte("Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
			base64.StdEncoding.EncodeToString(mod)...)
	}
	if _, err := decodeBoth(t, withSigners(2), p.decodeOpts()); err != nil {
		t.Errorf("two signers: %v", err)
	}
	for _, n := range []int{maxSigners + 1, 10_000} {
		_, _, err := decodeStream(t, context.Background(), withSigners(n), p.decodeOpts())
		want := fmt.Sprintf("smime: SignedData has %d signer infos, more than the %d this decoder accepts", n, maxSigners)
		if err == nil || err.Error() != want {
			t.Errorf("%d signers: %.200v, want %q", n, err, want)
		}
	}
}
