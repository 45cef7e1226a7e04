package smime

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/b64"
	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
)

// streamSplits are the write sizes the streaming tests feed bodies in: 0
// means random sizes (1..8192).
var streamSplits = []struct {
	name  string
	sizes []int
}{{"1", []int{1}}, {"3", []int{3}}, {"4095", []int{4095}}, {"random", []int{0}}}

// writeSplit writes data to w in pieces of the given sizes (cycled) and
// closes it, returning the first error.
func writeSplit(w io.WriteCloser, data []byte, sizes []int, seed uint64) error {
	r := mrand.New(mrand.NewPCG(seed, 11))
	for i, k := 0, 0; i < len(data); k++ {
		n := sizes[k%len(sizes)]
		if n == 0 {
			n = 1 + r.IntN(8192)
		}
		n = min(n, len(data)-i)
		if m, err := w.Write(data[i : i+n]); err != nil {
			return err
		} else if m != n {
			return fmt.Errorf("short write %d of %d", m, n)
		}
		i += n
	}
	return w.Close()
}

// streamEntity runs body through the stage and returns the whole entity as
// Encode would: the header fields, an empty line and the body.
func streamEntity(st *Stage, contentType string, body []byte, sizes []int) ([]byte, error) {
	enc, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: contentType}}})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, f := range enc.Header().Fields {
		fmt.Fprintf(&out, "%s: %s\r\n", f.Name, f.Value)
	}
	out.WriteString("\r\n")
	if err := writeSplit(enc.Wrap(&out), body, sizes, uint64(len(body))); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func mustStage(t testing.TB, o Options, s *Signer, recip *x509.Certificate) *Stage {
	t.Helper()
	st, err := NewStage(o, s, recip, nil)
	if err != nil {
		t.Fatalf("NewStage(%+v): %v", o, err)
	}
	return st
}

func mustStream(t testing.TB, st *Stage, contentType string, body []byte, sizes []int) []byte {
	t.Helper()
	out, err := streamEntity(st, contentType, body, sizes)
	if err != nil {
		t.Fatalf("streaming: %v", err)
	}
	return out
}

// encodeHow encodes body with Encode ("encode") or the streaming stage
// ("stream", random write sizes), for tests that check both.
func encodeHow(t testing.TB, how string, o Options, contentType string, body []byte, s *Signer, recip *x509.Certificate) []byte {
	t.Helper()
	if how == "stream" {
		return mustStream(t, mustStage(t, o, s, recip), contentType, body, []int{0})
	}
	return mustEncode(t, mustEncoder(t, o), contentType, body, s, recip)
}

// streamCTEBodies are the bodies each transfer encoding can carry.
func streamCTEBodies(cte string) []testBody {
	switch cte {
	case "7bit":
		return []testBody{asciiTextBody()}
	case "8bit":
		return []testBody{textBody(), asciiTextBody()}
	}
	return []testBody{textBody(), binaryBody()}
}

// TestStreamOpenSSLMatrix: for every signature × encryption × digest ×
// transfer encoding × body, the streamed message decrypts and verifies
// with openssl to exactly the original (binary) or its canonical form
// (text), and Decode (the inbound side) reads it to the same body. Every
// write split must give a message that decodes the same.
func TestStreamOpenSSLMatrix(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	for _, sig := range []string{"none", "clear", "opaque"} {
		for _, alg := range matrixAlgorithms {
			if sig == "none" && alg == "none" {
				continue // TestStreamPlain
			}
			for _, digest := range []string{"sha256", "sha512"} {
				if sig == "none" && digest != "sha256" {
					continue
				}
				for _, cte := range []string{"base64", "quoted-printable", "7bit", "8bit", "binary"} {
					for _, body := range streamCTEBodies(cte) {
						name := fmt.Sprintf("%s/%s/%s/%s/%s", sig, alg, digest, cte, body.name)
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							opts := Options{Signature: sig, Digest: digest, IncludeCertificate: true, ContentTransferEncoding: cte}
							if alg != "none" {
								a, err := cms.ParseAlgorithm(alg)
								if err != nil {
									t.Fatal(err)
								}
								opts.Encrypt, opts.Algorithm = true, a
							}
							st := mustStage(t, opts, p.signer(), p.partner.Cert)
							for _, split := range streamSplits {
								out := mustStream(t, st, body.contentType, body.data, split.sizes)
								d, err := Decode(out, p.decodeOpts())
								if err != nil {
									t.Fatalf("split %s: Decode: %v", split.name, err)
								}
								checkDecoded(t, d, body, sig != "none", alg != "none", p.group.Cert)
								if split.name != "random" {
									continue
								}
								if sig != "none" {
									checkTopLevel(t, out, sig, alg, digest)
								}
								opensslRecovers(t, ossl, p, out, sig, alg, cte, body)
							}
						})
					}
				}
			}
		}
	}
}

