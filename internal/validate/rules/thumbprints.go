package rules

import (
	"fmt"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
)

// checkThumbprints parses the group's signing thumbprint and every port's
// encryption thumbprint (BP2004).
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
		if tp, ok := c.parseThumbprint(p.EncryptionCertificate, "encryption_certificate of send port \""+p.Name+"\""); ok {
			c.encrypt[p] = tp
		}
	}
	c.decrypt = map[*model.Host]thumbprint.Thumbprint{}
	for _, h := range c.cfg.Hosts {
		if tp, ok := c.parseThumbprint(h.DecryptionCertificate, "decryption_certificate of host \""+h.Name+"\""); ok {
			c.decrypt[h] = tp
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
