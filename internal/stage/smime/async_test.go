package smime

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
)

// bufCloser records what is written and whether it was closed; it fails
// once failAt bytes were written (0: never), and panics (a bug) once
// panicAt were.
type bufCloser struct {
	bytes.Buffer
	failAt  int
	panicAt int
	closed  bool
}

func (b *bufCloser) Write(p []byte) (int, error) {
	if b.failAt > 0 && b.Len()+len(p) > b.failAt {
		return 0, errors.New("disk full")
	}
	if b.panicAt > 0 && b.Len()+len(p) > b.panicAt {
		panic("a bug below")
	}
	return b.Buffer.Write(p)
}

func (b *bufCloser) Close() error { b.closed = true; return nil }

// TestAsyncWriter: what goes in comes out, in order, whatever the sizes
// (below a chunk nothing starts a goroutine); an error below reaches the
// writer above; and neither Close nor abort leaves a goroutine behind.
func TestAsyncWriter(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, size := range []int{0, 1, asyncChunk - 1, asyncChunk, 3*asyncChunk + 7, 20 * asyncChunk} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
			next := &bufCloser{}
			a := newAsyncWriter(next)
			for p := data; len(p) > 0; {
				k := min(len(p), 4095)
				if _, err := a.Write(p[:k]); err != nil {
					t.Fatal(err)
				}
				p = p[k:]
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(next.Bytes(), data) || !next.closed {
				t.Fatalf("got %d bytes (closed %v), want %d", next.Len(), next.closed, size)
			}
		})
	}
	t.Run("error below", func(t *testing.T) {
		next := &bufCloser{failAt: 2 * asyncChunk}
		a := newAsyncWriter(next)
		var err error
		for i := 0; i < 40 && err == nil; i++ {
			_, err = a.Write(make([]byte, asyncChunk/2))
		}
		if err == nil {
			err = a.Close()
		} else {
			a.abort()
		}
		if err == nil || next.closed {
			t.Fatalf("error %v, next closed %v; want the error, next not closed", err, next.closed)
		}
	})
	t.Run("error below, written through", func(t *testing.T) {
		next := &bufCloser{failAt: 100}
		a := newAsyncWriter(next)
		if _, err := a.Write(make([]byte, 4095)); err == nil {
			t.Fatal("Write: no error")
		}
		// After the failure nothing more goes below, even what would fit.
		next.failAt = 0
		if n, err := a.Write(make([]byte, 10)); err == nil || n != 0 || next.Len() != 0 {
			t.Fatalf("Write after the failure: %d, %v, %d bytes below; want 0, the error, none", n, err, next.Len())
		}
		if err := a.Close(); err == nil || next.closed {
			t.Fatalf("Close: error %v, next closed %v; want the error, next not closed", err, next.closed)
		}
	})
	// A panic below (the encryption's, the transport's: a bug) is an
	// error like any other, whether it happens in the goroutine or in the
	// caller's (written through): the goroutine ends, and the process
	// lives on.
	for _, panicAt := range []int{2 * asyncChunk, 100} {
		t.Run(fmt.Sprintf("panic below at %d", panicAt), func(t *testing.T) {
			next := &bufCloser{panicAt: panicAt}
			a := newAsyncWriter(next)
			s := &stickyWriter{w: a, asyncs: []*asyncWriter{a}}
			var err error
			for i := 0; i < 40 && err == nil; i++ {
				_, err = s.Write(make([]byte, asyncChunk/2))
			}
			if cerr := s.Close(); err == nil {
				err = cerr
			}
			var ie *component.InternalError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), "panic: a bug below") || len(ie.Stack) == 0 || next.closed {
				t.Fatalf("error %v, next closed %v; want the panic as an internal error, next not closed", err, next.closed)
			}
		})
	}
	t.Run("abort", func(t *testing.T) {
		a := newAsyncWriter(&bufCloser{})
		if _, err := a.Write(make([]byte, 3*asyncChunk)); err != nil {
			t.Fatal(err)
		}
		a.abort()
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running", n-before)
	}
}

