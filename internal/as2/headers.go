package as2

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Version is the AS2-Version bizpipe speaks (RFC 4130 §6.1; 1.2 announces
// no optional features beyond 1.1).
const Version = "1.2"

// HTTP header names of RFC 4130.
const (
	HeaderVersion          = "AS2-Version"
	HeaderFrom             = "AS2-From"
	HeaderTo               = "AS2-To"
	HeaderMessageID        = "Message-ID"
	HeaderSubject          = "Subject"
	HeaderNotificationTo   = "Disposition-Notification-To"
	HeaderNotificationOpts = "Disposition-Notification-Options"
	HeaderReceiptDelivery  = "Receipt-Delivery-Option"
)

// RequestHeaders are the header fields Request.Header sets: a sender's
// configured headers must not replace them.
var RequestHeaders = []string{HeaderVersion, HeaderFrom, HeaderTo, HeaderMessageID, HeaderSubject,
	HeaderNotificationTo, HeaderNotificationOpts, HeaderReceiptDelivery}

const (
	// maxAS2NameLen is RFC 4130 §6.2's limit on AS2-From and AS2-To.
	maxAS2NameLen = 128
	// signedReceiptProtocol is the only signed-receipt-protocol of AS2.
	signedReceiptProtocol = "pkcs7-signature"
	// defaultNotificationTo is sent as Disposition-Notification-To when
	// Request.NotificationTo is empty: AS2 receivers only test its presence.
	defaultNotificationTo = "as2@bizpipe.invalid"
)

// QuoteName formats an AS2 identifier for AS2-From or AS2-To (RFC 4130
// §6.2): 1 to 128 printable US-ASCII characters, written as an atom when
// it can be and as a quoted string (with \" and \\ escaped) when it holds
// spaces or specials.
func QuoteName(id string) (string, error) {
	if err := checkName(id); err != nil {
		return "", err
	}
	if strings.ContainsAny(id, " \"\\()<>@,;:/[]?={}\t") {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
		return `"` + r.Replace(id) + `"`, nil
	}
	return id, nil
}

// ParseName reads an AS2-From or AS2-To value: an atom or a quoted string
// (RFC 4130 §6.2). Identifiers compare case-sensitively (§6.2), so the
// result is not folded.
func ParseName(v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		in := v[1 : len(v)-1]
		for i := 0; i < len(in); i++ {
			c := in[i]
			if c == '\\' {
				if i+1 == len(in) {
					return "", fmt.Errorf("as2: AS2 name %q ends with a lone backslash", clip(v))
				}
				i++
				c = in[i]
			} else if c == '"' {
				return "", fmt.Errorf("as2: AS2 name %q has an unescaped quote", clip(v))
			}
			b.WriteByte(c)
		}
		v = b.String()
	}
	if err := checkName(v); err != nil {
		return "", err
	}
	return v, nil
}

