package as2

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/http"
)

// NewSender builds the sender: the http transport's Client (one connection
// pool per port) and what every delivery's headers and MDN check use.
func (c *SendConfig) NewSender(env *component.SendEnv) (component.Sender, error) {
	s, err := c.newJudge(env)
	if err != nil {
		return nil, err
	}
	if s.h, err = http.NewClient(c.clientOptions(env)); err != nil {
		return nil, err
	}
	return s, nil
}

var _ component.JudgeConfig = (*SendConfig)(nil)

// NewJudge builds what judges the port's MDNs on a server that does not
// send (component.JudgeConfig): the sender without its HTTP client, so
// without the files of its tls block. Its Begin fails.
func (c *SendConfig) NewJudge(env *component.SendEnv) (component.ReceiptChecker, error) {
	return c.newJudge(env)
}

// newJudge is the sender without its HTTP client: what judging MDNs
// needs.
func (c *SendConfig) newJudge(env *component.SendEnv) (*sender, error) {
	if c.MDN.V == "async" && c.AsyncMDNURL.V == "" {
		// BP7009 already; a guard for a Config built otherwise.
		return nil, errors.New("as2 transport: mdn is \"async\" but async_mdn_url is not set")
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
	s := &sender{cfg: c, target: http.NewTarget(c.URL.V, c.Headers.V), env: env, from: env.AS2ID, to: to, alg: alg,
		receipt: receiptMode(c.MDN.V), requireSigned: c.MDN.V != "none" && c.SignedMDN.V}
	// Only the partner's own certificates verify its MDNs: another
	// party's signature proves nothing about this partner's receipt.
	// Every party's certificates, though, tell what the signer of an MDN
	// that does not verify is (as2.VerifyOptions.Parties).
	s.parties = env.Keys.PartySigners
	for _, pc := range env.Keys.PartySigners {
		if pc.Party == c.Partner.V {
			s.trusted = append(s.trusted, pc.Cert)
		}
	}
	if s.requireSigned && len(s.trusted) == 0 {
		return nil, fmt.Errorf("as2 transport: none of party %q's signing_certificates is in the server's other-people store: its signed MDNs cannot be verified", c.Partner.V)
	}
	return s, nil
}

// sender is a built AS2 send transport.
type sender struct {
	h        *http.Client // nil in a judge (newJudge), which sends nothing
	cfg      *SendConfig
	target   *http.Target // url and headers
	env      *component.SendEnv
	from, to string
	alg      as2.Alg
	receipt  as2.ReceiptMode
	// requireSigned: an MDN must be signed to count.
	requireSigned bool
	trusted       []*x509.Certificate
	// parties are every party's signing certificates, trusted among
	// them: as2.VerifyOptions.Parties.
	parties []component.PartyCertificate
}

// Close closes the idle connections of the port's pool.
func (s *sender) Close() error {
	if s.h != nil {
		s.h.Close()
	}
	return nil
}

// messageID is the delivery's Message-ID: the same for every attempt of
// it, different across boxes (delivery ids are unique only within one).
func (s *sender) messageID(d *component.Delivery) string {
	return as2.MessageID(s.env.Namespace+"/"+strconv.FormatInt(d.ID, 10), s.from)
}

// prepare evaluates d's target (URL, headers) and subject, and adds the
// AS2 header fields req makes to the delivery's headers: what Begin sends,
// and what bizpipe route checks (DescribeTarget). A failure is permanent:
// every attempt would build the same.
func (c *SendConfig) prepare(t *http.Target, d *component.Delivery, req *as2.Request) (transport.Delivery, error) {
	sd, err := t.Eval(d)
	if err != nil {
		return sd, err
	}
	if c.Subject.Set {
		v, err := c.Subject.V.Eval(d.Message)
		if err != nil {
			return sd, component.Permanent(fmt.Errorf("send port %q: subject: %w", d.Port, err))
		}
		req.Subject = v.Value
		sd.HeadersSensitive = sd.HeadersSensitive || v.Sensitive
	}
	hdr, err := req.Header()
	if err != nil {
		return sd, component.Permanent(fmt.Errorf("send port %q to party %q: %w", d.Port, c.Partner.V, err))
	}
	// The AS2 headers replace entity fields of the same name, as a
	// configured header does with the http transport (configured headers
	// never name them: decodeSend).
	for k := range hdr {
		sd.Headers[k] = hdr.Get(k)
	}
	return sd, nil
}

// Begin evaluates the subject, builds the AS2 headers and starts the POST.
func (s *sender) Begin(ctx context.Context, d *component.Delivery, h component.Header) (component.Attempt, error) {
	if s.h == nil {
		return nil, fmt.Errorf("send port %q: this server only judges the port's MDNs; it does not send", d.Port)
	}
	req := as2.Request{
		From: s.from, To: s.to, MessageID: s.messageID(d),
		Receipt: s.receipt, SignedReceipt: s.cfg.SignedMDN.V, MICAlg: s.alg,
	}
	if s.receipt == as2.ReceiptAsync {
		req.AsyncURL = s.cfg.AsyncMDNURL.V
	}
	sd, err := s.cfg.prepare(s.target, d, &req)
	if err != nil {
		return nil, err
	}
	w, err := s.h.Begin(ctx, sd, transport.Fields(h))
	if err != nil {
		return nil, transport.PermanentError(err)
	}
	a := &attempt{s: s, w: w, port: d.Port, messageID: req.MessageID, mic: as2.NewHasher()}
	if d.Message != nil {
		a.msgID = d.Message.ID
	}
	return a, nil
}

// attempt is one AS2 delivery attempt: the body spooled by the http
// Client, and the MIC of the content computed as the pipeline runs.
type attempt struct {
	s    *sender
	w    *http.Post
	port string
	// msgID is the id of the message delivered, which every log line
	// about it names; messageID is the AS2 Message-ID sent.
	msgID     string
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
	async := a.s.receipt == as2.ReceiptAsync
	var res component.Result
	// answered: with mdn = "async", the partner answered with an MDN all
	// the same (it ignored Receipt-Delivery-Option: some servers only
	// send synchronous MDNs). That MDN is judged as a synchronous one:
	// thrown away, even a negative one would leave the delivery awaiting
	// an MDN that never comes, then sent again.
	answered := false
	err := a.w.CommitResponse(ctx, func(resp *nethttp.Response) error {
		var r *component.Receipt
		var err error
		if async {
			r, answered, err = a.readAsyncAnswer(resp)
		} else {
			r, err = a.readMDN(resp)
		}
		res.Receipt = r
		return err
	}, &http.Unexpected{
		// Some servers answer a negative MDN with a 4xx or 5xx status: it
		// is judged as the MDN all the same, when it answers this message.
		Offered: func(resp *nethttp.Response) bool { return mayBeMDN(resp.Header.Get("Content-Type")) },
		Limit:   as2.MaxMDNSize,
		Take: func(resp *nethttp.Response, body []byte) (bool, error) {
			r, taken, err := a.unexpectedMDN(resp, body)
			if taken {
				res.Receipt = r
				answered = async
			}
			return taken, err
		},
	})
	if answered && a.s.env.Log != nil {
		a.s.env.Log.Warn("the partner answered with a synchronous MDN although an asynchronous one was asked for (it ignored Receipt-Delivery-Option); judged as a synchronous MDN",
			"message_id", a.msgID, "send_port", a.port, "as2_message_id", a.messageID)
	}
	if err != nil {
		// The MDN, when there was one, goes with the failure: a negative
		// or unverifiable receipt is kept too.
		return res, transport.PermanentError(err)
	}
	if async && !answered {
		// The partner answered 2xx at once; the MDN comes later, to an as2
		// receive location, which hands it to CheckReceipt.
		return component.Result{Pending: &component.Pending{Correlation: a.messageID,
			Deadline: time.Now().Add(a.s.mdnTimeout()), Check: encodeMICs(a.mic)}}, nil
	}
	return res, nil
}

// readMDN reads and checks the synchronous MDN in resp. A negative one is
// Permanent (language §11: suspended at once); every other failure fails
// the attempt only.
func (a *attempt) readMDN(resp *nethttp.Response) (*component.Receipt, error) {
	what := fmt.Sprintf("send port %q: party %q's MDN", a.port, a.s.cfg.Partner.V)
	body, err := readMDNBody(resp, what)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%s: the partner answered %s without an MDN", what, http.ShownStatus(resp))
	}
	return a.s.judge(what, as2.JoinEntity(resp.Header, body), nil, resp.Header.Get("Content-Type"), a.messageID, a.mic)
}

