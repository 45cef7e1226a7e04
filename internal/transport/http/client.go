package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// DefaultTimeout bounds one HTTP delivery attempt when
// ClientOptions.Timeout is zero.
const DefaultTimeout = 30 * time.Second

const (
	// maxExcerpt is how much of an error response's body an error quotes;
	// excerptRead is how much is read to produce it.
	maxExcerpt  = 200
	excerptRead = 4 * maxExcerpt
	// maxDrain is how much of a response body is read and discarded so the
	// connection can be reused; a larger body costs a new connection
	// rather than an unbounded read.
	maxDrain = 64 << 10
	// userAgent is sent unless the payload or the port configures one.
	userAgent = "bizpipe"
	// maxResponseHeader bounds an answer's header (HTTP/1.1 and HTTP/2):
	// net/http's default, 10 MiB, costs some 70 MiB to parse, per
	// delivery in flight. Four times what the receive locations accept;
	// a partner behind nginx's default buffers cannot answer half as much.
	maxResponseHeader = 256 << 10
)

// Client is the HTTP transport (send_port transport "http"): each delivery is
// one POST of the payload body to the evaluated url. It holds one
// http.Client, and so one connection pool, per port, and is safe for
// concurrent use.
//
// Request headers are the payload's header fields (Payload.Header, added in
// order, MIME-Version included: it is harmless and tells the receiver that
// the body is a MIME body), then the port's configured headers
// (Delivery.Headers), which replace payload fields of the same name: the
// operator's explicit configuration wins over what the pipeline generated,
// e.g. a partner that insists on its own Content-Type. A configured "Host"
// sets the request's Host. Header names and values are checked before
// anything is sent (values come from message properties, which senders
// control); errors name the header, never its value, which may be a
// credential.
//
// Redirects are not followed: re-posting a body to wherever a server points
// is not something a delivery should do silently, so a 3xx is a failed
// attempt whose error names the Location. Proxies come from the usual
// environment variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), as for any Go
// program.
//
// Errors never contain the request body, header values or the URL's query
// and password (query strings often carry API keys, e.g. "?code="): URLs are
// shown as scheme://user@host/path. A URL part of which derives from a
// sensitive value (Delivery.URLOrigin) is shown as
// scheme://user@host/(sensitive value), or as (sensitive value) when the
// scheme or host itself does, and then network errors, which name the host,
// are reduced to their kind ("connection refused"). A partner's answer to a
// request that carried a sensitive value (in the URL or a header) may echo
// it: its body and Location are not shown.
//
// A URL is sent only as it was evaluated (see parseHTTPURL): one that cannot
// be, a space in it for instance, is an error wrapping ErrInvalidURL, and
// nothing is sent.
type Client struct {
	client    *http.Client
	transport *http.Transport
	timeout   time.Duration
	spoolDir  string
}

var _ transport.Sender = (*Client)(nil)

// NewClient returns an HTTP transport. It reads the TLS files now, so that a
// bad file stops the port at start-up: errors name the file and never
// include its contents. CAFile, when set, replaces the system roots
// entirely: only the certificates it holds are trusted. CertFile and KeyFile
// must be set together; the client certificate is presented whenever a
// server asks for one (regardless of the CA names the server suggests, so a
// mismatch fails the handshake visibly instead of silently sending none).
// A zero Timeout means DefaultHTTPTimeout.
func NewClient(o ClientOptions) (*Client, error) {
	timeout := o.Timeout
	switch {
	case timeout < 0:
		return nil, fmt.Errorf("send: http transport: negative timeout %s", timeout)
	case timeout == 0:
		timeout = DefaultTimeout
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pool, err := loadCAFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("send: http transport: %w", err)
		}
		tlsConf.RootCAs = pool
	}
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		cert, err := loadKeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("send: http transport: %w", err)
		}
		tlsConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	case o.CertFile != "":
		return nil, fmt.Errorf("send: http transport: cert_file %s given without key_file", o.CertFile)
	case o.KeyFile != "":
		return nil, fmt.Errorf("send: http transport: key_file %s given without cert_file", o.KeyFile)
	}
	// A transport of our own rather than a clone of http.DefaultTransport,
	// which any package may have replaced. Values follow the default's.
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        tlsConf,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    16, // a port usually talks to one partner host, possibly concurrently
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeader,
		// Over HTTP/2 a partner may send what the windows grant ahead
		// of the reads, and a delivery reads an answer's excerpt only:
		// Go's defaults (4 MiB a stream) would let a partner fill the
		// memory of every delivery in flight. As the listeners' windows.
		//
		// A connection that goes silent (a firewall or NAT on the way
		// that drops it without a reset) is closed when it answers no
		// ping: over HTTP/2, net/http would otherwise keep giving it the
		// port's requests, each waiting out its timeout, for as long as
		// they keep coming. HTTP/1.1 closes a connection whose request
		// timed out.
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: h2Window, MaxReceiveBufferPerStream: h2Window,
			SendPingTimeout: h2PingAfter(timeout), PingTimeout: h2PingAfter(timeout)},
	}
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &Client{client: client, transport: tr, timeout: timeout, spoolDir: o.SpoolDir}, nil
}

