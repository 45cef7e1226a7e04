package runner_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/engine/msgbox"
	"github.com/bizpipe/bizpipe/engine/runner"
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

// logBuffer is a log the tests read after the run.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// everything is all a box shows of its messages (what `bizpipe messages`
// list and show print, but the properties, which it shows redacted).
func everything(t *testing.T, box msgbox.Box) string {
	t.Helper()
	msgs, err := box.List(context.Background(), msgbox.Filter{})
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

// runUntilSettled runs RunOnce until no delivery waits for a retry.
func runUntilSettled(t *testing.T, r *runner.Runner) runner.Summary {
	t.Helper()
	var total runner.Summary
	for range 20 {
		sum, err := r.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		total.Received += sum.Received
		total.Delivered += sum.Delivered
		total.Retried += sum.Retried
		total.Suspended += sum.Suspended
		if sum.Waiting == 0 {
			return total
		}
		time.Sleep(5 * time.Millisecond) // retries are 1ms apart
	}
	t.Fatal("deliveries still waiting after 20 runs")
	return total
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
	msgs, err := box.List(context.Background(), msgbox.Filter{})
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
	if _, _, err := opts.Box.Receive(context.Background(), in, strings.NewReader("payload")); err != nil {
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
