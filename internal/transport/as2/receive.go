package as2

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	httptransport "github.com/bizpipe/bizpipe/internal/transport/http"
)

// ReceiveSpec declares transport "as2" of a receive location.
var ReceiveSpec = &component.Spec{
	Kind:    component.ReceiveTransport,
	Name:    "as2",
	Summary: "Receives AS2 messages (RFC 4130) from the parties and answers each with an MDN, synchronously or asynchronously.",
	Doc: `A POST to path is accepted only when its AS2-To is the group's as2_id and
its AS2-From the as2_id of a declared party; any other is answered 403 and
nothing is stored. The body goes through the location's pipeline (typically
decoder "smime", which decrypts and verifies the parties' signatures), which
reads it with the request's Content-Type, Content-Transfer-Encoding and
Content-Disposition as its MIME header, and is stored in the message box
before the answer is written; that MIME entity, header and body, is what
bizpipe messages body --as-received writes (and messages body, for a
message the pipeline refused). Without a pipeline, the body is stored as it
arrived, its Content-Type as the message's content type.

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

A message encrypted with a CBC cipher (EnvelopedData: AES-CBC, 3DES),
which has no integrity of its own, is refused with decryption-failed
whatever failed at or after its decryption: the padding, the MIME entity
decrypted, its signature, its signer (but for a signer of another party
than the AS2-From, authentication-failed: its signature verified). The MDN
is then the same as for a bad padding, lest it tell an attacker replaying
a captured message with altered blocks whether the padding was valid (a
padding oracle, which decrypts the message); the reason the message is
suspended with still says what failed. Nor does its time tell: a bad
padding is refused only after the content was decoded as a good
padding's is. For the same reason, a
multipart/signed decrypted from CBC must end at its close delimiter, white
space aside: anything else after it (blocks appended to the ciphertext) is
refused so; and the header sections decrypted from CBC that no signature
covers (the decrypted entity's, its signature part's) must be printable
US-ASCII, lest ciphertext blocks copied into a header field's value be
accepted or refused by whether their plaintext holds a line feed. AES-GCM messages are answered with the precise disposition. A
location that does not verify accepts any padding-valid CBC content as the
message: require the signature (verify = true) or AES-GCM to refuse an
altered one.

When the sender asks for an asynchronous MDN (Receipt-Delivery-Option, an
http or https URL), the request is answered 200 with no body as soon as the
message and its MDN are stored; the MDN is then POSTed to that URL from the
message box, with a Content-Length, up to async_mdn_attempts times
async_mdn_interval apart, also after a restart. Up to 16 MDNs are POSTed
at once, each for at most 60 seconds: an address that never answers holds
one of those places, not the others. The MDNs of messages whose signature
verified as their party's go first; those of the others (unsigned,
refused, or a repeated Message-ID), which anyone who can reach the
location can ask for, take at most 8 places, so that requests naming
addresses that never answer cannot hold up partners' MDNs (see
SECURITY.md). An answer's
header is read up to 64 KiB, and an idle connection to an address is
closed after 90 seconds. Redirects are not followed and no proxy is used:
the MDN goes to the URL the sender gave, nowhere else.

The location also takes the asynchronous MDNs our own send ports asked
for (mdn = "async"): a POST from a declared party whose body is a
multipart/report, signed or not, is not a message: it is not stored nor
run through the pipeline (MDNs are never encrypted), but handed to the
send port awaiting it, found by its Original-Message-ID in the message
box, which settles the delivery, whichever server sharing the box runs
the port. That field names it: it
needs no Message-ID of its own (some products send none), which every
message needs. It is never answered with an MDN, even when it asks for
one (RFC 3798 §2.1: no receipt for a receipt, lest two servers answer
each other's without end). It is answered 200 once judged, whatever the
verdict; 400 when it names no delivery that awaits one; 503 with a
Retry-After when its delivery is being sent, by this server or by
another sharing the message box (an MDN may come before the partner
answers the message, or while the message is sent again): it is waited
for up to 5 seconds, then the partner is asked to send it again, as
partners retry a 503 and seldom a 4xx. Up to 16 MDNs whose delivery
is not this server's own send wait at once, polling the message box; one
more is answered 503 at once. An MDN for a
delivery that awaits none any more changes nothing: a copy of the MDN
the delivery keeps (the same disposition and Received-Content-MIC,
however built anew: a partner whose first POST lost our answer sends it
again) is answered 200; another, for a delivery delivered, suspended or
terminated, contradicts the MDN it keeps (a partner's fault, or a
forgery) and is answered 409, logged as a warning.

A message is stored once per Message-ID and party: a repeat (the sender did
not get our answer) is not stored again, and is answered with the MDN the
first one got, synchronously or at the repeat's Receipt-Delivery-Option
(with one built for it, as it asks, when the first one asked for none).
Only a message the pipeline accepts holds its Message-ID: AS2 headers are
anyone's to write, so one the pipeline refuses is stored and suspended on
its own, and the party's message sent under the same Message-ID later is
received as usual. A repeat is the same content, by its
Received-Content-MIC; the same Message-ID with another content is not
stored and is refused with that Message-ID named: a processed/error MDN
(unexpected-processing-error) when the sender waits for a synchronous one,
else 409 (what is kept for the first message stays as it was). The same
Message-ID with a content that cannot be compared (the first message asked
for no MDN, or this one asks for none, and the two ask for different MIC
algorithms) is refused likewise, rather than acknowledged unseen. What a
repeat is judged by, the MDN of the first message (for one that asked for
none, the MDN that would have answered it, kept unsent as the record of
its content), is stored in the transaction that stores the message: a
repeat that finds the message finds it too, also on another server
sharing the message box. A message whose MDN cannot be built is not
stored either, and is answered 503.

Other answers: 413 above max_body, 411 to a POST, message or MDN, that
declares neither Content-Length nor chunked encoding, 400 for missing or
malformed AS2 headers, 503 when the message box cannot store the message or
its MDN (the sender sends again), or, with Retry-After, when the uploads in
flight already hold their 64 MiB of memory for 30 s (the last MiB of it is kept
for one upload at a time to finish its first MiB, so that uploads
arriving together do not stall one another): a budget this location
shares with every http and as2 receive location of the run. A body that
brings no byte for 30 s, or a request that takes longer than
request_timeout, is answered 408 (the answer and the log say which); nothing
of it is stored. When run stops, a message or an asynchronous MDN still
arriving gets 30 s to finish; one still arriving then is answered 503
with Retry-After, and nothing of it is stored or settled: the sender sends
it again. A message that had arrived whole is
stored and answered as usual, unless it is still being stored 2 s after
that: then nothing of it is stored either, and it is answered 503 with
Retry-After. Should the stop cut an answer off, the message sent again is
a repeat, answered with its MDN.

With a tls block (cert_file and key_file), the certificate and key are
loaded as the location starts: ones that cannot be loaded stop run from
starting, with an error naming the location and the files, rather than
leave a port open that answers nobody. validate --live, and run at its
start, load them the same way beforehand (BP6007); bizpipe run --once,
which starts no listener, relies on that check.`,
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
			Doc: "The largest body accepted; larger ones are answered 413 and not stored. Left out, the group's `max_message_size` (1 GiB unless the group sets it), so that a body the engine would suspend as too large is refused as it arrives. It bounds the body as it arrives: where a pipeline decodes it (S/MIME, base64 adds a third), write a larger `max_body` to take messages whose decoded size comes near `max_message_size`."},
		httptransport.RequestTimeoutAttribute,
		httptransport.MaxConnectionsAttribute,
		{Name: "async_mdn_attempts", Type: component.Int, Default: DefaultAsyncMDNAttempts,
			Doc: "How many times an asynchronous MDN is POSTed before the location gives up on it."},
		{Name: "async_mdn_interval", Type: component.Duration, Default: DefaultAsyncMDNInterval,
			Doc: "How long to wait between two POSTs of an asynchronous MDN."},
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
	// RequestTimeout bounds a whole request, message or asynchronous
	// MDN, as the http transport's.
	RequestTimeout value.Value[time.Duration]
	// MaxConnections caps the open connections, as the http
	// transport's.
	MaxConnections value.Value[int]
	// AsyncMDNAttempts and AsyncMDNInterval are the retries of an
	// asynchronous MDN's POST.
	AsyncMDNAttempts value.Value[int]
	AsyncMDNInterval value.Value[time.Duration]
	// CertFile and KeyFile are the tls block's; unset without one.
	CertFile, KeyFile value.Value[string]
}