// h2PingAfter is how long an HTTP/2 connection of a port with the given
// timeout may read nothing before it is pinged, and how long the ping may
// wait for its answer: together about the timeout, so that a dead
// connection is gone by the time the request that met it has failed, and
// at most 30 s when the timeout is long (for large uploads). A ping is a
// small frame every HTTP/2 server answers at once, busy or not.
func h2PingAfter(timeout time.Duration) time.Duration {
	return min(max(timeout/2, time.Second), 15*time.Second)
}

// Send POSTs p.Body to d.URL and returns nil on a 2xx response. Any other
// status is a *StatusError; a network failure, TLS failure or timeout
// (ClientOptions.Timeout per attempt, covering connect to response headers)
// is an error too. Delivery over HTTP is at least once (§9): a response
// lost after the server processed the request leads to a retry.
func (h *Client) Send(ctx context.Context, d transport.Delivery, p transport.Payload) error {
	w, err := h.Begin(ctx, d, p.Header)
	if err != nil {
		return err
	}
	if _, err := w.Write(p.Body); err != nil {
		w.Abort()
		return err
	}
	return w.Commit(ctx)
}

// Begin starts an attempt to POST to d.URL an entity whose top-level header
// fields are header. The body written to the Post is spooled (in
// memory up to 1 MiB, then to an unlinked file in ClientOptions.SpoolDir) and
// sent by Commit with its Content-Length, as partners expect. An invalid
// URL fails here, before anything is encoded.
func (h *Client) Begin(ctx context.Context, d transport.Delivery, header []transport.Field) (*Post, error) {
	u, err := parseHTTPURL(d.URL, d.URLOrigin)
	if err != nil {
		return nil, fmt.Errorf("send port %q: url: %w", d.Port, err)
	}
	return &Post{h: h, d: d, u: u, header: header, body: spool{dir: h.spoolDir}}, nil
}

// Post is one attempt of an HTTP delivery in progress (Client.Begin).
type Post struct {
	h      *Client
	d      transport.Delivery
	u      *url.URL
	header []transport.Field
	body   spool
	done   bool
}

// Write appends p to the request body.
func (w *Post) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("send: http delivery already ended")
	}
	n, err := w.body.Write(p)
	if err != nil {
		return n, fmt.Errorf("send port %q: %w", w.d.Port, err)
	}
	return n, nil
}

// Commit POSTs the body and returns nil on a 2xx answer (see Send).
func (w *Post) Commit(ctx context.Context) error {
	if w.done {
		return errors.New("send: http delivery already ended")
	}
	w.done = true
	defer w.body.close()
	return w.h.post(ctx, w.d, w.u, w.header, &w.body, nil, nil)
}

// CommitResponse is Commit for a protocol whose answer carries its result
// (an AS2 synchronous MDN): on a 2xx answer it returns what handle returns,
// handle reading the response's body (at most what it needs: the rest is
// discarded) before the body is closed; any other answer is offered to
// other when it is not nil (see Unexpected), and is otherwise a
// *StatusError as with Commit, handle not called.
func (w *Post) CommitResponse(ctx context.Context, handle func(*http.Response) error, other *Unexpected) error {
	if w.done {
		return errors.New("send: http delivery already ended")
	}
	w.done = true
	defer w.body.close()
	return w.h.post(ctx, w.d, w.u, w.header, &w.body, handle, other)
}

