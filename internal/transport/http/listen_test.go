package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testhttp"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

func httpOpts() ListenerOptions {
	return ListenerOptions{
		Location:    "web_in",
		Listen:      "127.0.0.1:0",
		Path:        "/orders",
		MaxBody:     1024,
		ContentType: "application/xml",
		Properties:  map[string]string{"partner": "fabrikam"},
	}
}

// startHTTP starts a receiver on a free local port and returns it with its
// base URL; it is shut down when the test ends.
func startHTTP(t *testing.T, o ListenerOptions, sink transport.Sink) (*Listener, string, *transporttest.LogRecorder) {
	t.Helper()
	log, lr := transporttest.NewLog()
	h, err := NewListener(o, sink, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return h, "http://" + h.Addr().String(), lr
}

func post(t *testing.T, url, contentType string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, b := testhttp.Do(t, nil, req)
	return resp, string(b)
}

func TestHTTPAcceptsAfterPublish(t *testing.T) {
	rec := transporttest.NewRecorder()
	_, base, lr := startHTTP(t, httpOpts(), rec)
	body := "<order>\x00\xff</order>"
	resp, text := post(t, base+"/orders", "text/xml; charset=utf-8", strings.NewReader(body),
		map[string]string{"X-Bizpipe-Property-partner": "evil", "X-Bizpipe-Property-extra": "x"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d %s", resp.StatusCode, text)
	}
	got := rec.All()
	if len(got) != 1 {
		t.Fatalf("published %d", len(got))
	}
	p := got[0]
	if id := resp.Header.Get(MessageIDHeader); id != p.ID {
		t.Errorf("%s = %q, want %q", MessageIDHeader, id, p.ID)
	}
	var js struct{ ID string }
	if err := json.Unmarshal([]byte(text), &js); err != nil || js.ID != p.ID {
		t.Errorf("body %q (%v), want id %q", text, err, p.ID)
	}
	if string(p.Body) != body {
		t.Errorf("body %q, want %q", p.Body, body)
	}
	want := msgbox.Incoming{ReceiveLocation: "web_in", ContentType: "text/xml; charset=utf-8", Properties: map[string]string{"partner": "fabrikam"}}
	if p.In.ReceiveLocation != want.ReceiveLocation || p.In.ContentType != want.ContentType ||
		p.In.FileName != "" || p.In.SourceKey != "" || !maps.Equal(p.In.Properties, want.Properties) {
		t.Errorf("Incoming %+v, want %+v (properties from config only)", p.In, want)
	}
	if attrs, ok := lr.Find("message received"); !ok || attrs["message_id"] != p.ID || attrs["receive_location"] != "web_in" {
		t.Errorf("log %v", attrs)
	}

	// No Content-Type: the location's default.
	resp, _ = post(t, base+"/orders", "", strings.NewReader("x"), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := rec.All(); got[1].In.ContentType != "application/xml" {
		t.Errorf("default content type %q", got[1].In.ContentType)
	}
}

// TestHTTPAnswersOnlyAfterPublishReturned drives the handler directly, so
// that the sink can look at the response while it is still publishing.
func TestHTTPAnswersOnlyAfterPublishReturned(t *testing.T) {
	w := httptest.NewRecorder()
	var during string
	sink := transport.SinkFunc(func(_ context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
		if _, err := io.ReadAll(body); err != nil {
			return msgbox.Message{}, false, err
		}
		if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get(MessageIDHeader) != "" {
			during = "answered while publishing"
		}
		return msgbox.Message{ID: "m1"}, false, nil
	})
	h, err := NewListener(httpOpts(), sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader("x")))
	if during != "" {
		t.Fatal(during)
	}
	if w.Code != http.StatusAccepted || w.Header().Get(MessageIDHeader) != "m1" {
		t.Fatalf("answer %d %v", w.Code, w.Header())
	}
}

func TestHTTPTooLarge(t *testing.T) {
	var calls atomic.Int32
	rec := transporttest.NewRecorder()
	rec.SetBefore(func(context.Context, msgbox.Incoming) error { calls.Add(1); return nil })
	o := httpOpts()
	o.MaxBody = 10
	_, base, _ := startHTTP(t, o, rec)

	// Declared too large: refused before publishing.
	resp, _ := post(t, base+"/orders", "", strings.NewReader("01234567890"), nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	if calls.Load() != 0 {
		t.Errorf("sink called %d times for a declared oversize body", calls.Load())
	}
	// Unknown length (chunked), too long: the body reader fails while
	// the receiver spools the body, before the sink sees it.
	resp, _ = post(t, base+"/orders", "", io.MultiReader(strings.NewReader("01234"), strings.NewReader("567890")), nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked status %d, want 413", resp.StatusCode)
	}
	if calls.Load() != 0 {
		t.Errorf("sink called %d times for a chunked oversize body", calls.Load())
	}
	if got := rec.All(); len(got) != 0 {
		t.Fatalf("oversize body stored: %+v", got)
	}
	// Exactly the limit is fine.
	resp, _ = post(t, base+"/orders", "", io.MultiReader(strings.NewReader("01234"), strings.NewReader("56789")), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d at the limit, want 202", resp.StatusCode)
	}
	if got := rec.All(); len(got) != 1 || string(got[0].Body) != "0123456789" {
		t.Fatalf("stored %+v", got)
	}
}

// A sink that ignores the body reader's error cannot commit an oversize
// body unnoticed: every later Read fails too, and the answer is no 202.
// The body is larger than what the receiver spools, so that the sink reads
// the end of it from the client.
func TestHTTPTooLargeWithCarelessSink(t *testing.T) {
	const max = spoolBytes + 10
	var total int
	sink := transport.SinkFunc(func(_ context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
		buf := make([]byte, 4096)
		for range max/len(buf) + 20 { // reads on past errors
			n, _ := body.Read(buf)
			total += n
		}
		return msgbox.Message{ID: "m-truncated"}, false, nil
	})
	log, lr := transporttest.NewLog()
	o := httpOpts()
	o.MaxBody = max
	h, err := NewListener(o, sink, log)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(strings.Repeat("x", max+30)))
	r.ContentLength = -1
	h.ServeHTTP(w, r)
	if w.Code == http.StatusAccepted {
		t.Fatal("202 for an oversize body")
	}
	if total > max {
		t.Errorf("sink read %d bytes past a %d-byte limit", total, max)
	}
	if attrs, ok := lr.Find("exceeded max_body"); !ok || attrs["message_id"] != "m-truncated" {
		t.Errorf("no error log naming the message: %v", attrs)
	}
}

// TestHTTPSinkErrorIs503WithoutInternals: a message the box failed to
// store is answered 503 without the box's internals; one whose commit is
// in doubt (maybe stored) says so, and, with an Idempotency-Key, to send
// it again with that key, or, without one, that a repeat may store it
// twice: "not stored" of a message that usually was led clients to send it
// again without a key, and doubled it.
func TestHTTPSinkErrorIs503WithoutInternals(t *testing.T) {
	failed := errors.New("sqlite: disk I/O error on /var/secret/messagebox.db")
	inDoubt := fmt.Errorf("sqlite: disk I/O error on /var/secret/messagebox.db: %w", msgbox.ErrCommitUncertain)
	keyed := map[string]string{IdempotencyKeyHeader: "order-1001"}
	for _, tt := range []struct {
		name string
		err  error
		hdr  map[string]string
		want string
	}{
		{"failed", failed, nil, "message not stored; try again later"},
		{"failed, keyed", failed, keyed, "message not stored; try again later"},
		// Sending it again without a key could store it twice.
		{"in doubt", inDoubt, nil,
			"storing the message may not have completed: it may be stored already, and sending it again may store it twice; send an Idempotency-Key header to make repeats safe"},
		{"in doubt, keyed", inDoubt, keyed,
			"storing the message may not have completed; send it again with the same Idempotency-Key header, and it is stored once"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := transporttest.NewRecorder()
			rec.SetBefore(func(context.Context, msgbox.Incoming) error { return tt.err })
			_, base, lr := startHTTP(t, httpOpts(), rec)
			resp, text := post(t, base+"/orders", "", strings.NewReader("x"), tt.hdr)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("status %d, Retry-After %q; want 503 with one", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if !strings.Contains(text, tt.want) {
				t.Errorf("answer %q, want it to say %q", text, tt.want)
			}
			if strings.Contains(text, "secret") || strings.Contains(text, "sqlite") {
				t.Errorf("answer leaks internals: %q", text)
			}
			if resp.Header.Get(MessageIDHeader) != "" {
				t.Error("message id on a failure")
			}
			if attrs, ok := lr.Find(boxFailed); !ok || !strings.Contains(attrs["error"], "disk I/O") {
				t.Errorf("error not logged: %v", attrs)
			}
		})
	}
}

// TestHTTPMalformedContentType: a Content-Type that is not type/subtype
// with its parameters is answered 400 and nothing is stored, a type
// without a subtype ("garbage") too, which mime.ParseMediaType accepts
// and the S/MIME encoder would then suspend the message for.
func TestHTTPMalformedContentType(t *testing.T) {
	rec := transporttest.NewRecorder()
	_, base, _ := startHTTP(t, httpOpts(), rec)
	for _, ct := range []string{"text/xml; charset", "garbage", "garbage; charset=utf-8", "text/", "/xml", "text/xml/x", "text//xml"} {
		resp, _ := post(t, base+"/orders", ct, strings.NewReader("x"), nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Content-Type %q: status %d, want 400", ct, resp.StatusCode)
		}
	}
	if len(rec.All()) != 0 {
		t.Error("published despite a malformed Content-Type")
	}
}

// TestHTTPRequestContentType: the request's Content-Type labels the
// message unless the location ignores it (request_content_type =
// "ignore"); then even a malformed one is not looked at.
func TestHTTPRequestContentType(t *testing.T) {
	for _, tc := range []struct {
		ignore   bool
		sent     string
		want     string
		wantCode int
	}{
		{false, "text/plain; charset=utf-8", "text/plain; charset=utf-8", http.StatusAccepted},
		{false, "", "application/xml", http.StatusAccepted},
		{true, "text/plain; charset=utf-8", "application/xml", http.StatusAccepted},
		{true, "", "application/xml", http.StatusAccepted},
		{true, "text/xml; charset", "application/xml", http.StatusAccepted},
	} {
		o := httpOpts()
		o.IgnoreContentType = tc.ignore
		rec := transporttest.NewRecorder()
		_, base, _ := startHTTP(t, o, rec)
		resp, body := post(t, base+"/orders", tc.sent, strings.NewReader("<order/>"), nil)
		if resp.StatusCode != tc.wantCode {
			t.Fatalf("ignore %v, Content-Type %q: status %d (%s), want %d", tc.ignore, tc.sent, resp.StatusCode, body, tc.wantCode)
		}
		if got := rec.All(); len(got) != 1 || got[0].In.ContentType != tc.want {
			t.Errorf("ignore %v, Content-Type %q: published %+v, want content type %q", tc.ignore, tc.sent, got, tc.want)
		}
	}
}

func TestHTTPMethodsPathsAndHealth(t *testing.T) {
	rec := transporttest.NewRecorder()
	_, base, _ := startHTTP(t, httpOpts(), rec)
	for _, tc := range []struct {
		method, path string
		status       int
		allow, body  string
	}{
		{http.MethodGet, "/orders", http.StatusMethodNotAllowed, "POST", ""},
		{http.MethodPut, "/orders", http.StatusMethodNotAllowed, "POST", ""},
		{http.MethodGet, "/healthz", http.StatusOK, "", "ok"},
		{http.MethodHead, "/healthz", http.StatusOK, "", ""},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD", ""},
		{http.MethodPost, "/other", http.StatusNotFound, "", ""},
		{http.MethodPost, "/orders/", http.StatusNotFound, "", ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, b := testhttp.Do(t, nil, req)
		if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow=%q, want %d Allow=%q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.status, tc.allow)
		}
		if tc.body != "" && string(b) != tc.body {
			t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, b, tc.body)
		}
	}
	if len(rec.All()) != 0 {
		t.Error("something was published")
	}
}