func decodeReceive(b *component.Body) component.Config {
	c := &ReceiveConfig{Listen: b.String("listen"), Path: b.String("path"), MaxBody: b.Size("max_body"),
		RequestTimeout: b.Duration("request_timeout"), MaxConnections: b.Int("max_connections"),
		AsyncMDNAttempts: b.Int("async_mdn_attempts"), AsyncMDNInterval: b.Duration("async_mdn_interval")}
	httptransport.CheckRequestTimeout(b, c.RequestTimeout)
	httptransport.CheckMaxConnections(b, c.MaxConnections)
	if c.AsyncMDNAttempts.Usable() && c.AsyncMDNAttempts.V < 1 {
		b.Errorf(c.AsyncMDNAttempts.Range, "Invalid value for async_mdn_attempts", "The async_mdn_attempts of %s must be at least 1.", b.What)
	}
	if c.AsyncMDNInterval.Usable() && c.AsyncMDNInterval.V <= 0 {
		b.Errorf(c.AsyncMDNInterval.Range, "Invalid value for async_mdn_interval", "The async_mdn_interval of %s must be positive.", b.What)
	}
	httptransport.CheckListen(b, c.Listen)
	httptransport.CheckPath(b, c.Path)
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

// ListenAddress is listen: no two locations on one server listen on one
// address.
func (c *ReceiveConfig) ListenAddress() value.Value[string] { return c.Listen }

var _ component.ListenConfig = (*ReceiveConfig)(nil)

// Live: the tls block's certificate and key, loaded as the listener loads
// them when the location starts (bizpipe run, not run --once, which starts
// no listener: the live rules check them for both).
func (c *ReceiveConfig) Live() component.Live {
	return httptransport.LiveTLS(value.Value[string]{}, c.CertFile, c.KeyFile)
}

var _ component.LiveConfig = (*ReceiveConfig)(nil)

// AS2 tells the validation rules (BP7009) that this transport speaks AS2:
// the group needs an as2_id. A receiver has no partner of its own.
func (c *ReceiveConfig) AS2() component.AS2 { return component.AS2{Path: c.Path} }

var _ component.AS2Config = (*ReceiveConfig)(nil)

// NewReceiver builds the receiver; it listens from Start on.
func (c *ReceiveConfig) NewReceiver(env *component.ReceiveEnv) (component.Receiver, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("as2: %s", fmt.Sprintf(format, args...))
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
		loc: env.Location, listen: c.Listen.V, path: c.Path.V, maxBody: env.MaxBody(c.MaxBody),
		requestTimeout: c.RequestTimeout.V, maxConns: c.MaxConnections.V, bodyIdle: httptransport.DefaultBodyIdleTimeout, budget: httptransport.SharedBudget(env),
		certFile: c.CertFile.V, keyFile: c.KeyFile.V,
		contentType: env.ContentType, props: maps.Clone(env.Properties), sensitive: slices.Clone(env.SensitiveProperties),
		sink: sink, as2ID: env.AS2ID, parties: map[string]string{},
		keys: env.Keys,
		mdns: env.MDNs, receipts: env.Receipts, mdnAttempts: c.AsyncMDNAttempts.V, mdnInterval: c.AsyncMDNInterval.V,
		wake: make(chan struct{}, 1), mdnClient: newMDNClient(),
	}
	if rc.mdnAttempts < 1 {
		rc.mdnAttempts = DefaultAsyncMDNAttempts
	}
	if rc.mdnInterval <= 0 {
		rc.mdnInterval = DefaultAsyncMDNInterval
	}
	if rc.path == "" {
		rc.path = "/"
	}
	if rc.maxBody <= 0 {
		rc.maxBody = int64(component.DefaultMaxMessageSize)
	}
	if rc.requestTimeout <= 0 {
		rc.requestTimeout = httptransport.DefaultRequestTimeout
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
	// mdns keeps the MDNs sent; nil when the box does not (no
	// asynchronous MDNs then, and a repeat's MDN is built again).
	mdns        msgbox.MDNOutbox
	receipts    component.ReceiptSink // settles our sends' async MDNs; nil: none
	mdnAttempts int
	mdnInterval time.Duration
	wake        chan struct{} // an asynchronous MDN was queued
	mdnClient   *http.Client  // POSTs the asynchronous MDNs
	posting     chan struct{} // closed when postMDNs returned
	log         *slog.Logger
	// serving is the http transport's listening lifecycle, TLS when
	// certFile is set; mu guards posting.
	serving httptransport.Serving
	mu      sync.Mutex

	// keys hold the MDN signing identity: the group's, or its
	// signing_rollover's from its at on (mdnSigner).
	keys component.Keys

	// requestTimeout bounds a whole request, bodyIdle each pause of its
	// body (the http transport's Body) and the wait for room in budget.
	requestTimeout, bodyIdle time.Duration
	// maxConns caps the open connections (0: the default).
	maxConns int
	// budget bounds the memory of the uploads in flight, messages and
	// MDNs: the one the run's http receive locations share, so that one
	// bound holds for all of them (httptransport.SharedBudget).
	budget *httptransport.Budget
}

// Start listens and serves in the background, as the http transport
// does (httptransport.Serving: its limits, plain or TLS). Request contexts
// do not inherit ctx's cancellation, so that a stopping runner lets the
// requests in flight finish (Stop).
func (rc *receiver) Start(ctx context.Context) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	base, err := rc.serving.Start(ctx, httptransport.ServeOptions{Location: rc.loc, Listen: rc.listen, Handler: rc,
		Log: rc.log, Name: "as2", CertFile: rc.certFile, KeyFile: rc.keyFile, RequestTimeout: rc.requestTimeout,
		MaxConnections: rc.maxConns, BodyIdleTimeout: rc.bodyIdle})
	if err != nil {
		return err
	}
	if rc.mdns != nil {
		// The MDN poster stops with the requests (base), not with ctx:
		// a request in flight may still queue one, and it is sent at the
		// next start otherwise.
		posting := make(chan struct{})
		rc.posting = posting
		go func() {
			defer close(posting)
			rc.postMDNs(base)
		}()
	}
	rc.log.Info("as2 receive location listening", "addr", rc.serving.Addr().String(), "path", rc.path, "tls", rc.certFile != "")
	return nil
}