// readAsyncAnswer reads resp, the 2xx answer to a message that asked for
// an asynchronous MDN. When its Content-Type is an MDN's and its body is
// not empty, the partner answered synchronously all the same: answered,
// and the MDN judged as readMDN does. Any other answer is not read: the
// MDN is awaited.
func (a *attempt) readAsyncAnswer(resp *nethttp.Response) (r *component.Receipt, answered bool, err error) {
	if !mayBeMDN(resp.Header.Get("Content-Type")) {
		return nil, false, nil
	}
	what := fmt.Sprintf("send port %q: party %q's MDN (answered synchronously although an asynchronous one was asked for)", a.port, a.s.cfg.Partner.V)
	body, err := readMDNBody(resp, what)
	if err != nil {
		// What the partner began to answer may be a negative MDN: the
		// attempt fails rather than awaits.
		return nil, true, err
	}
	if len(body) == 0 {
		return nil, false, nil
	}
	r, err = a.s.judge(what, as2.JoinEntity(resp.Header, body), nil, resp.Header.Get("Content-Type"), a.messageID, a.mic)
	return r, true, err
}

// readMDNBody reads the MDN in resp's body, what naming it in errors. One
// more octet than the limit is read: a longer MDN is refused, not cut.
func readMDNBody(resp *nethttp.Response, what string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, as2.MaxMDNSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the response: %w", what, err)
	}
	if len(body) > as2.MaxMDNSize {
		return nil, fmt.Errorf("%s: the response exceeds %d octets", what, as2.MaxMDNSize)
	}
	return body, nil
}

