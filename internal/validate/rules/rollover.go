package rules

import (
	"fmt"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
)

// rolloverAt is the group's signing_rollover at, when there is one and it
// is known.
func (c *checker) rolloverAt() (time.Time, bool) {
	if c.cfg.Group == nil {
		return time.Time{}, false
	}
	return c.cfg.Group.SigningRollover.When()
}

// rolledOver reports whether the rollover is due: from its at on the
// rollover certificate signs, and signing_certificate is not needed.
func (c *checker) rolledOver() bool {
	return c.rolloverOK && c.cfg.Group != nil && c.cfg.Group.SigningRollover.InEffect(c.now)
}

// checkRollover checks the signing_rollover block itself: a rollover to
// the certificate already in use (BP1004: the next certificate was never
// filled in), and one that is done (BP3008).
func (c *checker) checkRollover() {
	g := c.cfg.Group
	if g == nil || g.SigningRollover == nil {
		return
	}
	r := g.SigningRollover
	if c.rolloverOK && c.signingOK && c.sameCertificate(c.signing, c.rollover) {
		c.add(diag.Errorf(diag.CodeInvalidValue, r.Thumbprint.Range, "Rollover to the same certificate",
			"The signing_rollover of group %q rolls over to %s, which is already its signing_certificate, so nothing changes at its at. Set certificate to the thumbprint of the next signing certificate.",
			g.Name, c.tpDesc(c.rollover)))
		return
	}
	at, ok := c.rolloverAt()
	if !ok || c.now.Before(at) {
		return
	}
	next := "the rollover certificate"
	if c.rolloverOK {
		next = c.tpDesc(c.rollover)
	}
	c.add(diag.Warningf(diag.CodeRolloverDone, r.Range, "Signing certificate rollover is done",
		"The signing_rollover of group %q took effect at %s: %s signs since then. Make it the group's signing_certificate and remove the signing_rollover block.",
		g.Name, at.UTC().Format(time.RFC3339), next))
}

// checkRolloverPair: an instance that signs must reach the rollover
// certificate with its private key before the rollover's at (BP3007): an
// error once at is within the warning window (or past), a warning before.
func (c *checker) checkRolloverPair(who string, in *model.Instance, decl *model.CertificateStore, ls *loadedStore) {
	g := c.cfg.Group
	cert := ls.store.Find(c.rollover)
	var problem string
	switch {
	case cert == nil && ls.complete:
		problem = fmt.Sprintf("That store has no certificate with the signing_rollover thumbprint %s", c.tpDesc(c.rollover))
	case cert == nil:
		return // may be in a PKCS#12 file that could not be opened (BP2005)
	case cert.Key == nil && ls.complete:
		problem = fmt.Sprintf("That store has the signing_rollover certificate %s, %s, in %s, but not its private key%s", c.tpDesc(c.rollover), subject(cert.Cert), fileIn(decl, cert.File), unmatchedKeys(decl, ls.store))
	}
	if problem == "" {
		if cert.Key != nil || !ls.complete {
			c.naming(who, func() { c.checkSigningCert(decl, cert, true) })
		}
		return
	}
	at, known := c.rolloverAt()
	when := "its at"
	if known {
		when = at.UTC().Format(time.RFC3339)
	}
	switch {
	case known && !c.now.Before(at):
		c.add(diag.Errorf(diag.CodeRolloverUnreachable, in.DeclRange, "Rollover certificate not deployed",
			"%s. %s, and the group %q rollover took effect at %s: this instance cannot sign. Add the certificate and its private key to the store now.",
			who, problem, g.Name, when))
	case known && !c.now.Add(c.window()).Before(at):
		c.add(diag.Errorf(diag.CodeRolloverUnreachable, in.DeclRange, "Rollover certificate not deployed",
			"%s. %s, and the group %q rollover is at %s, within the %s warning window (certificate_expiry_warning): from then on this instance cannot sign. Deploy the new certificate and its private key to %s before %s.",
			who, problem, g.Name, when, c.window(), storeDesc(decl), when))
	default:
		c.add(diag.Warningf(diag.CodeRolloverUnreachable, in.DeclRange, "Rollover certificate not deployed yet",
			"%s. %s. Deploy the new certificate and its private key to %s before %s (the group %q signing_rollover), or this instance cannot sign from then on.",
			who, problem, storeDesc(decl), when, g.Name))
	}
	if cert != nil {
		c.naming(who, func() { c.checkSigningCert(decl, cert, true) })
	}
}

// sameCertificate reports whether two thumbprints name one certificate:
// equal, or of different kinds (SHA-1, SHA-256) and matching one
// certificate of a loaded store.
func (c *checker) sameCertificate(a, b thumbprint.Thumbprint) bool {
	if a == b {
		return true
	}
	if a.Kind == b.Kind {
		return false
	}
	for _, ls := range c.stores {
		if ls.store == nil {
			continue
		}
		if cert := ls.store.Find(a); cert != nil && b.MatchesCertificate(cert.Cert) {
			return true
		}
	}
	return false
}
