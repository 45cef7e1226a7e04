package as2

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	httptransport "github.com/bizpipe/bizpipe/internal/transport/http"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// order is the message the tests of this file send, and resend.
const order = "UNB+UNOC:3+CONTOSO+FABRIKAM'order 7'"

// mdnHeader are the header fields of an asynchronous MDN for one of our
// sends: a multipart/report asking for no receipt.
var mdnHeader = map[string]string{"Content-Type": "multipart/report; report-type=disposition-notification; boundary=b",
	"Message-ID": "<mdn-1@contoso>", "Disposition-Notification-To": "", "Disposition-Notification-Options": ""}

// rawPost opens a connection to g's location and writes the header of a
// POST (requestHeader(header)) declaring a body of length bytes, and
// first, the start of that body.
func (g *repeatRig) rawPost(t *testing.T, header map[string]string, length int, first string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", g.rc.serving.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var b bytes.Buffer
	b.WriteString("POST /as2 HTTP/1.1\r\nHost: test\r\n")
	if err := requestHeader(header).Write(&b); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", length, first)
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c
}

// newTimeoutRig is a repeatRig over a new box whose location waits idle
// for a byte of a body and request for a whole request, logging to the
// recorder it returns, and settling asynchronous MDNs into receipts.
func newTimeoutRig(t *testing.T, idle, request time.Duration, receipts *receiptRecorder) (*repeatRig, *transporttest.LogRecorder) {
	t.Helper()
	box := transporttest.NewBox(t)
	log, lr := transporttest.NewLog()
	o := rigOptions{box: box, mdns: box, log: log, tune: func(rc *receiver) {
		rc.bodyIdle, rc.requestTimeout = idle, request
	}}
	if receipts != nil {
		o.receipts = receipts // not a nil *receiptRecorder: that would be a sink
	}
	return newRepeatRigOn(t, o), lr
}

// boxFailed starts the log line of a message the box failed to store.
const boxFailed = "storing a received AS2 message failed"

// receiptsGot is how many MDNs rec was handed.
func receiptsGot(rec *receiptRecorder) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.got)
}

// TestReceiveRequestTimeoutAndStall: an AS2 POST, message or asynchronous
// MDN, whose body keeps coming but too slowly to end within
// request_timeout is answered 408 saying so, and the log names
// request_timeout; one whose body stops coming is answered 408 saying no
// data came, and the log says it stalled. Neither is stored nor settled,
// and the message sent again afterwards is stored, once, and answered
// with a positive MDN: the failed request held no Message-ID.
func TestReceiveRequestTimeoutAndStall(t *testing.T) {
	for _, tc := range []struct {
		name          string
		header        map[string]string
		idle, request time.Duration
		trickle       bool
		wantText      string
		wantLog       string // the warning, once
		notLog        string // never warned
	}{
		{"trickling message", nil, time.Second, 700 * time.Millisecond, true,
			"the request took longer than 700ms", "the request took longer than request_timeout", "the body stalled"},
		{"stalled message", nil, 300 * time.Millisecond, time.Minute, false,
			"no request body data for 300ms", "the body stalled", "request_timeout"},
		{"trickling MDN", mdnHeader, time.Second, 700 * time.Millisecond, true,
			"the request took longer than 700ms", "the request took longer than request_timeout", "the body stalled"},
		{"stalled MDN", mdnHeader, 300 * time.Millisecond, time.Minute, false,
			"no request body data for 300ms", "the body stalled", "request_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			receipts := &receiptRecorder{}
			g, lr := newTimeoutRig(t, tc.idle, tc.request, receipts)
			c := g.rawPost(t, tc.header, 1000, "--b\r\n")
			if tc.trickle {
				// Never idle for the idle timeout.
				defer transporttest.Trickle(c, 100*time.Millisecond)()
			}
			resp, text := testhttp.Answer(t, c)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(text, tc.wantText) {
				t.Errorf("answered %s %q; want 408 saying %q", resp.Status, text, tc.wantText)
			}
			if n := lr.Count(slog.LevelWarn, tc.wantLog); n != 1 {
				t.Errorf("%d warnings %q, want 1", n, tc.wantLog)
			}
			if n := lr.Count(slog.LevelWarn, tc.notLog); n != 0 {
				t.Errorf("%d warnings %q, want none", n, tc.notLog)
			}
			if n := lr.CountAny(boxFailed); n != 0 {
				t.Errorf("the timeout logged as the box failing (%q) %d times", boxFailed, n)
			}
			if n := len(g.stored(t)); n != 0 {
				t.Errorf("%d messages stored, want none", n)
			}
			if n := receiptsGot(receipts); n != 0 {
				t.Errorf("%d MDNs settled, want none", n)
			}

			code, mdn := g.post(t, order, nil)
			if code != http.StatusOK {
				t.Fatalf("the message sent again: %d %s", code, mdn)
			}
			if m := g.mdnOf(t, mdn); !m.Disposition.Positive() || m.MIC == nil || !m.MIC.Equal(as2.ComputeMIC(as2.SHA256, entityOf(order))) {
				t.Errorf("the message sent again answered %q, MIC %v; want processed with its MIC", m.Disposition, m.MIC)
			}
			if n := len(g.stored(t)); n != 1 {
				t.Errorf("%d messages stored after the resend, want 1", n)
			}
		})
	}
}

