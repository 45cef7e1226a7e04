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
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
)

// token is the value of the sensitive variable of these tests.
const token = "s3cr3t-T0KEN"

// tokenVariable declares it.
const tokenVariable = `
variable "token" {
  type      = string
  sensitive = true
  default   = "` + token + `"
}
`

// logBuffer is a log the tests read during and after the run.
type logBuffer = syncbuf.Buffer

// everything is all a box shows of its messages (what `bizpipe messages`
// list and show print, but the properties, which it shows redacted).
func everything(t *testing.T, box msgbox.Box) string {
	t.Helper()
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, m := range msgs {
		d, err := box.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(m.Reason + "\n" + m.FileName + "\n")
		for _, dl := range d.Deliveries {
			b.WriteString(dl.LastError + "\n")
		}
		for _, a := range d.Attempts {
			b.WriteString(a.Error + "\n")
		}
		for _, ev := range d.History {
			b.WriteString(ev.Detail + "\n")
		}
	}
	return b.String()
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestSensitiveURLNeverShown (issue 9, finding 6): a sensitive value in the
// path of a url, directly or through a sensitive property, reaches the
// partner but no log line, reason, attempt or history entry; they show
// scheme://host/(sensitive value), and a partner's echo of it is not
// quoted. A sensitive property stays usable by filters.
func TestSensitiveURLNeverShown(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		// A partner that echoes what it was asked for.
		http.Error(w, "no hook at "+r.URL.Path, http.StatusInternalServerError)
	}))
	defer partner.Close()
	closed := closedPort(t)
	p := newPKI(t)
	dir := setup(t, p, common+tokenVariable+`
receive_location "secure" {
  host       = host.h
  properties = { partner = "tailspin", key = var.token }
  transport "file" { path = "secure_in" }
}
send_port "hook" {
  host      = host.h
  filter    = message.receive_location == "in"
  transport "http" { url = "{{.URL}}/hooks/${var.token}" }
  retry {
    attempts = 1
    interval = "1ms"
  }
}
send_port "closed" {
  host      = host.h
  filter    = message.receive_location == "in"
  transport "http" { url = "http://{{.Closed}}/hooks/${upper(var.token)}" }
  retry { attempts = 0 }
}
send_port "by_property" {
  host      = host.h
  filter    = message.properties.key == "`+token+`"
  transport "http" {
    url     = "{{.URL}}/in/${message.properties.key}"
    headers = { "X-Key" = message.properties.key }
  }
  retry { attempts = 0 }
}
`, map[string]string{"URL": partner.URL, "Closed": closed})
	if err := os.Mkdir(filepath.Join(dir, "secure_in"), 0o755); err != nil {
		t.Fatal(err)
	}
	put(t, dir, "a.edi", []byte("payload"))
	if err := os.WriteFile(filepath.Join(dir, "secure_in", "b.edi"), []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "secure_in", "b.edi"), old, old); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	r, box := startWith(t, dir, func(o *runner.Options) { o.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	sum := runUntilSettled(t, r)
	if sum.Received != 2 || sum.Suspended != 3 || sum.Retried != 1 {
		t.Errorf("summary %+v, want 2 received, hook retried once, 3 suspended", sum)
	}
	// The value itself went where it belongs.
	mu.Lock()
	got := slices.Clone(paths)
	mu.Unlock()
	for _, want := range []string{"/hooks/" + token, "/in/" + token} {
		if !slices.Contains(got, want) {
			t.Errorf("the partner was asked for %q, not %s", got, want)
		}
	}
	shown := everything(t, box)
	for _, want := range []string{
		`send port "hook": POST ` + partner.URL + "/(sensitive value): HTTP 500",
		`send port "by_property": POST ` + partner.URL + "/(sensitive value): HTTP 500",
		"response not shown",
		// The closed port's host is shown, and net's error, which names
		// only the address; its path is not.
		`send port "closed": POST http://` + closed + "/(sensitive value): dial tcp " + closed,
	} {
		if !strings.Contains(shown, want) {
			t.Errorf("the box does not say %q:\n%s", want, shown)
		}
	}
	for what, text := range map[string]string{"box": shown, "log": logs.String()} {
		for _, leak := range []string{token, strings.ToUpper(token), "no hook"} {
			if strings.Contains(text, leak) {
				t.Errorf("the %s shows %q:\n%s", what, leak, text)
			}
		}
	}
	// The stored message knows its sensitive property.
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.ReceiveLocation == "secure" && (!slices.Equal(m.SensitiveProperties, []string{"key"}) || m.ShownProperties()["key"] != msgbox.SensitiveValue) {
			t.Errorf("message from secure: SensitiveProperties %q, shown %q", m.SensitiveProperties, m.ShownProperties())
		}
	}
}

