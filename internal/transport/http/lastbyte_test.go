package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// slowStore is a sink that reads the whole body, says so on read, and then
// takes hold to store it, as a box storing a large body does; like a box,
// it fails with the context's error when its context ends first.
func slowStore(rec *transporttest.Recorder, hold time.Duration, read chan<- struct{}) transport.Sink {
	return transport.SinkFunc(func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
		data, err := io.ReadAll(body)
		if err != nil {
			return msgbox.Message{}, false, fmt.Errorf("slowStore: reading body: %w", err)
		}
		read <- struct{}{}
		select {
		case <-ctx.Done():
			return msgbox.Message{}, false, fmt.Errorf("slowStore: storing: %w", ctx.Err())
		case <-time.After(hold):
		}
		return rec.Publish(ctx, in, bytes.NewReader(data))
	})
}

// boxFailed is the log line of a message the box failed to store.
const boxFailed = "storing a received message failed"

// TestHTTPBodyCompleteBeforeRequestTimeoutIsStored: a body that arrived
// whole within request_timeout is stored and answered 202 even when
// storing it runs past request_timeout (the write timeout leaves a minute
// for that), whether it was spooled or streamed into the sink. A client
// that hangs up once it sent the whole body does not stop the storing
// either. Neither is logged as the box failing nor as a timeout.
func TestHTTPBodyCompleteBeforeRequestTimeoutIsStored(t *testing.T) {
	// Long enough for the body to arrive within it on a loaded machine.
	const request = time.Second
	for _, tc := range []struct {
		name   string
		size   int
		hangUp bool // the client closes its connection once the body is read
	}{
		{"spooled body", 1000, false},
		{"streamed body", spoolBytes + segmentBytes, false},
		{"client hangs up after the body", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := transporttest.NewRecorder()
			read := make(chan struct{}, 1)
			o := httpOpts()
			o.MaxBody = 4 * spoolBytes
			o.BodyIdleTimeout = time.Minute
			o.RequestTimeout = request
			// The store outlasts request_timeout, counted from before the
			// body was read.
			hold := request + request/2
			if tc.hangUp {
				// Only the client's hang-up can cut this store short.
				o.RequestTimeout = time.Minute
			}
			h, _, lr := startHTTP(t, o, slowStore(rec, hold, read))
			body := transporttest.Pattern(7, tc.size)
			c := rawConn(t, h.Addr().String(), header(len(body)), body)
			if tc.hangUp {
				transporttest.Await(t, "the sink to get the whole body", read)
				c.Close()
				transporttest.WaitFor(t, "the message stored", func() bool { return len(rec.All()) == 1 })
			} else {
				status, text := readAnswer(t, c)
				if status != http.StatusAccepted {
					t.Errorf("answered %d %s; want 202", status, text)
				}
			}
			if got := rec.All(); len(got) != 1 || !bytes.Equal(got[0].Body, body) {
				t.Errorf("%d messages stored, want the one sent", len(got))
			}
			for _, w := range []string{boxFailed, "request_timeout", "stalled"} {
				if n := lr.CountAny(w); n != 0 {
					t.Errorf("%d log lines %q, want none", n, w)
				}
			}
			if n := lr.Count(slog.LevelError, ""); n != 0 {
				t.Errorf("%d errors logged, want none", n)
			}
		})
	}
}

// TestHTTPStoreCancelledByStopIsNotABoxFailure: when a stop's grace runs
// out while a body that arrived whole is being stored, the store is
// cancelled and the client answered 503 with Retry-After; the log says it
// was the stop, as a warning, not the box failing as an error. A box that
// fails on its own is still an error.
func TestHTTPStoreCancelledByStopIsNotABoxFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop bool // the stop cancels the store; else the box fails
	}{
		{"stop's grace runs out", true},
		{"box fails", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := transporttest.NewRecorder()
			read := make(chan struct{}, 1)
			sink := slowStore(rec, time.Hour, read) // held until its context ends
			if !tc.stop {
				sink = transport.SinkFunc(func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
					if _, err := io.ReadAll(body); err != nil {
						return msgbox.Message{}, false, err
					}
					return msgbox.Message{}, false, errors.New("disk I/O error")
				})
			}
			log, lr := transporttest.NewLog()
			h, err := NewListener(httpOpts(), sink, log)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The grace of a stop is over before the stop starts.
			grace, cancel := context.WithCancel(context.Background())
			cancel()
			// Whatever the test got to, the location stops; a second
			// Shutdown only answers as the first did.
			t.Cleanup(func() { _ = h.Shutdown(grace) })
			body := transporttest.Pattern(7, 500)
			c := rawConn(t, h.Addr().String(), header(len(body)), body)
			stopped := make(chan error, 1)
			if tc.stop {
				transporttest.Await(t, "the sink to get the whole body", read)
				go func() { stopped <- h.Shutdown(grace) }()
			}
			if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v; want 503", err)
			}
			text, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Errorf("reading the answer: %v", err)
			}
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("answered %s %q, Retry-After %q; want 503 with Retry-After", resp.Status, text, resp.Header.Get("Retry-After"))
			}
			if tc.stop {
				if err := <-stopped; !errors.Is(err, context.Canceled) {
					t.Errorf("Shutdown: %v; want its context's error, a request aborted", err)
				}
			}
			if n := len(rec.All()); n != 0 {
				t.Errorf("%d messages stored, want none", n)
			}
			if tc.stop {
				for _, w := range []string{transporttest.StoreAborted, transporttest.StoresAborted} {
					if n := lr.Count(slog.LevelWarn, w); n != 1 {
						t.Errorf("%d warnings %q, want 1", n, w)
					}
				}
				if n := lr.Count(slog.LevelError, ""); n != 0 {
					t.Errorf("%d errors logged, want none", n)
				}
			} else {
				if n := lr.Count(slog.LevelError, boxFailed); n != 1 {
					t.Errorf("%d errors %q, want 1", n, boxFailed)
				}
				if n := lr.CountAny(transporttest.StoreAborted); n != 0 {
					t.Errorf("%d log lines %q, want none", n, transporttest.StoreAborted)
				}
			}
		})
	}
}
