package as2

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/http"
)

// NewSender builds the sender: the http transport's Client (one connection
// pool per port) and what every delivery's headers and MDN check use.
func (c *SendConfig) NewSender(env *component.SendEnv) (component.Sender, error) {
	if c.MDN.V == "async" {
		// Refused by Decode already; a guard for a Config built otherwise.
		return nil, errors.New("as2 transport: asynchronous MDNs are not supported by this version yet")
	}
	if env.AS2ID == "" {
		return nil, errors.New("as2 transport: the group has no as2_id (AS2-From)")
	}
	to, ok := env.PartyAS2IDs[c.Partner.V]
	if !ok {
		return nil, fmt.Errorf("as2 transport: party %q has no as2_id (AS2-To)", c.Partner.V)
	}
	alg, err := as2.ParseAlg(c.MDNDigest.V)
	if err != nil {
		return nil, fmt.Errorf("as2 transport: mdn_digest: %w", err)
	}
	h, err := http.NewClient(c.clientOptions(env))
	if err != nil {
		return nil, err
	}
	s := &sender{h: h, cfg: c, env: env, from: env.AS2ID, to: to, alg: alg,
		receipt: receiptMode(c.MDN.V), requireSigned: c.MDN.V != "none" && c.SignedMDN.V}
	// Only the partner's own certificates verify its MDNs: another
	// party's signature proves nothing about this partner's receipt.
	for _, pc := range env.Keys.PartySigners {
		if pc.Party == c.Partner.V {
			s.trusted = append(s.trusted, pc.Cert)
		}
	}
	if s.requireSigned && len(s.trusted) == 0 {
		h.Close()
		return nil, fmt.Errorf("as2 transport: none of party %q's signing_certificates is in the server's other-people store: its signed MDNs cannot be verified", c.Partner.V)
	}
	return s, nil
}

// sender is a built AS2 send transport.
type sender struct {
	h        *http.Client
	cfg      *SendConfig
	env      *component.SendEnv
	from, to string
	alg      as2.Alg
	receipt  as2.ReceiptMode
	// requireSigned: an MDN must be signed to count.
	requireSigned bool
	trusted       []*x509.Certificate
}

// Close closes the idle connections of the port's pool.
func (s *sender) Close() error {
	s.h.Close()
	return nil
}

// messageID is the delivery's Message-ID: the same for every attempt of
// it, different across boxes (delivery ids are unique only within one).
func (s *sender) messageID(d *component.Delivery) string {
	return as2.MessageID(s.env.Namespace+"/"+strconv.FormatInt(d.ID, 10), s.from)
}

// Begin evaluates the subject, builds the AS2 headers and starts the POST.
func (s *sender) Begin(ctx context.Context, d *component.Delivery, h component.Header) (component.Attempt, error) {
	req := as2.Request{
		From: s.from, To: s.to, MessageID: s.messageID(d),
		Receipt: s.receipt, SignedReceipt: s.cfg.SignedMDN.V, MICAlg: s.alg,
	}
	sd := transport.Delivery{ID: d.ID, MessageID: d.Message.ID, Port: d.Port, URL: s.cfg.URL.V}
	if s.cfg.Subject.Set {
		v, err := s.cfg.Subject.V.Eval(d.Message)
		if err != nil {
			return nil, component.Permanent(fmt.Errorf("send port %q: subject: %w", d.Port, err))
		}
		req.Subject, sd.HeadersSensitive = v.Value, v.Sensitive
	}
	hdr, err := req.Header()
	if err != nil {
		// Every attempt would build the same headers.
		return nil, component.Permanent(fmt.Errorf("send port %q to party %q: %w", d.Port, s.cfg.Partner.V, err))
	}
	// The AS2 headers replace entity fields of the same name, as a
	// configured header does with the http transport.
	sd.Headers = make(map[string]string, len(hdr))
	for k := range hdr {
		sd.Headers[k] = hdr.Get(k)
	}
	w, err := s.h.Begin(ctx, sd, transport.Fields(h))
	if err != nil {
		return nil, transport.PermanentError(err)
	}
	return &attempt{s: s, w: w, port: d.Port, messageID: req.MessageID, mic: as2.NewHasher()}, nil
}

