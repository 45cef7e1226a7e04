package smime

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/bizpipe/bizpipe/internal/b64"
	"github.com/bizpipe/bizpipe/internal/cms"
)

// FuzzDecode: hostile input never panics, results are consistent, and
// DecodeStream agrees with Decode (decodeBoth). Results are consistent
// (exactly one of result and error; a signed result names its signer).
// Seeds cover every layer kind, so mutations reach the MIME, multipart,
// CMS and transfer-encoding parsers.
func FuzzDecode(f *testing.F) {
	p := newPKI(f)
	opts := p.decodeOpts()
	body := []byte("ISA*00*~\nFrom x\r\n.\x00\xff")
	for _, o := range []Options{
		{},
		{ContentTransferEncoding: "quoted-printable"},
		{ContentTransferEncoding: "binary"},
		{Signature: "clear", IncludeCertificate: true},
		{Signature: "clear", IncludeCertificate: true, ContentTransferEncoding: "binary"},
		{Signature: "opaque", IncludeCertificate: true},
		{Signature: "opaque", IncludeCertificate: false},
		{Signature: "clear", IncludeCertificate: true, Encrypt: true, Algorithm: cms.AES128CBC},
		{Signature: "none", Encrypt: true, Algorithm: cms.AES256GCM},
	} {
		out := mustEncode(f, mustEncoder(f, o), "application/edi-x12", body, p.signer(), p.partner.Cert)
		f.Add(out)
		f.Add(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")))
		f.Add(out[:len(out)/2])
	}
	text := mustEncode(f, mustEncoder(f, Options{Signature: "clear", IncludeCertificate: true, ContentTransferEncoding: "8bit"}),
		"text/plain; charset=utf-8", []byte("Grüße\nline\n"), p.signer(), nil)
	f.Add(text)
	f.Add([]byte("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nMAA=\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQExADCABgkqhkiG9w0BBwEAAAAAAAAA\r\n"))
	f.Add([]byte("Content-Type: application/x-pkcs7-mime\r\nContent-Transfer-Encoding: binary\r\n\r\n0\x80\x06\x09*\x86H\x86\xf7\r\x01\x07\x03\xa0\x80"))
	f.Add([]byte("Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=\r\n=4=\r\n"))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeBoth(t, data, opts)
		switch {
		case err == nil && d == nil:
			t.Fatal("nil result without an error")
		case err != nil && d != nil:
			t.Fatal("result with an error")
		case err == nil && d.Signed && d.Signer == nil:
			t.Fatal("signed without a signer")
		}
	})
}

// FuzzTransferEncodings: the streaming decoders agree with the in-memory
// ones on any input; every encoding round-trips any body exactly
// (text after canonicalisation), and the identity encodings accept exactly
// what they can carry.
func FuzzTransferEncodings(f *testing.F) {
	f.Add([]byte("From x\r\n.\r\n \t\r\n=\x00\xff"), true)
	f.Add([]byte("a\rb\nc\r\n"), false)
	f.Add([]byte("QQ==QQ==\r\n"), false)
	f.Add([]byte("QUJD\r\nRA= =\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, text bool) {
		src := data
		if text {
			src = canonicalText(data)
		}
		qp, err := decodeQuotedPrintable(appendQuotedPrintable(nil, src, text))
		if err != nil || !bytes.Equal(qp, src) {
			t.Fatalf("quoted-printable: %q -> %q, %v", src, qp, err)
		}
		b64, err := decodeBase64(b64.AppendLines(nil, src))
		if err != nil || !bytes.Equal(b64, src) {
			t.Fatalf("base64: %v", err)
		}
		// The streaming decoders accept and reject what the in-memory ones
		// do, on any input, with the same output.
		for _, cte := range []string{"base64", "quoted-printable"} {
			want, werr := decodeTransfer(data, cte)
			var got bytes.Buffer
			gerr := decodeTransferTo(context.Background(), &got, io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))), cte)
			if (werr == nil) != (gerr == nil) || (werr == nil && !bytes.Equal(got.Bytes(), want)) {
				t.Fatalf("%s of %q: in memory %q, %v; streamed %q, %v", cte, data, want, werr, got.Bytes(), gerr)
			}
		}
		if checkIdentityDomain(src, cte8bit) == nil && (bytes.IndexByte(src, 0) >= 0 || !bytes.Equal(canonicalText(src), src)) {
			t.Fatalf("8bit accepted %q", src)
		}
	})
}

// FuzzStreamEncodings: the streaming transfer encodings, canonicalisation
// and identity checks give exactly what the in-memory functions give,
// wherever the writes are cut (split seeds the write sizes).
func FuzzStreamEncodings(f *testing.F) {
	f.Add([]byte("From x\r\n.\r\n \t\r\n=\x00\xff"), true, uint64(1))
	f.Add([]byte("a\rb\nc\r\n"), false, uint64(2))
	f.Fuzz(func(t *testing.T, data []byte, text bool, split uint64) {
		content := data
		if text {
			content = canonicalText(data)
		}
		sizes := []int{1 + int(split%7), 1 + int(split>>3%4096), 0}
		for _, cte := range []transferEncoding{cteBase64, cteQuotedPrintable, cte7bit, cte8bit, cteBinary} {
			var want []byte
			var wantErr error
			switch cte {
			case cteBase64:
				want = b64.AppendLines(nil, content)
			case cteQuotedPrintable:
				want = appendQuotedPrintable(nil, content, text)
			default:
				want, wantErr = content, checkIdentityDomain(content, cte)
			}
			var got bytes.Buffer
			err := writeSplit(encodeWriter(nopCloser{&got}, cte, text), data, sizes, split)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("%s text=%v: error %v, want %v", cte, text, err, wantErr)
			}
			if err == nil && !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("%s text=%v: got %q, want %q", cte, text, got.Bytes(), want)
			}
		}
	})
}