// unexpectedMDN judges the MDN in body, the answer resp whose status is
// not 2xx, when it is one for this message (its Original-Message-ID the
// Message-ID sent): taken, as readMDN would judge it with a 2xx status,
// the status named in its error, and logged when it delivers. Anything
// else is not taken: the answer is what its status says.
func (a *attempt) unexpectedMDN(resp *nethttp.Response, body []byte) (*component.Receipt, bool, error) {
	raw := as2.JoinEntity(resp.Header, body)
	mdn, err := as2.ParseMDN(raw, as2.VerifyOptions{Unverified: true})
	if err != nil || mdn.OriginalMessageID != a.messageID {
		return nil, false, nil
	}
	status := "HTTP " + http.ShownStatus(resp)
	what := fmt.Sprintf("send port %q: party %q's MDN (answered with %s)", a.port, a.s.cfg.Partner.V, status)
	r, err := a.s.judge(what, raw, mdn, resp.Header.Get("Content-Type"), a.messageID, a.mic)
	if err == nil && a.s.env.Log != nil {
		a.s.env.Log.Warn("the partner answered its positive MDN with an error status; delivered all the same",
			"message_id", a.msgID, "send_port", a.port, "as2_message_id", a.messageID, "status", status)
	}
	return r, true, err
}

// judge reads and checks an MDN entity (raw, its header fields included)
// answering messageID, whose content had the MICs sent. mdn is raw as
// ParseMDN read it unverified, or nil when raw is still to be read.
func (s *sender) judge(what string, raw []byte, mdn *as2.ReceivedMDN, contentType, messageID string, sent as2.MICSource) (*component.Receipt, error) {
	if len(raw) > as2.MaxMDNSize {
		// The entity is what the box keeps (msgbox.MaxReceiptSize): its
		// header fields count too.
		return nil, fmt.Errorf("%s: the MDN with its header fields exceeds %d octets", what, as2.MaxMDNSize)
	}
	// A signed MDN that was not asked for is read unchecked: an unsigned
	// one would have done (and the partner's certificates were not loaded).
	opts := as2.VerifyOptions{Trusted: s.trusted, Parties: s.parties, Partner: s.cfg.Partner.V, Now: time.Now(), SpoolDir: s.env.SpoolDir, Unverified: !s.requireSigned}
	var err error
	if mdn == nil {
		mdn, err = as2.ParseMDN(raw, opts)
	} else {
		err = mdn.Verify(opts)
	}
	if err != nil {
		// Kept all the same: what the partner answered, for the operator
		// and for a dispute.
		unreadable := &component.Receipt{ContentType: contentType, Data: raw, Summary: "unreadable MDN"}
		return unreadable, fmt.Errorf("%s: %w", what, err)
	}
	summary := mdn.Disposition.Shown()
	if mdn.MIC != nil {
		summary += "; Received-Content-MIC " + mdn.MIC.String()
	}
	if mdn.Signed {
		summary += "; signed"
	}
	receipt := &component.Receipt{ContentType: contentType, Data: raw, Summary: summary}
	if err := mdn.Check(messageID, s.requireSigned, sent); err != nil {
		// The NegativeError names the disposition.
		var neg *as2.NegativeError
		if errors.As(err, &neg) {
			return receipt, component.Permanent(fmt.Errorf("%s: %w", what, err))
		}
		return receipt, fmt.Errorf("%s: %w", what, err)
	}
	return receipt, nil
}

