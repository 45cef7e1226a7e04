package runner_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestStopCancelsTricklingUploadsAfterGrace: a client trickling a body (a
// byte every 50 ms, never idle long enough to time out, far from its
// declared length) does not hold a stop: once StopGrace has passed, the
// upload is cancelled, the client is answered 503 with Retry-After (not
// 202), nothing is stored, and Run returns. The log says what the stop
// waited on. Without the grace, Run would wait for the upload until the
// request timeout (an hour).
func TestStopCancelsTricklingUploadsAfterGrace(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+allToFiles+`
receive_location "web" {
  host         = host.h
  content_type = "application/xml"
  transport "http" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/orders"
  }
}
`, map[string]string{"Port": freePort(t)})
	var logs logBuffer
	const grace = 300 * time.Millisecond
	r, box := startWith(t, dir, func(o *runner.Options) {
		o.StopGrace = grace
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx)
		done <- err
	}()

	addr := "127.0.0.1:" + portOf(t, dir)
	var c net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "POST /orders HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\nfirst"); err != nil {
		t.Fatal(err)
	}
	defer transporttest.Trickle(c, 50*time.Millisecond)()
	// The upload is under way when the stop comes.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "http receive location listening"); {
		if time.Now().After(deadline) {
			t.Fatal("the location never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few bytes trickle in

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(grace + 20*time.Second): // generous: a loaded machine
		t.Fatal("Run did not return after the grace: the trickling upload holds the stop")
	}

	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	switch {
	case err != nil:
		// The connection closed without an answer: allowed, but not
		// what an answer that can be written should be.
		t.Errorf("no answer to the cancelled upload: %v; want 503", err)
	case resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "":
		t.Errorf("cancelled upload answered %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 0 {
		t.Errorf("stored %d messages (%v); want none", len(msgs), err)
	}
	out := logs.String()
	for _, want := range []string{
		"stop_grace=300ms",
		"stopping: waiting for uploads in progress",
		"receive_location=web uploads=1",
		"uploads in progress cancelled",
		"upload cancelled",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log has no %q:\n%s", want, out)
		}
	}
}

// TestStopSaysWhatItWaitsFor: a stop waiting for a delivery in flight (a
// partner slow to answer) says, every so often, how many deliveries it
// still waits for and on which send ports; it said nothing after
// "waiting for deliveries in flight", however long the transport's
// timeout, and an operator could not tell a stop waiting on a partner
// from a hung process. The attempt is still waited for, not abandoned,
// and its outcome recorded once the partner answers.
func TestStopSaysWhatItWaitsFor(t *testing.T) {
	for _, tt := range []struct {
		name    string
		run     func(ctx context.Context, r *runner.Runner) <-chan runResult
		stopErr error // what the run returns once stopped
	}{
		{"run", runAsync, nil},
		// --once waits for its workers at its end, stopped or not: it
		// says what it waits for only once stopped.
		{"once", func(ctx context.Context, r *runner.Runner) <-chan runResult {
			done := make(chan runResult, 1)
			go func() {
				sum, err := r.RunOnce(ctx)
				done <- runResult{sum, err}
			}()
			return done
		}, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			entered := make(chan struct{}, 1)
			answer := make(chan struct{})
			var answerOnce sync.Once
			release := func() { answerOnce.Do(func() { close(answer) }) }
			partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				select {
				case entered <- struct{}{}:
				default:
				}
				<-answer
				w.WriteHeader(http.StatusOK)
			}))
			defer partner.Close()
			defer release() // before Close, which waits for the handler
			dir := setup(t, newPKI(t), common+httpPort("slow_partner", "{{.URL}}/in", "1h"), map[string]string{"URL": partner.URL})
			put(t, dir, "order.edi", []byte("ISA*00*order~"))
			var logs logBuffer
			r, box := startWith(t, dir, func(o *runner.Options) {
				o.Log = slog.New(slog.NewTextHandler(&logs, nil))
			})
			runner.SetStopProgress(r, 10*time.Millisecond)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := tt.run(ctx, r)
			select {
			case <-entered:
			case <-time.After(30 * time.Second):
				t.Fatal("the delivery never reached the partner")
			}
			const want = `msg="stopping: still waiting for deliveries in flight`
			time.Sleep(100 * time.Millisecond) // ten periods, not stopped yet
			if strings.Contains(logs.String(), want) {
				t.Fatalf("a run not stopped says it is stopping:\n%s", logs.String())
			}
			cancel()
			for deadline := time.Now().Add(10 * time.Second); ; {
				line := ""
				for l := range strings.Lines(logs.String()) {
					if strings.Contains(l, want) {
						line = l
					}
				}
				if line != "" {
					if !strings.Contains(line, "deliveries=1 ") || !strings.Contains(line, "send_ports=[slow_partner]") {
						t.Errorf("the stop's progress line does not say what it waits for (1 delivery, to slow_partner):\n%s", line)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no line %s while the stop waits for the partner:\n%s", want, logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case res := <-done:
				t.Fatalf("the run returned (%+v, %v) before the attempt in flight ended", res.sum, res.err)
			default:
			}
			release()
			res := <-done
			if !errors.Is(res.err, tt.stopErr) || (tt.stopErr == nil) != (res.err == nil) || res.sum.Delivered != 1 {
				t.Errorf("the run = %+v, %v; want 1 delivered, error %v", res.sum, res.err, tt.stopErr)
			}
			waitDelivered(t, box, 1)
		})
	}
}
