package as2

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// Bounds on a received MDN. A real one is a few kilobytes; MaxMDNSize
// leaves room for one that returns (part of) the original message.
const (
	// MaxMDNSize is the largest MDN entity ParseMDN reads.
	MaxMDNSize = 4 << 20
	// maxReportParts bounds the parts of the multipart/report.
	maxReportParts = 8
	// maxNotificationFields bounds the fields of the
	// message/disposition-notification part.
	maxNotificationFields = 100
)

// VerifyOptions says how to check a received MDN's signature.
type VerifyOptions struct {
	// Trusted are the partner's signing certificates (spec §10: the
	// party's signing_certificates). A signed MDN is accepted only when
	// its signer is exactly one of them (not merely a certificate they
	// issued) and valid at Now; the certificate embedded in the signature
	// is never trusted by itself. With none, a signed MDN is an error.
	Trusted []*x509.Certificate
	// Parties, when not nil, are every party's signing certificates,
	// Trusted's among them (component.Keys.PartySigners). They change
	// which reason refuses an MDN, not which MDNs verify: a signer that
	// is none of them is refused as the signing certificate of no party,
	// and one with the issuer and serial number of a party's certificate
	// as a certificate that does not match that one
	// (smime.DecodeOptions.Parties), rather than by its chain error
	// ("certificate signed by unknown authority"), which would point at
	// the partner's certificate.
	Parties []component.PartyCertificate
	// Partner, with Parties, is the name of the party whose certificates
	// Trusted are: an MDN signed by another party's certificate is
	// refused naming both (smime.DecodeOptions.Party).
	Partner string
	// Now is the time at which the signer's certificate must be valid;
	// zero means time.Now().
	Now time.Time
	// SpoolDir is where the S/MIME decoder keeps its (unlinked) temporary
	// files; "" means os.TempDir().
	SpoolDir string
	// Unverified reads the report inside a signed MDN without checking
	// the signature (Signed stays false): for a sender that did not ask
	// for a signed MDN and would accept an unsigned one, whose partner
	// signs anyway (RFC 4130 lets it). Trusted is then not used.
	Unverified bool
}

// ReceivedMDN is a parsed MDN; when signed, verified unless it was read
// with VerifyOptions.Unverified and not verified since (Signed says).
type ReceivedMDN struct {
	MDN
	// MICField is the Received-Content-MIC as written ("" when absent);
	// MDN.MIC is its parsed form, nil when absent or not understood
	// (MICError says why).
	MICField string
	MICError error
	// Signed reports a signature that verified with Signer, one of the
	// trusted certificates.
	Signed bool
	Signer *x509.Certificate
	// Raw is the MDN entity as given to ParseMDN (not copied).
	Raw []byte

	// signedReport is the multipart/report the fields were read from when
	// the MDN is multipart/signed (nil when it is not): Verify compares
	// it with the content the signature covers.
	signedReport *entity
}

// ParseMDN reads an MDN: raw is its whole MIME entity (for one received
// over HTTP, JoinEntity of the response's or request's headers and body).
// A multipart/signed MDN must verify against opts.Trusted; an unsigned
// multipart/report is accepted as such (Signed false) and the caller
// decides whether that is enough. The report must hold a
// message/disposition-notification part with a Disposition.
//
// ParseMDN with opts is ParseMDN with VerifyOptions{Unverified: true}
// followed by Verify(opts): a caller that must read an MDN before it knows
// whose signature counts (an asynchronous one, found by its
// Original-Message-ID) reads it once and verifies it later.
func ParseMDN(raw []byte, opts VerifyOptions) (*ReceivedMDN, error) {
	if len(raw) > MaxMDNSize {
		return nil, fmt.Errorf("as2: MDN of %d octets exceeds the limit of %d", len(raw), MaxMDNSize)
	}
	e, err := parseEntity(raw)
	if err != nil {
		return nil, fmt.Errorf("as2: MDN: %w", err)
	}
	r := &ReceivedMDN{Raw: raw}
	report := e
	switch e.mediaType {
	case "multipart/signed":
		if report, err = unwrapSigned(e.body, e.params["boundary"]); err != nil {
			return nil, err
		}
		r.signedReport = report
	case "multipart/report":
		if err := checkReport(e); err != nil {
			return nil, fmt.Errorf("as2: MDN: %w", err)
		}
	default:
		return nil, fmt.Errorf("as2: MDN has Content-Type %q, want multipart/report or multipart/signed", clip(e.mediaType))
	}
	if err := r.readReport(report.mediaType, report.params, report.body); err != nil {
		return nil, err
	}
	if err := r.Verify(opts); err != nil {
		return nil, err
	}
	return r, nil
}