// Stop stops accepting and waits, until ctx is done (the runner's
// StopGrace), for the requests in flight. Then those still reading their
// body are answered 503 with Retry-After, nothing of them stored (an MDN
// not settled), and those still running a moment later are aborted
// (nothing stored, no MDN): the sender sends again either way
// (httptransport.Serving.Shutdown).
func (rc *receiver) Stop(ctx context.Context) {
	if rc.serving.Addr() == nil {
		return // never started
	}
	err := rc.serving.Shutdown(ctx)
	rc.mu.Lock()
	posting := rc.posting
	rc.mu.Unlock()
	if posting != nil {
		<-posting
	}
	// Serving ended otherwise (an error accepting connections) was logged
	// when it happened; only an unfinished shutdown is news here.
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		rc.log.Warn("as2 receive location stopped with requests in flight", "error", err)
		return
	}
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
	// Without a Message-ID, only an asynchronous MDN is taken, which its
	// Original-Message-ID identifies (some products send none); what it
	// is is known from its body, read below.
	noID := err
	if errors.Is(err, as2.ErrNoMessageID) && rc.receipts != nil && mayBeMDN(r.Header.Get("Content-Type")) {
		req, err = as2.ParseMDNRequest(r.Header)
	} else {
		noID = nil
	}
	if err != nil {
		log.Warn("AS2 request refused: malformed AS2 headers", "error", err)
		plain(w, http.StatusBadRequest, "malformed AS2 headers: "+err.Error())
		return
	}
	log = log.With("as2_from", req.From)
	// An asynchronous MDN's lines name the Message-ID it answers as
	// as2_message_id (serveMDN), as the sender's line that awaited it did;
	// its own is mdn_message_id, lest one line have the key twice.
	mdnLog := log
	if req.MessageID != "" {
		mdnLog = log.With("mdn_message_id", req.MessageID)
	}
	log = log.With("as2_message_id", req.MessageID)
	// Identities are checked before reading the body: a stranger's
	// message is never decoded nor stored.
	party, known := rc.parties[req.From]
	if req.To != rc.as2ID || !known {
		log.Warn("AS2 request refused: not addressed to us by a declared party", "as2_to", req.To)
		plain(w, http.StatusForbidden, "unknown AS2-From or AS2-To")
		return
	}
	log, mdnLog = log.With("party", party), mdnLog.With("party", party)
	if req.Receipt == as2.ReceiptAsync && rc.mdns == nil {
		log.Warn("AS2 request refused: asynchronous MDN asked for, which this message box cannot keep")
		plain(w, http.StatusBadRequest, "asynchronous MDNs (Receipt-Delivery-Option) are not supported here; ask for a synchronous MDN")
		return
	}
	if httptransport.RefuseUnsized(w, r, log, plain) {
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
	} else if _, _, err := message.NormaliseContentType(ct); err != nil {
		log.Warn("AS2 request refused: malformed Content-Type", "error", err)
		plain(w, http.StatusBadRequest, "malformed Content-Type")
		return
	}
	in := msgbox.Incoming{
		// A repeated Message-ID from the same partner is the same message
		// (language §11): stored once. But AS2-From and Message-ID are
		// what anyone can write; only the decoders authenticate the
		// sender. A message they refuse is stored without the key
		// (SourceKeyIfDecoded), so that junk sent first under a partner's
		// Message-ID cannot take the place of the partner's message.
		SourceKey:           sourceKey(party, req.MessageID),
		SourceKeyIfDecoded:  true,
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
	body := httptransport.NewBody(w, r, rc.maxBody, rc.bodyIdle, rc.requestTimeout)
	defer rc.serving.Track(body)()
	// Read under the budget, as the http transport's uploads: a flood of
	// uploads waits for room, then is answered 503, nothing stored.
	up := rc.budget.NewUpload(body, rc.bodyIdle)
	defer up.Close()
	if _, err := up.Spool(r.Context()); err != nil {
		up.Refuse(w, log, err, plain)
		return
	}
	// An asynchronous MDN for one of our sends settles a delivery and is
	// not stored as a message, whatever the location's pipeline requires
	// (MDNs are never encrypted). It is never answered with an MDN, even
	// when it asks for one (RFC 3798 §2.1: no receipt for a receipt, lest
	// two servers answer each other's without end).
	if rc.receipts != nil && looksLikeMDN(ct, up.Head(mdnPeek)) {
		if req.Receipt != as2.ReceiptNone {
			mdnLog.Info("the asynchronous MDN asks for a receipt, which an MDN never gets", "receipt", receiptName(req.Receipt))
		}
		rc.serveMDN(w, r, mdnLog, party, up)
		return
	}
	if noID != nil {
		log.Warn("AS2 request refused: malformed AS2 headers", "error", noID)
		plain(w, http.StatusBadRequest, "malformed AS2 headers: "+noID.Error())
		return
	}
	src, err := up.Stream(r.Context())
	if err != nil {
		up.Refuse(w, log, err, plain)
		return
	}
	// A decoding pipeline reads the whole MIME entity, its header fields
	// as the HTTP request carried them: an AS2 body is often base64 with
	// the Content-Transfer-Encoding only in the HTTP header (libas2 sends
	// so).
	head := "Content-Type: " + ct + "\r\n"
	for _, f := range []string{"Content-Transfer-Encoding", "Content-Disposition"} {
		if v := r.Header.Get(f); v != "" {
			head += f + ": " + v + "\r\n"
		}
	}
	head += "\r\n"
	payload := io.TeeReader(src, hasher)
	// The sink gets the body and, apart, that header section: one without
	// a pipeline stores only the body, as received (language §10).
	dreq := component.DecodeRequest{MICHash: alg.Hash(), Party: party, Head: head}
	// The MDN of a new message (for one asking none, the record of its
	// content) is built once the body is read, from what decoding found,
	// and stored in the message's transaction: whoever finds the message,
	// on any server sharing the box, finds what a repeat is judged by
	// (judgeRepeat). One that cannot be built fails the receive (503, the
	// sender sends again) rather than leave the message without it.
	var inTx struct {
		made bool
		r    *reply
	}
	if rc.mdns != nil {
		dreq.MDN = func(p component.Published) (*msgbox.SentMDN, error) {
			r, err := rc.newReply(req, p, micOf(p, alg, hasher))
			if err != nil {
				return nil, fmt.Errorf("building the MDN: %w", err)
			}
			inTx.made, inTx.r = true, r
			if r == nil {
				return nil, nil
			}
			return rc.sentMDN(r), nil
		}
	}
	pub, err := rc.sink.PublishOutcome(r.Context(), in, payload, dreq)
	if err != nil {
		// The body's failure first (stalled, too slow, too large, the
		// run stopping): the sink's error then only echoes it.
		if up.Refuse(w, log, err, plain) {
			return
		}
		log.Error("storing a received AS2 message failed", "error", fmt.Errorf("receive location %q, party %q: %w", rc.loc, party, err))
		w.Header().Set("Retry-After", "5")
		plain(w, http.StatusServiceUnavailable, httptransport.NotStored(err, "with the same Message-ID"))
		return
	}
	log = log.With("message_id", pub.Message.ID)
	if pub.Dup {
		// A sink that found the duplicate before reading the body: the
		// MIC of an MDN built again (none was kept) needs all of it.
		if _, err := io.Copy(io.Discard, payload); err != nil {
			// Answered as a new message's failure: this request was not
			// judged, and the one stored stays as it was.
			up.Refuse(w, log, err, plain)
			return
		}
	}
	rc.answer(r.Context(), w, log, req, party, pub, micOf(pub, alg, hasher), inTx.made, inTx.r)
}

