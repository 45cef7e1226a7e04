// Package as2 is the AS2 transport components (language §11): transport
// "as2" in a send port POSTs the S/MIME entity its pipeline produced to the
// partner with the AS2 headers, and, with a synchronous MDN, delivers only
// on a positive receipt whose MIC matches what was sent; in a receive
// location (receive.go) it accepts the parties' AS2 POSTs, has the
// location's pipeline decode and store them, and answers a synchronous MDN.
//
// The protocol (headers, MIC, MDN parsing and verification) is package
// internal/as2's; the HTTP exchange (URL checks, TLS, the spooled body sent
// with a Content-Length, redacted errors) is the http transport's Client.
// This package joins them to the runner: the MIC comes from the pipeline's
// first stage through component.ContentObserver.
package as2

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/transport/http"
)

// DefaultTimeout bounds one attempt, from connecting to the end of the
// synchronous MDN: the partner answers only once it has decoded the
// message, which takes longer than a plain HTTP acknowledgement.
const DefaultTimeout = 60 * time.Second

// DefaultMDNTimeout is how long an asynchronous MDN is awaited by default:
// RFC 4130 sets no limit; partners answer within minutes, but one that
// queues its MDNs behind a restart or an outage of its own still answers
// within an hour, and a delivery is not left unsettled for longer than
// an operator would wait before asking.
const DefaultMDNTimeout = time.Hour

// SendSpec declares transport "as2" of a send port.
var SendSpec = &component.Spec{
	Kind:    component.SendTransport,
	Name:    "as2",
	Summary: "Sends each message to an AS2 partner (RFC 4130) and checks its MDN receipt.",
	Doc: `The entity the pipeline produced (typically signed and encrypted by
encoder "smime") is POSTed to url with a Content-Length, its top-level MIME
header fields as HTTP headers, and the AS2 headers: AS2-Version, AS2-From
(the group's as2_id), AS2-To (the partner's as2_id), a Message-ID that stays
the same for every retry of one delivery, Subject when set, and, unless mdn
is "none", Disposition-Notification-To and (signed_mdn)
Disposition-Notification-Options asking for a signed receipt with
mdn_digest.

The request goes as transport "http" sends one: through the proxy that
HTTPS_PROXY (for an https:// url) or HTTP_PROXY (for an http:// one)
names, credentials included, unless NO_PROXY lists the host; the
lower-case names are read too. A loopback host (localhost, 127.0.0.1,
::1) is always reached directly. The tls block's ca_file and client
certificate also serve an https:// proxy. Redirects are not followed: a
3xx answer is an answer other than 2xx. A partner that answers 429 or 503
with Retry-After (and no MDN for this message) is given that longer wait
before the next attempt, up to a day.

With mdn = "sync" (the default) the partner answers with the MDN. The
message is delivered only when the MDN is positive (processed), answers
this Message-ID, carries a Received-Content-MIC equal to the MIC of what
was sent (RFC 4130 §7.3.1: the content entity that was signed, headers
included, or the content that was encrypted when unsigned; compared in the
algorithm the MDN names) and, with signed_mdn, is signed by one of the
partner's signing_certificates valid now. A negative MDN (processed/error,
failed) suspends the delivery at once, naming its disposition. A missing,
unreadable, unsigned (when signed_mdn) or mismatching MDN, or an answer
other than 2xx, fails the attempt, which is retried. The reason names the
signer of an MDN that is no party's certificate by its subject, issuer and
serial number, and says when the certificate an MDN carries has the issuer
and serial number of a party's certificate but is not that one (one issued
by another CA of the same name), as decoder "smime" does for a message,
and names the party whose certificate signed an MDN that is another
party's than the partner's. An
answer other than 2xx whose body is an MDN for this Message-ID (some
servers answer a negative MDN with a 4xx or 5xx status) is judged as the
MDN, its status logged when it delivers. With mdn = "none" a 2xx answer
delivers the message.

The MDN that delivered the message is kept in the message box with the
delivery, as received (its header fields included, at most 4 MiB):
bizpipe messages show summarises it, bizpipe messages mdn writes it out.
With mdn = "async" the request carries Receipt-Delivery-Option:
async_mdn_url, and a 2xx answer leaves the delivery awaiting_mdn. A
partner that ignores Receipt-Delivery-Option (some servers only send
synchronous MDNs) and answers with an MDN all the same (a 2xx answer
whose Content-Type is multipart/report or multipart/signed and whose
body is not empty, or an answer other than 2xx whose body is an MDN for
this Message-ID) has that MDN judged as a synchronous one, by the same
rules and with the same outcomes, and a warning logged; nothing is then
awaited. An empty or other 2xx answer awaits the MDN as usual. An as2
receive location of any server sharing the message box takes the MDN when
the partner POSTs it, finds the delivery by its Original-Message-ID and
settles it by the same rules as a synchronous MDN (a server that does not
run this port verifies the MDN with the partner's signing_certificates in
its own other-people store, and needs no other file of the port's, such
as its tls block's; without those certificates it answers 503, and the
partner sends the MDN again); a bad one fails the
attempt, retried with the same Message-ID. A copy of the MDN an earlier
attempt got (the partner POSTing it again) is answered 200 and changes
nothing: the attempt awaits its own. Without an MDN within
mdn_timeout the attempt counts as failed: the delivery is retrying, sent
again retry.interval after the timeout, then suspended. A positive MDN
that comes later, for what was last sent and valid by the same rules,
still delivers it (kept, answered 200) and the retry is not made: the
partner has the message. A negative one (processed/error, failed),
valid likewise, suspends it at once with its disposition (kept, answered
200) and the retry is not made either; one suspended already (without an
MDN) keeps it, its reason now the disposition. Any other late MDN
settles nothing (400). bizpipe run --once does not wait for
asynchronous MDNs; a restart does not send again a delivery that awaits
one.`,
	Example: `transport "as2" {
  url        = "https://as2.fabrikam.example/as2"
  partner    = party.fabrikam
  subject    = "Order ${message.file_name}"
  mdn        = "sync"
  signed_mdn = true
  mdn_digest = "sha256"
  timeout    = "60s"
}`,
	Attributes: []component.Attribute{
		{Name: "url", Type: component.Template, Required: true, Credential: component.CredentialURLPassword,
			Doc: "The partner's AS2 URL, http or https: a template over the message, as for transport \"http\"."},
		{Name: "headers", Type: component.TemplateMap, Credential: component.CredentialHeaders,
			Doc: "More request headers, each value a template over the message (an API key a gateway wants, for example); the AS2 headers cannot be set here."},
		{Name: "partner", Type: component.PartyRef, Required: true,
			Doc: "The party sent to: its as2_id is the AS2-To, its signing_certificates verify the MDN."},
		{Name: "subject", Type: component.Template,
			Doc: "The Subject header, a template over the message; none when not set."},
		{Name: "mdn", Type: component.Enum, Default: "sync", Values: []string{"none", "sync", "async"},
			Doc: `The receipt asked for: "none", "sync" (in the HTTP response) or "async" (POSTed later to async_mdn_url; an MDN the partner puts in the response all the same is judged as a synchronous one).`},
		{Name: "signed_mdn", Type: component.Bool, Default: true,
			Doc: "Ask for a signed MDN, and require it."},
		{Name: "mdn_digest", Type: component.Enum, Default: "sha256", Values: []string{"sha256", "sha384", "sha512", "sha1"},
			Doc: "The MIC algorithm asked for (signed-receipt-micalg) with a signed MDN. `sha1` is weak (BP5001)."},
		{Name: "async_mdn_url", Type: component.String,
			Doc: `Where the partner sends an asynchronous MDN (mdn = "async"): the URL of an as2 receive location of this group, run by a server sharing this port's message box.`},
		{Name: "mdn_timeout", Type: component.Duration, Default: DefaultMDNTimeout,
			Doc: `How long to wait for an asynchronous MDN (mdn = "async"); then the attempt counts as failed.`},
		{Name: "timeout", Type: component.Duration, Default: DefaultTimeout,
			Doc: "How long one attempt may take, from connecting to the end of the synchronous MDN."},
	},
	Blocks: []component.BlockSpec{http.TLSBlock},
	Decode: decodeSend,
}

