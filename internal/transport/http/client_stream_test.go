package http

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestHTTPStreamsLargeBody checks that a body larger than what the spool
// keeps in memory reaches the partner exactly, with its Content-Length
// (not chunked), and that the spool file leaves nothing in SpoolDir.
func TestHTTPStreamsLargeBody(t *testing.T) {
	for _, size := range []int{10, spoolMemory, spoolMemory + 1, 3*spoolMemory + 5} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			var gotLen int64
			var gotTE []string
			var got []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotLen, gotTE = r.ContentLength, r.TransferEncoding
				var buf bytes.Buffer
				if _, err := buf.ReadFrom(r.Body); err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				got = buf.Bytes()
				w.WriteHeader(http.StatusAccepted)
			}))
			defer srv.Close()
			spoolDir := t.TempDir()
			h := newHTTPTransport(t, ClientOptions{SpoolDir: spoolDir})
			data := transporttest.Pattern(uint64(size), size)
			w, err := h.Begin(context.Background(), httpDelivery(srv.URL+"/in", nil), []transport.Field{{Name: "Content-Type", Value: "application/octet-stream"}})
			if err != nil {
				t.Fatalf("Begin: %v", err)
			}
			transporttest.WriteInPieces(t, w, data, []int{1, 4095, 65536})
			if err := w.Commit(context.Background()); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("partner got %d bytes, want the %d written", len(got), len(data))
			}
			if gotLen != int64(size) || len(gotTE) != 0 {
				t.Fatalf("Content-Length %d, Transfer-Encoding %q; want %d and none", gotLen, gotTE, size)
			}
			if left, _ := os.ReadDir(spoolDir); len(left) != 0 {
				t.Fatalf("spool directory holds %d entries after the request", len(left))
			}
			// The spool file is unlinked at once, so an empty directory
			// proves little: it must also be closed.
			if n := openFilesIn(t, spoolDir); n != 0 {
				t.Fatalf("%d spool files still open after the request", n)
			}
		})
	}
}

// TestHTTPBeginRejectsBadURL checks that an invalid URL fails before any
// body is encoded, as a permanent failure.
func TestHTTPBeginRejectsBadURL(t *testing.T) {
	h := newHTTPTransport(t, ClientOptions{})
	_, err := h.Begin(context.Background(), httpDelivery("http://partner.example/a b", nil), nil)
	if err == nil || !transport.Permanent(err) {
		t.Fatalf("Begin with a space in the URL: %v, want a permanent error", err)
	}
}

// openFilesIn counts this process's open files under dir, unlinked ones
// included (/proc/self/fd names them "PATH (deleted)").
func openFilesIn(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}