// TestSensitivePropertyAfterRestart: which properties are sensitive is
// stored with the message: a message stored before a restart is routed and
// delivered by a runner whose configuration does not say so, and errors
// still hide the value.
func TestSensitivePropertyAfterRestart(t *testing.T) {
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no hook at "+r.URL.Path, http.StatusServiceUnavailable)
	}))
	defer partner.Close()
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "by_property" {
  host      = host.h
  filter    = startswith(message.properties.key, "s3")
  transport "http" { url = "{{.URL}}/in/${message.properties.key}" }
  retry { attempts = 0 }
}
`, map[string]string{"URL": partner.URL})
	opts := testOptions(t, dir)
	in := msgbox.Incoming{ReceiveLocation: "in", FileName: "a.edi", ContentType: "text/plain",
		Properties: map[string]string{"partner": "fabrikam", "key": token}, SensitiveProperties: []string{"key"}}
	if _, _, err := opts.Box.ReceiveRouted(context.Background(), in, strings.NewReader("payload"), nil); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
	r, err := runner.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum := runUntilSettled(t, r); sum.Suspended != 1 {
		t.Fatalf("summary %+v, want the message routed by its property and its delivery suspended", sum)
	}
	shown := everything(t, opts.Box)
	if !strings.Contains(shown, partner.URL+"/(sensitive value): HTTP 503") {
		t.Errorf("the box does not show the redacted URL:\n%s", shown)
	}
	for what, text := range map[string]string{"box": shown, "log": logs.String()} {
		if strings.Contains(text, token) || strings.Contains(text, "no hook") {
			t.Errorf("the %s shows the sensitive property:\n%s", what, text)
		}
	}
}

// rawPartner is a 127.0.0.1 listener that records each request's request
// line exactly as it came off the wire and answers 202.
type rawPartner struct {
	l      net.Listener
	mu     sync.Mutex
	lines  []string
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

func newRawPartner(t *testing.T) *rawPartner {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rp := &rawPartner{l: l}
	rp.wg.Add(1)
	go func() {
		defer rp.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			rp.mu.Lock()
			if rp.closed {
				rp.mu.Unlock()
				c.Close()
				return
			}
			rp.conns = append(rp.conns, c)
			rp.mu.Unlock()
			rp.wg.Add(1)
			go func() {
				defer rp.wg.Done()
				defer c.Close()
				rp.serve(c)
			}()
		}
	}()
	t.Cleanup(rp.close)
	return rp
}

// serve reads requests off c: the request line, the header fields (for
// Content-Length) and the body.
func (rp *rawPartner) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		rp.mu.Lock()
		rp.lines = append(rp.lines, strings.TrimRight(line, "\r\n"))
		rp.mu.Unlock()
		length := 0
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				return
			}
			h = strings.TrimRight(h, "\r\n")
			if h == "" {
				break
			}
			if name, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(name, "Content-Length") {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
			return
		}
		if _, err := c.Write([]byte("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")); err != nil {
			return
		}
	}
}

// close stops listening and closes the connections the client keeps
// idle for reuse.
func (rp *rawPartner) close() {
	rp.l.Close()
	rp.mu.Lock()
	rp.closed = true
	for _, c := range rp.conns {
		c.Close()
	}
	rp.mu.Unlock()
	rp.wg.Wait()
}

func (rp *rawPartner) requestLines() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return slices.Clone(rp.lines)
}

// TestURLTemplateInjection (issue 9, finding 7): a file name put raw in a
// url cannot add a request line, a parameter or a fragment, nor choose the
// host: such a delivery is suspended at once, without using its retries,
// and nothing reaches the wire; through urlencode the same name arrives
// intact as one parameter.
func TestURLTemplateInjection(t *testing.T) {
	rp := newRawPartner(t)
	p := newPKI(t)
	dir := setup(t, p, common+`
