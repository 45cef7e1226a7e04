package smime

import (
	"crypto/rand"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/cms"
)

// BenchmarkEncode4KiB: a typical EDI message, RSA-2048 clear signature and
// AES-256-CBC, base64.
func BenchmarkEncode4KiB(b *testing.B) {
	p := newPKI(b)
	e := mustEncoder(b, Options{Signature: "clear", Digest: "sha256", IncludeCertificate: true, Encrypt: true, Algorithm: cms.AES256CBC})
	body := make([]byte, 4096)
	if _, err := rand.Read(body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := e.Encode(nil, "application/edi-x12", body, p.signer(), p.partner.Cert); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode100MiB reports, besides time and B/op, the peak heap in
// use while encoding a 100 MiB body (sampled every millisecond, minus the
// heap before the call; the body itself is not counted). Run it with
// -benchtime=1x or 2x; it is informational, no limit is asserted.
func BenchmarkEncode100MiB(b *testing.B) {
	p := newPKI(b)
	body := make([]byte, 100<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"none", Options{}},
		{"clear", Options{Signature: "clear", IncludeCertificate: true}},
		{"clear+aes256-cbc", Options{Signature: "clear", IncludeCertificate: true, Encrypt: true, Algorithm: cms.AES256CBC}},
		{"opaque+aes256-gcm", Options{Signature: "opaque", IncludeCertificate: true, Encrypt: true, Algorithm: cms.AES256GCM}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := mustEncoder(b, tc.o)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var peak uint64
			var outLen int
			for b.Loop() {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				stop := sampleHeap(&peak, base)
				out, err := e.Encode(nil, "application/octet-stream", body, p.signer(), p.partner.Cert)
				stop()
				if err != nil {
					b.Fatal(err)
				}
				outLen = len(out)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(outLen)/(1<<20), "output-MiB")
		})
	}
}

// sampleHeap records the largest HeapAlloc above base into *peak until the
// returned function is called.
func sampleHeap(peak *uint64, base uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > *peak {
				*peak = ms.HeapAlloc - base
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// BenchmarkStream: the streaming stage on 16 MiB written in 64 KiB pieces,
// RSA-2048 signature and envelope, base64 and binary transfer encodings.
// B/op stays in kilobytes whatever the size (TestStreamBoundedMemory
// asserts it); scripts/bench-stream.sh compares 1 GiB with openssl.
func BenchmarkStream(b *testing.B) {
	p := newPKI(b)
	body := make([]byte, 16<<20)
	if _, err := rand.Read(body); err != nil {
		b.Fatal(err)
	}
	for _, sig := range []string{"clear", "opaque"} {
		for _, alg := range []cms.Algorithm{cms.AES256CBC, cms.AES256GCM} {
			for _, cte := range []string{"base64", "binary"} {
				b.Run(sig+"/"+alg.String()+"/"+cte, func(b *testing.B) {
					st := mustStage(b, Options{Signature: sig, Digest: "sha256", IncludeCertificate: true,
						Encrypt: true, Algorithm: alg, ContentTransferEncoding: cte}, p.signer(), p.partner.Cert)
					b.ReportAllocs()
					b.SetBytes(int64(len(body)))
					for b.Loop() {
						enc, err := st.Start(headerOf1("Content-Type", "application/octet-stream"))
						if err != nil {
							b.Fatal(err)
						}
						w := enc.Wrap(io.Discard)
						for i := 0; i < len(body); i += 64 << 10 {
							if _, err := w.Write(body[i : i+64<<10]); err != nil {
								b.Fatal(err)
							}
						}
						if err := w.Close(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkSignEncrypt4KiB is the in-process ceiling scripts/bench-run.sh
// compares `run --once` with: the streaming stage on a 4 KiB message,
// RSA-2048 clear signature and AES-256-CBC, on every core, with no message
// box or files around it. It reports msgs/s.
func BenchmarkSignEncrypt4KiB(b *testing.B) {
	p := newPKI(b)
	st := mustStage(b, Options{Signature: "clear", Digest: "sha256", IncludeCertificate: true,
		Encrypt: true, Algorithm: cms.AES256CBC, ContentTransferEncoding: "base64"}, p.signer(), p.partner.Cert)
	body := make([]byte, 4096)
	if _, err := rand.Read(body); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			enc, err := st.Start(headerOf1("Content-Type", "application/octet-stream"))
			if err != nil {
				b.Error(err)
				return
			}
			w := enc.Wrap(io.Discard)
			if _, err := w.Write(body); err != nil {
				b.Error(err)
				return
			}
			if err := w.Close(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