func TestHTTPShutdownWaitsForInFlight(t *testing.T) {
	rec := transporttest.NewRecorder()
	entered := make(chan struct{})
	release := make(chan struct{})
	var returned atomic.Bool
	rec.SetBefore(func(context.Context, msgbox.Incoming) error {
		close(entered)
		<-release
		return nil
	})
	h, err := NewListener(httpOpts(), transport.SinkFunc(func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
		m, dup, err := rec.Publish(ctx, in, body)
		returned.Store(true)
		return m, dup, err
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := h.Addr().String()
	type result struct {
		status int
		id     string
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Post("http://"+addr+"/orders", "text/plain", strings.NewReader("in flight"))
		if err != nil {
			resc <- result{err: err}
			return
		}
		resp.Body.Close()
		resc <- result{status: resp.StatusCode, id: resp.Header.Get(MessageIDHeader)}
	}()
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(context.Background()) }()
	// Shutdown has begun once the listener refuses new connections.
	transporttest.WaitFor(t, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a publish was in flight", err)
	default:
	}
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if !returned.Load() {
		t.Fatal("Shutdown returned before the in-flight publish")
	}
	r := <-resc
	if r.err != nil || r.status != http.StatusAccepted || r.id == "" {
		t.Fatalf("in-flight request: %+v, want 202 with an id", r)
	}
}

func TestHTTPShutdownDeadlineAbortsInFlight(t *testing.T) {
	entered := make(chan struct{})
	aborted := make(chan error, 1)
	sink := transport.SinkFunc(func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
		close(entered)
		<-ctx.Done()
		aborted <- ctx.Err()
		return msgbox.Message{}, false, ctx.Err()
	})
	h, err := NewListener(httpOpts(), sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	resc := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+h.Addr().String()+"/orders", "text/plain", strings.NewReader("x"))
		if err != nil {
			resc <- 0
			return
		}
		resp.Body.Close()
		resc <- resp.StatusCode
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if err := <-aborted; !errors.Is(err, context.Canceled) {
		t.Errorf("publish context: %v", err)
	}
	if s := <-resc; s == http.StatusAccepted {
		t.Error("aborted request answered 202")
	}
}