// attempt is one AS2 delivery attempt: the body spooled by the http
// Client, and the MIC of the content computed as the pipeline runs.
type attempt struct {
	s         *sender
	w         *http.Post
	port      string
	messageID string
	mic       *as2.Hasher
}

var _ component.ContentObserver = (*attempt)(nil)

func (a *attempt) Write(p []byte) (int, error) { return a.w.Write(p) }

// ContentWriter is where the runner copies the content the MIC covers.
func (a *attempt) ContentWriter() io.Writer { return a.mic }

func (a *attempt) Abort() { a.w.Abort() }

// Commit POSTs the message and, with a synchronous MDN, judges it.
func (a *attempt) Commit(ctx context.Context) (component.Result, error) {
	if a.s.receipt == as2.ReceiptNone {
		return component.Result{}, transport.PermanentError(a.w.Commit(ctx))
	}
	var res component.Result
	err := a.w.CommitResponse(ctx, func(resp *nethttp.Response) error {
		r, err := a.readMDN(resp)
		res.Receipt = r
		return err
	})
	if err != nil {
		// The MDN, when there was one, goes with the failure: a negative
		// or unverifiable receipt is kept too.
		return res, transport.PermanentError(err)
	}
	return res, nil
}

// readMDN reads and checks the synchronous MDN in resp. A negative one is
// Permanent (language §11: suspended at once); every other failure fails
// the attempt only.
func (a *attempt) readMDN(resp *nethttp.Response) (*component.Receipt, error) {
	what := fmt.Sprintf("send port %q: party %q's MDN", a.port, a.s.cfg.Partner.V)
	// One more than the limit: a longer MDN is refused, not cut.
	body, err := io.ReadAll(io.LimitReader(resp.Body, as2.MaxMDNSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the response: %w", what, err)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%s: the partner answered %s without an MDN", what, resp.Status)
	}
	if len(body) > as2.MaxMDNSize {
		return nil, fmt.Errorf("%s: the response exceeds %d octets", what, as2.MaxMDNSize)
	}
	raw := as2.JoinEntity(resp.Header, body)
	if len(raw) > as2.MaxMDNSize {
		// The entity is what the box keeps (msgbox.MaxReceiptSize): its
		// header fields count too.
		return nil, fmt.Errorf("%s: the MDN with its header fields exceeds %d octets", what, as2.MaxMDNSize)
	}
	// A signed MDN that was not asked for is read unchecked: an unsigned
	// one would have done (and the partner's certificates were not loaded).
	mdn, err := as2.ParseMDN(raw, as2.VerifyOptions{Trusted: a.s.trusted, Now: time.Now(), SpoolDir: a.s.env.SpoolDir,
		Unverified: !a.s.requireSigned})
	if err != nil {
		// Kept all the same: what the partner answered, for the operator
		// and for a dispute.
		unreadable := &component.Receipt{ContentType: resp.Header.Get("Content-Type"), Data: raw, Summary: "unreadable MDN"}
		return unreadable, fmt.Errorf("%s: %w", what, err)
	}
	summary := mdn.Disposition.String()
	if mdn.MIC != nil {
		summary += "; Received-Content-MIC " + mdn.MIC.String()
	}
	if mdn.Signed {
		summary += "; signed"
	}
	receipt := &component.Receipt{ContentType: resp.Header.Get("Content-Type"), Data: raw, Summary: summary}
	if err := mdn.Check(a.messageID, a.s.requireSigned, a.mic); err != nil {
		// The NegativeError names the disposition.
		var neg *as2.NegativeError
		if errors.As(err, &neg) {
			return receipt, component.Permanent(fmt.Errorf("%s: %w", what, err))
		}
		return receipt, fmt.Errorf("%s: %w", what, err)
	}
	return receipt, nil
}