// mdnTimeout is how long an asynchronous MDN is awaited.
func (s *sender) mdnTimeout() time.Duration {
	if s.cfg.MDNTimeout.V > 0 {
		return s.cfg.MDNTimeout.V
	}
	return DefaultMDNTimeout
}

var _ component.ReceiptChecker = (*sender)(nil)

// CheckReceipt judges an asynchronous MDN from in.Party (language §11): by
// the same rules as a synchronous one, against the MICs of what was sent,
// kept in p.Check. An MDN from another party than the port's partner
// settles nothing. The receive location's reading (in.Parsed, an
// *as2.ReceivedMDN) is verified rather than read again.
func (s *sender) CheckReceipt(_ context.Context, in component.IncomingReceipt, p component.Pending) (*component.Receipt, error) {
	what := fmt.Sprintf("send port %q: party %q's asynchronous MDN", s.env.Port, s.cfg.Partner.V)
	if in.Party != s.cfg.Partner.V {
		return nil, fmt.Errorf("%w: the MDN for a message sent to party %q came from party %q", component.ErrReceiptUnusable, s.cfg.Partner.V, in.Party)
	}
	sent, err := decodeMICs(p.Check)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	mdn, _ := in.Parsed.(*as2.ReceivedMDN)
	return s.judge(what, in.Raw, mdn, in.ContentType, p.Correlation, sent)
}

// Correlation is the Message-ID of every attempt of d.
func (s *sender) Correlation(d *component.Delivery) string { return s.messageID(d) }

// SameReceipt reports whether in, an asynchronous MDN from in.Party, is
// kept, one CheckReceipt judged, received again: the same report
// (as2.ReceivedMDN.SameReport). An MDN from another party than the port's
// partner settles nothing. A kept MDN that cannot be read is no MDN in
// is the same as.
func (s *sender) SameReceipt(in component.IncomingReceipt, kept []byte) (bool, error) {
	if in.Party != s.cfg.Partner.V {
		return false, fmt.Errorf("%w: the MDN for a message sent to party %q came from party %q", component.ErrReceiptUnusable, s.cfg.Partner.V, in.Party)
	}
	mdn, _ := in.Parsed.(*as2.ReceivedMDN)
	if mdn == nil {
		var err error
		if mdn, err = as2.ParseMDN(in.Raw, as2.VerifyOptions{Unverified: true}); err != nil {
			return false, fmt.Errorf("%w: %w", component.ErrReceiptUnusable, err)
		}
	}
	k, err := as2.ParseMDN(kept, as2.VerifyOptions{Unverified: true})
	if err != nil {
		return false, nil
	}
	return mdn.SameReport(k), nil
}

// encodeMICs keeps the MIC of the content sent in every algorithm a
// partner may name: "sha-256=BASE64;...".
func encodeMICs(h *as2.Hasher) string {
	var b strings.Builder
	for _, alg := range micAlgs {
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(alg.String() + "=" + base64.StdEncoding.EncodeToString(h.MIC(alg).Digest))
	}
	return b.String()
}

// micAlgs are the algorithms encodeMICs keeps.
var micAlgs = []as2.Alg{as2.SHA1, as2.SHA256, as2.SHA384, as2.SHA512}

// keptMICs is an as2.MICSource over what encodeMICs kept.
type keptMICs map[as2.Alg][]byte

func (k keptMICs) MIC(alg as2.Alg) as2.MIC { return as2.MIC{Alg: alg, Digest: k[alg]} }

func decodeMICs(s string) (keptMICs, error) {
	k := keptMICs{}
	for _, part := range strings.Split(s, ";") {
		name, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		alg, err := as2.ParseAlg(name)
		if err != nil {
			continue
		}
		d, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			continue
		}
		k[alg] = d
	}
	if len(k) == 0 {
		return nil, errors.New("the MIC of the message sent was not kept")
	}
	return k, nil
}
