package as2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// slowSink reads the whole entity, says so on read, and then takes hold
// before the box stores it, as storing a large body does; like the box,
// it fails with the context's error when its context ends first.
type slowSink struct {
	component.OutcomeSink
	hold time.Duration
	read chan<- struct{}
}

func (s slowSink) PublishOutcome(ctx context.Context, in msgbox.Incoming, body io.Reader, req component.DecodeRequest) (component.Published, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return component.Published{}, fmt.Errorf("slowSink: reading body: %w", err)
	}
	s.read <- struct{}{}
	select {
	case <-ctx.Done():
		return component.Published{}, fmt.Errorf("slowSink: storing: %w", ctx.Err())
	case <-time.After(s.hold):
	}
	return s.OutcomeSink.PublishOutcome(ctx, in, bytes.NewReader(data), req)
}

// TestReceiveBodyCompleteBeforeRequestTimeoutIsStored: an AS2 message
// whose body arrived whole within request_timeout is stored and answered
// with a positive MDN even when storing it runs past request_timeout (the
// write timeout leaves a minute for that). A sender that hangs up once it
// sent the whole body does not stop the storing either. Neither is logged
// as the box failing nor as a timeout.
func TestReceiveBodyCompleteBeforeRequestTimeoutIsStored(t *testing.T) {
	// Long enough for the body to arrive within it on a loaded machine.
	const request = time.Second
	for _, tc := range []struct {
		name   string
		size   int
		hangUp bool // the sender closes its connection once the body is read
	}{
		{"small body", len(order), false},
		{"large body", 1<<20 + 1, false},
		{"sender hangs up after the body", len(order), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box := transporttest.NewBox(t)
			log, lr := transporttest.NewLog()
			requestTimeout := request
			if tc.hangUp {
				// Only the sender's hang-up can cut this store short.
				requestTimeout = time.Minute
			}
			read := make(chan struct{}, 1)
			g := newRepeatRigOn(t, rigOptions{box: box, mdns: box, log: log,
				wrap: func(s component.OutcomeSink) component.OutcomeSink {
					// The store outlasts request_timeout, counted from
					// before the body was read.
					return slowSink{OutcomeSink: s, hold: request + request/2, read: read}
				},
				tune: func(rc *receiver) { rc.bodyIdle, rc.requestTimeout = time.Minute, requestTimeout }})
			body := order
			if tc.size > len(order) {
				body = string(transporttest.Pattern(7, tc.size))
			}
			c := g.rawPost(t, nil, len(body), body)
			if tc.hangUp {
				transporttest.Await(t, "the sink to get the whole body", read)
				c.Close()
				transporttest.WaitFor(t, "the message stored", func() bool { return len(g.stored(t)) == 1 })
			} else {
				resp, text := testhttp.Answer(t, c)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("answered %s %q; want 200 with the MDN", resp.Status, text)
				}
				resp.Header.Del("Date")
				if m := g.mdnOf(t, as2.JoinEntity(resp.Header, []byte(text))); !m.Disposition.Positive() {
					t.Errorf("answered %q, want processed", m.Disposition)
				}
			}
			if n := len(g.stored(t)); n != 1 {
				t.Errorf("%d messages stored, want 1", n)
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

// failingSink reads the whole entity and fails, as a broken box does.
type failingSink struct{ component.OutcomeSink }

func (failingSink) PublishOutcome(ctx context.Context, in msgbox.Incoming, body io.Reader, req component.DecodeRequest) (component.Published, error) {
	if _, err := io.ReadAll(body); err != nil {
		return component.Published{}, err
	}
	return component.Published{}, errors.New("disk I/O error")
}

// TestReceiveStoreCancelledByStopIsNotABoxFailure: when a stop's grace
// runs out while an AS2 message that arrived whole is being stored, the
// store is cancelled, nothing is stored, and the sender is answered 503
// with Retry-After; the log says it was the stop, as a warning, not the
// box failing as an error. A box that fails on its own is still an error.
func TestReceiveStoreCancelledByStopIsNotABoxFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop bool // the stop cancels the store; else the box fails
	}{
		{"stop's grace runs out", true},
		{"box fails", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box := transporttest.NewBox(t)
			log, lr := transporttest.NewLog()
			read := make(chan struct{}, 1)
			g := newRepeatRigOn(t, rigOptions{box: box, mdns: box, log: log,
				wrap: func(s component.OutcomeSink) component.OutcomeSink {
					if !tc.stop {
						return failingSink{s}
					}
					// Held until its context ends.
					return slowSink{OutcomeSink: s, hold: time.Hour, read: read}
				}})
			c := g.rawPost(t, nil, len(order), order)
			// The grace of a stop is over before the stop starts.
			grace, cancel := context.WithCancel(context.Background())
			cancel()
			stopped := make(chan struct{})
			if tc.stop {
				transporttest.Await(t, "the sink to get the whole body", read)
				go func() {
					defer close(stopped)
					g.rc.Stop(grace)
				}()
			}
			resp, text := testhttp.Answer(t, c)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("answered %s %q, Retry-After %q; want 503 with Retry-After", resp.Status, text, resp.Header.Get("Retry-After"))
			}
			if tc.stop {
				<-stopped
			}
			if n := len(g.stored(t)); n != 0 {
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