// answer answers the request whose message the box stored as pub (or
// found stored: pub.Dup), with mic its Received-Content-MIC. stored says
// that the box stored the message's MDN with it: made, nil when it made
// none (newReply); what was made for a duplicate was dropped with it.
func (rc *receiver) answer(ctx context.Context, w http.ResponseWriter, log *slog.Logger, req *as2.ReceivedRequest, party string,
	pub component.Published, mic *as2.MIC, stored bool, made *reply) {
	rp, keep := made, false
	if pub.Dup || !stored {
		// A repeat, or a message stored without an MDN made (the box
		// keeps none): its MDN, if any, is kept now.
		var ok bool
		if rp, ok = rc.replyTo(ctx, w, log, req, party, pub, mic); !ok {
			return
		}
		keep = true
	}
	if rp != nil && keep {
		if err := rc.keepMDN(ctx, pub.Message.ID, rp); err != nil {
			if rp.state == msgbox.MDNPending {
				log.Error("keeping the asynchronous MDN failed", "error", err)
				w.Header().Set("Retry-After", "5")
				plain(w, http.StatusServiceUnavailable, "MDN not queued; send the message again later")
				return
			}
			// Answered anyway: a repeat then builds the MDN again, from
			// the same bytes, to the same effect.
			log.Warn("keeping the MDN sent failed", "error", err)
		}
	}
	if rp != nil && rp.mdn != nil && rp.state != msgbox.MDNUnrequested {
		// Logged now, with the message's id, which it was built without.
		log.Info("MDN built", "disposition", rp.mdn.Disposition.String(), "signed_mdn", rp.signed)
	}
	switch {
	case rp == nil || rp.state == msgbox.MDNUnrequested:
		log.Debug("AS2 message received without a receipt request", "repeat", pub.Dup)
		w.WriteHeader(http.StatusOK)
	case rp.state == msgbox.MDNPending:
		// RFC 4130 §7.3: the request is answered at once; the MDN follows
		// by POST, from the box, so that it survives a restart.
		rc.wakePoster()
		w.WriteHeader(http.StatusOK)
		log.Info("AS2 message received; asynchronous MDN queued", "repeat", pub.Dup, "receipt_delivery_option", redactURL(req.AsyncURL))
	default:
		writeMDN(w, log, rp.built)
		log.Info("AS2 message received", "repeat", pub.Dup)
	}
}

