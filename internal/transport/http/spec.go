// Package http is the HTTP transport component: transport "http" in a
// receive location (accept POSTs) and in a send port (POST each message).
package http

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// ReceiveSpec declares transport "http" of a receive location.
var ReceiveSpec = &component.Spec{
	Kind:    component.ReceiveTransport,
	Name:    "http",
	Summary: "Listens for HTTP POSTs and receives each request body as a message.",
	Doc: `A POST to path is answered 202 Accepted, with the message id in the
Bizpipe-Message-Id header, only once the message is stored in the message
box; a client that got no 202 must send again. A client that sends an
Idempotency-Key header may repeat a POST whose answer it lost: the repeat is
answered with the first message's id (and Idempotent-Replayed: true) instead
of being stored twice. A repeat must carry the same body: one whose body
differs (by length or content, compared by SHA-256) is answered 422
Unprocessable Content, with a JSON error naming the key, and is not stored.
A message the location's pipeline refused (suspended, never routed) does not
hold its key, as an AS2 Message-ID is not held: sent again with it once the
cause is fixed, it is stored as a new message and decoded again, and junk
that anyone sent first under a partner's key does not refuse the partner's
message.

Other answers: 413 above max_body; 411 to a POST that declares neither
Content-Length nor chunked encoding; 408 when a body brings no byte for 30 s,
or when the whole request takes longer than request_timeout (the answer
says which); 503 when the message box cannot store it (or cannot tell
whether it did, when syncing its log failed: the answer then says so, and
that a repeat is stored once only with the same Idempotency-Key), or when
the uploads
in flight, to every http and as2 receive location of the run together,
already hold their 64 MiB of memory for 30 s (the last MiB of it is kept
for one upload at a time to finish its first MiB, so that uploads
arriving together do not stall one another), or when run stops before the
upload ends, or while the message is still being stored 2 s after the
stop's grace (each with Retry-After); 405, with Allow, to another method;
404 to another path. GET /healthz answers "ok". Request headers never set
message properties: routing must not be decided by the client.

Bodies are JSON (application/json): {"id": "MESSAGE-ID"} with a 202, and
{"error": "WHY"} with every refusal.

The message's content type is the request's Content-Type (a malformed one
is answered 400), or the location's content_type when the request has
none. With request_content_type = "ignore" it is always the location's
content_type: a client cannot change how the message is labelled, for
instance the text/plain that makes the S/MIME encoder canonicalise line
ends.`,
	Example: `transport "http" {
  listen   = "127.0.0.1:8080"
  path     = "/orders"
  max_body = "64MiB"
}`,
	Attributes: []component.Attribute{
		{Name: "listen", Type: component.String, Required: true,
			Doc: "The address to listen on, `host:port`."},
		{Name: "path", Type: component.String, Default: "/",
			Doc: "The request path that accepts POSTs."},
		{Name: "max_body", Type: component.Size, Default: int64(component.DefaultMaxMessageSize),
			Doc: "The largest body accepted; larger ones are answered 413 and not stored. Left out, the group's `max_message_size` (1 GiB unless the group sets it), so that a body the engine would suspend as too large is refused as it arrives. It bounds the body as it arrives: where a pipeline decodes it (S/MIME, base64 adds a third), write a larger `max_body` to take messages whose decoded size comes near `max_message_size`."},
		RequestTimeoutAttribute,
		MaxConnectionsAttribute,
		{Name: "request_content_type", Type: component.Enum, Default: "use", Values: []string{"use", "ignore"},
			Doc: `Whether the request's Content-Type labels the message ("use", the location's content_type when it has none) or not ("ignore": always the location's content_type).`},
	},
	Decode: decodeReceive,
}

// ReceiveConfig is the typed configuration of a receiving HTTP transport.
type ReceiveConfig struct {
	Listen             value.Value[string]
	Path               value.Value[string]
	MaxBody            value.Value[int64]
	RequestContentType value.Value[string] // "use" or "ignore"
	RequestTimeout     value.Value[time.Duration]
	MaxConnections     value.Value[int]
}

func decodeReceive(b *component.Body) component.Config {
	c := &ReceiveConfig{Listen: b.String("listen"), Path: b.String("path"), MaxBody: b.Size("max_body"),
		RequestContentType: b.String("request_content_type"), RequestTimeout: b.Duration("request_timeout"),
		MaxConnections: b.Int("max_connections")}
	CheckRequestTimeout(b, c.RequestTimeout)
	CheckMaxConnections(b, c.MaxConnections)
	CheckListen(b, c.Listen)
	if CheckPath(b, c.Path) && c.Path.V == HealthPath {
		b.Errorf(c.Path.Range, "Invalid value for path",
			"The path of %s is %s, which every http receive location answers itself, for health checks; choose another.", b.What, HealthPath)
	}
	return c
}

