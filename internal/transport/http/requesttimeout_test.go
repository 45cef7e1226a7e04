package http

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// readAnswer reads the answer on c: its status and body.
func readAnswer(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	resp, body := testhttp.Answer(t, c)
	return resp.StatusCode, body
}

// A client that keeps sending, but too slowly to finish within
// request_timeout, is told that the request took too long, and the log
// says request_timeout; one that stops sending is told that no body data
// came, and the log says idle_timeout. Nothing of either is stored.
func TestHTTPRequestTimeoutAndIdleTimeoutAreToldApart(t *testing.T) {
	rec := transporttest.NewRecorder()
	o := httpOpts()
	o.BodyIdleTimeout = time.Second
	o.RequestTimeout = 700 * time.Millisecond
	h, _, lr := startHTTP(t, o, rec)
	addr := h.Addr().String()

	// Trickling: a byte every 100 ms, never idle for a second.
	trickle := rawConn(t, addr, header(1000))
	stop := transporttest.Trickle(trickle, 100*time.Millisecond)
	status, text := readAnswer(t, trickle)
	if status != http.StatusRequestTimeout || !strings.Contains(text, "the request took longer than 700ms") {
		t.Errorf("trickling client: %d %s; want 408 saying the request took longer than 700ms", status, text)
	}
	stop()

	// Stalled: part of the body, then nothing (the request timeout is
	// made long, so that only the idle timeout can end it).
	o2 := httpOpts()
	o2.BodyIdleTimeout = 300 * time.Millisecond
	o2.RequestTimeout = time.Minute
	h2, _, lr2 := startHTTP(t, o2, rec)
	stalled := rawConn(t, h2.Addr().String(), header(1000), []byte("part"))
	status, text = readAnswer(t, stalled)
	if status != http.StatusRequestTimeout || !strings.Contains(text, "no request body data for 300ms") {
		t.Errorf("stalled client: %d %s; want 408 saying no body data came for 300ms", status, text)
	}

	if n := lr.Count(slog.LevelWarn, "the request took longer than request_timeout"); n != 1 {
		t.Errorf("%d request_timeout log lines for the trickling client, want 1", n)
	}
	if n := lr.Count(slog.LevelWarn, "the body stalled"); n != 0 {
		t.Errorf("the trickling client logged as stalled %d times", n)
	}
	if n := lr2.Count(slog.LevelWarn, "the body stalled"); n != 1 {
		t.Errorf("%d stalled log lines for the stalled client, want 1", n)
	}
	if n := lr2.Count(slog.LevelWarn, "request_timeout"); n != 0 {
		t.Errorf("the stalled client logged as too long %d times", n)
	}
	if got := rec.All(); len(got) != 0 {
		t.Errorf("%d messages stored, want none", len(got))
	}
}

func TestNewListenerRefusesNegativeRequestTimeout(t *testing.T) {
	o := httpOpts()
	o.RequestTimeout = -time.Second
	if _, err := NewListener(o, transporttest.NewRecorder(), nil); err == nil || !strings.Contains(err.Error(), "request timeout") {
		t.Errorf("negative request timeout: %v", err)
	}
}

// request_timeout must be positive, as the other durations.
func TestDecodeReceiveRequestTimeout(t *testing.T) {
	for _, tc := range []struct {
		v    time.Duration
		diag bool
	}{{time.Hour, false}, {0, true}, {-time.Second, true}} {
		var diags []*hcl.Diagnostic
		b := component.NewBody(`transport "http" of receive_location "r"`, hcl.Range{}, func(d *hcl.Diagnostic) { diags = append(diags, d) })
		b.Set("listen", value.Known("127.0.0.1:0", hcl.Range{}))
		b.Set("path", value.Defaulted("/", hcl.Range{}))
		b.Set("max_body", value.Defaulted(int64(1<<30), hcl.Range{}))
		b.Set("request_content_type", value.Defaulted("use", hcl.Range{}))
		b.Set("request_timeout", value.Known(tc.v, hcl.Range{}))
		b.Set("max_connections", value.Defaulted(DefaultMaxConnections, hcl.Range{}))
		cfg := ReceiveSpec.Decode(b).(*ReceiveConfig)
		switch {
		case tc.diag && (len(diags) != 1 || !strings.Contains(diags[0].Detail, "request_timeout")):
			t.Errorf("request_timeout %v: diagnostics %v, want one naming request_timeout", tc.v, diags)
		case !tc.diag && (len(diags) != 0 || cfg.RequestTimeout.V != tc.v):
			t.Errorf("request_timeout %v: diagnostics %v, value %v", tc.v, diags, cfg.RequestTimeout.V)
		}
	}
}