// replyTo returns the reply to a request whose message the box stored
// without an MDN made with it (newReply), to be kept now: for a repeat
// (pub.Dup), judged first, the original MDN when it answers it, else one
// built now as the request asks (nil when it asks for none: the
// original's record stays as it is); for a new message, one built now.
// ok is false when it answered the request itself (a refused repeat, an
// MDN that could not be built).
func (rc *receiver) replyTo(ctx context.Context, w http.ResponseWriter, log *slog.Logger, req *as2.ReceivedRequest, party string,
	pub component.Published, mic *as2.MIC) (rp *reply, ok bool) {
	if pub.Dup {
		kept, refusal := rc.judgeRepeat(ctx, log, pub, mic, req.Receipt != as2.ReceiptNone)
		switch {
		case refusal != "":
			rc.refuseReused(w, log, req, party, refusal)
			return nil, false
		case req.Receipt == as2.ReceiptNone:
			return nil, true
		case kept != nil:
			log.Info("AS2 message repeated: answered with the original MDN")
			rp = &reply{built: kept}
			rp.state, rp.url = keptAs(req)
			return rp, true
		}
	}
	rp, err := rc.newReply(req, pub, mic)
	if err != nil {
		// The message is stored; without a receipt the sender will send
		// it again, which finds it stored and tries again: the lesser
		// harm than a receipt we cannot stand behind.
		log.Error("building the MDN failed", "error", fmt.Errorf("receive location %q, party %q: %w", rc.loc, party, err))
		plain(w, http.StatusInternalServerError, "internal error")
		return nil, false
	}
	return rp, true
}