// opensslRecovers decrypts and verifies out with openssl as the partner
// would and checks the recovered entity.
func opensslRecovers(t *testing.T, ossl string, p *testPKI, out []byte, sig, alg, cte string, body testBody) {
	t.Helper()
	content := out
	if alg != "none" {
		content = run(t, nil, ossl, "cms", "-decrypt", "-recip", p.partnerPEM, "-inkey", p.partnerKey, "-in", writeTemp(t, "out.eml", out))
	}
	if sig != "none" {
		args := []string{"cms", "-verify", "-CAfile", p.caPEM, "-signer", filepath.Join(t.TempDir(), "signer.pem")}
		if sig == "clear" && cte == "binary" && body.name == "binary" {
			args = append(args, "-binary", "-crlfeol") // as TestOpenSSLTransferEncodings documents
		}
		content = run(t, content, ossl, args...)
	}
	ct, gotCTE, got := stdEntity(t, content)
	if ct != body.contentType || gotCTE != cte {
		t.Errorf("openssl output has Content-Type %q and encoding %q, want %q and %q", ct, gotCTE, body.contentType, cte)
	}
	if !bytes.Equal(got, body.want) {
		t.Errorf("openssl output body differs:\n got %q\nwant %q", got, body.want)
	}
}

// TestStreamPlain: without signature and encryption the stream is exactly
// Encode's output, for every transfer encoding and split.
func TestStreamPlain(t *testing.T) {
	for _, cte := range []string{"base64", "quoted-printable", "7bit", "8bit", "binary"} {
		for _, body := range streamCTEBodies(cte) {
			opts := Options{ContentTransferEncoding: cte}
			want := mustEncode(t, mustEncoder(t, opts), body.contentType, body.data, nil, nil)
			for _, split := range streamSplits {
				got := mustStream(t, mustStage(t, opts, nil, nil), body.contentType, body.data, split.sizes)
				if !bytes.Equal(got, want) {
					t.Errorf("%s/%s/%s: stream differs from Encode:\n got %q\nwant %q", cte, body.name, split.name, got, want)
				}
			}
		}
	}
}

// TestStreamSameStructure: the stage's output header is the header of
// Encode's output for the same options (fields, order, parameters), and a
// clear signature's first part is byte for byte Encode's when both draw
// the same boundary.
func TestStreamSameStructure(t *testing.T) {
	p := newPKI(t)
	body := textBody()
	for _, sig := range []string{"none", "clear", "opaque"} {
		for _, alg := range matrixAlgorithms {
			opts := Options{Signature: sig, Digest: "sha384", IncludeCertificate: true, ContentTransferEncoding: "quoted-printable"}
			if alg != "none" {
				opts.Encrypt, opts.Algorithm = true, mustAlg(t, alg)
			}
			seed := [32]byte{9}
			want, err := mustEncoder(t, opts).Encode(mrand.NewChaCha8(seed), body.contentType, body.data, p.signer(), p.partner.Cert)
			if err != nil {
				t.Fatal(err)
			}
			st, err := NewStage(opts, p.signer(), p.partner.Cert, mrand.NewChaCha8(seed))
			if err != nil {
				t.Fatal(err)
			}
			got, err := streamEntity(st, body.contentType, body.data, []int{0})
			if err != nil {
				t.Fatal(err)
			}
			wh, _, err := SplitEntity(want)
			if err != nil {
				t.Fatal(err)
			}
			gh, _, err := SplitEntity(got)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(gh) != fmt.Sprint(wh) {
				t.Errorf("%s/%s: header\n got %v\nwant %v", sig, alg, gh, wh)
			}
			if sig == "clear" && alg == "none" {
				sigPart := []byte("Content-Type: application/pkcs7-signature")
				i, j := bytes.Index(got, sigPart), bytes.Index(want, sigPart)
				if i < 0 || !bytes.Equal(got[:i], want[:j]) {
					t.Errorf("clear: the signed part differs from Encode's")
				}
			}
		}
	}
}