// CheckPath reports the path of a receive location over HTTP (this one's
// or AS2's) that its listener would refuse when run starts it: one that
// does not begin with /. It returns whether the path is known and valid.
func CheckPath(b *component.Body, v value.Value[string]) bool {
	if !v.Usable() {
		return false
	}
	if !strings.HasPrefix(v.V, "/") {
		b.Errorf(v.Range, "Invalid value for path", "The path of %s must start with /.", b.What)
		return false
	}
	return true
}

// CheckListen reports the listen address of a receive location over HTTP
// (this one's or AS2's) that its listener cannot listen on, whatever the
// machine, when run starts it (ListenAddressError), and an empty one: a
// listener would take every address and a port the system chooses, which
// no client or partner could be told.
func CheckListen(b *component.Body, v value.Value[string]) {
	if !v.Usable() {
		return
	}
	if v.V == "" {
		b.Errorf(v.Range, "Invalid value for listen",
			"The listen address of %s is empty: give host:port, such as \"127.0.0.1:8080\" or \"0.0.0.0:8080\".", b.What)
		return
	}
	if err := ListenAddressError(v.V); err != nil {
		reason := err.Error()
		if v.Sensitive {
			reason = "it is not"
		}
		b.Errorf(v.Range, "Invalid value for listen",
			"The listen address of %s must be host:port, such as \"127.0.0.1:8080\" or \"0.0.0.0:8080\", with a port from 0 to 65535; %s.", b.What, reason)
	}
}

// ListenAddressError is why net.Listen refuses addr on every machine:
// it is not host:port (a port missing, an IPv6 address without its
// brackets), or its port is a number outside 0 to 65535. nil otherwise,
// also for what depends on the machine (a host name to resolve, an
// address not of this machine, a port given by service name), and for "",
// which net.Listen takes (every address, a port the system chooses) but
// the listeners refuse (CheckListen).
func ListenAddressError(addr string) error {
	if addr == "" {
		return nil // every address, a port chosen by the system
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err)
		}
		return err
	}
	digits := strings.TrimPrefix(strings.TrimPrefix(port, "+"), "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return nil // "" is port 0; a name is looked up
	}
	if n, err := strconv.ParseUint(digits, 10, 16); err != nil || (port[0] == '-' && n != 0) {
		return fmt.Errorf("port %s is not from 0 to 65535", port)
	}
	return nil
}

// RequestTimeoutAttribute is request_timeout, of the receive locations
// over HTTP (this one's and AS2's: the same Listener limits, Body).
var RequestTimeoutAttribute = component.Attribute{Name: "request_timeout", Type: component.Duration, Default: DefaultRequestTimeout,
	Doc: "The longest a whole request may take, body included; a slower one is answered 408 and not stored. The default lets a 1 GiB body arrive at 300 kB/s; a client that stops sending is cut off after 30 s whatever this is."}

// MaxConnectionsAttribute is max_connections, of the receive locations
// over HTTP (this one's and AS2's: the same Serving).
var MaxConnectionsAttribute = component.Attribute{Name: "max_connections", Type: component.Int, Default: DefaultMaxConnections,
	Doc: "How many connections may be open at once. At the cap, a new client is taken in place of the connection idle the longest between requests (for a second at least), which is closed; when none is, new connections wait in the system's queue until one closes or goes idle, and the location logs a warning (at most once a minute). Each open connection costs memory and a file descriptor that the rest of the server shares. Over TLS, where clients may speak HTTP/2, one connection carries at most 8 requests at once, so the cap bounds the requests in flight too."}

// CheckMaxConnections reports a max_connections (MaxConnectionsAttribute)
// below 1.
func CheckMaxConnections(b *component.Body, v value.Value[int]) {
	if v.Usable() && v.V < 1 {
		b.Errorf(v.Range, "Invalid value for max_connections", "The max_connections of %s must be at least 1.", b.What)
	}
}

// CheckRequestTimeout reports a request_timeout (RequestTimeoutAttribute)
// that is not positive.
func CheckRequestTimeout(b *component.Body, v value.Value[time.Duration]) {
	if v.Usable() && v.V <= 0 {
		b.Errorf(v.Range, "Invalid value for request_timeout", "The request_timeout of %s must be positive.", b.What)
	}
}