// Unexpected takes an answer whose status is not 2xx but whose body a
// protocol understands all the same: some AS2 servers answer a negative
// MDN with a 4xx or 5xx status.
type Unexpected struct {
	// Offered reports, from its status and header fields, whether the
	// answer may be one: only then is its body read, at most Limit
	// octets (a longer one is not offered).
	Offered func(resp *http.Response) bool
	Limit   int64
	// Take is given the answer and its whole body. When it reports the
	// answer taken, what it returns is the commit's; otherwise the
	// answer is a *StatusError as with Commit.
	Take func(resp *http.Response, body []byte) (taken bool, err error)
}

// take offers resp, an answer whose status is not 2xx (nor 1xx), to u:
// taken as Unexpected.Take says, with its error; when not taken, the
// start of the body read, for the excerpt of the *StatusError.
func (u *Unexpected) take(resp *http.Response) (taken bool, head []byte, err error) {
	if u == nil || u.Offered == nil || !u.Offered(resp) {
		return false, nil, nil
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, max(u.Limit, 0)+1))
	if rerr == nil && int64(len(body)) <= u.Limit {
		if taken, err := u.Take(resp, body); taken {
			return true, nil, err
		}
	}
	return false, body[:min(len(body), excerptRead)], nil
}

// Abort releases the spooled body. It is a no-op after Commit.
func (w *Post) Abort() {
	if !w.done {
		w.done = true
		_ = w.body.close()
	}
}

func (h *Client) post(ctx context.Context, d transport.Delivery, u *url.URL, header []transport.Field, body *spool,
	handle func(*http.Response) error, other *Unexpected) error {
	shown := shownURL(u, d.URL, d.URLOrigin)
	// A sensitive host must not reach errors through net's, which name it.
	hostHidden := d.URLOrigin.Sensitive && d.URLOrigin.SensitiveAt < authorityEnd(d.URL)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("send port %q: POST %s not attempted: %w", d.Port, shown, err)
	}
	// Before the request's timeout starts: a fence that renews the lease
	// takes none of the partner's time.
	if err := d.CheckFence(ctx); err != nil {
		return fmt.Errorf("send port %q: POST %s not sent: %w", d.Port, shown, err)
	}
	rctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	// How much of the body net/http has taken, so that a timeout can say
	// whether the upload or the partner's answer was too slow.
	var sent atomic.Int64
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.String(), &countingReader{body.reader(), &sent})
	if err != nil {
		// Not wrapped: the error would quote the URL in full.
		return fmt.Errorf("send port %q: POST %s: cannot build request", d.Port, shown)
	}
	// A reader other than a bytes.Reader hides its length from net/http,
	// which would then send the body chunked.
	req.ContentLength = body.size
	req.GetBody = func() (io.ReadCloser, error) {
		sent.Store(0)
		return io.NopCloser(&countingReader{body.reader(), &sent}), nil
	}
	if body.size == 0 {
		req.Body, req.GetBody = http.NoBody, nil
	}
	if err := setHeaders(req, header, d.Headers); err != nil {
		return fmt.Errorf("send port %q: POST %s: %w", d.Port, shown, err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		// *url.Error quotes the full URL, query included: unwrap it.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if hostHidden {
			err = errors.New(errorKind(err))
		}
		err = boundedError{err}
		if ctx.Err() == nil && rctx.Err() != nil {
			// None of it taken: the connection was not ready (a
			// handshake that never ended, say), which is not the upload.
			if n := sent.Load(); n > 0 && n < body.size {
				return fmt.Errorf("send port %q: POST %s: the body was not sent within %s (%d of %d bytes sent; the timeout covers the upload): %w",
					d.Port, shown, h.timeout, n, body.size, err)
			}
			return fmt.Errorf("send port %q: POST %s: no response within %s: %w", d.Port, shown, h.timeout, err)
		}
		return fmt.Errorf("send port %q: POST %s: %w", d.Port, shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 && handle != nil {
		err := handle(resp)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// The answer began in time but did not end: say which limit
			// passed, as for an answer that never began.
			err = fmt.Errorf("%w (the response did not end within the timeout of %s)", err, h.timeout)
		}
		return err
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// The status is the server's acknowledgement; the body does not
		// matter, so a failure reading it does not fail the delivery.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil
	}
	var excerpt []byte
	// A 101 Switching Protocols (the only 1xx net/http returns) has the
	// bare connection as its body, which the request's timeout no longer
	// covers: a read would wait for the partner for good. Closing it
	// closes the connection.
	if resp.StatusCode >= 200 {
		taken, head, err := other.take(resp)
		if taken {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
			return err
		}
		// Read more than is shown: collapsed whitespace and a character
		// cut by the limit must not hide the rest of a short body.
		excerpt = head
		if len(head) < excerptRead {
			rest, _ := io.ReadAll(io.LimitReader(resp.Body, int64(excerptRead-len(head))))
			excerpt = append(head, rest...)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	}
	serr := &StatusError{
		Port:       d.Port,
		URL:        shown,
		StatusCode: resp.StatusCode,
		Status:     statusText(resp),
		Body:       sanitize(hideEchoes(excerpt, echoedSecrets(req)), maxExcerpt, len(excerpt) == excerptRead),
	}
	// Retry-After means a wait with 429 and 503 only (RFC 6585, RFC 9110
	// §15.6.4); with any other failure the port's interval stands, as
	// documented: a partner's 500 must not park a delivery for a day.
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		serr.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		if lu, err := u.Parse(loc); err == nil {
			// The partner's text, up to net/http's 10 MiB of header.
			serr.Location = sanitize([]byte(redactURL(lu)), maxExcerpt, false)
		} else {
			serr.Location = "(unparsable)"
		}
	}
	if d.URLOrigin.Sensitive || d.HeadersSensitive {
		serr.Body, serr.Location, serr.Hidden = "", "", true
	}
	return serr
}

