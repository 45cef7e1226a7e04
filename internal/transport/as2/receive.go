package as2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	httptransport "github.com/bizpipe/bizpipe/internal/transport/http"
)

// ReceiveSpec declares transport "as2" of a receive location.
var ReceiveSpec = &component.Spec{
	Kind:    component.ReceiveTransport,
	Name:    "as2",
	Summary: "Receives AS2 messages (RFC 4130) from the parties and answers each with a synchronous MDN.",
	Doc: `A POST to path is accepted only when its AS2-To is the group's as2_id and
its AS2-From the as2_id of a declared party; any other is answered 403 and
nothing is stored. The body goes through the location's pipeline (typically
decoder "smime", which decrypts and verifies the parties' signatures) and is
stored in the message box before the answer is written.

When the sender asks for a receipt (Disposition-Notification-To), the answer
is the MDN, sent with a Content-Length: processed, with the
Received-Content-MIC of what was received (RFC 4130 §7.3.1, in the first of
the requested signed-receipt-micalg this version supports, else sha256),
signed with the group's signing certificate when the sender asks for a
signed receipt. A message the pipeline refuses (it cannot be decrypted, its
signature does not verify, it is signed by another party than its AS2-From)
is stored as received and suspended, and answered with a negative MDN
(processed/error: decryption-failed, authentication-failed,
insufficient-message-security or unexpected-processing-error). Without a
receipt request the answer is 200 with no body.

Asynchronous MDNs (Receipt-Delivery-Option) are not supported by this
version: such a request is answered 400 and nothing is stored, so the sender
sees the refusal at once. Other answers: 413 above max_body, 400 for missing
or malformed AS2 headers, 503 when the message box cannot store the message
(the sender sends again). A message sent again is stored again.`,
	Example: `transport "as2" {
  listen   = "0.0.0.0:4080"
  path     = "/as2"
  max_body = "64MiB"
  tls {
    cert_file = "as2.contoso.example.pem"
    key_file  = "as2.contoso.example.key"
  }
}`,
	Attributes: []component.Attribute{
		{Name: "listen", Type: component.String, Required: true,
			Doc: "The address to listen on, `host:port`."},
		{Name: "path", Type: component.String, Default: "/",
			Doc: "The request path that accepts AS2 POSTs."},
		{Name: "max_body", Type: component.Size, Default: int64(component.DefaultMaxMessageSize),
			Doc: "The largest body accepted; larger ones are answered 413 and not stored."},
	},
	Blocks: []component.BlockSpec{{
		Type: "tls",
		Doc:  "Serve HTTPS with this certificate instead of plain HTTP.",
		Attributes: []component.Attribute{
			{Name: "cert_file", Type: component.Path, Required: true, Doc: "PEM server certificate, intermediates after it."},
			{Name: "key_file", Type: component.Path, Required: true, Doc: "PEM private key of the server certificate."},
		},
	}},
	Decode: decodeReceive,
}

// ReceiveConfig is the typed configuration of a receiving AS2 transport.
type ReceiveConfig struct {
	Listen  value.Value[string]
	Path    value.Value[string]
	MaxBody value.Value[int64]
	// CertFile and KeyFile are the tls block's; unset without one.
	CertFile, KeyFile value.Value[string]
}

func decodeReceive(b *component.Body) component.Config {
	c := &ReceiveConfig{Listen: b.String("listen"), Path: b.String("path"), MaxBody: b.Size("max_body")}
	if c.Path.Usable() && !strings.HasPrefix(c.Path.V, "/") {
		b.Errorf(c.Path.Range, "Invalid value for path", "The path of %s must start with /.", b.What)
	}
	if t := b.Block("tls"); t != nil {
		c.CertFile, c.KeyFile = t.String("cert_file"), t.String("key_file")
	}
	return c
}

// Needs: the group signing certificate signs the MDNs a sender asks to be
// signed. Whether one will is known only per message, so every instance
// must have it (BP3001–BP3003).
func (c *ReceiveConfig) Needs() component.Needs {
	return component.Needs{Signing: component.Needed}
}

// AS2 tells the validation rules (BP7009) that this transport speaks AS2:
// the group needs an as2_id. A receiver has no partner of its own.
func (c *ReceiveConfig) AS2() component.AS2 { return component.AS2{} }

var _ component.AS2Config = (*ReceiveConfig)(nil)

