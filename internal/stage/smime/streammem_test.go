package smime

import (
	"fmt"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"testing"
)

// genReader yields n generated octets: random binary data, or text lines
// with LF breaks (which canonicalisation turns into CRLF).
type genReader struct {
	n    int64
	text bool
	rng  *mrand.ChaCha8
	line int
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n)]
	if g.text {
		for i := range p {
			g.line++
			switch {
			case g.line%73 == 0:
				p[i] = '\n'
			default:
				p[i] = 'a' + byte(g.line%26)
			}
		}
	} else {
		_, _ = g.rng.Read(p)
	}
	g.n -= int64(len(p))
	return len(p), nil
}

func newGenReader(n int64, text bool) *genReader {
	return &genReader{n: n, text: text, rng: mrand.NewChaCha8([32]byte{42})}
}

// countingWriter counts and discards.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestStreamBoundedMemory: every signature × algorithm (and text with
// canonicalisation and each transfer encoding) encodes 64 MiB while
// allocating, in total, a small fraction of it: nothing is held whole.
// (TotalAlloc counts every allocation made while encoding, so a per-write
// allocation would show too; HeapInuse is checked after the fact.)
func TestStreamBoundedMemory(t *testing.T) {
	const size = 64 << 20
	const maxAlloc = 4 << 20 // all allocations together, for 64 MiB
	p := newPKI(t)
	type tc struct {
		sig, alg, cte, ct string
	}
	var cases []tc
	for _, sig := range []string{"none", "clear", "opaque"} {
		for _, alg := range matrixAlgorithms {
			cases = append(cases, tc{sig, alg, "base64", "application/octet-stream"})
		}
	}
	cases = append(cases,
		tc{"clear", "aes256-cbc", "quoted-printable", "text/plain"},
		tc{"opaque", "aes256-gcm", "8bit", "text/plain"},
		tc{"clear", "none", "binary", "application/octet-stream"},
		tc{"opaque", "aes128-cbc", "7bit", "text/plain"},
	)
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/%s/%s", c.sig, c.alg, c.cte, c.ct), func(t *testing.T) {
			o := Options{Signature: c.sig, Digest: "sha256", IncludeCertificate: true, ContentTransferEncoding: c.cte}
			if c.alg != "none" {
				o.Encrypt, o.Algorithm = true, mustAlg(t, c.alg)
			}
			st := mustStage(t, o, p.signer(), p.partner.Cert)
			n := int64(size)
			if c.alg == "des3" {
				n = size / 4 // 3DES runs at ~15 MB/s; the bound is the same
			}
			in := newGenReader(n, c.ct == "text/plain")
			buf := make([]byte, 32<<10)
			var out countingWriter

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			enc, err := st.Start(headerOf1("Content-Type", c.ct))
			if err != nil {
				t.Fatal(err)
			}
			w := enc.Wrap(&out)
			if _, err := io.CopyBuffer(onlyWriter{w}, onlyReader{in}, buf); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)

			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d MiB in, %d MiB out, %d KiB allocated, heap in use %d KiB", n>>20, out.n>>20, alloc>>10, after.HeapInuse>>10)
			if out.n < n {
				t.Errorf("only %d octets out", out.n)
			}
			if alloc > maxAlloc {
				t.Errorf("allocated %d KiB while encoding %d MiB, want at most %d KiB", alloc>>10, n>>20, maxAlloc>>10)
			}
			if after.HeapInuse > before.HeapInuse+maxAlloc {
				t.Errorf("heap in use grew from %d to %d KiB", before.HeapInuse>>10, after.HeapInuse>>10)
			}
		})
	}
}

// onlyReader hides WriteTo so that io.CopyBuffer uses the given buffer,
// as a transport copying a body does (onlyWriter, in spool.go, hides
// ReadFrom).
type onlyReader struct{ io.Reader }