// countingReader counts in n the bytes read from r: net/http reads a
// request's body in its own goroutine.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// ShownStatus is resp's status as an error quotes it: its code and its
// reason phrase (statusText).
func ShownStatus(resp *http.Response) string {
	return strings.TrimSpace(strconv.Itoa(resp.StatusCode) + " " + statusText(resp))
}

// statusText is the reason phrase of resp's status line, as an error
// quotes it: the partner's text, which net/http does not check, bounded
// and printable as a body's excerpt is (sanitize).
func statusText(resp *http.Response) string {
	reason := strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))
	return sanitize([]byte(reason), maxExcerpt, false)
}

// Close closes the idle connections of the port's pool. Deliveries after
// Close still work (they open new connections); call it when the port stops.
func (h *Client) Close() {
	h.transport.CloseIdleConnections()
}

// StatusError is the error for a response whose status is not 2xx. A runner
// may inspect StatusCode (e.g. to report a 4xx differently); every such
// error is retried under the port's retry policy like any other failure.
type StatusError struct {
	Port       string
	URL        string // redacted: no password, no query
	StatusCode int
	// Status is the reason phrase, e.g. "Internal Server Error": at most
	// 200 bytes, only printable characters, as Body.
	Status string
	// Location is the redacted target of a 3xx response, which is not
	// followed: at most 200 bytes, as Body.
	Location string
	// Body is the start of the response body: at most 200 bytes, only
	// printable characters, whitespace collapsed.
	Body string
	// Hidden reports that the request carried a sensitive value, which
	// the response may echo: Body and Location are left empty.
	Hidden bool
	// RetryAfter is the wait the Retry-After header of a 429 Too Many
	// Requests or 503 Service Unavailable asks for, at most maxRetryAfter;
	// 0 when it asks for none, and with any other status.
	RetryAfter time.Duration
}

// maxRetryAfter caps a Retry-After: a partner's header must not park a
// delivery for months.
const maxRetryAfter = 24 * time.Hour

// RetryDelay is the wait the partner asked for with Retry-After (0: none):
// the runner waits that long before the next attempt when it is longer
// than the port's retry interval (component.RetryAfter).
func (e *StatusError) RetryDelay() time.Duration { return e.RetryAfter }

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3): seconds, or
// an HTTP date, at most maxRetryAfter however large. Anything else, or a
// time already past, is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if errors.Is(err, strconv.ErrRange) {
		// Digits beyond a uint64 are still a number of seconds, and a
		// longer one than the cap: the partner asked for the longest wait.
		return maxRetryAfter
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// Error names the port, the redacted URL, the status and the start of the
// response body.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "send port %q: POST %s: HTTP %d", e.Port, e.URL, e.StatusCode)
	if e.Status != "" {
		b.WriteString(" " + e.Status)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (asks to retry after %v)", e.RetryAfter)
	}
	if e.StatusCode >= 300 && e.StatusCode <= 399 {
		b.WriteString(" (redirects are not followed")
		if e.Location != "" {
			b.WriteString("; Location: " + e.Location)
		}
		b.WriteString(")")
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": response: %q", e.Body)
	}
	if e.Hidden {
		b.WriteString(" (response not shown: the request carried a sensitive value)")
	}
	return b.String()
}