// NewReceiver builds the receiver; it listens from Start on.
func (c *ReceiveConfig) NewReceiver(env *component.ReceiveEnv) (component.Receiver, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("receive location %q: as2: %s", env.Location, fmt.Sprintf(format, args...))
	}
	sink, ok := env.Sink.(component.OutcomeSink)
	if !ok {
		return nil, errf("the sink does not report decoding outcomes, which the MDN needs")
	}
	if env.AS2ID == "" {
		return nil, errf("the group has no as2_id")
	}
	if env.Keys.Signer == nil || env.Keys.Signer.Cert == nil || env.Keys.Signer.Key == nil {
		return nil, errf("no group signing certificate with its private key to sign MDNs with")
	}
	rc := &receiver{
		loc: env.Location, listen: c.Listen.V, path: c.Path.V, maxBody: c.MaxBody.V,
		certFile: c.CertFile.V, keyFile: c.KeyFile.V,
		contentType: env.ContentType, props: maps.Clone(env.Properties), sensitive: slices.Clone(env.SensitiveProperties),
		sink: sink, as2ID: env.AS2ID, parties: map[string]string{},
		keys: env.Keys,
	}
	if rc.path == "" {
		rc.path = "/"
	}
	if rc.maxBody <= 0 {
		rc.maxBody = int64(component.DefaultMaxMessageSize)
	}
	for party, id := range env.PartyAS2IDs {
		rc.parties[id] = party
	}
	rc.log = env.Log
	if rc.log == nil {
		rc.log = slog.New(slog.DiscardHandler)
	}
	rc.log = rc.log.With("receive_location", env.Location)
	return rc, nil
}

// receiver is a built AS2 receive transport.
type receiver struct {
	loc, listen, path string
	maxBody           int64
	certFile, keyFile string
	contentType       string
	props             map[string]string
	sensitive         []string
	sink              component.OutcomeSink
	as2ID             string
	parties           map[string]string // party name by as2_id
	log               *slog.Logger
	mu                sync.Mutex
	srv               *http.Server
	ln                net.Listener
	served            chan error
	cancel            context.CancelFunc

	// keys hold the MDN signing identity: the group's, or its
	// signing_rollover's from its at on (mdnSigner).
	keys component.Keys
}

