package rules

import (
	"fmt"
	"strings"

	"github.com/agext/levenshtein"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
)

// checkThumbprints parses the group's signing thumbprint, every port's
// encryption thumbprint and every host's decryption thumbprints (BP2004):
// the ports' and hosts' Options.Host covers.
func (c *checker) checkThumbprints() {
	c.encrypt = map[*model.SendPort]thumbprint.Thumbprint{}
	c.hidden = map[thumbprint.Thumbprint]bool{}
	if g := c.cfg.Group; g != nil {
		c.signing, c.signingOK = c.parseThumbprint(g.SigningCertificate, "signing_certificate of group \""+g.Name+"\"")
		if r := g.SigningRollover; r != nil {
			c.rollover, c.rolloverOK = c.parseThumbprint(r.Thumbprint, "certificate of the signing_rollover of group \""+g.Name+"\"")
		}
	}
	for _, p := range c.cfg.SendPorts {
		if !c.runs(p.Host) {
			continue
		}
		if tp, ok := c.parseThumbprint(p.EncryptionCertificate, "encryption_certificate of send port \""+p.Name+"\""); ok {
			c.encrypt[p] = tp
		}
	}
	c.decrypt = map[*model.Host]thumbprint.Thumbprint{}
	c.previous = map[*model.Host][]decryptionCert{}
	for _, h := range c.cfg.Hosts {
		if !c.runs(h) {
			continue
		}
		if tp, ok := c.parseThumbprint(h.DecryptionCertificate, "decryption_certificate of host \""+h.Name+"\""); ok {
			c.decrypt[h] = tp
		}
		for i, v := range h.PreviousDecryptionCertificates {
			attr := fmt.Sprintf("previous_decryption_certificates[%d]", i)
			if tp, ok := c.parseThumbprint(v, fmt.Sprintf("%s of host %q", attr, h.Name)); ok {
				c.previous[h] = append(c.previous[h], decryptionCert{tp: tp, rng: v.Range, attr: attr, previous: true})
			}
		}
	}
	c.partyCerts = map[*model.Party][]partyThumbprint{}
	for _, p := range c.cfg.Parties {
		for i, v := range p.SigningCertificates {
			if tp, ok := c.parseThumbprint(v, fmt.Sprintf("signing_certificates[%d] of party %q", i, p.Name)); ok {
				c.partyCerts[p] = append(c.partyCerts[p], partyThumbprint{tp: tp, rng: v.Range})
			}
		}
	}
}

func (c *checker) parseThumbprint(v model.Value[string], what string) (thumbprint.Thumbprint, bool) {
	if !v.Usable() {
		return thumbprint.Thumbprint{}, false
	}
	tp, err := thumbprint.Parse(v.V)
	if err != nil {
		reason := err.Error()
		if v.Sensitive {
			// The error names a character, its position or the number
			// of digits: each a piece of the value.
			reason = "the details are hidden, as the value is sensitive; look for a character other than hex digits, " +
				"spaces and colons (such as the invisible left-to-right mark Windows' certificate dialog copies) and count the digits"
		}
		c.add(diag.Errorf(diag.CodeThumbprint, v.Range, "Malformed thumbprint",
			"The %s is not a valid thumbprint: %s. A thumbprint is the 40 (SHA-1) or 64 (SHA-256) hex digits that bizpipe certs shows; spaces and colons are ignored.", what, reason))
		return thumbprint.Thumbprint{}, false
	}
	if v.Sensitive {
		c.hidden[tp] = true
	}
	return tp, true
}

// maxTypoDigits is how many digits a thumbprint may differ by (edits:
// a digit changed, dropped or doubled) from one in a store and still be
// taken for a typo of it.
const maxTypoDigits = 2

// nearMatch returns, for a thumbprint st does not hold, the certificate
// whose thumbprint of the same kind is within maxTypoDigits edits of it
// (closest, then first in the store), and the distance. It returns nil
// for a thumbprint written with a sensitive value: naming the near match
// would print all but a digit or two of it.
func (c *checker) nearMatch(st *certstore.Store, tp thumbprint.Thumbprint) (*certstore.Certificate, int) {
	if c.hidden[tp] {
		return nil, 0
	}
	var best *certstore.Certificate
	bestDist := maxTypoDigits + 1
	for _, cert := range st.Certificates {
		hex := cert.SHA1
		if tp.Kind == thumbprint.SHA256 {
			hex = cert.SHA256
		}
		if d := levenshtein.Distance(tp.Hex, hex, nil); d < bestDist {
			best, bestDist = cert, d
		}
	}
	return best, bestDist
}

// typoHint is the sentence a "certificate not in store" finding adds when
// the store holds a near match: the thumbprint is probably mistyped.
// attr names the attribute to correct.
func (c *checker) typoHint(decl *model.CertificateStore, st *certstore.Store, tp thumbprint.Thumbprint, attr string) (string, bool) {
	cert, dist := c.nearMatch(st, tp)
	if cert == nil {
		return "", false
	}
	hex := cert.SHA1
	if tp.Kind == thumbprint.SHA256 {
		hex = cert.SHA256
	}
	digits := "1 digit"
	if dist != 1 {
		digits = fmt.Sprintf("%d digits", dist)
	}
	return fmt.Sprintf(" The store does hold %s (%s), %s, in %s, whose thumbprint differs from it by %s: if that is the certificate meant, correct the thumbprint in %s.",
		strings.ToUpper(hex), tp.Kind, subject(cert.Cert), fileIn(decl, cert.File), digits, attr), true
}
