package smime

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/bizpipe/bizpipe/internal/b64"
	"github.com/bizpipe/bizpipe/internal/fsop"
)

// largeCase is one way to build a large message with openssl cms -stream.
type largeCase struct {
	sig   string // "clear" or "opaque"
	enc   string // "none", "aes256-cbc", "aes256-gcm"
	cte   string // transfer encoding of the innermost entity: "base64" or "binary"
	outer string // "smime": openssl's base64 S/MIME output; "der": binary CMS under our own header
}

func (c largeCase) String() string { return c.sig + "/" + c.enc + "/" + c.cte + "/" + c.outer }

// largeCases: every signature × encryption × transfer encoding, with the
// outermost application/pkcs7-mime layer both base64 and binary.
func largeCases() []largeCase {
	var out []largeCase
	for _, sig := range []string{"clear", "opaque"} {
		for _, enc := range []string{"none", "aes256-cbc", "aes256-gcm"} {
			for _, cte := range []string{"base64", "binary"} {
				for _, outer := range []string{"smime", "der"} {
					if sig == "clear" && enc == "none" && outer == "der" {
						continue // the outermost layer is multipart/signed
					}
					out = append(out, largeCase{sig, enc, cte, outer})
				}
			}
		}
	}
	return out
}

// largeBody returns n pseudo-random octets.
func largeBody(n int) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8([32]byte{'b', 'i', 'g'})
	_, _ = r.Read(b)
	return b
}