// CheckTLSScheme warns (BP1010) of b's tls block when url is certainly
// http://: the partner is then reached in clear, and the block's trust
// anchors and client certificate, which the user wrote to protect that
// traffic, are not used for it. A url whose scheme validate cannot know (a
// variable without a value, an interpolated scheme) is not judged.
func CheckTLSScheme(b *component.Body, url value.Value[message.Template]) {
	t := b.Block("tls")
	if t == nil || !url.Usable() {
		return
	}
	if scheme, ok := TemplateScheme(url.V); !ok || scheme != "http" {
		return
	}
	b.Warnf(diag.CodeTLSUnused, t.Range, "tls block on an http:// url",
		"The url of %s is http://, so its requests reach the partner in clear: the tls block's trust anchors and client certificate are not used for them. Use an https:// url, or remove the tls block.", b.What)
}

// CheckURLScheme refuses (BP1004) a url template that reads the message
// but whose leading literal text already gives a scheme other than http
// and https ("ftp://partner.example/${message.id}"): every delivery would
// refuse the url it makes, and suspend its message, as validate refuses
// such a constant url. A constant url is judged as a whole, by the
// transport's decode.
func CheckURLScheme(b *component.Body, url value.Value[message.Template]) {
	if !url.Usable() {
		return
	}
	if k, ok := url.V.(message.Constant); ok {
		if _, constant := k.ConstantText(); constant {
			return
		}
	}
	if scheme, ok := TemplateScheme(url.V); ok && scheme != "http" && scheme != "https" {
		b.Errorf(url.Range, "Invalid value for url",
			"The url of %s cannot be sent: every url it makes has the scheme %q, and only http and https are supported.",
			b.What, transport.Shorten(scheme, 20))
	}
}

// TemplateScheme returns the scheme, in lower case, of the URLs template
// t makes, when known before any message: from its value when it reads
// nothing of the message (a sensitive one too: the scheme is not quoted),
// else from its leading literal.
func TemplateScheme(t message.Template) (string, bool) {
	text := ""
	if k, ok := t.(message.Constant); ok {
		if v, ok := k.ConstantText(); ok {
			text = v.Value
		}
	}
	if p, ok := t.(message.Prefixed); ok && text == "" {
		text = p.LiteralPrefix()
	}
	i := strings.IndexByte(text, ':')
	if i <= 0 || !isScheme(text[:i]) {
		return "", false
	}
	return strings.ToLower(text[:i]), true
}

// isScheme reports whether s is an RFC 3986 scheme: a letter, then
// letters, digits, "+", "-" or ".".
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// Needs: a plain HTTP transport uses no key.
func (c *ReceiveConfig) Needs() component.Needs { return component.Needs{} }

// ListenAddress is listen: no two locations on one server listen on one
// address.
func (c *ReceiveConfig) ListenAddress() value.Value[string] { return c.Listen }

var _ component.ListenConfig = (*ReceiveConfig)(nil)

// uploadsKey names the memory budget every receiver over HTTP of a run
// shares.
const uploadsKey = "http.uploads"

// SharedBudget is the Budget of the uploads in flight that every receive
// location over HTTP of env's run shares (this transport's and AS2's): one
// bound on what they hold in memory together, whichever gets the flood. A
// new Budget, this location's alone, when env shares nothing.
func SharedBudget(env *component.ReceiveEnv) *Budget {
	if env.Shared == nil {
		return NewBudget(DefaultInFlightBytes)
	}
	return env.Shared(uploadsKey, func() any { return NewBudget(DefaultInFlightBytes) }).(*Budget)
}

// NewReceiver builds the listener; it listens from Start on.
func (c *ReceiveConfig) NewReceiver(env *component.ReceiveEnv) (component.Receiver, error) {
	o := ListenerOptions{
		Location:            env.Location,
		Listen:              c.Listen.V,
		Path:                c.Path.V,
		MaxBody:             env.MaxBody(c.MaxBody),
		ContentType:         env.ContentType,
		IgnoreContentType:   c.RequestContentType.V == "ignore",
		RequestTimeout:      c.RequestTimeout.V,
		MaxConnections:      c.MaxConnections.V,
		Properties:          env.Properties,
		SensitiveProperties: env.SensitiveProperties,
		Budget:              SharedBudget(env),
	}
	h, err := NewListener(o, env.Sink, env.Log)
	if err != nil {
		return nil, err
	}
	return &receiver{h: h}, nil
}

type receiver struct{ h *Listener }

func (r *receiver) Start(ctx context.Context) error { return r.h.Start(ctx) }
func (r *receiver) Stop(ctx context.Context)        { _ = r.h.Shutdown(ctx) }