// parseHTTPURL parses raw, an evaluated url template whose parts came from
// origin, and refuses it unless it can be sent exactly as it is: an absolute http or https URL
// with a host, made only of the characters RFC 3986 allows in a URL (any
// other byte percent-encoded: see the urlencode function), without a
// fragment, and whose scheme and host do not derive from what the
// message's sender chose. Otherwise a space in a query would end the
// request target on the wire ("POST /x?name=a HTTP1.0 x&admin=1
// HTTP/1.1"), a '#' would silently cut the URL, and a file name could pick
// the host ("https://partner.example${message.file_name}" with a file
// named "@elsewhere.example"). The error wraps ErrInvalidURL and never
// quotes the URL; when part of it is sensitive, it names no character.
func parseHTTPURL(raw string, origin transport.Origin) (*url.URL, error) {
	bad := func(format string, args ...any) (*url.URL, error) {
		return nil, fmt.Errorf("%w: %s", transport.ErrInvalidURL, fmt.Sprintf(format, args...))
	}
	if raw == "" {
		return bad("the url is empty")
	}
	if problem := urlCharProblem(raw); problem != "" {
		if origin.Sensitive {
			problem = "it is not a valid URL (details hidden: it derives from a sensitive value)"
		}
		return bad("%s; encode values put in a url with urlencode()", problem)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL; keep only the reason.
		var uerr *url.Error
		if errors.As(err, &uerr) && !origin.Sensitive {
			return bad("%v", uerr.Err)
		}
		return bad("it cannot be parsed")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if origin.Sensitive && origin.SensitiveAt < authorityEnd(raw) {
			return bad("the scheme is not http or https")
		}
		return bad("scheme %q is not supported (only http and https)", transport.Shorten(u.Scheme, 20))
	}
	if u.Host == "" {
		return bad("the url has no host")
	}
	if origin.FromSender && origin.FromSenderAt < authorityEnd(raw) {
		return bad("its scheme or host derives from the message's file name or content type, which the sender chose")
	}
	return u, nil
}

// urlCharProblem describes the first byte of raw a URL cannot hold as it
// is (RFC 3986 §2: unreserved and reserved characters, and '%' followed by
// two hex digits), or a fragment; "" when there is none.
func urlCharProblem(raw string) string {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == ' ':
			return "the url contains a space"
		case c < 0x20 || c == 0x7f:
			return "the url contains a control character"
		case c >= 0x80:
			return "the url contains a non-ASCII character"
		case c == '#':
			return "the url has a fragment (#...), which is never sent"
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "the url contains a '%' that does not start a percent-encoded byte"
			}
		case !isURLChar(c):
			return fmt.Sprintf("the url contains %q, which a URL cannot hold unencoded", c)
		}
	}
	return ""
}

// isURLChar reports whether c is an unreserved or reserved character of
// RFC 3986 ('%' and '#' are judged by the caller).
func isURLChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?[]@!$&'()*+,;=", c) >= 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// authorityEnd is where the scheme and authority (userinfo, host, port) of
// raw, an absolute URL, end: the first '/', '?' or '#' after "//", as
// url.Parse splits it.
func authorityEnd(raw string) int {
	i := strings.Index(raw, "//")
	if i < 0 {
		return len(raw)
	}
	if j := strings.IndexAny(raw[i+2:], "/?#"); j >= 0 {
		return i + 2 + j
	}
	return len(raw)
}