// buildLarge writes the message for c into dir with openssl and returns
// its path. The signed entity is application/octet-stream carrying body.
func buildLarge(t testing.TB, ossl string, p *testPKI, groupKey, dir string, body []byte, c largeCase) string {
	t.Helper()
	entity := filepath.Join(dir, "entity")
	f, err := os.Create(entity)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: %s\r\n\r\n", c.cte)
	if c.cte == "base64" {
		line := make([]byte, b64.LineChars)
		for rest := body; len(rest) > 0; {
			n := min(len(rest), b64.LineBytes)
			base64.StdEncoding.Encode(line, rest[:n])
			w.Write(line[:base64.StdEncoding.EncodedLen(n)])
			w.WriteString("\r\n")
			rest = rest[n:]
		}
	} else {
		w.Write(body)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	der := func(last bool) bool { return last && c.outer == "der" }
	signed := filepath.Join(dir, "signed")
	args := []string{"cms", "-sign", "-stream", "-binary", "-in", entity, "-out", signed, "-signer", p.groupPEM, "-inkey", groupKey}
	if c.sig == "opaque" {
		args = append(args, "-nodetach")
	}
	if der(c.enc == "none") {
		args = append(args, "-outform", "DER")
	}
	run(t, nil, ossl, args...)
	msg := signed
	if der(c.enc == "none") {
		msg = withHeader(t, signed, "application/pkcs7-mime; smime-type=signed-data")
	}
	if c.enc != "none" {
		encrypted := filepath.Join(dir, "encrypted")
		args := []string{"cms", "-encrypt", "-stream", "-binary", "-" + map[string]string{"aes256-cbc": "aes-256-cbc", "aes256-gcm": "aes-256-gcm"}[c.enc],
			"-in", signed, "-out", encrypted, "-recip", p.partnerPEM}
		if der(true) {
			args = append(args, "-outform", "DER")
		}
		run(t, nil, ossl, args...)
		msg = encrypted
		if der(true) {
			typ := "enveloped-data"
			if c.enc == "aes256-gcm" {
				typ = "authEnveloped-data"
			}
			msg = withHeader(t, encrypted, "application/pkcs7-mime; smime-type="+typ)
		}
	}
	return msg
}

// withHeader writes a binary application/pkcs7-mime entity around the DER
// in path and returns the new file.
func withHeader(t testing.TB, path, contentType string) string {
	t.Helper()
	out := path + ".eml"
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fmt.Fprintf(dst, "Content-Type: %s\r\nContent-Transfer-Encoding: binary\r\n\r\n", contentType)
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	return out
}

// cmpWriter compares what is written with want, without keeping it.
type cmpWriter struct {
	want []byte
	off  int
	diff bool
}

func (c *cmpWriter) Write(b []byte) (int, error) {
	if c.off+len(b) > len(c.want) || !bytes.Equal(b, c.want[c.off:c.off+len(b)]) {
		c.diff = true
	}
	c.off += len(b)
	return len(b), nil
}

// heapDuring runs fn and returns the peak heap in use above the level
// before it (sampled) and the total allocated during it.
func heapDuring(fn func()) (peak, total uint64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := sampleHeap(&peak, before.HeapAlloc)
	fn()
	stop()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return peak, after.TotalAlloc - before.TotalAlloc
}

// largeSize is the body of TestDecodeStreamLarge; the bounds below are
// far below it, so a decoder that gathers any layer in memory fails.
const (
	largeSize      = 64 << 20
	largePeakBound = 4 << 20
	largeAllocSum  = 8 << 20
)

// TestDecodeStreamLarge: 64 MiB messages made by openssl cms -stream, in
// every combination of signature, encryption and transfer encoding, decode
// to exactly the original octets while the heap stays a few MiB: both the
// sampled peak and the sum of all allocations are bounded far below the
// message size. Not parallel, so that the heap is this test's alone.
func TestDecodeStreamLarge(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	groupKey := writeGroupKey(t, p)
	body := largeBody(largeSize)
	for _, c := range largeCases() {
		t.Run(c.String(), func(t *testing.T) {
			path := buildLarge(t, ossl, p, groupKey, t.TempDir(), body, c)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			opts := p.decodeOpts()
			opts.SpoolDir = t.TempDir()
			dst := &cmpWriter{want: body}
			var res *DecodeResult
			peak, total := heapDuring(func() {
				res, err = DecodeStream(context.Background(), f, dst, opts)
			})
			checkSpoolEmpty(t, opts.SpoolDir)
			if err != nil {
				t.Fatalf("DecodeStream: %v", err)
			}
			if dst.diff || dst.off != len(body) || res.Size != int64(len(body)) {
				t.Fatalf("body differs (%d octets written, want %d)", dst.off, len(body))
			}
			if !res.Signed || !res.Signer.Equal(p.group.Cert) || res.Encrypted != (c.enc != "none") || res.ContentType != "application/octet-stream" {
				t.Errorf("result %+v", res)
			}
			t.Logf("peak heap %.2f MiB, allocated %.2f MiB in total, for a %d MiB body", float64(peak)/(1<<20), float64(total)/(1<<20), largeSize>>20)
			if peak > largePeakBound || total > largeAllocSum {
				t.Errorf("heap: peak %d, total %d octets; want at most %d and %d", peak, total, largePeakBound, largeAllocSum)
			}
		})
	}
}

// BenchmarkDecodeStream decodes a 64 MiB openssl -stream message per
// combination and reports the peak heap. BIZPIPE_DECODE_BENCH_MIB sets
// another size (e.g. 1024 for the 1 GiB target; it needs that much memory
// for the reference body and about four times that on disk). Run with
// -benchtime=1x.
func BenchmarkDecodeStream(b *testing.B) {
	ossl := openssl(b)
	p := newPKI(b)
	groupKey := writeGroupKey(b, p)
	size := largeSize
	if v := os.Getenv("BIZPIPE_DECODE_BENCH_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib <= 0 {
			b.Fatalf("BIZPIPE_DECODE_BENCH_MIB=%q: want a positive number", v)
		}
		size = mib << 20
	}
	body := largeBody(size)
	for _, c := range []largeCase{
		{"clear", "none", "binary", "smime"},
		{"opaque", "none", "binary", "der"},
		{"clear", "aes256-cbc", "base64", "smime"},
		{"opaque", "aes256-gcm", "binary", "der"},
		{"opaque", "aes256-gcm", "base64", "smime"},
	} {
		b.Run(c.String(), func(b *testing.B) {
			path := buildLarge(b, ossl, p, groupKey, b.TempDir(), body, c)
			opts := p.decodeOpts()
			opts.SpoolDir = b.TempDir()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var maxPeak uint64
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				dst := &cmpWriter{want: body}
				peak, _ := heapDuring(func() {
					_, err = DecodeStream(context.Background(), f, dst, opts)
				})
				f.Close()
				if err != nil || dst.diff {
					b.Fatalf("DecodeStream: %v (differs: %v)", err, dst.diff)
				}
				maxPeak = max(maxPeak, peak)
			}
			b.ReportMetric(float64(maxPeak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// TestDecodeStreamSpoolPeak: the spool holds at most two of a message's
// layers at once (the one being read and the one being written), beside
// the message itself when it cannot be read in place, with or without a
// MIC to compute (over a signature's content, computed once the signature
// verified, so that its layer need not stay; only an opaque signature
// inside an encryption keeps one more, as does one KeepSignatures writes
// out whole, without what was decoded to find it). A decoder that kept
// every layer until the end would need room for all of them: about four
// to five times the message for a signed and encrypted one.
func TestDecodeStreamSpoolPeak(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	groupKey := writeGroupKey(t, p)
	body := largeBody(1 << 20)
	for _, c := range largeCases() {
		path := buildLarge(t, ossl, p, groupKey, t.TempDir(), body, c)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, mic := range []crypto.Hash{0, crypto.SHA256} {
			for _, inPlace := range []bool{false, true} {
				for _, keepSig := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/mic=%v/inplace=%v/keep=%v", c, mic != 0, inPlace, keepSig), func(t *testing.T) {
						opts := p.decodeOpts()
						opts.SpoolDir, opts.MICHash, opts.KeepSignatures = t.TempDir(), mic, keepSig
						var peak int64
						opts.spoolPeak = &peak
						var src io.Reader = bytes.NewReader(raw)
						if !inPlace {
							src = io.MultiReader(bytes.NewReader(raw)) // copied to the spool
						}
						var dst io.Writer = &cmpWriter{want: body}
						if keepSig {
							dst = io.Discard // the signature layer, whole
						}
						if _, err := DecodeStream(t.Context(), src, dst, opts); err != nil {
							t.Fatalf("DecodeStream: %v", err)
						}
						if dst, ok := dst.(*cmpWriter); ok && (dst.diff || dst.off != len(body)) {
							t.Fatalf("body differs (%d octets written, want %d)", dst.off, len(body))
						}
						layers := int64(2)
						if !inPlace {
							layers++
						}
						if (mic != 0 || keepSig) && c.enc != "none" && c.sig == "opaque" {
							// The decrypted layer stays until the signature
							// inside it is found, which, opaque, is two layers
							// further: for the MIC, or to be written whole.
							layers++
						}
						t.Logf("spool peak %.2f times the message", float64(peak)/float64(len(raw)))
						if bound := layers * int64(len(raw)); peak > bound {
							t.Errorf("the spool held %d octets at once for a message of %d; want at most %d (%d layers)", peak, len(raw), bound, layers)
						}
					})
				}
			}
		}
	}
}

// TestDecodeStreamReadsInPlace: a message whose content cannot change
// while it is decoded (a *bytes.Reader, an *io.SectionReader, the runner's
// *fsop.Unlinked spool file, also behind a header section entityOf puts
// in front) is read where it is, from the reader's current offset; any
// other reader is copied to the spool first. The message is clear-signed
// and binary, so that no layer of it needs the spool.
func TestDecodeStreamReadsInPlace(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	body := largeBody(256 << 10)
	raw, err := os.ReadFile(buildLarge(t, ossl, p, writeGroupKey(t, p), t.TempDir(), body, largeCase{"clear", "none", "binary", "smime"}))
	if err != nil {
		t.Fatal(err)
	}
	unlinked := func(t *testing.T, prefix, content []byte) *fsop.Unlinked {
		f, err := fsop.CreateUnlinked(t.TempDir(), "msg-*")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if _, err := f.Write(append(append([]byte{}, prefix...), content...)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(int64(len(prefix)), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		return f
	}
	_, hdrLen, err := readHeaderSection(io.NewSectionReader(bytes.NewReader(raw), 0, int64(len(raw))))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		src    func(t *testing.T) io.Reader
		copied bool
	}{
		{"bytes.Reader", func(*testing.T) io.Reader { return bytes.NewReader(raw) }, false},
		{"SectionReader", func(*testing.T) io.Reader { return io.NewSectionReader(bytes.NewReader(raw), 0, int64(len(raw))) }, false},
		{"Unlinked", func(t *testing.T) io.Reader { return unlinked(t, nil, raw) }, false},
		{"Unlinked at an offset", func(t *testing.T) io.Reader { return unlinked(t, []byte("read before\r\n"), raw) }, false},
		{"header in front of an Unlinked", func(t *testing.T) io.Reader {
			src, err := entityOf(raw[:hdrLen], unlinked(t, nil, raw[hdrLen:]))
			if err != nil {
				t.Fatal(err)
			}
			return src
		}, false},
		{"header in front of a stream", func(t *testing.T) io.Reader {
			src, err := entityOf(raw[:hdrLen], io.MultiReader(bytes.NewReader(raw[hdrLen:])))
			if err != nil {
				t.Fatal(err)
			}
			return src
		}, true},
		{"any other reader", func(*testing.T) io.Reader { return io.MultiReader(bytes.NewReader(raw)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := p.decodeOpts()
			opts.SpoolDir = t.TempDir()
			var peak int64
			opts.spoolPeak = &peak
			dst := &cmpWriter{want: body}
			if _, err := DecodeStream(t.Context(), tc.src(t), dst, opts); err != nil {
				t.Fatalf("DecodeStream: %v", err)
			}
			if dst.diff || dst.off != len(body) {
				t.Fatalf("body differs (%d octets written, want %d)", dst.off, len(body))
			}
			// The body written to dst counts (spoolPeak); no layer does.
			if want := map[bool]int64{false: 0, true: int64(len(raw))}[tc.copied] + int64(len(body)); peak != want {
				t.Errorf("the spool held %d octets; want %d (copied: %v)", peak, want, tc.copied)
			}
		})
	}
}

// TestHeadedAtReadAt: every read of a header section and a body joined
// at offsets gives what the two concatenated hold.
func TestHeadedAtReadAt(t *testing.T) {
	head, body := []byte("Content-Type: text/plain\r\n\r\n"), []byte("the body\r\n")
	whole := append(append([]byte{}, head...), body...)
	r := headedAt{head, io.NewSectionReader(bytes.NewReader(body), 0, int64(len(body)))}
	for off := 0; off <= len(whole); off++ {
		for n := 0; n <= len(whole)-off+2; n++ {
			p := make([]byte, n)
			got, err := r.ReadAt(p, int64(off))
			want := min(n, len(whole)-off)
			if got != want || !bytes.Equal(p[:got], whole[off:off+want]) {
				t.Fatalf("ReadAt(%d octets, %d) = %d %q; want %d %q", n, off, got, p[:got], want, whole[off:off+want])
			}
			// At the end, a full read may say io.EOF too (io.ReaderAt).
			if got < n && err != io.EOF || got == n && err != nil && (err != io.EOF || off+n != len(whole)) {
				t.Fatalf("ReadAt(%d octets, %d): %d read, error %v", n, off, got, err)
			}
		}
	}
}
