package http

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bizpipe/bizpipe/internal/transport"
)

const secret = "s3cr3t-T0KEN"

// noSecret fails when text holds the secret or any of more.
func noSecret(t *testing.T, what, text string, more ...string) {
	t.Helper()
	for _, s := range append([]string{secret}, more...) {
		if strings.Contains(text, s) {
			t.Errorf("%s shows %q: %s", what, s, text)
		}
	}
}

// sensitiveFrom is the origin of a URL whose text from offset at on derives
// from a sensitive value.
func sensitiveFrom(at int) transport.Origin {
	return transport.Origin{Sensitive: true, SensitiveAt: at}
}

// TestCheckURL: what can be sent exactly as evaluated passes; spaces,
// controls, non-ASCII, a fragment, a stray '%', other schemes, no host and
// a host the sender chose are ErrInvalidURL, permanent, and the error never
// quotes the URL.
func TestCheckURL(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:8080/x",
		"https://partner.example/in/order%201.xml?name=z+HTTP1.0+x%26admin%3D1%23frag.xml",
		"https://user@partner.example/a;b/c:d@e!$&'()*+,=~_-./?q=[]",
		"http://[::1]:8080/",
		"http://h",
	} {
		if err := checkURL(u, transport.Origin{}); err != nil {
			t.Errorf("checkURL(%q): %v, want nil", u, err)
		}
	}
	// The sender may shape what follows the host.
	if err := checkURL("https://partner.example/in/a.xml", transport.Origin{FromSender: true, FromSenderAt: 27}); err != nil {
		t.Errorf("a file name in the path: %v, want nil", err)
	}
	for _, tc := range []struct {
		url, want string
		origin    transport.Origin
	}{
		{"http://h/x?name=z HTTP1.0 x&admin=1", "contains a space", transport.Origin{}},
		{"http://h/x\r\nHost: evil", "control character", transport.Origin{}},
		{"http://h/x\x00", "control character", transport.Origin{}},
		{"http://h/x\x7f", "control character", transport.Origin{}},
		{"http://h/ünï", "non-ASCII", transport.Origin{}},
		{"http://h/x?a=1#frag.xml", "fragment", transport.Origin{}},
		{"http://h/x#", "fragment", transport.Origin{}},
		{"http://h/100%", "percent-encoded", transport.Origin{}},
		{"http://h/%zz", "percent-encoded", transport.Origin{}},
		{`http://h/a"b`, `'"'`, transport.Origin{}},
		{`http://h/a\b`, `'\\'`, transport.Origin{}},
		{"http://h/a<b>", "'<'", transport.Origin{}},
		{"http://h/{x}", "'{'", transport.Origin{}},
		{"ftp://h/x", `scheme "ftp"`, transport.Origin{}},
		{"h/x", "not supported", transport.Origin{}},
		{"http:///x", "no host", transport.Origin{}},
		{"", "empty", transport.Origin{}},
		{"http://h:port/x", "invalid port", transport.Origin{}},
		// A file name chose the host: "https://partner.example${message.file_name}".
		{"https://partner.example@elsewhere.example/", "sender chose", transport.Origin{FromSender: true, FromSenderAt: 23}},
		{"https://partner.example.elsewhere.example/", "sender chose", transport.Origin{FromSender: true, FromSenderAt: 23}},
		{"https://partner.example:8443/", "sender chose", transport.Origin{FromSender: true, FromSenderAt: 23}},
		{"a.xml", "not supported", transport.Origin{FromSender: true}},
	} {
		err := checkURL(tc.url, tc.origin)
		switch {
		case err == nil:
			t.Errorf("checkURL(%q) = nil, want an error", tc.url)
			continue
		case !errors.Is(err, transport.ErrInvalidURL) || !transport.Permanent(err):
			t.Errorf("checkURL(%q) = %v: does not wrap ErrInvalidURL, or is not permanent", tc.url, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("checkURL(%q) = %v, want it to say %q", tc.url, err, tc.want)
		}
		if len(tc.url) > 8 && strings.Contains(err.Error(), tc.url[8:]) {
			t.Errorf("checkURL(%q) = %v: quotes the URL", tc.url, err)
		}
	}
	// A sensitive URL: what is wrong, but not which character or where.
	for _, u := range []string{"http://h/hooks/" + secret + " x", "http://h/hooks/" + secret + "\"", "http://h/" + secret + "#x", "h" + secret + "tp://h/"} {
		err := checkURL(u, sensitiveFrom(9))
		if !errors.Is(err, transport.ErrInvalidURL) {
			t.Errorf("CheckURL of a sensitive %q = %v, want ErrInvalidURL", u, err)
			continue
		}
		noSecret(t, "CheckURL", err.Error(), "space", `'"'`, "fragment", "h"+secret)
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
	h := newHTTPTransport(t, ClientOptions{})
	ctx := context.Background()

	// Status: the echo is not shown.
	d := httpDelivery(srv.URL+"/hooks/"+secret, nil)
	d.URLOrigin = sensitiveFrom(len(srv.URL) + 1)
	err := h.Send(ctx, d, transport.Payload{Body: []byte("x")})
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
	err = h.Send(ctx, d, transport.Payload{Body: []byte("x")})
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
	err = h.Send(ctx, d, transport.Payload{Body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "http://user@"+addr+"/(sensitive value):") ||
		!strings.Contains(err.Error(), "refused") {
		t.Errorf("error %v, want the host and the refusal", err)
	} else {
		noSecret(t, "network error", err.Error(), "pw", "code")
	}

	// The host sensitive: nothing of the URL, nor of net's error.
	d = httpDelivery("http://"+addr+"/hooks/x", nil)
	d.URLOrigin = sensitiveFrom(len("http://"))
	err = h.Send(ctx, d, transport.Payload{Body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "POST (sensitive value): connection refused") {
		t.Errorf("error %v, want POST (sensitive value): connection refused", err)
	} else {
		noSecret(t, "network error", err.Error(), addr, "127.0.0.1", "hooks")
	}
	// A label longer than 63 bytes fails the lookup without a query.
	d = httpDelivery("http://"+strings.Repeat("a", 64)+secret+".invalid/hooks", nil)
	d.URLOrigin = sensitiveFrom(len("http://"))
	err = h.Send(ctx, d, transport.Payload{Body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "POST (sensitive value): host name lookup failed") {
		t.Errorf("error %v, want POST (sensitive value): host name lookup failed", err)
	} else {
		noSecret(t, "DNS error", err.Error(), "invalid")
	}
}

// TestHTTPInvalidURLNeverSent: a URL that cannot be sent as evaluated is
// refused before anything reaches the wire: the listener sees no
// connection for it, and a valid one after it arrives with the request
// line intact.
func TestHTTPInvalidURLNeverSent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lines := make(chan string, 10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			lines <- strings.TrimRight(line, "\r\n")
			c.Write([]byte("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			c.Close()
		}
	}()
	base := "http://" + l.Addr().String()
	h := newHTTPTransport(t, ClientOptions{})
	for _, u := range []string{
		base + "/x?name=z HTTP1.0 x&admin=1#frag.xml",
		base + "/x?name=z HTTP1.0 x&admin=1",
		base + "/x?name=a.xml#frag",
		base + "/x\r\nX-Injected: 1",
		base + "/x?n=ü",
	} {
		err := h.Send(context.Background(), httpDelivery(u, nil), transport.Payload{Body: []byte("x")})
		if !errors.Is(err, transport.ErrInvalidURL) || !transport.Permanent(err) {
			t.Errorf("Send(%q) = %v, want a permanent ErrInvalidURL", u, err)
		}
	}
	ok := base + "/x?name=z+HTTP1.0+x%26admin%3D1%23frag.xml"
	if err := h.Send(context.Background(), httpDelivery(ok, nil), transport.Payload{Body: []byte("x")}); err != nil {
		t.Fatalf("Send of the encoded URL: %v", err)
	}
	l.Close()
	wg.Wait()
	close(lines)
	var got []string
	for line := range lines {
		got = append(got, line)
	}
	if want := "POST /x?name=z+HTTP1.0+x%26admin%3D1%23frag.xml HTTP/1.1"; len(got) != 1 || got[0] != want {
		t.Errorf("request lines on the wire: %q, want only %q", got, want)
	}
}

// checkURL is parseHTTPURL's verdict.
func checkURL(raw string, origin transport.Origin) error {
	_, err := parseHTTPURL(raw, origin)
	return err
}

// TestHTTPEchoedCredentialsHidden: a partner's error answer that echoes
// the credentials the request carried (its Authorization, Cookie, the
// URL's password or query values) quotes them as (hidden), though none was
// marked sensitive: the reason is stored with the message and logged. The
// rest of the answer is still shown.
func TestHTTPEchoedCredentialsHidden(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pw, _ := r.BasicAuth()
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("bad auth " + r.Header.Get("Authorization") + " cookie " + r.Header.Get("Cookie") +
			" key " + r.URL.Query().Get("key") + " pw " + pw + " api " + r.Header.Get("X-API-Key") + " page 1"))
	}))
	defer srv.Close()
	h := newHTTPTransport(t, ClientOptions{})
	for _, tc := range []struct {
		name, url string
		headers   map[string]string
		want      string
	}{
		{"headers and query", srv.URL + "/in?key=K3Y-" + secret + "&page=1",
			map[string]string{"Authorization": "Bearer " + secret, "Cookie": "session=C00KIE-value"},
			"bad auth (hidden) cookie (hidden) key (hidden) pw api page 1"},
		{"url password", strings.Replace(srv.URL, "//", "//user:"+secret+"@", 1) + "/in", nil,
			"bad auth Basic (hidden) cookie key pw (hidden) api page 1"},
		// A header whose name says it carries a key, as the configuration's
		// diagnostics hide it (component.CredentialHeader).
		{"API key header", srv.URL + "/in", map[string]string{"X-API-Key": "AP1KEY-" + secret, "X-Trace": "trace-value-1"},
			"bad auth cookie key pw api (hidden) page 1"},
	} {
		d := httpDelivery(tc.url, tc.headers)
		err := h.Send(context.Background(), d, transport.Payload{Body: []byte("x")})
		var serr *StatusError
		if !errors.As(err, &serr) || serr.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: Send: %v, want the 401", tc.name, err)
		}
		noSecret(t, tc.name, err.Error(), "K3Y", "C00KIE", "AP1KEY")
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want it to quote %q", tc.name, err, tc.want)
		}
	}
}
