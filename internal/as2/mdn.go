package as2

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// MDN is the content of a Message Disposition Notification as an AS2
// receiver writes it (RFC 4130 §7.4.3, RFC 3798 §3).
type MDN struct {
	// ReportingUA names the software that wrote the receipt.
	ReportingUA string
	// OriginalRecipient and FinalRecipient are AS2 identifiers (our
	// AS2-To as received), written as "rfc822; ID".
	OriginalRecipient string
	FinalRecipient    string
	// OriginalMessageID is the Message-ID of the message the MDN is about.
	OriginalMessageID string
	// Disposition is the outcome.
	Disposition Disposition
	// MIC is the Received-Content-MIC; nil leaves it out (it is required
	// in a signed receipt for a processed message).
	MIC *MIC
	// Text is the human-readable explanation, the first part of the
	// report; "" writes a default sentence.
	Text string
}

// BuildOptions says how to build an MDN's MIME entity.
type BuildOptions struct {
	// Signer signs the MDN (multipart/signed with a detached
	// application/pkcs7-signature, the certificate and Signer.Chain
	// embedded); nil sends it unsigned.
	Signer *smime.Signer
	// Digest is the signature's digest algorithm; RFC 4130 §7.3 has the
	// receiver use the requested micalg for both.
	Digest Alg
	// From and To are the AS2-From (us) and AS2-To (the message's sender)
	// of the MDN's own headers.
	From, To string
	// MessageID is the MDN's own Message-ID; "" generates a random one in
	// the domain of From.
	MessageID string
	// Rand is the source of MIME boundaries and signature randomness;
	// nil means crypto/rand.
	Rand io.Reader
}

// Built is an MDN ready to send: the HTTP headers (AS2 and MIME) and the
// body, to be written with a Content-Length of len(Body), never chunked
// (libas2 parses the raw bytes of a sync MDN). Entity is the whole MIME
// entity as a receiver keeps it: the header fields, an empty line, Body.
type Built struct {
	Header http.Header
	Body   []byte
	Entity []byte
}

// reportingUA is written when MDN.ReportingUA is empty.
const reportingUA = "bizpipe AS2"

// BuildMDN writes m as a multipart/report; report-type=disposition-notification
// with a text/plain explanation and a message/disposition-notification
// part, signed when opts.Signer is set. All line breaks are CRLF; the
// signed entity is the multipart/report with its header fields, including
// the CRLF after its closing delimiter.
func BuildMDN(m *MDN, opts BuildOptions) (*Built, error) {
	rnd := opts.Rand
	if rnd == nil {
		rnd = crand.Reader
	}
	report, ct, err := buildReport(m, rnd)
	if err != nil {
		return nil, err
	}
	msgID := opts.MessageID
	if msgID == "" {
		var b [16]byte
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return nil, fmt.Errorf("as2: generating a Message-ID: %w", err)
		}
		msgID = "<" + hex.EncodeToString(b[:]) + "@" + idDomain(opts.From) + ">"
	}
	if !validMessageID(msgID) {
		return nil, fmt.Errorf("as2: Message-ID %q is not of the form <left@right>", clip(msgID))
	}

	var entity []byte
	if opts.Signer == nil {
		entity = append([]byte("MIME-Version: 1.0\r\nContent-Type: "+ct+"\r\n\r\n"), report...)
	} else {
		o := smime.DefaultOptions()
		o.Signature = "clear"
		o.Digest = opts.Digest.ConfigName()
		o.ContentTransferEncoding = "7bit"
		enc, err := smime.NewEncoder(o)
		if err != nil {
			return nil, fmt.Errorf("as2: MDN signature: %w", err)
		}
		entity, err = enc.Encode(rnd, ct, report, opts.Signer, nil)
		if err != nil {
			return nil, fmt.Errorf("as2: signing the MDN: %w", err)
		}
	}
	fields, body, err := smime.SplitEntity(entity)
	if err != nil {
		return nil, fmt.Errorf("as2: MDN entity: %w", err)
	}
	h := http.Header{}
	for _, f := range fields {
		h.Add(f.Name, f.Value)
	}
	h.Set(HeaderVersion, Version)
	if opts.From != "" {
		from, err := QuoteName(opts.From)
		if err != nil {
			return nil, fmt.Errorf("AS2-From: %w", err)
		}
		h.Set(HeaderFrom, from)
	}
	if opts.To != "" {
		to, err := QuoteName(opts.To)
		if err != nil {
			return nil, fmt.Errorf("AS2-To: %w", err)
		}
		h.Set(HeaderTo, to)
	}
	h.Set(HeaderMessageID, msgID)
	return &Built{Header: h, Body: body, Entity: JoinEntity(h, body)}, nil
}