// reply is an MDN that answers a message, or records it unsent, and the
// state the box keeps it in.
type reply struct {
	built *as2.Built
	state msgbox.MDNState
	url   string // where a pending one is POSTed
	// mdn is what was built, and whether it was signed; nil for the
	// MDN kept for a message this one repeats.
	mdn    *as2.MDN
	signed bool
	// authenticated: the message it answers verified as its party's
	// (msgbox.SentMDN.Authenticated). Not for a repeat: whoever knows a
	// Message-ID can send it again, unsigned, naming another address.
	authenticated bool
}

// keptAs is the state the MDN answering req is kept in, and where it
// goes: sent in the answer, pending for a POST to the request's
// Receipt-Delivery-Option, or unrequested (never sent: a record).
func keptAs(req *as2.ReceivedRequest) (msgbox.MDNState, string) {
	switch req.Receipt {
	case as2.ReceiptSync:
		return msgbox.MDNSent, ""
	case as2.ReceiptAsync:
		return msgbox.MDNPending, req.AsyncURL
	}
	return msgbox.MDNUnrequested, ""
}

// newReply builds the MDN that answers the message published as pub,
// whose Received-Content-MIC is mic, as req asks (keptAs): signed when it
// asks so. For a message asking for none it is the unsigned MDN that
// would have answered it, kept as the record of its content, by its MIC,
// without which a later message under its Message-ID could not be judged
// (judgeRepeat); nil when there is no MIC to record (a message the
// decoders refused, which holds no Message-ID, or one they computed none
// for) or no box to keep it in.
func (rc *receiver) newReply(req *as2.ReceivedRequest, pub component.Published, mic *as2.MIC) (*reply, error) {
	r := &reply{}
	r.state, r.url = keptAs(req)
	unsent := r.state == msgbox.MDNUnrequested
	if unsent && (mic == nil || rc.mdns == nil) {
		return nil, nil
	}
	r.mdn, r.signed = rc.mdnFor(req, pub, mic, ""), !unsent && req.Options.Signed
	r.authenticated = !pub.Dup && pub.Party != "" && pub.Refused == nil
	var err error
	if r.built, err = rc.buildMDN(req, r.mdn, r.signed); err != nil {
		return nil, err
	}
	return r, nil
}

