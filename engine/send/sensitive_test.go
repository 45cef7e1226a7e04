package send

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "s3cr3t-T0KEN"

// sensitiveFrom is the origin of a URL whose text from offset at on derives
// from a sensitive value.
func sensitiveFrom(at int) Origin { return Origin{Sensitive: true, SensitiveAt: at} }

// noSecret fails when text holds the secret or any of more.
func noSecret(t *testing.T, what, text string, more ...string) {
	t.Helper()
	for _, s := range append([]string{secret}, more...) {
		if strings.Contains(text, s) {
			t.Errorf("%s shows %q: %s", what, s, text)
		}
	}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestHTTPSensitiveURL: a URL part of which is sensitive shows as
// scheme://host/(sensitive value) in every error: a network error, a
// status, and a partner's answer that echoes it (its body and Location not
// shown); a sensitive host shows as (sensitive value) alone, and the
// network error's text, which names the host, is reduced to its kind.
func TestHTTPSensitiveURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A partner that echoes the path and the headers.
		w.Header().Set("Location", r.URL.Path+"/moved")
		w.WriteHeader(http.StatusPermanentRedirect)
		w.Write([]byte("no hook at " + r.URL.Path + " for " + r.Header.Get("Authorization")))
	}))
	defer srv.Close()
	h := newHTTPTransport(t, HTTPOptions{})
	ctx := context.Background()

	// Status: the echo is not shown.
	d := httpDelivery(srv.URL+"/hooks/"+secret, nil)
	d.URLOrigin = sensitiveFrom(len(srv.URL) + 1)
	err := h.Send(ctx, d, Payload{Body: []byte("x")})
	var serr *StatusError
	if !errors.As(err, &serr) || serr.StatusCode != http.StatusPermanentRedirect {
		t.Fatalf("Send: %v, want the 308", err)
	}
	if want := srv.URL + "/(sensitive value): HTTP 308"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to show %q", err, want)
	}
	if !strings.Contains(err.Error(), "response not shown") {
		t.Errorf("error %q does not say the response is not shown", err)
	}
	noSecret(t, "status error", err.Error(), "moved", "no hook")

	// A sensitive header: the URL is shown, the echo is not.
	d = httpDelivery(srv.URL+"/hooks/public", map[string]string{"Authorization": "Bearer " + secret})
	d.HeadersSensitive = true
	err = h.Send(ctx, d, Payload{Body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/hooks/public") {
		t.Errorf("error %v, want one naming the URL", err)
	} else {
		noSecret(t, "status error", err.Error(), "no hook")
	}

	// Connection refused, the path sensitive: scheme and host are shown,
	// and so is net's error, which names only the address.
	addr := closedAddr(t)
	d = httpDelivery("http://user:pw@"+addr+"/hooks/"+secret+"?code=x", nil)
	d.URLOrigin = sensitiveFrom(len("http://user:pw@" + addr + "/"))
	err = h.Send(ctx, d, Payload{Body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "http://user@"+addr+"/(sensitive value):") ||
		!strings.Contains(err.Error(), "refused") {
		t.Errorf("error %v, want the host and the refusal", err)
	} else {
		noSecret(t, "network error", err.Error(), "pw", "code")
	}

	// The host sensitive: nothing of the URL, nor of net's error.
	d = httpDelivery("http://"+addr+"/hooks/x", nil)
	d.URLOrigin = sensitiveFrom(len("http://"))
	err = h.Send(ctx, d, Payload{Body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "POST (sensitive value): connection refused") {
		t.Errorf("error %v, want POST (sensitive value): connection refused", err)
	} else {
		noSecret(t, "network error", err.Error(), addr, "127.0.0.1", "hooks")
	}
	// A label longer than 63 bytes fails the lookup without a query.
	d = httpDelivery("http://"+strings.Repeat("a", 64)+secret+".invalid/hooks", nil)
	d.URLOrigin = sensitiveFrom(len("http://"))
	err = h.Send(ctx, d, Payload{Body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "POST (sensitive value): host name lookup failed") {
		t.Errorf("error %v, want POST (sensitive value): host name lookup failed", err)
	} else {
		noSecret(t, "DNS error", err.Error(), "invalid")
	}
}

// TestFileSensitiveName: a file name derived from a sensitive value never
// appears in an error, neither an invalid one's nor one the operating
// system or a conflict names; the errors still wrap what they did.
func TestFileSensitiveName(t *testing.T) {
	f, dir := newFileTransport(t, false)
	ctx := context.Background()
	for _, name := range []string{secret + "/x", secret + "\n", ".bizpipe-" + secret, strings.Repeat(secret, 30), ""} {
		d := fileDelivery(1, name)
		d.FileNameSensitive = true
		err := f.Send(ctx, d, Payload{Data: []byte("x")})
		if !errors.Is(err, ErrInvalidFileName) {
			t.Errorf("Send to %q: %v, want ErrInvalidFileName", name, err)
			continue
		}
		// Nor which rule it breaks: that tells something of the value.
		noSecret(t, "invalid name error", err.Error(), "contains a path separator", "contains a control character",
			"longer than", "reserved for", "empty")
	}
	// A conflict with an existing file, and a name that is a directory.
	writeFile(t, filepath.Join(dir, secret+".xml"), []byte("other"))
	if err := os.Mkdir(filepath.Join(dir, secret+".dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{secret + ".xml", secret + ".dir"} {
		d := fileDelivery(int64(10+i), name)
		d.FileNameSensitive = true
		err := f.Send(ctx, d, Payload{Data: []byte("mine")})
		if err == nil {
			t.Fatalf("Send to the existing %s succeeded", name)
		}
		if !strings.Contains(err.Error(), filepath.Join(dir, "(sensitive value)")) {
			t.Errorf("error %q does not show the file as dir/(sensitive value)", err)
		}
		noSecret(t, "conflict error", err.Error())
		if i == 0 && !errors.Is(err, ErrFileExists) {
			t.Errorf("error %v no longer wraps ErrFileExists", err)
		}
	}
	// Not sensitive: the name is shown as before.
	err := f.Send(ctx, fileDelivery(20, secret+".xml"), Payload{Data: []byte("mine")})
	if err == nil || !strings.Contains(err.Error(), secret) {
		t.Errorf("error %v: a name that is not sensitive is shown", err)
	}
}