// shownURL renders u, parsed from raw, for errors: without password, query
// or fragment (redactURL); when part of raw derives from a sensitive value
// (origin), only its scheme, user and host followed by
// /(sensitive value), and only (sensitive value) when those derive from
// one too.
func shownURL(u *url.URL, raw string, origin transport.Origin) string {
	if !origin.Sensitive {
		return redactURL(u)
	}
	if origin.SensitiveAt < authorityEnd(raw) {
		return transport.SensitiveValue
	}
	c := url.URL{Scheme: u.Scheme, Host: u.Host}
	if u.User != nil {
		c.User = url.User(u.User.Username())
	}
	return c.String() + "/" + transport.SensitiveValue
}

// maxNetError bounds the text of a request's failure (boundedError).
const maxNetError = 800

// boundedError is a request's failure whose text is at most maxNetError
// bytes: its start and its end. net/http's errors for a malformed answer
// quote the partner's bytes (a status line, a header line) with no bound
// but the 10 MiB of a response's header, and the box keeps the error with
// every attempt.
type boundedError struct{ err error }

func (e boundedError) Error() string {
	s := e.err.Error()
	if len(s) <= maxNetError {
		return s
	}
	// Cut between characters, not inside one.
	head, tail := maxNetError*3/4, len(s)-maxNetError/4
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + fmt.Sprintf(" ...(%d bytes cut)... ", tail-head) + s[tail:]
}

func (e boundedError) Unwrap() error { return e.err }

// errorKind describes a request's failure without the text of err, which
// names the host (a DNS error, a dial error's address, a certificate's
// names): for a host derived from a sensitive value.
func errorKind(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var errno syscall.Errno
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &dnsErr):
		return "host name lookup failed"
	case errors.As(err, &certErr):
		return "the server's certificate was not accepted"
	case errors.As(err, &errno):
		return errno.Error() // "connection refused": no address in it
	}
	return "the request failed"
}

// Describe checks sd as Begin checks a request before anything is sent
// (its URL, its headers) and says where it would go: "POST " and the URL,
// without its password, and from its first sensitive byte on shown as
// message.Redacted (all of it when that is in the scheme or host).
func Describe(sd transport.Delivery) (string, error) {
	u, err := parseHTTPURL(sd.URL, sd.URLOrigin)
	if err != nil {
		return "", err
	}
	if err := checkConfigured(sd.Headers); err != nil {
		return "", err
	}
	shown := u.Redacted()
	if o := sd.URLOrigin; o.Sensitive {
		end := authorityEnd(sd.URL)
		if o.SensitiveAt < end {
			shown = message.Redacted
		} else {
			authority := &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}
			shown = authority.Redacted() + sd.URL[end:o.SensitiveAt] + message.Redacted
		}
	}
	return "POST " + shown, nil
}

// redactURL renders u without password, query or fragment.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	s := c.Redacted()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?[query omitted]"
	}
	return s
}

// echoedSecrets are the credentials req carries that a partner's error
// answer may echo (a 401's "bad token Bearer ..."): the values of its
// fields that carry credentials (component.CredentialHeader: Authorization,
// Proxy-Authorization, Cookie, X-API-Key...), and the token after their
// scheme; the URL's password, as is and as Basic credentials; and
// its query's values, which the URL shown in errors omits (redactURL).
// Short ones are left out: hiding every "1" of an answer would hide the
// answer, and a short value guards nothing.
func echoedSecrets(req *http.Request) []string {
	const least = 6
	var out []string
	add := func(v string) {
		if v = strings.TrimSpace(v); len(v) >= least {
			out = append(out, v)
		}
	}
	for name, vs := range req.Header {
		if !component.CredentialHeader(name) {
			continue
		}
		for _, v := range vs {
			add(v)
			if _, token, ok := strings.Cut(strings.TrimSpace(v), " "); ok {
				add(token)
			}
		}
	}
	if pw, ok := req.URL.User.Password(); ok {
		// net/http sends it as Basic credentials, which a partner echoes
		// encoded.
		add(pw)
		add(base64.StdEncoding.EncodeToString([]byte(req.URL.User.Username() + ":" + pw)))
	}
	for _, vs := range req.URL.Query() {
		for _, v := range vs {
			add(v)
		}
	}
	// Longest first: a token inside its field's whole value is hidden
	// with it, not left as the value's remains.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// hideEchoes replaces in excerpt, a partner's answer, each of secrets
// with "(hidden)".
func hideEchoes(excerpt []byte, secrets []string) []byte {
	for _, s := range secrets {
		excerpt = bytes.ReplaceAll(excerpt, []byte(s), []byte("(hidden)"))
	}
	return excerpt
}

// setHeaders applies the payload's fields, then the configured headers.
func setHeaders(req *http.Request, fields []transport.Field, configured map[string]string) error {
	for _, f := range fields {
		if err := checkHeader(f.Name, f.Value); err != nil {
			return fmt.Errorf("payload header: %w", err)
		}
		req.Header.Add(f.Name, f.Value)
	}
	if err := checkConfigured(configured); err != nil {
		return err
	}
	// Sorted so that names differing only in case resolve the same way
	// every time.
	for _, name := range slices.Sorted(maps.Keys(configured)) {
		value := configured[name]
		if http.CanonicalHeaderKey(name) == "Host" {
			req.Host = value // net/http ignores a Host entry in req.Header
			continue
		}
		req.Header.Set(name, value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent)
	}
	return nil
}

// checkConfigured checks the configured headers (checkHeader), in the
// order of their names, so that the first one refused is always the same.
func checkConfigured(configured map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(configured)) {
		if err := checkHeader(name, configured[name]); err != nil {
			return fmt.Errorf("configured header: %w", err)
		}
	}
	return nil
}