// sentMDN is r as the box keeps it, for a message it names.
func (rc *receiver) sentMDN(r *reply) *msgbox.SentMDN {
	return &msgbox.SentMDN{Location: rc.loc, Data: r.built.Entity, URL: r.url, State: r.state, NextAttemptAt: time.Now(),
		Authenticated: r.authenticated}
}

// buildMDN builds m from us to req's sender, in the MIC algorithm req
// asks for, signed by mdnSigner when signed.
func (rc *receiver) buildMDN(req *as2.ReceivedRequest, m *as2.MDN, signed bool) (*as2.Built, error) {
	opts := as2.BuildOptions{From: rc.as2ID, To: req.From, Digest: req.Options.MICAlg()}
	if signed {
		var err error
		if opts.Signer, err = rc.mdnSigner(); err != nil {
			return nil, err
		}
	}
	return as2.BuildMDN(m, opts)
}

// mdnFor is the MDN that answers the message published as pub, whose
// Received-Content-MIC is mic; refusal, when not "", is the
// processed/error text of an MDN that refuses the message for another
// reason than the decoders' (refuseReused).
func (rc *receiver) mdnFor(req *as2.ReceivedRequest, pub component.Published, mic *as2.MIC, refusal string) *as2.MDN {
	m := &as2.MDN{OriginalRecipient: rc.as2ID, FinalRecipient: rc.as2ID, OriginalMessageID: req.MessageID, Disposition: as2.Processed(), MIC: mic}
	switch {
	case refusal != "":
		m.Disposition, m.MIC = as2.ProcessedError("unexpected-processing-error"), nil
		m.Text = refusal
	case pub.Refused != nil:
		m.Disposition = as2.ProcessedError(refusalDescription(pub.Refused))
		m.Text = "The message was received but not processed: " + m.Disposition.Description + "."
	}
	return m
}

// micOf is the Received-Content-MIC of the message published as pub (RFC
// 4130 §7.3.1): the decoders', over what was signed, or, for a location
// without decoders, hasher's, over the body as received; nil for a
// message the decoders refused or for which they computed none.
func micOf(pub component.Published, alg as2.Alg, hasher hash.Hash) *as2.MIC {
	switch {
	case pub.Refused != nil:
		return nil
	case pub.MIC != nil:
		return &as2.MIC{Alg: alg, Digest: pub.MIC}
	case !pub.Decoded:
		return &as2.MIC{Alg: alg, Digest: hasher.Sum(nil)}
	}
	return nil
}

// judgeRepeat judges a message whose Message-ID its party sent before
// (pub.Dup): the one stored under it holds that Message-ID and was
// answered with the MDN kept for it (stored with it: newReply). kept is
// that MDN, split for the answer, when it answers this message too: the
// same content, by the MIC both MDNs report (RFC 4130 §7.3.1 makes it the
// content's identity: the same across re-encryption and re-signing). It is
// nil when no MDN is kept (a message stored before MDNs were stored with
// it) or the kept one is unreadable, and when the kept one was never sent
// (the first message asked for none): one is built again, as this request
// asks. refusal, when not "", says why this message is refused instead:
// another content under the same Message-ID, which the box cannot take
// (the Message-ID is held) and the original MDN does not answer; or a
// content that cannot be compared with the original's (another MIC
// algorithm) when no MDN will let the sender compare them: this one asks
// for none (answered says whether it asks for one), or the original's was
// never sent.
func (rc *receiver) judgeRepeat(ctx context.Context, log *slog.Logger, pub component.Published, mic *as2.MIC, answered bool) (kept *as2.Built, refusal string) {
	if rc.mdns == nil {
		return nil, ""
	}
	sm, err := rc.mdns.SentMDN(ctx, pub.Message.ID)
	switch {
	case errors.Is(err, msgbox.ErrNotFound):
		return nil, ""
	case err != nil:
		log.Warn("reading the kept MDN failed; building it again", "error", err)
		return nil, ""
	}
	orig, err := as2.ParseMDN(sm.Data, as2.VerifyOptions{Unverified: true})
	var built *as2.Built
	if err == nil {
		built, err = splitBuilt(sm.Data)
	}
	if err != nil {
		log.Warn("the kept MDN is unreadable; building it again", "error", err)
		return nil, ""
	}
	unsent := sm.State == msgbox.MDNUnrequested
	switch {
	case !orig.Disposition.Positive():
		// Only a message the decoders accepted holds its Message-ID, and
		// it is answered processed: a refusal kept under it is from a
		// message stored before that rule, whose refusal is no answer to
		// this one, which the box cannot take either.
		return nil, anotherContent
	case orig.MIC == nil || mic == nil || orig.MIC.Alg != mic.Alg:
		log.Info("AS2 message repeated: its content cannot be compared with the original's", "mic_alg", micAlgName(mic))
		if unsent || !answered {
			// No MDN would let the sender find another content out: an
			// MDN built now would acknowledge this one's, which the box
			// does not hold.
			return nil, notComparable
		}
		// The original MDN, whose MIC the sender checks against what it
		// sent (language §11), so that another content is found out there.
		return built, ""
	case !orig.MIC.Equal(*mic):
		return nil, anotherContent
	case unsent:
		return nil, "" // the same content; built as this request asks
	}
	return built, ""
}