func mustAlg(t testing.TB, s string) cms.Algorithm {
	t.Helper()
	a, err := cms.ParseAlgorithm(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStreamEncodingsMatchAppend: the streaming transfer encodings and
// canonicalisation produce exactly the in-memory functions' output for
// random bodies rich in CR, LF, white space, "From " and dots, however the
// writes are split; a few bodies are larger than the writers' buffers.
func TestStreamEncodingsMatchAppend(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	alphabet := []byte("\r\n \t.=From xyz\x00\xff")
	for i := range 300 {
		size := r.IntN(3000)
		if i%50 == 7 {
			size = 3*streamBuf + r.IntN(5000)
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = alphabet[r.IntN(len(alphabet))]
		}
		if i%10 == 0 {
			data = append(data, "\r"...)
		}
		for _, cte := range []transferEncoding{cteBase64, cteQuotedPrintable, cteBinary} {
			for _, text := range []bool{false, true} {
				content := data
				if text {
					content = canonicalText(data)
				}
				var want []byte
				switch cte {
				case cteBase64:
					want = b64.AppendLines(nil, content)
				case cteQuotedPrintable:
					want = appendQuotedPrintable(nil, content, text)
				default:
					want = content
				}
				split := streamSplits[i%len(streamSplits)]
				var got bytes.Buffer
				if err := writeSplit(encodeWriter(nopCloser{&got}, cte, text), data, split.sizes, uint64(i)); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Fatalf("case %d %s text=%v split %s: got %q\nwant %q", i, cte, text, split.name, got.Bytes(), want)
				}
			}
		}
	}
}

// TestStreamIdentityCheck: the incremental 7bit/8bit check reports what
// checkIdentityDomain reports on the whole body, however it is split, as
// an error from Write or Close.
func TestStreamIdentityCheck(t *testing.T) {
	r := mrand.New(mrand.NewPCG(5, 6))
	alphabet := []byte("ab\r\n\x00\x80")
	for i := range 2000 {
		data := make([]byte, r.IntN(40))
		for j := range data {
			data[j] = alphabet[r.IntN(len(alphabet))]
		}
		if i%50 == 0 {
			data = append(bytes.Repeat([]byte("a"), 998+r.IntN(3)), "\r\nb"...)
		}
		for _, cte := range []transferEncoding{cte7bit, cte8bit} {
			want := checkIdentityDomain(data, cte)
			split := streamSplits[i%len(streamSplits)]
			err := writeSplit(encodeWriter(nopCloser{io.Discard}, cte, false), data, split.sizes, uint64(i))
			if fmt.Sprint(err) != fmt.Sprint(want) {
				t.Fatalf("%q as %s, split %s: got %v, want %v", data, cte, split.name, err, want)
			}
		}
	}
}

// TestStreamErrors: configuration and key errors come from NewStage or
// Start; body errors from Write or Close, and then stick.
func TestStreamErrors(t *testing.T) {
	p := newPKI(t)
	if _, err := NewStage(Options{Signature: "clear"}, nil, nil, nil); err == nil {
		t.Error("NewStage signs without a signer")
	}
	if _, err := NewStage(Options{Encrypt: true}, nil, nil, nil); err == nil {
		t.Error("NewStage encrypts without a recipient")
	}
	st := mustStage(t, Options{ContentTransferEncoding: "base64"}, nil, nil)
	if _, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "multipart/mixed; boundary=x"}}}); err == nil {
		t.Error("Start accepted a multipart body in base64")
	}
	if _, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "text"}}}); err == nil {
		t.Error("Start accepted a content type without subtype")
	}
	st = mustStage(t, Options{Signature: "opaque", IncludeCertificate: true, ContentTransferEncoding: "7bit"}, p.signer(), nil)
	enc, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "application/edi-x12"}}})
	if err != nil {
		t.Fatal(err)
	}
	w := enc.Wrap(io.Discard)
	if _, err := w.Write([]byte("fine\r\n")); err != nil {
		t.Fatal(err)
	}
	_, err = w.Write([]byte("not \xff fine"))
	if err == nil || !strings.Contains(err.Error(), "8-bit octet") {
		t.Fatalf("Write of 8-bit data as 7bit: %v", err)
	}
	if _, err2 := w.Write([]byte("ok")); err2 != err {
		t.Errorf("Write after a failure: %v, want the first error", err2)
	}
	if err2 := w.Close(); err2 != err {
		t.Errorf("Close after a failure: %v, want the first error", err2)
	}
	enc, err = st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "application/edi-x12"}}})
	if err != nil {
		t.Fatal(err)
	}
	w = enc.Wrap(io.Discard)
	if _, err := w.Write([]byte("ends in CR\r")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "CR") {
		t.Errorf("Close after a final lone CR: %v", err)
	}

}

