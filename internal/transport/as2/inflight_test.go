package as2

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/testpki"
	httptransport "github.com/bizpipe/bizpipe/internal/transport/http"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// counted counts the bytes written through it.
type counted struct {
	w io.Writer
	n atomic.Int64
}

func (c *counted) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// positiveMDN fails t unless resp, with body text, is a 200 with a signed
// positive MDN for Message-ID id.
func (g *repeatRig) positiveMDN(t *testing.T, resp *http.Response, text, id string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s: answered %s %q, want 200 with the MDN", id, resp.Status, text)
		return
	}
	resp.Header.Del("Date")
	m, err := as2.ParseMDN(as2.JoinEntity(resp.Header, []byte(text)), as2.VerifyOptions{Trusted: []*x509.Certificate{g.signer.Cert}})
	if err != nil {
		t.Errorf("%s: %v", id, err)
		return
	}
	if !m.Disposition.Positive() || m.OriginalMessageID != id {
		t.Errorf("%s: MDN %q for %s; want processed, for it", id, m.Disposition, m.OriginalMessageID)
	}
}

// TestReceiveUploadBudget: AS2 uploads, messages and asynchronous MDNs,
// are read under the in-flight budget, as the http transport's. With the
// budget held by uploads still arriving (each a few segments, its client
// trickling on; the reserve by the one whose turn it is), more uploads
// wait for room up to the idle timeout and are then answered 503 with
// Retry-After, logged as the http transport logs it; nothing of them is stored or settled. The uploads that had room
// end, and are stored and answered with their MDNs; the refused messages
// sent again are stored, once.
func TestReceiveUploadBudget(t *testing.T) {
	box := transporttest.NewBox(t)
	log, lr := transporttest.NewLog()
	receipts := &receiptRecorder{}
	budget := httptransport.NewBudget(httptransport.MinInFlightBytes)
	g := newRepeatRigOn(t, rigOptions{box: box, mdns: box, log: log, receipts: receipts, tune: func(rc *receiver) {
		// The idle timeout is also how long an upload waits for room.
		rc.bodyIdle, rc.requestTimeout, rc.budget = time.Second, time.Hour, budget
	}})
	id := func(kind string, i int) string { return fmt.Sprintf("<%s-%d@contoso>", kind, i) }

	// Each sends 96 KiB and a byte: three full 32 KiB segments and a
	// fourth begun. 8 of them hold the budget's shared half, of 32
	// segments; the ninth takes its segments from the reserve, the other
	// half, which is its alone while it spools (httptransport.Budget).
	const fillers, length = httptransport.MinInFlightBytes/2/(128<<10) + 1, 100 << 10
	first := strings.Repeat("a", 96<<10+1)
	type filler struct {
		c     net.Conn
		w     *counted
		stop  func()
		msgID string
	}
	var fs []*filler
	for i := range fillers {
		f := &filler{msgID: id("filler", i)}
		f.c = g.rawPost(t, map[string]string{"Message-ID": f.msgID}, length, first)
		f.w = &counted{w: f.c}
		// Never idle for the idle timeout: only the budget is spent.
		f.stop = sync.OnceFunc(transporttest.Trickle(f.w, 100*time.Millisecond))
		fs = append(fs, f)
		defer f.stop()
		// One after the other: the ninth grows into the reserve once the
		// others filled the shared half. (Spooled together, one of those
		// could find the reserve taken, and wait.)
		transporttest.WaitFor(t, "the upload's start spooled", func() bool { return budget.Held() == int64(i+1)*128<<10 })
	}

	// The excess: two messages and an asynchronous MDN.
	excess := []struct {
		msgID  string
		header map[string]string
		body   string
	}{
		{id("excess", 0), nil, order},
		{id("excess", 1), nil, order},
		{"<mdn-1@contoso>", mdnHeader, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"},
	}
	var conns []net.Conn
	for _, x := range excess {
		h := map[string]string{"Message-ID": x.msgID}
		for k, v := range x.header {
			h[k] = v
		}
		conns = append(conns, g.rawPost(t, h, len(x.body), x.body))
	}
	for i, c := range conns {
		resp, text := testhttp.Answer(t, c)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(text, "too many uploads in flight") {
			t.Errorf("%s, beyond the budget: %s, Retry-After %q, %q; want 503 with Retry-After, saying too many uploads are in flight",
				excess[i].msgID, resp.Status, resp.Header.Get("Retry-After"), text)
		}
	}
	if n := lr.Count(slog.LevelWarn, "request refused: too many uploads in flight"); n != len(excess) {
		t.Errorf("%d warnings of too many uploads in flight, want %d", n, len(excess))
	}
	if n := len(g.stored(t)); n != 0 {
		t.Errorf("%d messages stored while the uploads were in flight, want none", n)
	}
	if n := receiptsGot(receipts); n != 0 {
		t.Errorf("%d MDNs settled, want none", n)
	}

	// The uploads in flight end, and are stored.
	for _, f := range fs {
		f.stop()
		if _, err := io.WriteString(f.c, strings.Repeat("x", length-len(first)-int(f.w.n.Load()))); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fs {
		resp, text := testhttp.Answer(t, f.c)
		g.positiveMDN(t, resp, text, f.msgID)
	}
	if n := len(g.stored(t)); n != fillers {
		t.Errorf("%d messages stored, want the %d uploads that had room", n, fillers)
	}

	// The refused messages, sent again twice: stored once.
	for range 2 {
		for _, x := range excess[:2] {
			c := g.rawPost(t, map[string]string{"Message-ID": x.msgID}, len(x.body), x.body)
			resp, text := testhttp.Answer(t, c)
			g.positiveMDN(t, resp, text, x.msgID)
		}
	}
	if n := len(g.stored(t)); n != fillers+2 {
		t.Errorf("%d messages stored after the resends, want %d", n, fillers+2)
	}
	transporttest.WaitFor(t, "the budget given back", func() bool { return budget.Held() == 0 })
}

// TestReceiveSharesHTTPBudget: an as2 receive location reads under the
// budget the run's http receive locations share (one bound on the
// memory of all uploads in flight), not one of its own.
func TestReceiveSharesHTTPBudget(t *testing.T) {
	signer := testpki.NewCA(t, "Test CA").Issue(t, testpki.Options{CommonName: "Fabrikam Signing"})
	shared := map[string]any{}
	env := &component.ReceiveEnv{
		Location: "in", Sink: &recordingSink{}, AS2ID: "FABRIKAM", PartyAS2IDs: map[string]string{"contoso": "CONTOSO"},
		Keys: component.Keys{Signer: &component.Identity{Cert: signer.Cert, Key: signer.Key}},
		Shared: func(key string, make func() any) any {
			if _, ok := shared[key]; !ok {
				shared[key] = make()
			}
			return shared[key]
		},
	}
	cfg := &ReceiveConfig{Listen: value.Value[string]{V: "127.0.0.1:0"}}
	r, err := cfg.NewReceiver(env)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.(*receiver).budget, httptransport.SharedBudget(env); got != want || len(shared) != 1 {
		t.Errorf("the as2 location's budget %p, the run's http budget %p (%d values shared); want the same, and no other", got, want, len(shared))
	}
}

// TestReceiveLengthRequired: an AS2 POST, message or asynchronous MDN,
// that declares neither a Content-Length nor chunked encoding (an HTTP/1.0
// body runs to the connection's end, which would read as empty) is
// answered 411, logged as a warning, and nothing is stored or settled.
// The same with a Content-Length is received.
func TestReceiveLengthRequired(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proto   string
		header  map[string]string
		length  bool // send a Content-Length
		status  int
		stored  int
		settled int
	}{
		{"HTTP/1.0 message", "HTTP/1.0", nil, false, http.StatusLengthRequired, 0, 0},
		{"HTTP/1.0 MDN", "HTTP/1.0", mdnHeader, false, http.StatusLengthRequired, 0, 0},
		{"HTTP/1.1 message without length or chunked", "HTTP/1.1", nil, false, http.StatusLengthRequired, 0, 0},
		{"HTTP/1.0 message with Content-Length", "HTTP/1.0", nil, true, http.StatusOK, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			receipts := &receiptRecorder{}
			g, lr := newTimeoutRig(t, time.Minute, time.Hour, receipts)
			c, err := net.Dial("tcp", g.rc.serving.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var b bytes.Buffer
			fmt.Fprintf(&b, "POST /as2 %s\r\nHost: test\r\nConnection: close\r\n", tc.proto)
			if err := requestHeader(tc.header).Write(&b); err != nil {
				t.Fatal(err)
			}
			if tc.length {
				fmt.Fprintf(&b, "Content-Length: %d\r\n", len(order))
			}
			b.WriteString("\r\n" + order)
			if _, err := c.Write(b.Bytes()); err != nil {
				t.Fatal(err)
			}
			if !tc.length {
				// An HTTP/1.0 body without a length ends with the
				// connection. (Not after a complete request: net/http
				// takes the half-close for the client gone, and cancels.)
				_ = c.(*net.TCPConn).CloseWrite()
			}
			resp, text := testhttp.Answer(t, c)
			if resp.StatusCode != tc.status {
				t.Errorf("answered %s %q, want %d", resp.Status, text, tc.status)
			}
			want := 0
			if tc.status == http.StatusLengthRequired {
				want = 1
			}
			if n := lr.Count(slog.LevelWarn, "request refused: no Content-Length"); n != want {
				t.Errorf("%d warnings of no Content-Length, want %d", n, want)
			}
			if n := len(g.stored(t)); n != tc.stored {
				t.Errorf("%d messages stored, want %d", n, tc.stored)
			}
			if n := receiptsGot(receipts); n != tc.settled {
				t.Errorf("%d MDNs settled, want %d", n, tc.settled)
			}
		})
	}
}