// Why judgeRepeat refuses a repeat: the text of the refusal, after the
// Message-ID and the party.
const (
	anotherContent = "with another content"
	notComparable  = "and this one cannot be shown to be the same content (another MIC algorithm, signed-receipt-micalg, than the first one's)"
)

// micAlgName names mic's algorithm for logs, "" for none.
func micAlgName(mic *as2.MIC) string {
	if mic == nil {
		return ""
	}
	return mic.Alg.String()
}

// refuseReused answers a message whose Message-ID its party used before
// for another content, or for one it cannot be compared with (judgeRepeat:
// refusal says which). It is not stored: the box keeps one
// message per Message-ID and party, the first one, which a repeat must not
// replace. Answering the first one's MDN would acknowledge content that
// was never received, so the sender is told, with the Message-ID: a
// processed/error MDN (RFC 4130 §7.4.3's unexpected-processing-error, which
// every partner reads as a failure) when it waits for a synchronous one;
// 409 when it asked for none or for an asynchronous one, whose keeping
// (one MDN per stored message) would replace the first one's.
func (rc *receiver) refuseReused(w http.ResponseWriter, log *slog.Logger, req *as2.ReceivedRequest, party, refusal string) {
	why := fmt.Sprintf("The message was received but not processed: Message-ID %s was received from %s before, %s; send this one with a new Message-ID.", req.MessageID, req.From, refusal)
	log.Warn("AS2 message refused: its Message-ID was received before "+refusal, "receipt", receiptName(req.Receipt))
	if req.Receipt != as2.ReceiptSync {
		plain(w, http.StatusConflict, why)
		return
	}
	built, err := rc.buildMDN(req, rc.mdnFor(req, component.Published{}, nil, why), req.Options.Signed)
	if err != nil {
		log.Error("building the MDN failed", "error", fmt.Errorf("receive location %q, party %q: %w", rc.loc, party, err))
		plain(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeMDN(w, log, built)
}

// receiptName names what a request asks for, for logs.
func receiptName(k as2.ReceiptMode) string {
	switch k {
	case as2.ReceiptSync:
		return "sync"
	case as2.ReceiptAsync:
		return "async"
	}
	return "none"
}

// writeMDN answers with a synchronous MDN: its header fields as HTTP
// headers, its body with a Content-Length (libas2 parses the raw bytes of
// a sync MDN: never chunked).
func writeMDN(w http.ResponseWriter, log *slog.Logger, built *as2.Built) {
	for k, vs := range built.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(built.Body)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(built.Body); err != nil {
		log.Warn("writing the MDN failed", "error", err)
	}
}

// splitBuilt splits a kept MDN entity into HTTP header and body.
func splitBuilt(entity []byte) (*as2.Built, error) {
	fields, body, err := smime.SplitEntity(entity)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, f := range fields {
		h.Add(f.Name, f.Value)
	}
	return &as2.Built{Header: h, Body: body, Entity: entity}, nil
}

// keepMDN stores r as the MDN of message id, stored already (a repeat's),
// when the box keeps them.
func (rc *receiver) keepMDN(ctx context.Context, id string, r *reply) error {
	if rc.mdns == nil {
		return nil
	}
	m := rc.sentMDN(r)
	m.MessageID = id
	return rc.mdns.PutMDN(ctx, *m)
}

// refusalDescription is the MDN's processed/error description for a
// decoder's refusal (RFC 4130 §7.4.3, RFC 3335). ErrDecryptionFailed comes
// first: a refusal past a CBC decryption is also of another kind
// (component.Unauthenticated), which must not show.
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