// checkHeader rejects what would corrupt the request (CR, LF: header
// injection) or that net/http would refuse later with a vaguer error.
func checkHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("%w: empty header name", transport.ErrInvalidHeader)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("%w: header name %q is not a valid token", transport.ErrInvalidHeader, transport.Shorten(name, 60))
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("%w: header %q: value contains a control character", transport.ErrInvalidHeader, name)
		}
	}
	switch http.CanonicalHeaderKey(name) {
	case "Host":
		// net/http sends an empty Host instead of an invalid one: the
		// partner's default virtual host, not the configured one.
		if !validHost(value) {
			return fmt.Errorf("%w: header %q: value is not a host name and port", transport.ErrInvalidHeader, name)
		}
	case "Transfer-Encoding", "Upgrade":
		// net/http drops them over HTTP/1.1 and refuses the request over
		// HTTP/2 with an error that quotes the value: which one a partner
		// speaks must not decide whether a delivery can be sent.
		return fmt.Errorf("%w: header %q cannot be set: the transport manages the connection (bodies are sent with a Content-Length)",
			transport.ErrInvalidHeader, name)
	case "Connection":
		// The only values HTTP/2 takes (and ignores), for the same reason.
		if value != "" && !strings.EqualFold(value, "close") && !strings.EqualFold(value, "keep-alive") {
			return fmt.Errorf("%w: header %q: value can only be close or keep-alive", transport.ErrInvalidHeader, name)
		}
	}
	return nil
}

// validHost reports whether v may be a Host header as net/http checks it
// (httpguts.ValidHostHeader): the characters of RFC 3986's host and port,
// and non-ASCII ones, which net/http turns into punycode.
func validHost(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isTokenChar reports whether c may appear in an HTTP field name (RFC 9110
// token).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// sanitize renders the start of a response body for an error message:
// printable characters only (no terminal escapes, no bidi controls),
// whitespace runs collapsed to one space, at most max bytes, "..." when cut.
// more reports that b is only the start of the body.
func sanitize(b []byte, max int, more bool) string {
	var out strings.Builder
	space := false
	cut := false
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && more && !utf8.FullRune(b) {
			break // a character cut by the read limit
		}
		b = b[n:]
		var s string
		switch {
		case unicode.IsSpace(r):
			space = out.Len() > 0
			continue
		case r == utf8.RuneError || !unicode.IsPrint(r):
			s = "?"
		default:
			s = string(r)
		}
		if space {
			s = " " + s
			space = false
		}
		if out.Len()+len(s) > max {
			cut = true
			break
		}
		out.WriteString(s)
	}
	if cut || more {
		out.WriteString("...")
	}
	return out.String()
}

// maxPEMFile bounds a TLS file (a CA bundle, a certificate chain, a key):
// a public CA bundle is a few hundred KiB, and a path that names /dev/zero
// must end in an error.
const maxPEMFile = 4 << 20

// loadCAFile reads a PEM bundle of trust anchors into a fresh pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	data, err := fsop.ReadRegular(path, maxPEMFile)
	if err != nil {
		return nil, &FileError{Attribute: "ca_file", Err: fmt.Errorf("ca_file: %w", err)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, &FileError{Attribute: "ca_file", Err: fmt.Errorf("ca_file %s: no PEM certificate found", path)}
	}
	return pool, nil
}

// loadKeyPair loads a certificate and its key (a client's, a TLS receive
// location's). Errors name the files and never quote their contents:
// crypto/tls's messages mention PEM block types at most. They are
// *FileError, naming the attribute at fault.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := fsop.ReadRegular(certFile, maxPEMFile)
	if err != nil {
		return tls.Certificate{}, &FileError{Attribute: "cert_file", Err: fmt.Errorf("cert_file: %w", err)}
	}
	keyPEM, err := fsop.ReadRegular(keyFile, maxPEMFile)
	if err != nil {
		return tls.Certificate{}, &FileError{Attribute: "key_file", Err: fmt.Errorf("key_file: %w", err)}
	}
	// Check the certificate file on its own first, so that an error can
	// say which of the two files is wrong.
	if err := checkCertPEM(certPEM); err != nil {
		return tls.Certificate{}, &FileError{Attribute: "cert_file", Err: fmt.Errorf("cert_file %s: %w", certFile, err)}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls says only that it "failed to parse private key",
		// which reads as a corrupt file.
		if encryptedKeyPEM(keyPEM) {
			err = errors.New("the private key is encrypted (protected by a passphrase), which cannot be used: " +
				"store it unencrypted, readable only by the service account")
		}
		return tls.Certificate{}, &FileError{Attribute: "key_file", Err: fmt.Errorf("key_file %s (for cert_file %s): %w", keyFile, certFile, err)}
	}
	return cert, nil
}