// SendConfig is the typed configuration of a sending AS2 transport.
type SendConfig struct {
	URL         value.Value[message.Template]
	Headers     value.Value[map[string]message.Template]
	Partner     value.Value[string]
	Subject     value.Value[message.Template]
	MDN         value.Value[string]
	SignedMDN   value.Value[bool]
	MDNDigest   value.Value[string]
	AsyncMDNURL value.Value[string]
	MDNTimeout  value.Value[time.Duration]
	Timeout     value.Value[time.Duration]
	// CAFile, CertFile and KeyFile are the tls block's; unset without one.
	CAFile, CertFile, KeyFile value.Value[string]
}

func decodeSend(b *component.Body) component.Config {
	c := &SendConfig{
		URL: b.Template("url"), Headers: b.TemplateMap("headers"), Partner: b.PartyRef("partner"), Subject: b.Template("subject"),
		MDN: b.String("mdn"), SignedMDN: b.Bool("signed_mdn"), MDNDigest: b.String("mdn_digest"),
		AsyncMDNURL: b.String("async_mdn_url"), MDNTimeout: b.Duration("mdn_timeout"), Timeout: b.Duration("timeout"),
	}
	if k, ok := c.URL.V.(message.Constant); c.URL.Usable() && ok {
		// A constant url is checked now rather than at every delivery; one
		// that reads the message, when it is evaluated.
		if v, ok := k.Constant(); ok {
			if _, ok := as2.ParseHTTPURL(v); !ok {
				b.Errorf(c.URL.Range, "Invalid value for url",
					"The url of %s must be an absolute http or https URL with a host.", b.What)
			}
		}
	}
	http.CheckURLScheme(b, c.URL)
	http.CheckHeaders(b, "headers", c.Headers)
	if c.Headers.Usable() {
		for _, name := range slices.Sorted(maps.Keys(c.Headers.V)) {
			if slices.ContainsFunc(as2.RequestHeaders, func(h string) bool { return strings.EqualFold(h, name) }) {
				b.Errorf(b.EntryRange("headers", name, c.Headers.Range), "AS2 header in headers",
					"The headers of %s set %s, an AS2 header the transport sets itself (from the group's and the partner's as2_id, subject and the mdn attributes).", b.What, name)
			}
		}
	}
	if c.AsyncMDNURL.Usable() && c.AsyncMDNURL.V != "" {
		if _, ok := as2.ParseHTTPURL(c.AsyncMDNURL.V); !ok {
			b.Errorf(c.AsyncMDNURL.Range, "Invalid value for async_mdn_url",
				"The async_mdn_url of %s must be an absolute http or https URL with a host: the partner POSTs the MDN there.", b.What)
		}
	}
	// As the smime encoder's digest: SHA-1 is weak where it is used, in
	// the signed MDN that proves receipt (its MIC and signature).
	if c.Needs().PartySigning == component.Needed && c.MDNDigest.Known && c.MDNDigest.V == "sha1" {
		b.Warnf(diag.CodeWeakAlgorithm, c.MDNDigest.Range, "Weak digest algorithm",
			"The %s asks for signed MDNs with a SHA-1 MIC, and SHA-1 is broken for signatures; use \"sha256\" unless the partner cannot compute it.", b.What)
	}
	if c.MDNTimeout.Usable() && c.MDNTimeout.V <= 0 {
		b.Errorf(c.MDNTimeout.Range, "Invalid value for mdn_timeout", "The mdn_timeout of %s must be positive.", b.What)
	}
	c.CAFile, c.CertFile, c.KeyFile = http.DecodeTLS(b)
	http.CheckTLSScheme(b, c.URL)
	return c
}