// checkReport checks the multipart/report of an MDN, whether it stands
// alone or is the first part of a multipart/signed one, so that a signed
// MDN is held to what an unsigned one is. The report is read as it stands,
// so only an identity transfer encoding is allowed (RFC 2045 §6.4: none
// other is defined for a composite type).
func checkReport(e *entity) error {
	if e.mediaType != "multipart/report" {
		return fmt.Errorf("holds %q, want multipart/report", clip(e.mediaType))
	}
	switch e.cte {
	case "", "7bit", "8bit", "binary":
		return nil
	}
	return fmt.Errorf("a multipart/report cannot have Content-Transfer-Encoding %q", clip(e.cte))
}

// Verify checks the signature of an MDN ParseMDN read, as ParseMDN does
// with opts: with opts.Unverified, or for an unsigned MDN, it does
// nothing; otherwise the MDN must verify against opts.Trusted, and then
// Signed and Signer are set and the fields are those of the content the
// signature covers. On error r is left as it was.
func (r *ReceivedMDN) Verify(opts VerifyOptions) error {
	if opts.Unverified || r.signedReport == nil {
		return nil
	}
	if len(opts.Trusted) == 0 {
		return errors.New("as2: the MDN is signed but no partner certificate was given to verify it")
	}
	roots := x509.NewCertPool()
	for _, c := range opts.Trusted {
		roots.AddCert(c)
	}
	d, err := smime.Decode(r.Raw, smime.DecodeOptions{Roots: roots, Certs: opts.Trusted, Parties: opts.Parties, Party: opts.Partner, Now: opts.Now, SpoolDir: opts.SpoolDir})
	if err != nil {
		return fmt.Errorf("as2: MDN signature: %w", err)
	}
	if !d.Signed || d.Encrypted {
		return errors.New("as2: MDN signature: not a signed multipart/report")
	}
	trusted := false
	for _, c := range opts.Trusted {
		if bytes.Equal(c.Raw, d.Signer.Raw) {
			trusted = true
		}
	}
	if !trusted {
		n := smime.Shown(d.Signer)
		return fmt.Errorf("as2: MDN signed by %s (serial %s%s), which is not one of the partner's signing certificates", n.Subject, n.Serial, n.Thumbprint)
	}
	m, p, err := parseMediaType(d.ContentType)
	if err != nil {
		return fmt.Errorf("as2: signed MDN: %w", err)
	}
	if m != "multipart/report" {
		return fmt.Errorf("as2: signed MDN holds %q, want multipart/report", clip(m))
	}
	// The fields read must be those signed. The content that verified is
	// normally the report as read; when it is not (the signature covers
	// its canonical CRLF form, or package smime split the parts
	// otherwise), it is read again.
	read := r.signedReport
	if !bytes.Equal(d.Body, read.body) || m != read.mediaType || !maps.Equal(p, read.params) {
		v := &ReceivedMDN{Raw: r.Raw, signedReport: &entity{mediaType: m, params: p, body: d.Body}}
		if err := v.readReport(m, p, d.Body); err != nil {
			return err
		}
		*r = *v
	}
	r.Signed, r.Signer = true, d.Signer
	return nil
}

// readReport reads the parts of a multipart/report body.
func (r *ReceivedMDN) readReport(mt string, params map[string]string, body []byte) error {
	if rt := strings.ToLower(params["report-type"]); rt != "disposition-notification" {
		return fmt.Errorf("as2: MDN: report-type %q, want disposition-notification", clip(params["report-type"]))
	}
	parts, err := smime.SplitMultipart(body, params["boundary"], maxReportParts)
	if err != nil {
		return fmt.Errorf("as2: MDN %s: %w", mt, err)
	}
	found := false
	for i, raw := range parts {
		p, err := parseEntity(raw)
		if err != nil {
			return fmt.Errorf("as2: MDN part %d: %w", i+1, err)
		}
		content, err := decodeBody(p.body, p.cte)
		if err != nil {
			return fmt.Errorf("as2: MDN part %d: %w", i+1, err)
		}
		switch {
		case p.mediaType == "message/disposition-notification":
			// A second one could say otherwise (RFC 6522 §3: the
			// report's second part is the one).
			if found {
				return errors.New("as2: MDN has more than one message/disposition-notification part")
			}
			if err := r.readNotification(content); err != nil {
				return err
			}
			found = true
		case i == 0 && p.mediaType == "text/plain":
			r.Text = strings.TrimSpace(string(content))
		}
	}
	if !found {
		return errors.New("as2: MDN has no message/disposition-notification part")
	}
	return nil
}