// TestReceiveStopWithUploadsInFlight: at stop, a message or an
// asynchronous MDN still arriving gets the grace (Stop's context). One
// whose body ends within it is stored and answered with its MDN as
// usual; one still arriving when the grace runs out is answered 503 with
// Retry-After, and nothing of it is stored or settled. The message sent
// again, to the location started anew on the same box, is stored once:
// its first resend is answered processed, a second one with the same
// MDN, as a repeat.
func TestReceiveStopWithUploadsInFlight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		// finish: the body ends after the stop began (the grace is long);
		// else it never does (the grace is short).
		finish bool
	}{
		{"message, grace runs out", nil, false},
		{"message ends within the grace", nil, true},
		{"MDN, grace runs out", mdnHeader, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			receipts := &receiptRecorder{}
			// The client never idles out: only the stop ends its upload.
			g, lr := newTimeoutRig(t, time.Minute, time.Hour, receipts)
			first, rest := order[:10], order[10:]
			c := g.rawPost(t, tc.header, len(order), first)
			transporttest.WaitFor(t, "the upload in progress", func() bool { return g.rc.serving.InProgress() == 1 })

			grace := 300 * time.Millisecond
			if tc.finish {
				grace = time.Minute // a bound on the test, not reached
			}
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				g.rc.Stop(ctx)
			}()
			if tc.finish {
				// The stop has begun once the location refuses new
				// connections; the upload in flight goes on.
				addr := g.rc.serving.Addr().String()
				transporttest.WaitFor(t, "the listener closed", func() bool {
					c, err := net.Dial("tcp", addr)
					if err == nil {
						c.Close()
					}
					return err != nil
				})
				if _, err := io.WriteString(c, rest); err != nil {
					t.Fatal(err)
				}
			}
			resp, text := testhttp.Answer(t, c)
			select {
			case <-stopped:
			case <-time.After(30 * time.Second): // generous: a loaded machine
				t.Fatal("Stop did not return: the upload in flight holds it")
			}

			var want int
			switch {
			case tc.finish:
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("the upload that ended within the grace: %s %q; want 200 with the MDN", resp.Status, text)
				}
				resp.Header.Del("Date")
				if m := g.mdnOf(t, as2.JoinEntity(resp.Header, []byte(text))); !m.Disposition.Positive() {
					t.Errorf("the upload that ended within the grace answered %q, want processed", m.Disposition)
				}
				want = 1
			default:
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
					!strings.Contains(text, "stopping") {
					t.Errorf("the upload in flight at the end of the grace: %s, Retry-After %q, %q; want 503 with Retry-After, saying the location is stopping",
						resp.Status, resp.Header.Get("Retry-After"), text)
				}
				for _, w := range []string{"upload cancelled", "uploads in progress cancelled"} {
					if n := lr.Count(slog.LevelWarn, w); n != 1 {
						t.Errorf("%d warnings %q, want 1", n, w)
					}
				}
			}
			if n := len(g.stored(t)); n != want {
				t.Errorf("%d messages stored, want %d", n, want)
			}
			if n := receiptsGot(receipts); n != 0 {
				t.Errorf("%d MDNs settled, want none", n)
			}
			if tc.header != nil {
				return // an MDN: not stored, nothing to resend here
			}

			// Started anew with the same signing identity: its MDNs and
			// the ones kept from before verify alike (g.mdnOf).
			again := newRepeatRigOn(t, rigOptions{box: g.box, mdns: g.box,
				keys: component.Keys{Signer: &component.Identity{Cert: g.signer.Cert, Key: g.signer.Key}}})
			code, mdn := again.post(t, order, nil)
			if code != http.StatusOK {
				t.Fatalf("the message sent again: %d %s", code, mdn)
			}
			if m := g.mdnOf(t, mdn); !m.Disposition.Positive() || m.MIC == nil || !m.MIC.Equal(as2.ComputeMIC(as2.SHA256, entityOf(order))) {
				t.Errorf("the message sent again answered %q, MIC %v; want processed with its MIC", m.Disposition, m.MIC)
			}
			code, repeat := again.post(t, order, nil)
			if code != http.StatusOK || !bytes.Equal(repeat, mdn) {
				t.Errorf("the message sent a third time: %d; want 200 with the MDN the second one got", code)
			}
			if n := len(g.stored(t)); n != 1 {
				t.Errorf("%d messages stored after the resends, want 1", n)
			}
		})
	}
}