// Needs: the partner's signing certificates verify a signed MDN. The
// message itself is signed and encrypted by the pipeline, whose stages
// say what they need.
func (c *SendConfig) Needs() component.Needs {
	var n component.Needs
	switch {
	case c.MDN.Known && c.MDN.V == "none":
	case !c.MDN.Known || !c.SignedMDN.Known:
		n.PartySigning = component.MaybeNeeded
	case c.MDN.V != "none" && c.SignedMDN.V:
		n.PartySigning = component.Needed
	}
	return n
}

// UnknownNeeds: mdn and signed_mdn decide whether MDNs are verified.
func (c *SendConfig) UnknownNeeds() []component.UnknownNeed {
	if c.MDN.Known && c.MDN.V == "none" {
		return nil // no MDN: signed_mdn does not matter
	}
	maybe := component.Needs{PartySigning: component.MaybeNeeded}
	out := component.AppendUnknown(nil, "mdn", c.MDN, maybe)
	return component.AppendUnknown(out, "signed_mdn", c.SignedMDN, maybe)
}

var _ component.UnknownNeedsConfig = (*SendConfig)(nil)

// Live: the tls block's files, loaded when the port's client is built.
func (c *SendConfig) Live() component.Live { return http.LiveTLS(c.CAFile, c.CertFile, c.KeyFile) }

var _ component.LiveConfig = (*SendConfig)(nil)

// AS2 tells the validation rules (BP7006–BP7009) the partner and the
// receipt asked for.
func (c *SendConfig) AS2() component.AS2 {
	return component.AS2{Partner: c.Partner, MDN: c.MDN, AsyncMDNURL: c.AsyncMDNURL}
}

var _ component.AS2Config = (*SendConfig)(nil)

// receiptMode maps the mdn attribute to the request's.
func receiptMode(mdn string) as2.ReceiptMode {
	switch mdn {
	case "none":
		return as2.ReceiptNone
	case "async":
		return as2.ReceiptAsync
	}
	return as2.ReceiptSync
}

// clientOptions are the http Client's for c and env.
func (c *SendConfig) clientOptions(env *component.SendEnv) http.ClientOptions {
	return http.ClientOptions{Timeout: c.Timeout.V, CAFile: c.CAFile.V, CertFile: c.CertFile.V, KeyFile: c.KeyFile.V, SpoolDir: env.SpoolDir}
}

var _ component.TargetDescriber = (*SendConfig)(nil)

// DescribeTarget is where d would be posted, and to which party (bizpipe
// route): what Begin prepares (prepare) and the http client checks, with
// stand-ins for the identities and the Message-ID, which validate checks.
func (c *SendConfig) DescribeTarget(d *component.Delivery) (string, error) {
	req := &as2.Request{From: "A", To: "B", MessageID: "<route@bizpipe.invalid>"}
	sd, err := c.prepare(http.NewTarget(c.URL.V, c.Headers.V), d, req)
	if err != nil {
		return "", err
	}
	s, err := http.Describe(sd)
	if err != nil {
		return "", err
	}
	return s + " (AS2 to party " + c.Partner.V + ")", nil
}