// SendSpec declares transport "http" of a send port.
var SendSpec = &component.Spec{
	Kind:    component.SendTransport,
	Name:    "http",
	Summary: "POSTs each message to a URL.",
	Doc: `The entity's top-level MIME header fields become HTTP headers and its body
the request body; the configured headers replace fields of the same name. A
2xx answer delivers the message (at least once: an answer lost after the
partner processed the request leads to a retry). Any other answer, a
network failure or a timeout fails the attempt, which is retried; a partner
that answers 429 or 503 with Retry-After is given that longer wait, up to a
day. Redirects are not followed.

Requests go through the proxy that HTTPS_PROXY (for an https:// url) or
HTTP_PROXY (for an http:// one) names, credentials included, unless
NO_PROXY lists the host; the lower-case names are read too. A loopback host
(localhost, 127.0.0.1, ::1) is always reached directly. The tls block's
ca_file and client certificate also serve an https:// proxy.

url is a template over the message: use urlencode() for values from the
message. A url that is not a valid http or https URL, or whose scheme or
host derive from the message's file name or content type, suspends the
delivery without sending anything.`,
	Example: `transport "http" {
  url     = "https://partner.example/as2?file=${urlencode(message.file_name)}"
  headers = { "X-Partner" = "fabrikam" }
  timeout = "30s"
  tls {
    ca_file = "partner-ca.pem"
  }
}`,
	Attributes: []component.Attribute{
		{Name: "url", Type: component.Template, Required: true, Credential: component.CredentialURLPassword,
			Doc: "The URL to POST to, a template over the message."},
		{Name: "headers", Type: component.TemplateMap, Credential: component.CredentialHeaders,
			Doc: "Request headers, each value a template over the message. The transport manages the connection: Transfer-Encoding and Upgrade cannot be set, and Connection only to close or keep-alive."},
		{Name: "timeout", Type: component.Duration, Default: DefaultTimeout,
			Doc: "How long one attempt may take, from connecting to the answer's headers, the sending of the body included: allow for the largest message at the partner's speed."},
	},
	Blocks: []component.BlockSpec{TLSBlock},
	Decode: decodeSend,
}

// TLSBlock is the tls { } block of a sending transport over HTTP (this one,
// and AS2's, which sends with this package's Client).
var TLSBlock = component.BlockSpec{
	Type: "tls",
	Doc:  "TLS material: the partner's trust anchors and a client certificate, for an https:// url (with an http:// one they are not used: warning BP1010).",
	Attributes: []component.Attribute{
		{Name: "ca_file", Type: component.Path, Doc: "PEM certificates to trust instead of the system's roots."},
		{Name: "cert_file", Type: component.Path, Doc: "PEM client certificate (with key_file)."},
		{Name: "key_file", Type: component.Path, Doc: "PEM private key of the client certificate (with cert_file)."},
	},
}

// SendConfig is the typed configuration of a sending HTTP transport.
type SendConfig struct {
	URL     value.Value[message.Template]
	Headers value.Value[map[string]message.Template]
	Timeout value.Value[time.Duration]
	// CAFile, CertFile and KeyFile are the tls block's; unset without one.
	CAFile, CertFile, KeyFile value.Value[string]
}

func decodeSend(b *component.Body) component.Config {
	c := &SendConfig{URL: b.Template("url"), Headers: b.TemplateMap("headers"), Timeout: b.Duration("timeout")}
	if k, ok := c.URL.V.(message.Constant); c.URL.Usable() && ok {
		// A constant url is judged now, as every delivery would judge it
		// (and suspend every message); one that reads the message, when
		// it is evaluated.
		if u, ok := k.ConstantText(); ok {
			origin := transport.Origin{Sensitive: u.Sensitive, SensitiveAt: u.SensitiveAt}
			if _, err := parseHTTPURL(u.Value, origin); err != nil {
				b.Errorf(c.URL.Range, "Invalid value for url", "The url of %s cannot be sent: %s.", b.What,
					strings.TrimPrefix(err.Error(), transport.ErrInvalidURL.Error()+": "))
			}
		}
	}
	CheckURLScheme(b, c.URL)
	CheckHeaders(b, "headers", c.Headers)
	c.CAFile, c.CertFile, c.KeyFile = DecodeTLS(b)
	CheckTLSScheme(b, c.URL)
	return c
}

// DecodeTLS decodes b's TLSBlock: its files, unset without one. A client
// certificate without its key, or a key without its certificate, is an
// error.
func DecodeTLS(b *component.Body) (caFile, certFile, keyFile value.Value[string]) {
	t := b.Block("tls")
	if t == nil {
		return
	}
	caFile, certFile, keyFile = t.String("ca_file"), t.String("cert_file"), t.String("key_file")
	if certFile.Set != keyFile.Set {
		t.Errorf(t.Range, "Incomplete client certificate",
			"The tls block of %s sets only one of cert_file and key_file; a client certificate needs both.", b.What)
	}
	return
}