// readNotification reads the fields of the message/disposition-notification
// part (RFC 3798 §3.1, RFC 4130 §7.4.3).
func (r *ReceivedMDN) readNotification(content []byte) error {
	// smime.SplitEntity stops at its own bound on fields (a multiple of ours)
	// as it reads them, so a part of nothing but fields costs about its
	// size, not a map of all of them.
	fields, _, err := smime.SplitEntity(bytes.TrimLeft(content, "\r\n"))
	if err != nil {
		return fmt.Errorf("as2: MDN disposition-notification fields: %w", err)
	}
	if len(fields) > maxNotificationFields {
		return fmt.Errorf("as2: MDN has more than %d disposition-notification fields", maxNotificationFields)
	}
	// Of a repeated field, the first counts; but the fields that decide
	// what the MDN proves occur once (RFC 3798 §3.1), and an MDN that
	// holds two of one (processed and failed, two MICs) proves nothing:
	// another reader could take the other.
	get := func(name string) string {
		for _, f := range fields {
			if strings.EqualFold(f.Name, name) {
				return f.Value
			}
		}
		return ""
	}
	for _, name := range []string{"Original-Message-ID", "Disposition", "Received-Content-MIC"} {
		if _, _, err := field(fields, name); err != nil {
			return fmt.Errorf("as2: MDN disposition-notification fields: %w", err)
		}
	}
	r.ReportingUA = get("Reporting-UA")
	r.OriginalRecipient = recipient(get("Original-Recipient"))
	r.FinalRecipient = recipient(get("Final-Recipient"))
	r.OriginalMessageID = bracketed(get("Original-Message-ID"))
	disp := get("Disposition")
	if disp == "" {
		return errors.New("as2: MDN has no Disposition field")
	}
	if r.Disposition, err = ParseDisposition(disp); err != nil {
		return err
	}
	r.MICField = get("Received-Content-MIC")
	if r.MICField != "" {
		mic, err := ParseMIC(r.MICField)
		if err != nil {
			r.MICError = err
		} else {
			r.MIC = &mic
		}
	}
	return nil
}

// recipient reads "rfc822; ID" (the address type is dropped; a quoted ID
// is unquoted when it parses as an AS2 name).
func recipient(v string) string {
	if _, id, ok := strings.Cut(v, ";"); ok {
		v = strings.TrimSpace(id)
	}
	if n, err := ParseName(v); err == nil {
		return n
	}
	return v
}

// parseMediaType is smime.ParseMediaType with a clipped error.
func parseMediaType(ct string) (string, map[string]string, error) {
	mt, params, err := smime.ParseMediaType(ct)
	if err != nil {
		return "", nil, fmt.Errorf("invalid Content-Type %q: %w", clip(ct), err)
	}
	return mt, params, nil
}

// unwrapSigned returns the first part of a multipart/signed body
// (boundary), the signed content, without checking the signature; the
// part must pass checkReport.
func unwrapSigned(signed []byte, boundary string) (*entity, error) {
	parts, err := smime.SplitMultipart(signed, boundary, 2)
	if err != nil {
		return nil, fmt.Errorf("as2: signed MDN: %w", err)
	}
	if len(parts) != 2 {
		return nil, fmt.Errorf("as2: signed MDN has %d parts, want 2", len(parts))
	}
	e, err := parseEntity(parts[0])
	if err != nil {
		return nil, fmt.Errorf("as2: signed MDN: %w", err)
	}
	if err := checkReport(e); err != nil {
		return nil, fmt.Errorf("as2: signed MDN: %w", err)
	}
	return e, nil
}