// request_timeout must be positive, as the http transport's.
func TestDecodeReceiveRequestTimeout(t *testing.T) {
	for _, tc := range []struct {
		v    time.Duration
		diag bool
	}{{time.Hour, false}, {time.Second, false}, {0, true}, {-time.Second, true}} {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "as2" of receive_location "r"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		b.Set("listen", value.Known("127.0.0.1:0", hcl.Range{}))
		b.Set("path", value.Defaulted("/", hcl.Range{}))
		b.Set("max_body", value.Defaulted(int64(1<<30), hcl.Range{}))
		b.Set("async_mdn_attempts", value.Defaulted(DefaultAsyncMDNAttempts, hcl.Range{}))
		b.Set("async_mdn_interval", value.Defaulted(DefaultAsyncMDNInterval, hcl.Range{}))
		b.Set("request_timeout", value.Known(tc.v, hcl.Range{}))
		b.Set("max_connections", value.Defaulted(httptransport.DefaultMaxConnections, hcl.Range{}))
		cfg := ReceiveSpec.Decode(b).(*ReceiveConfig)
		switch {
		case tc.diag && (len(diags) != 1 || !strings.Contains(diags[0].Detail, "request_timeout")):
			t.Errorf("request_timeout %v: diagnostics %v, want one naming request_timeout", tc.v, diags)
		case !tc.diag && (len(diags) != 0 || cfg.RequestTimeout.V != tc.v):
			t.Errorf("request_timeout %v: diagnostics %v, value %v", tc.v, diags, cfg.RequestTimeout.V)
		}
	}
}

// TestReceiveClientGone: a client that goes away mid-body (a network
// failure) is logged as a failed read of the body, not as request_timeout,
// a stall or the box failing; nothing is stored.
func TestReceiveClientGone(t *testing.T) {
	g, lr := newTimeoutRig(t, time.Minute, time.Hour, nil)
	c := g.rawPost(t, nil, len(order), order[:10])
	transporttest.WaitFor(t, "the upload in progress", func() bool { return g.rc.serving.InProgress() == 1 })
	c.Close()
	const gone = "request failed: reading the body"
	transporttest.WaitFor(t, "the failed read logged", func() bool { return lr.Count(slog.LevelWarn, gone) == 1 })
	for _, w := range []string{"request_timeout", "stalled", boxFailed} {
		if n := lr.CountAny(w); n != 0 {
			t.Errorf("%d log lines %q for a client gone, want none", n, w)
		}
	}
	if n := len(g.stored(t)); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}