// TestStreamLargeEnveloped: a body spanning many chunks of the goroutine
// boundary decodes exactly, signed and enveloped, in both algorithms.
func TestStreamLargeEnveloped(t *testing.T) {
	p := newPKI(t)
	body := make([]byte, 3<<20+5)
	for i := range body {
		body[i] = byte(i * 31)
	}
	for _, alg := range []cms.Algorithm{cms.AES256CBC, cms.AES256GCM} {
		for _, sig := range []string{"clear", "opaque", "none"} {
			st := mustStage(t, Options{Signature: sig, Digest: "sha256", IncludeCertificate: true,
				Encrypt: true, Algorithm: alg, ContentTransferEncoding: "binary"}, p.signer(), p.partner.Cert)
			out := mustStream(t, st, "application/octet-stream", body, []int{65537})
			d, err := Decode(out, p.decodeOpts())
			if err != nil || !bytes.Equal(d.Body, body) {
				t.Fatalf("%s %s: Decode: %v", sig, alg, err)
			}
		}
	}
}

// TestStreamLargeEnvelopedFails: a transport that fails in the middle of a
// large enveloped message (every goroutine boundary started) fails the
// stream, whichever layer is writing, and no goroutine is left running -
// also when the layers above fail instead and the stream is only closed.
func TestStreamLargeEnvelopedFails(t *testing.T) {
	p := newPKI(t)
	body := make([]byte, 6<<20)
	before := runtime.NumGoroutine()
	for _, sig := range []string{"clear", "opaque", "none"} {
		st := mustStage(t, Options{Signature: sig, Digest: "sha256", IncludeCertificate: true,
			Encrypt: true, Algorithm: cms.AES256CBC, ContentTransferEncoding: "binary"}, p.signer(), p.partner.Cert)
		for _, failAt := range []int{1, 5 * asyncChunk, 3 << 20} {
			enc, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "application/octet-stream"}}})
			if err != nil {
				t.Fatal(err)
			}
			w := enc.Wrap(&bufCloser{failAt: failAt})
			_, werr := w.Write(body)
			cerr := w.Close()
			if werr == nil && cerr == nil || !strings.Contains(fmt.Sprint(werr, cerr), "disk full") {
				t.Errorf("%s, failing after %d bytes: write %v, close %v; want disk full", sig, failAt, werr, cerr)
			}
		}
		// The layers above fail (here: the caller stops half way and
		// closes); the goroutines end all the same.
		enc, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "application/octet-stream"}}})
		if err != nil {
			t.Fatal(err)
		}
		w := enc.Wrap(&bufCloser{})
		if _, err := w.Write(body[:3<<20]); err != nil {
			t.Fatal(err)
		}
		w.(interface{ abort() }).abort()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running", n-before)
	}
}

// TestWritersSizedToTheMessage: a small message passes the async writer
// without a buffer or a goroutine (written through as it comes), and the
// base64 writer's buffer is sized to what it is given, up to its bound,
// which a large message reaches: so a 4 KiB message allocates a few KiB
// there, and a large one keeps its large writes.
func TestWritersSizedToTheMessage(t *testing.T) {
	next := &bufCloser{}
	a := newAsyncWriter(next)
	if _, err := a.Write(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if next.Len() != 4096 || a.started || a.cur != nil {
		t.Errorf("after 4 KiB: %d bytes below, goroutine %v, buffer of %d; want 4096 written through, none", next.Len(), a.started, cap(a.cur))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		size    int
		maxCap  int
		wantMax bool
	}{
		{4096, 8 << 10, false},
		{1 << 20, base64Buf, true},
	} {
		w := newBase64Writer(&bufCloser{})
		if _, err := w.Write(make([]byte, tc.size)); err != nil {
			t.Fatal(err)
		}
		if got := cap(w.out); got > tc.maxCap || tc.wantMax && got != base64Buf {
			t.Errorf("base64 writer after %d bytes: a buffer of %d, want at most %d (exactly %v)", tc.size, got, tc.maxCap, tc.wantMax)
		}
	}
}