// Start listens and serves in the background. Request contexts do not
// inherit ctx's cancellation, so that a stopping runner lets the requests
// in flight finish (Stop).
func (rc *receiver) Start(ctx context.Context) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.srv != nil {
		return fmt.Errorf("receive location %q: already started", rc.loc)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", rc.listen)
	if err != nil {
		return fmt.Errorf("receive location %q: listening on %s: %w", rc.loc, rc.listen, err)
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// The http receive transport's limits: its ReadTimeout bounds a whole
	// request, so that a trickling sender cannot hold a message-box
	// transaction open.
	srv := httptransport.NewServer(base, rc, rc.log)
	served := make(chan error, 1)
	go func() {
		var err error
		if rc.certFile != "" {
			err = srv.ServeTLS(ln, rc.certFile, rc.keyFile)
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			rc.log.Error("as2 receive location stopped serving", "error", err)
		}
		served <- err
	}()
	rc.srv, rc.ln, rc.served, rc.cancel = srv, ln, served, cancel
	rc.log.Info("as2 receive location listening", "addr", ln.Addr().String(), "path", rc.path, "tls", rc.certFile != "")
	return nil
}

// Stop stops accepting and waits, until ctx is done, for the requests in
// flight; those still running then are aborted (nothing stored, no MDN:
// the sender sends again).
func (rc *receiver) Stop(ctx context.Context) {
	rc.mu.Lock()
	srv, served, cancel := rc.srv, rc.served, rc.cancel
	rc.mu.Unlock()
	if srv == nil {
		return
	}
	if err := srv.Shutdown(ctx); err != nil {
		cancel()
		_ = srv.Close() // already failing; Close's error adds nothing
		rc.log.Warn("as2 receive location stopped with requests in flight", "error", err)
		return
	}
	cancel()
	<-served
	rc.log.Info("as2 receive location stopped")
}

// ServeHTTP handles one request (see ReceiveSpec's Doc).
func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != rc.path {
		plain(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		plain(w, http.StatusMethodNotAllowed, "method not allowed; use POST")
		return
	}
	log := rc.log.With("remote", r.RemoteAddr)
	req, err := as2.ParseRequest(r.Header)
	if err != nil {
		log.Warn("AS2 request refused: malformed AS2 headers", "error", err)
		plain(w, http.StatusBadRequest, "malformed AS2 headers: "+err.Error())
		return
	}
	log = log.With("as2_from", req.From, "as2_message_id", req.MessageID)
	// Identities are checked before reading the body: a stranger's
	// message is never decoded nor stored.
	party, known := rc.parties[req.From]
	if req.To != rc.as2ID || !known {
		log.Warn("AS2 request refused: not addressed to us by a declared party", "as2_to", req.To)
		plain(w, http.StatusForbidden, "unknown AS2-From or AS2-To")
		return
	}
	log = log.With("party", party)
	if req.Receipt == as2.ReceiptAsync {
		log.Warn("AS2 request refused: asynchronous MDN asked for", "receipt_delivery_option", req.AsyncURL)
		plain(w, http.StatusBadRequest, "asynchronous MDNs (Receipt-Delivery-Option) are not supported; ask for a synchronous MDN")
		return
	}
	if r.ContentLength > rc.maxBody {
		log.Warn("AS2 request refused: body too large", "size", r.ContentLength, "max_body", rc.maxBody)
		w.Header().Set("Connection", "close")
		plain(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", rc.maxBody))
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = rc.contentType
	} else if _, _, err := mime.ParseMediaType(ct); err != nil {
		log.Warn("AS2 request refused: malformed Content-Type", "error", err)
		plain(w, http.StatusBadRequest, "malformed Content-Type")
		return
	}
	in := msgbox.Incoming{
		ReceiveLocation:     rc.loc,
		ContentType:         ct,
		Properties:          maps.Clone(rc.props),
		SensitiveProperties: slices.Clone(rc.sensitive),
	}
	alg := req.Options.MICAlg()
	// The MIC of an unsigned, unencrypted message is over its body as
	// received (RFC 4130 §7.3.1); a location without a decoding pipeline
	// computes none, so the body is hashed on its way to the sink.
	hasher := alg.Hash().New()
	body := &limitedBody{r: http.MaxBytesReader(w, r.Body, rc.maxBody)}
	// The sink gets the whole MIME entity, its header fields as the HTTP
	// request carried them: an AS2 body is often base64 with the
	// Content-Transfer-Encoding only in the HTTP header (libas2 sends so).
	head := "Content-Type: " + ct + "\r\n"
	for _, f := range []string{"Content-Transfer-Encoding", "Content-Disposition"} {
		if v := r.Header.Get(f); v != "" {
			head += f + ": " + v + "\r\n"
		}
	}
	entity := io.MultiReader(strings.NewReader(head+"\r\n"), io.TeeReader(body, hasher))
	pub, err := rc.sink.PublishOutcome(r.Context(), in, entity, component.DecodeRequest{MICHash: alg.Hash(), Party: party})
	if err != nil {
		if body.tooLarge {
			log.Warn("AS2 request refused: body too large", "max_body", rc.maxBody)
			plain(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", rc.maxBody))
			return
		}
		log.Error("storing a received AS2 message failed", "error", fmt.Errorf("receive location %q, party %q: %w", rc.loc, party, err))
		w.Header().Set("Retry-After", "5")
		plain(w, http.StatusServiceUnavailable, "message not stored; try again later")
		return
	}
	log = log.With("message_id", pub.Message.ID)
	if req.Receipt == as2.ReceiptNone {
		log.Debug("AS2 message received without a receipt request")
		w.WriteHeader(http.StatusOK)
		return
	}
	m := &as2.MDN{OriginalRecipient: rc.as2ID, FinalRecipient: rc.as2ID, OriginalMessageID: req.MessageID, Disposition: as2.Processed()}
	switch {
	case pub.Refused != nil:
		m.Disposition = as2.ProcessedError(refusalDescription(pub.Refused))
		m.Text = "The message was received but not processed: " + m.Disposition.Description + "."
	case pub.MIC != nil:
		m.MIC = &as2.MIC{Alg: alg, Digest: pub.MIC}
	case !pub.Decoded:
		m.MIC = &as2.MIC{Alg: alg, Digest: hasher.Sum(nil)}
	}
	opts := as2.BuildOptions{From: rc.as2ID, To: req.From, Digest: alg}
	if req.Options.Signed {
		opts.Signer, err = rc.mdnSigner()
	}
	var built *as2.Built
	if err == nil {
		built, err = as2.BuildMDN(m, opts)
	}
	if err != nil {
		// The message is stored; without a receipt the sender will send
		// it again, which stores it again: the lesser harm than a
		// receipt we cannot stand behind.
		log.Error("building the MDN failed", "error", fmt.Errorf("receive location %q, party %q: %w", rc.loc, party, err))
		plain(w, http.StatusInternalServerError, "internal error")
		return
	}
	for k, vs := range built.Header {
		w.Header()[k] = vs
	}
	// libas2 parses the raw bytes of a sync MDN: never chunked.
	w.Header().Set("Content-Length", strconv.Itoa(len(built.Body)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(built.Body); err != nil {
		log.Warn("writing the MDN failed", "error", err)
	}
	log.Info("AS2 message received", "disposition", m.Disposition.String(), "signed_mdn", opts.Signer != nil)
}

// refusalDescription is the MDN's processed/error description for a
// decoder's refusal (RFC 4130 §7.4.3, RFC 3335).
func refusalDescription(err error) string {
	switch {
	case errors.Is(err, component.ErrDecryptionFailed):
		return "decryption-failed"
	case errors.Is(err, component.ErrAuthenticationFailed):
		return "authentication-failed"
	case errors.Is(err, component.ErrInsufficientSecurity):
		return "insufficient-message-security"
	}
	return "unexpected-processing-error"
}

// limitedBody remembers that the body went over max_body, whatever the
// sink made of the error.
type limitedBody struct {
	r        io.Reader
	tooLarge bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.tooLarge = true
	}
	return n, err
}

// plain answers with a short text that reveals no internals.
func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// mdnSigner is the identity an MDN built now is signed with: the group
// signing certificate, or the signing_rollover's from its at on (language
// §12), so that a running receiver switches without a restart.
func (rc *receiver) mdnSigner() (*smime.Signer, error) {
	id, err := rc.keys.CurrentSigner()
	if err != nil {
		return nil, err
	}
	return &smime.Signer{Cert: id.Cert, Key: id.Key, Chain: id.Chain}, nil
}