// headerOf1 is a raw message's header: just its Content-Type.
func headerOf1(name, value string) component.Header {
	return component.Header{Fields: []component.Field{{Name: name, Value: value}}}
}

// TestBoundaryScanner: the pattern is found wherever the writes cut it.
func TestBoundaryScanner(t *testing.T) {
	pat := "--boundary"
	for _, data := range []string{"xx--boundaryyy", "--boundary", "a-\r\n--boundar", "-----boundary--"} {
		want := strings.Contains(data, pat)
		for _, split := range streamSplits {
			s := boundaryScanner{pat: []byte(pat)}
			got := false
			sizes := split.sizes
			for i, k := 0, 0; i < len(data) && !got; k++ {
				n := sizes[k%len(sizes)]
				if n == 0 {
					n = 1 + (i*7)%5
				}
				n = min(n, len(data)-i)
				got = s.found([]byte(data[i : i+n]))
				i += n
			}
			if got != want {
				t.Errorf("%q split %s: found %v, want %v", data, split.name, got, want)
			}
		}
	}
}

// TestStreamWrapTwice: one Encoding is one message; a second Wrap fails
// instead of reusing the key and IV.
func TestStreamWrapTwice(t *testing.T) {
	p := newPKI(t)
	st := mustStage(t, Options{Encrypt: true, Algorithm: cms.AES256GCM}, nil, p.partner.Cert)
	enc, err := st.Start(headerOf1("Content-Type", "text/plain"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSplit(enc.Wrap(io.Discard), []byte("one"), []int{1}, 1); err != nil {
		t.Fatal(err)
	}
	w := enc.Wrap(io.Discard)
	if _, err := w.Write([]byte("two")); err == nil {
		t.Error("second Wrap's Write succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("second Wrap's Close succeeded")
	}
}

// TestStreamEmptyBody: an empty body (nothing written, only Close) makes a
// complete message for every signature × algorithm × transfer encoding,
// which Decode reads back as empty.
func TestStreamEmptyBody(t *testing.T) {
	p := newPKI(t)
	for _, sig := range []string{"none", "clear", "opaque"} {
		for _, alg := range matrixAlgorithms {
			for _, cte := range []string{"base64", "quoted-printable", "7bit", "binary"} {
				opts := Options{Signature: sig, Digest: "sha256", IncludeCertificate: true, ContentTransferEncoding: cte}
				if alg != "none" {
					opts.Encrypt, opts.Algorithm = true, mustAlg(t, alg)
				}
				body := testBody{name: "empty", contentType: "text/plain", data: nil, want: nil}
				out := mustStream(t, mustStage(t, opts, p.signer(), p.partner.Cert), body.contentType, nil, []int{1})
				d, err := Decode(out, p.decodeOpts())
				if err != nil {
					t.Fatalf("%s/%s/%s: Decode: %v", sig, alg, cte, err)
				}
				if len(d.Body) != 0 {
					t.Errorf("%s/%s/%s: Decode body %q, want empty", sig, alg, cte, d.Body)
				}
			}
		}
	}
}

// TestConfigNewStage: the decoded configuration builds the stage with the
// keys of the component environment (chain included), and a missing key is
// an error with no stage.
func TestConfigNewStage(t *testing.T) {
	p := newPKI(t)
	known := func(s string) value.Value[string] { return value.Value[string]{V: s, Set: true, Known: true} }
	c := &Config{
		Signature:               known("opaque"),
		Digest:                  known("sha512"),
		IncludeCertificate:      value.Value[bool]{V: true, Set: true, Known: true},
		Encrypt:                 value.Value[bool]{V: true, Set: true, Known: true},
		EncryptionAlgorithm:     known("aes128-gcm"),
		ContentTransferEncoding: known("quoted-printable"),
	}
	env := &component.StageEnv{Keys: component.Keys{
		Signer:    &component.Identity{Cert: p.group.Cert, Key: p.group.Key},
		Recipient: p.partner.Cert,
	}}
	st, err := c.NewStage(env)
	if err != nil {
		t.Fatal(err)
	}
	body := textBody()
	enc, err := st.Start(headerOf1("Content-Type", body.contentType))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, f := range enc.Header().Fields {
		fmt.Fprintf(&out, "%s: %s\r\n", f.Name, f.Value)
	}
	out.WriteString("\r\n")
	if err := writeSplit(enc.Wrap(&out), body.data, []int{3}, 1); err != nil {
		t.Fatal(err)
	}
	checkTopLevel(t, out.Bytes(), "opaque", "aes128-gcm", "sha512")
	d, err := Decode(out.Bytes(), p.decodeOpts())
	if err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, d, body, true, true, p.group.Cert)

	env.Keys.Recipient = nil
	if st, err := c.NewStage(env); err == nil || st != nil {
		t.Errorf("NewStage without the recipient: %v, %v", st, err)
	}
}

// TestDefaultEncodingOfUnencodableTypes: left to its default, the transfer
// encoding of a multipart or message body, which RFC 2045 §6.4 allows
// only 7bit, 8bit or binary, is binary, both when encoding whole and when
// streaming, signed and encrypted; the body comes back intact and
// verified. (Asked for by name, base64 fails: TestEncodeErrors,
// TestStreamErrors.)
func TestDefaultEncodingOfUnencodableTypes(t *testing.T) {
	p := newPKI(t)
	bodies := map[string]string{
		"multipart/mixed; boundary=x": "--x\r\nContent-Type: text/plain\r\n\r\nline\r\n--x--\r\n",
		"message/rfc822":              "Subject: order\r\n\r\nISA*00*\r\n",
	}
	for ct, body := range bodies {
		for _, o := range []Options{{Signature: "clear", IncludeCertificate: true}, {Signature: "opaque", IncludeCertificate: true, Encrypt: true}} {
			st := mustStage(t, o, p.signer(), p.partner.Cert)
			enc, err := NewEncoder(o)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := enc.Encode(nil, ct, []byte(body), p.signer(), p.partner.Cert)
			if err != nil {
				t.Fatalf("Encode %s (%+v): %v", ct, o, err)
			}
			for name, out := range map[string][]byte{"Encode": whole, "stream": mustStream(t, st, ct, []byte(body), []int{7})} {
				d, err := decodeBoth(t, out, p.decodeOpts())
				if err != nil {
					t.Fatalf("%s of %s (%+v): decoding: %v", name, ct, o, err)
				}
				if string(d.Body) != body || !d.Signed {
					t.Errorf("%s of %s (%+v): body %q signed %v, want %q, signed", name, ct, o, d.Body, d.Signed, body)
				}
				if o.Signature == "clear" && !bytes.Contains(out, []byte("Content-Transfer-Encoding: binary\r\n")) {
					t.Errorf("%s of %s (%+v): the content entity is not binary:\n%s", name, ct, o, out)
				}
			}
		}
	}
}