// JoinEntity returns the MIME entity of an HTTP message: its header
// fields (sorted by name, values as received) with CRLF line breaks, an
// empty line, and body. It is the form in which a received MDN is kept
// and parsed, so the fields that carry HTTP credentials (credentialFields:
// a request's Authorization and Cookie, a response's Set-Cookie) are left
// out: the box, which keeps it and shows it, is no place for them.
func JoinEntity(h http.Header, body []byte) []byte {
	names := make([]string, 0, len(h))
	n := len(body) + 2
	for k, vs := range h {
		if slices.Contains(credentialFields, http.CanonicalHeaderKey(k)) {
			continue
		}
		names = append(names, k)
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	sort.Strings(names)
	out := make([]byte, 0, n)
	for _, k := range names {
		for _, v := range h[k] {
			v = strings.Map(func(r rune) rune {
				if r == '\r' || r == '\n' {
					return ' '
				}
				return r
			}, v)
			out = append(out, k...)
			out = append(out, ": "...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, "\r\n"...)
	return append(out, body...)
}

// credentialFields are the HTTP header fields JoinEntity leaves out.
var credentialFields = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// buildReport returns the body of the multipart/report and its
// Content-Type.
func buildReport(m *MDN, rnd io.Reader) ([]byte, string, error) {
	if m == nil {
		return nil, "", errors.New("as2: no MDN to build")
	}
	var fields bytes.Buffer
	add := func(name, value string) error {
		if strings.ContainsAny(value, "\r\n") {
			return fmt.Errorf("as2: MDN field %s holds a line break", name)
		}
		for i := 0; i < len(value); i++ {
			if value[i] < ' ' || value[i] > '~' {
				return fmt.Errorf("as2: MDN field %s holds a character that is not printable US-ASCII", name)
			}
		}
		fields.WriteString(name + ": " + value + "\r\n")
		return nil
	}
	ua := m.ReportingUA
	if ua == "" {
		ua = reportingUA
	}
	if m.FinalRecipient == "" {
		return nil, "", errors.New("as2: MDN without Final-Recipient")
	}
	if m.Disposition.Type == "" {
		return nil, "", errors.New("as2: MDN without a disposition")
	}
	if m.OriginalMessageID == "" {
		return nil, "", errors.New("as2: MDN without Original-Message-ID")
	}
	orig := m.OriginalRecipient
	if orig == "" {
		orig = m.FinalRecipient
	}
	origQ, err := QuoteName(orig)
	if err != nil {
		return nil, "", fmt.Errorf("Original-Recipient: %w", err)
	}
	finalQ, err := QuoteName(m.FinalRecipient)
	if err != nil {
		return nil, "", fmt.Errorf("Final-Recipient: %w", err)
	}
	for _, f := range [][2]string{
		{"Reporting-UA", ua},
		{"Original-Recipient", "rfc822; " + origQ},
		{"Final-Recipient", "rfc822; " + finalQ},
		{"Original-Message-ID", m.OriginalMessageID},
		{"Disposition", m.Disposition.String()},
	} {
		if err := add(f[0], f[1]); err != nil {
			return nil, "", err
		}
	}
	if m.MIC != nil {
		if err := add("Received-Content-MIC", m.MIC.String()); err != nil {
			return nil, "", err
		}
	}

	text := m.Text
	if text == "" {
		text = defaultText(m)
	}
	text = crlfLines(text)

	var rb [12]byte
	if _, err := io.ReadFull(rnd, rb[:]); err != nil {
		return nil, "", fmt.Errorf("as2: reading random boundary: %w", err)
	}
	boundary := "----=_bizpipe_mdn_" + hex.EncodeToString(rb[:])
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.WriteString(text)
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/disposition-notification\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.Write(fields.Bytes())
	b.WriteString("\r\n--" + boundary + "--\r\n")
	ct := `multipart/report; report-type=disposition-notification; boundary="` + boundary + `"`
	return b.Bytes(), ct, nil
}

// defaultText is the explanation written when MDN.Text is empty.
func defaultText(m *MDN) string {
	if m.Disposition.Positive() {
		return "The AS2 message " + m.OriginalMessageID + " was received and processed. " +
			"This receipt does not guarantee that its content was read or understood."
	}
	return "The AS2 message " + m.OriginalMessageID + " was received but could not be processed: " +
		m.Disposition.Type + "/" + m.Disposition.Modifier + ": " + m.Disposition.Description + "."
}

// crlfLines returns s with every line break as CRLF, non-ASCII and
// control characters replaced by "?", lines wrapped to stay under 998
// octets, and no trailing line break.
func crlfLines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var b strings.Builder
	col := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			b.WriteString("\r\n")
			col = 0
			continue
		}
		if c < ' ' && c != '\t' || c > '~' {
			c = '?'
		}
		if col == 900 {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteByte(c)
		col++
	}
	return strings.TrimRight(b.String(), "\r\n")
}