// encryptedKeyPEM reports whether data holds an encrypted PEM private key:
// PKCS#8's ENCRYPTED PRIVATE KEY, or a traditional key with OpenSSL's
// Proc-Type: 4,ENCRYPTED header.
func encryptedKeyPEM(data []byte) bool {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return false
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" ||
			strings.HasSuffix(block.Type, "PRIVATE KEY") && (strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") || block.Headers["DEK-Info"] != "") {
			return true
		}
	}
}

// FileError is a TLS file that cannot be loaded.
type FileError struct {
	// Attribute names the file at fault: "ca_file", "cert_file" or
	// "key_file" (a key that does not match its certificate is the key's).
	Attribute string
	Err       error
}

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// CheckTLSFiles loads the TLS files of a transport as it loads them when it
// starts (a receive location's listener, a send port's client), for the
// live rules: each set one (caFile, and certFile with keyFile) is loaded.
// It returns the attribute of the file at fault and the error, which names
// the files but never quotes their content.
func CheckTLSFiles(caFile, certFile, keyFile string) (attribute string, err error) {
	if caFile != "" {
		if _, err := loadCAFile(caFile); err != nil {
			return fileAttribute(err, "ca_file"), err
		}
	}
	if certFile != "" && keyFile != "" {
		if _, err := loadKeyPair(certFile, keyFile); err != nil {
			return fileAttribute(err, "key_file"), err
		}
	}
	return "", nil
}

// fileAttribute is the attribute a *FileError names, or def.
func fileAttribute(err error, def string) string {
	var fe *FileError
	if errors.As(err, &fe) {
		return fe.Attribute
	}
	return def
}

// checkCertPEM requires at least one parsable CERTIFICATE block.
func checkCertPEM(data []byte) error {
	sawKey := false
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch {
		case block.Type == "CERTIFICATE":
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return fmt.Errorf("cannot parse certificate: %w", err)
			}
			return nil
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			sawKey = true
		}
	}
	if sawKey {
		return errors.New("holds a private key but no certificate (cert_file and key_file swapped?)")
	}
	return errors.New("no PEM certificate found")
}

// ClientOptions configures an HTTP transport (send_port transport "http").
type ClientOptions struct {
	Timeout time.Duration
	// CAFile, CertFile and KeyFile are PEM files: trust anchors for the
	// server, and a client certificate and key. Empty means system roots /
	// no client certificate.
	CAFile, CertFile, KeyFile string
	// SpoolDir is where request bodies larger than 1 MiB wait to be sent
	// (an unlinked file): a directory on disk, not a tmpfs. Empty means
	// os.TempDir().
	SpoolDir string
}