func checkName(id string) error {
	if id == "" || len(id) > maxAS2NameLen {
		return fmt.Errorf("as2: AS2 name %q must have 1 to %d characters", clip(id), maxAS2NameLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < ' ' || c > '~' {
			return fmt.Errorf("as2: AS2 name %q holds a character that is not printable US-ASCII", clip(id))
		}
	}
	return nil
}

// MessageID returns the Message-ID of one delivery: "<" + 32 hex digits
// derived from deliveryKey + "@" + domain + ">". The same key gives the same
// ID, so every retry of a delivery carries the Message-ID of its first
// attempt and the receiver can recognise the repeat (spec §11). Keys of
// different deliveries must differ (the message box's delivery id is
// suitable); domain is typically the sender's host name or AS2 id, made
// safe for the msg-id syntax here.
func MessageID(deliveryKey, domain string) string {
	sum := sha256.Sum256([]byte("bizpipe-as2-message-id\x00" + deliveryKey))
	return "<" + hex.EncodeToString(sum[:16]) + "@" + idDomain(domain) + ">"
}

// idDomain keeps the characters of domain that RFC 5322's dot-atom allows.
func idDomain(domain string) string {
	var b strings.Builder
	for i := 0; i < len(domain) && b.Len() < 64; i++ {
		c := domain[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0 {
			b.WriteByte(c)
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		return "bizpipe.invalid"
	}
	return s
}

// ReceiptMode says whether and how an MDN is requested. The zero value
// is ReceiptSync, the language default.
type ReceiptMode int

// Receipt modes (spec §11, transport attribute mdn).
const (
	ReceiptSync ReceiptMode = iota
	ReceiptNone
	ReceiptAsync
)

// Request describes the AS2 headers of one message.
type Request struct {
	From, To string // AS2 identifiers, unquoted
	// MessageID is the full msg-id with angle brackets (MessageID).
	MessageID string
	// Subject is optional; it is sent only when not empty.
	Subject string
	// Receipt is how the MDN is requested.
	Receipt ReceiptMode
	// SignedReceipt asks for a signed MDN with MICAlg.
	SignedReceipt bool
	// MICAlg is the MIC algorithm asked for (signed-receipt-micalg).
	MICAlg Alg
	// AsyncURL is where an asynchronous MDN is to be sent
	// (Receipt-Delivery-Option); required with ReceiptAsync.
	AsyncURL string
	// NotificationTo is the Disposition-Notification-To value; RFC 4130
	// gives it no meaning for AS2 beyond "an MDN is requested", "" means a
	// fixed placeholder address.
	NotificationTo string
}

// Header returns the HTTP headers of the request (besides the MIME
// headers of the entity itself, Content-Type and friends, which the caller
// adds from the S/MIME entity).
func (r *Request) Header() (http.Header, error) {
	from, err := QuoteName(r.From)
	if err != nil {
		return nil, fmt.Errorf("AS2-From: %w", err)
	}
	to, err := QuoteName(r.To)
	if err != nil {
		return nil, fmt.Errorf("AS2-To: %w", err)
	}
	if !validMessageID(r.MessageID) {
		return nil, fmt.Errorf("as2: Message-ID %q is not of the form <left@right>", clip(r.MessageID))
	}
	h := http.Header{}
	h.Set(HeaderVersion, Version)
	h.Set(HeaderFrom, from)
	h.Set(HeaderTo, to)
	h.Set(HeaderMessageID, r.MessageID)
	if s := strings.TrimSpace(r.Subject); s != "" {
		if strings.ContainsAny(s, "\r\n\x00") {
			return nil, errors.New("as2: Subject holds a line break or NUL")
		}
		h.Set(HeaderSubject, s)
	}
	if r.Receipt == ReceiptNone {
		return h, nil
	}
	nt := r.NotificationTo
	if nt == "" {
		nt = defaultNotificationTo
	}
	if strings.ContainsAny(nt, "\r\n\x00") {
		return nil, errors.New("as2: Disposition-Notification-To holds a line break or NUL")
	}
	h.Set(HeaderNotificationTo, nt)
	if r.SignedReceipt {
		h.Set(HeaderNotificationOpts, FormatNotificationOptions(r.MICAlg))
	}
	if r.Receipt == ReceiptAsync {
		u, ok := ParseHTTPURL(r.AsyncURL)
		if !ok {
			return nil, fmt.Errorf("as2: asynchronous MDN URL %q is not an http(s) URL", clip(shownURL(r.AsyncURL)))
		}
		h.Set(HeaderReceiptDelivery, u.String())
	}
	return h, nil
}

// validMessageID accepts "<left@right>" without white space, controls or
// further angle brackets.
func validMessageID(id string) bool {
	if len(id) < 5 || len(id) > 998 || id[0] != '<' || id[len(id)-1] != '>' {
		return false
	}
	in := id[1 : len(id)-1]
	at := strings.IndexByte(in, '@')
	if at <= 0 || at == len(in)-1 {
		return false
	}
	for i := 0; i < len(in); i++ {
		if c := in[i]; c <= ' ' || c > '~' || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// bracketed returns a received Message-ID (or Original-Message-ID) in the
// angle brackets every Message-ID bizpipe sends has: RFC 4130 §5.3.3 has
// a receiver not check for them, and partners that keep Message-IDs
// without them write them so. Space around it is dropped; "", and an ID
// with one bracket only, stay as they are.
func bracketed(id string) string {
	id = strings.TrimSpace(id)
	if id == "" || strings.HasPrefix(id, "<") || strings.HasSuffix(id, ">") {
		return id
	}
	return "<" + id + ">"
}

// FormatNotificationOptions returns the Disposition-Notification-Options
// value that asks for a signed receipt with alg (RFC 4130 §7.3).
func FormatNotificationOptions(alg Alg) string {
	return "signed-receipt-protocol=optional, " + signedReceiptProtocol + "; signed-receipt-micalg=optional, " + alg.String()
}

// NotificationOptions is a parsed Disposition-Notification-Options value.
type NotificationOptions struct {
	// Signed reports that a signed receipt was asked for with protocol
	// pkcs7-signature (optional or required).
	Signed bool
	// SignedRequired reports importance "required" for the protocol.
	SignedRequired bool
	// MICAlgs are the signed-receipt-micalg names as given, in order.
	MICAlgs []string
}

// maxOptionValues bounds the values of one option.
const maxOptionValues = 32

// ParseNotificationOptions reads Disposition-Notification-Options (RFC
// 4130 §7.3): "signed-receipt-protocol=importance, protocol;
// signed-receipt-micalg=importance, alg, alg...". Parameter names and
// values compare case-insensitively; unknown parameters are ignored.
func ParseNotificationOptions(v string) (NotificationOptions, error) {
	var o NotificationOptions
	if len(v) > 4096 {
		return o, errors.New("as2: Disposition-Notification-Options is too long")
	}
	for _, param := range strings.Split(v, ";") {
		param = strings.TrimSpace(param)
		if param == "" {
			continue
		}
		name, val, ok := strings.Cut(param, "=")
		if !ok {
			return o, fmt.Errorf("as2: Disposition-Notification-Options: parameter %q has no value", clip(param))
		}
		vals := strings.Split(val, ",")
		if len(vals) < 2 || len(vals) > maxOptionValues {
			return o, fmt.Errorf("as2: Disposition-Notification-Options: parameter %q: want \"importance, value...\"", clip(param))
		}
		importance := strings.ToLower(strings.TrimSpace(vals[0]))
		if importance != "required" && importance != "optional" {
			return o, fmt.Errorf("as2: Disposition-Notification-Options: importance %q (want required or optional)", clip(importance))
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "signed-receipt-protocol":
			for _, p := range vals[1:] {
				if strings.EqualFold(strings.TrimSpace(p), signedReceiptProtocol) {
					o.Signed = true
					o.SignedRequired = importance == "required"
				}
			}
		case "signed-receipt-micalg":
			for _, a := range vals[1:] {
				if a = strings.TrimSpace(a); a != "" {
					o.MICAlgs = append(o.MICAlgs, a)
				}
			}
		}
	}
	return o, nil
}

// MICAlg returns the algorithm a receiver uses for the Received-Content-MIC
// (spec §11): the first of the requested ones it supports, else SHA-256.
func (o NotificationOptions) MICAlg() Alg {
	for _, name := range o.MICAlgs {
		if a, err := ParseAlg(name); err == nil {
			return a
		}
	}
	return SHA256
}

// ReceivedRequest is what a receiver reads from the AS2 headers of a
// message.
type ReceivedRequest struct {
	From, To  string // unquoted AS2 identifiers
	MessageID string
	Subject   string
	// Receipt is ReceiptNone when no Disposition-Notification-To was
	// sent, ReceiptAsync when a Receipt-Delivery-Option URL was given.
	Receipt  ReceiptMode
	AsyncURL string
	Options  NotificationOptions
}

// ErrNoMessageID is ParseRequest's error for a request without a
// Message-ID, which ParseMDNRequest accepts.
var ErrNoMessageID = errors.New("as2: no Message-ID")

// ParseRequest reads the AS2 headers of a received message. AS2-From,
// AS2-To and Message-ID (with or without angle brackets, kept as written)
// are required, ErrNoMessageID when the last is missing;
// Receipt-Delivery-Option must be an http(s) URL. It does not judge
// whether From and To are acceptable.
func ParseRequest(h http.Header) (*ReceivedRequest, error) {
	return parseRequest(h, true)
}

// ParseMDNRequest reads the AS2 headers of a request that carries an
// asynchronous MDN: as ParseRequest, but without a Message-ID it leaves
// MessageID "" (a malformed one is refused all the same). The MDN names
// what it answers by its Original-Message-ID, and some products
// (OpenText) send it without a Message-ID of its own.
func ParseMDNRequest(h http.Header) (*ReceivedRequest, error) {
	return parseRequest(h, false)
}

func parseRequest(h http.Header, needID bool) (*ReceivedRequest, error) {
	r := &ReceivedRequest{Receipt: ReceiptNone}
	var err error
	if r.From, err = ParseName(h.Get(HeaderFrom)); err != nil {
		return nil, fmt.Errorf("AS2-From: %w", err)
	}
	if r.To, err = ParseName(h.Get(HeaderTo)); err != nil {
		return nil, fmt.Errorf("AS2-To: %w", err)
	}
	r.MessageID = strings.TrimSpace(h.Get(HeaderMessageID))
	switch {
	case r.MessageID == "" && needID:
		return nil, ErrNoMessageID
	case r.MessageID == "":
	case !validMessageID(bracketed(r.MessageID)):
		return nil, fmt.Errorf("as2: Message-ID %q is not of the form <left@right>", clip(r.MessageID))
	}
	r.Subject = h.Get(HeaderSubject)
	if strings.TrimSpace(h.Get(HeaderNotificationTo)) == "" {
		return r, nil
	}
	r.Receipt = ReceiptSync
	if opts := h.Get(HeaderNotificationOpts); opts != "" {
		if r.Options, err = ParseNotificationOptions(opts); err != nil {
			return nil, err
		}
	}
	if u := strings.TrimSpace(h.Get(HeaderReceiptDelivery)); u != "" {
		pu, ok := ParseHTTPURL(u)
		if !ok {
			return nil, fmt.Errorf("as2: Receipt-Delivery-Option %q is not an http(s) URL", clip(shownURL(u)))
		}
		r.Receipt, r.AsyncURL = ReceiptAsync, pu.String()
	}
	return r, nil
}

// shownURL is the URL s (a configured one, or a partner's
// Receipt-Delivery-Option) as an error shows it: without what may be its
// user information (a password) nor its query and fragment (a token), as
// the http transport shows a URL. s is too broken to parse, so they are
// found without parsing: everything from the start of the authority to
// the last "@" becomes "..." (a broken URL cannot say where its authority
// ends: a password may hold a "/", so a path with an "@" is cut too); when
// a "?" or "#" comes before that "@", either may hold the other, and only
// the scheme is shown.
func shownURL(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + len("://")
	}
	rest := s[start:]
	at, q := strings.LastIndex(rest, "@"), strings.IndexAny(rest, "?#")
	switch {
	case at >= 0 && q >= 0 && q < at:
		return s[:start] + "..."
	case at >= 0:
		rest = "...@" + rest[at+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		if rest[i] == '?' {
			return s[:start] + rest[:i] + "?[query omitted]"
		}
		rest = rest[:i]
	}
	return s[:start] + rest
}

// ParseHTTPURL parses s as AS2 takes a URL (a partner's, a
// Receipt-Delivery-Option): absolute, http or https, with a host; ok is
// false for anything else.
func ParseHTTPURL(s string) (u *url.URL, ok bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}