// Needs: a plain HTTP transport uses no key.
func (c *SendConfig) Needs() component.Needs { return component.Needs{} }

// Live: the tls block's files, loaded when the port's client is built.
func (c *SendConfig) Live() component.Live { return LiveTLS(c.CAFile, c.CertFile, c.KeyFile) }

var _ component.LiveConfig = (*SendConfig)(nil)

// LiveTLS is the component.Live of a transport's tls block (this one's, and
// AS2's in a send port or a receive location): its files, loaded as the
// transport loads them when it starts. Nothing without a file set.
func LiveTLS(caFile, certFile, keyFile value.Value[string]) component.Live {
	attrs := map[string]value.Value[string]{}
	for name, v := range map[string]value.Value[string]{"ca_file": caFile, "cert_file": certFile, "key_file": keyFile} {
		if v.Set {
			attrs[name] = v
		}
	}
	if len(attrs) == 0 {
		return component.Live{}
	}
	return component.Live{Files: []component.LiveFiles{{Block: "tls", Attributes: attrs,
		Load: func() (string, error) { return CheckTLSFiles(caFile.V, certFile.V, keyFile.V) }}}}
}

// NewSender builds the sender, with its connection pool.
func (c *SendConfig) NewSender(env *component.SendEnv) (component.Sender, error) {
	h, err := NewClient(ClientOptions{Timeout: c.Timeout.V, CAFile: c.CAFile.V, CertFile: c.CertFile.V, KeyFile: c.KeyFile.V, SpoolDir: env.SpoolDir})
	if err != nil {
		return nil, err
	}
	return &sender{h: h, target: NewTarget(c.URL.V, c.Headers.V)}, nil
}

// sender adapts Client to component.Sender.
type sender struct {
	h      *Client
	target *Target
}

// Close closes the idle connections of the port's pool.
func (s *sender) Close() error {
	s.h.Close()
	return nil
}

// Target is where a send over HTTP goes, compiled: the url and headers of
// this transport, and of as2, which sends with this package's Client.
type Target struct {
	url     message.Template
	headers map[string]message.Template
	// names are the headers' names, in the order they are evaluated (the
	// first failure is the one reported).
	names []string
}

// NewTarget returns the Target of url and headers (none when nil).
func NewTarget(url message.Template, headers map[string]message.Template) *Target {
	return &Target{url: url, headers: headers, names: slices.Sorted(maps.Keys(headers))}
}

// Eval evaluates the url and headers for d (Client.Begin checks the url).
// A failure repeats at every attempt: it is Permanent.
func (t *Target) Eval(d *component.Delivery) (transport.Delivery, error) {
	sd := transport.Delivery{ID: d.ID, MessageID: d.Message.ID, Port: d.Port, Fence: d.Fence}
	u, err := t.url.Eval(d.Message)
	if err != nil {
		return sd, component.Permanent(fmt.Errorf("url of send port %q: %w", d.Port, err))
	}
	sd.URL = u.Value
	sd.URLOrigin = transport.Origin{Sensitive: u.Sensitive, SensitiveAt: u.SensitiveAt,
		FromSender: u.FromSender, FromSenderAt: u.FromSenderAt}
	sd.Headers = make(map[string]string, len(t.names))
	for _, k := range t.names {
		v, err := t.headers[k].Eval(d.Message)
		if err != nil {
			return sd, component.Permanent(fmt.Errorf("header %s of send port %q: %w", k, d.Port, err))
		}
		sd.Headers[k] = v.Value
		sd.HeadersSensitive = sd.HeadersSensitive || v.Sensitive
	}
	return sd, nil
}

func (s *sender) Begin(ctx context.Context, d *component.Delivery, h component.Header) (component.Attempt, error) {
	sd, err := s.target.Eval(d)
	if err != nil {
		return nil, err
	}
	w, err := s.h.Begin(ctx, sd, transport.Fields(h))
	if err != nil {
		return nil, transport.PermanentError(err)
	}
	return transport.Attempt(w), nil
}

var _ component.TargetDescriber = (*SendConfig)(nil)

// DescribeTarget is where d would be posted (bizpipe route): its URL and
// headers evaluated and checked as a delivery's are before anything is
// sent.
func (c *SendConfig) DescribeTarget(d *component.Delivery) (string, error) {
	sd, err := NewTarget(c.URL.V, c.Headers.V).Eval(d)
	if err != nil {
		return "", err
	}
	return Describe(sd)
}