func TestHTTPAddressInUse(t *testing.T) {
	h1, _, _ := startHTTP(t, httpOpts(), transporttest.NewRecorder())
	o := httpOpts()
	o.Location = "second"
	o.Listen = h1.Addr().String()
	h2, err := NewListener(o, transporttest.NewRecorder(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = h2.Start(context.Background())
	if err == nil {
		h2.Shutdown(context.Background())
		t.Fatal("Start on a used address succeeded")
	}
	if !strings.Contains(err.Error(), `"second"`) || !strings.Contains(err.Error(), o.Listen) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("err = %v, want it to name the location and address and wrap EADDRINUSE", err)
	}
	if h2.Addr() != nil {
		t.Error("Addr after a failed Start")
	}
	if err := h2.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after a failed Start = %v", err)
	}
}

func TestNewHTTPValidates(t *testing.T) {
	rec := transporttest.NewRecorder()
	for _, tc := range []struct {
		name string
		mod  func(*ListenerOptions)
		want string
	}{
		{"no listen", func(o *ListenerOptions) { o.Listen = "" }, "Listen"},
		{"relative path", func(o *ListenerOptions) { o.Path = "orders" }, "start with /"},
		{"health path", func(o *ListenerOptions) { o.Path = HealthPath }, "reserved"},
		{"negative max body", func(o *ListenerOptions) { o.MaxBody = -1 }, "max body"},
		{"negative max connections", func(o *ListenerOptions) { o.MaxConnections = -1 }, "max connections"},
	} {
		o := httpOpts()
		tc.mod(&o)
		_, err := NewListener(o, rec, nil)
		// The runner names the location around this error.
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), `"web_in"`) {
			t.Errorf("%s: err = %v, want one saying %q and leaving the location's name to the caller", tc.name, err, tc.want)
		}
	}
	h, err := NewListener(ListenerOptions{Location: "l", Listen: "127.0.0.1:0"}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.o.Path != "/" || h.o.MaxBody != DefaultMaxBody || h.o.ContentType != transport.DefaultContentType {
		t.Errorf("defaults %+v", h.o)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	if err := h.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
}

// The request log never carries the body.
func TestHTTPNeverLogsBodies(t *testing.T) {
	rec := transporttest.NewRecorder()
	_, base, lr := startHTTP(t, httpOpts(), rec)
	post(t, base+"/orders", "", strings.NewReader("SECRET-PAYLOAD"), nil)
	rec.SetBefore(func(context.Context, msgbox.Incoming) error { return errors.New("boom") })
	post(t, base+"/orders", "", strings.NewReader("SECRET-PAYLOAD"), nil)
	recs := lr.Records()
	if len(recs) < 2 {
		t.Fatalf("only %d log records", len(recs))
	}
	for _, r := range recs {
		r.Attrs(func(a slog.Attr) bool {
			if strings.Contains(a.Value.String(), "SECRET") {
				t.Errorf("log %q attr %s carries the body", r.Message, a.Key)
			}
			return true
		})
	}
}

// A POST whose body length is not declared (HTTP/1.0 without
// Content-Length, whose body runs to the connection's end; or HTTP/1.1
// with neither Content-Length nor chunked) is answered 411 and nothing is
// stored. Chunked HTTP/1.1 and any declared length, even 0, are received.
func TestHTTPLengthRequired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    string
		status int
		stored string // the body stored, if any
	}{
		{"HTTP/1.0 without Content-Length", "POST /orders HTTP/1.0\r\nHost: test\r\n\r\nhello", http.StatusLengthRequired, ""},
		{"HTTP/1.0 with chunked (not HTTP/1.0)", "POST /orders HTTP/1.0\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", http.StatusLengthRequired, ""},
		{"HTTP/1.1 without length or chunked", "POST /orders HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", http.StatusLengthRequired, ""},
		{"HTTP/1.0 with Content-Length", "POST /orders HTTP/1.0\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello", http.StatusAccepted, "hello"},
		{"HTTP/1.1 chunked", "POST /orders HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", http.StatusAccepted, "hello"},
		{"HTTP/1.1 Content-Length 0", "POST /orders HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", http.StatusAccepted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := transporttest.NewRecorder()
			h, _, _ := startHTTP(t, httpOpts(), rec)
			c := rawConn(t, h.Addr().String(), []byte(tc.req))
			if cw, ok := c.(*net.TCPConn); ok {
				_ = cw.CloseWrite() // an HTTP/1.0 body ends with the connection
			}
			status, err := readStatus(c)
			if err != nil || status != tc.status {
				t.Fatalf("answer %d, %v; want %d", status, err, tc.status)
			}
			got := rec.All()
			switch {
			case tc.status != http.StatusAccepted && len(got) != 0:
				t.Errorf("stored %q", got[0].Body)
			case tc.status == http.StatusAccepted && (len(got) != 1 || string(got[0].Body) != tc.stored):
				t.Errorf("stored %+v, want one message %q", got, tc.stored)
			}
		})
	}
}