send_port "raw" {
  host      = host.h
  filter    = startswith(message.file_name, "z ")
  transport "http" { url = "http://{{.Addr}}/x?name=${message.file_name}" }
  retry {
    attempts = 3
    interval = "1ms"
  }
}
send_port "encoded" {
  host      = host.h
  filter    = startswith(message.file_name, "z ")
  transport "http" { url = "http://{{.Addr}}/x?name=${urlencode(message.file_name)}" }
}
send_port "host_from_name" {
  host      = host.h
  filter    = startswith(message.file_name, "@")
  transport "http" { url = "http://partner.invalid${message.file_name}/in" }
  retry {
    attempts = 3
    interval = "1ms"
  }
}
`, map[string]string{"Addr": rp.l.Addr().String()})
	put(t, dir, "z HTTP1.0 x&admin=1#frag.xml", []byte("payload"))
	// Were it sent, it would go to the listener, as user partner.invalid.
	put(t, dir, "@"+rp.l.Addr().String(), []byte("payload"))
	r, box := start(t, dir)
	sum := runUntilSettled(t, r)
	if sum.Delivered != 1 || sum.Suspended != 2 || sum.Retried != 0 {
		t.Errorf("summary %+v, want encoded delivered, raw and host_from_name suspended at once", sum)
	}
	if got, want := rp.requestLines(), []string{"POST /x?name=z+HTTP1.0+x%26admin%3D1%23frag.xml HTTP/1.1"}; !slices.Equal(got, want) {
		t.Errorf("request lines on the wire: %q, want %q", got, want)
	}
	eachDelivery(t, box, func(_ msgbox.Message, dl msgbox.Delivery) {
		want := map[string]string{"raw": "the url contains a space", "host_from_name": "sender chose"}[dl.Port]
		if want == "" {
			return
		}
		if dl.State != msgbox.DeliverySuspended || dl.Attempts != 1 || !strings.Contains(dl.LastError, want) ||
			!strings.Contains(dl.LastError, "invalid URL") {
			t.Errorf("%s: %s after %d attempt(s), last error %q; want suspended after one, saying %q",
				dl.Port, dl.State, dl.Attempts, dl.LastError, want)
		}
	})
}

// TestSensitiveTransportPaths: a directory that derives from a sensitive
// value is quoted by the transports' errors (a missing output or input
// directory); the runner shows it as (sensitive value) in the box and in
// the log.
func TestSensitiveTransportPaths(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+tokenVariable+`
receive_location "hidden_in" {
  host = host.h
  transport "file" { path = "in-${var.token}" }
}
send_port "hidden_out" {
  host      = host.h
  filter    = true
  transport "file" { path = "out/${var.token}" }
  retry { attempts = 0 }
}
`, nil)
	put(t, dir, "a.edi", []byte("payload"))
	var logs logBuffer
	r, box := startWith(t, dir, func(o *runner.Options) { o.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	// The missing receive directory fails the run (the problem named as
	// the log names it), after the rest was done.
	sum, err := r.RunOnce(context.Background())
	if sum.Suspended != 1 {
		t.Fatalf("summary %+v, want the delivery suspended", sum)
	}
	if !errors.Is(err, runner.ErrIncomplete) || !strings.Contains(err.Error(), "open (sensitive value)") {
		t.Errorf("RunOnce error %v, want ErrIncomplete naming the directory as (sensitive value)", err)
	}
	shown := everything(t, box)
	if !strings.Contains(shown, "output directory (sensitive value) does not exist") {
		t.Errorf("the box does not show the missing directory as (sensitive value):\n%s", shown)
	}
	if !strings.Contains(logs.String(), `"dir":"(sensitive value)"`) {
		t.Errorf("the log does not show the receive directory as (sensitive value):\n%s", logs.String())
	}
	for what, text := range map[string]string{"box": shown, "log": logs.String(), "error": fmt.Sprint(err)} {
		if strings.Contains(text, token) {
			t.Errorf("the %s shows the sensitive directory:\n%s", what, text)
		}
	}
}
