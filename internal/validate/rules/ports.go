package rules

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// minRSABits is the smallest RSA key not flagged as weak (BP5001).
const minRSABits = 2048

// checkPorts evaluates the signing and encryption rules for every
// (send port, host instance) pair.
func (c *checker) checkPorts() {
	hostsWithoutInstance := map[*model.Host][]string{}
	for _, p := range c.cfg.SendPorts {
		if !c.runs(p.Host) {
			continue
		}
		needs := p.Needs()
		signs, encrypts := needs.Signing == component.Needed, needs.Encryption == component.Needed
		if p.Host == nil {
			if !encrypts {
				c.checkEncryptionUnused(p)
			}
			continue
		}
		if signs && len(p.Host.Instances) == 0 {
			hostsWithoutInstance[p.Host] = append(hostsWithoutInstance[p.Host], p.Name)
		}
		if signs && (c.signingOK || c.rolloverOK) {
			user := fmt.Sprintf("Send port %q signs with %s", p.Name, keyUser(p.Pipeline, p.Transport, signingNeed))
			for _, in := range c.instancesOf(p.Host) {
				c.checkSigningPair(user, in)
			}
		}
		if encrypts {
			c.checkEncryption(p)
		} else {
			c.checkEncryptionUnused(p)
		}
	}
	for _, h := range c.cfg.Hosts {
		if ports := hostsWithoutInstance[h]; len(ports) > 0 {
			c.add(diag.Errorf(diag.CodeSignHostNoInstance, h.DeclRange, "Signing host has no instance",
				"Host %q runs the signing send port(s) %s but has no instance block, so nothing can sign for them. Add an instance { server = ..., service_account = ... }.",
				h.Name, quoted(ports)))
		}
	}
}

// checkSigningCertificateSet reports a group without signing_certificate in a
// configuration whose pipelines sign (BP1004: §3 makes the attribute required
// then). The decoder reads one block at a time, so the rules check it.
func (c *checker) checkSigningCertificateSet() {
	g := c.cfg.Group
	if g == nil || g.SigningCertificate.Set {
		return
	}
	var pipelines, ports []string
	// With Options.Host, the pipelines its ports and locations use.
	covered := map[*model.Pipeline]bool{}
	for _, p := range c.cfg.SendPorts {
		covered[p.Pipeline] = covered[p.Pipeline] || c.runs(p.Host)
	}
	for _, r := range c.cfg.ReceiveLocations {
		covered[r.Pipeline] = covered[r.Pipeline] || c.runs(r.Host)
	}
	for _, pl := range c.cfg.Pipelines {
		if pl.Signs() && (c.host == "" || covered[pl]) {
			pipelines = append(pipelines, pl.Name)
		}
	}
	for _, p := range c.cfg.SendPorts {
		if c.runs(p.Host) && p.Needs().Signing == component.Needed {
			ports = append(ports, p.Name)
		}
	}
	// A receive location signs when its transport does (an AS2 location's
	// MDNs, language §11).
	var locations []string
	for _, r := range c.cfg.ReceiveLocations {
		if c.runs(r.Host) && r.Needs().Signing == component.Needed {
			locations = append(locations, r.Name)
		}
	}
	var what string
	switch {
	case len(pipelines) > 0 && len(ports) > 0:
		what = fmt.Sprintf("pipeline(s) %s, used by send port(s) %s,", quoted(pipelines), quoted(ports))
	case len(pipelines) > 0:
		what = fmt.Sprintf("pipeline(s) %s", quoted(pipelines))
	case len(ports) > 0:
		what = fmt.Sprintf("send port(s) %s", quoted(ports))
	}
	switch {
	case len(locations) > 0 && what != "":
		what += fmt.Sprintf(" and receive location(s) %s", quoted(locations))
	case len(locations) > 0:
		what = fmt.Sprintf("receive location(s) %s", quoted(locations))
	case what == "":
		return
	}
	c.add(diag.Errorf(diag.CodeInvalidValue, g.DeclRange, "Missing signing_certificate",
		"Group %q sets no signing_certificate, but %s sign. Set signing_certificate to the thumbprint of the group signing certificate (bizpipe certs lists them).",
		g.Name, what))
}

// checkSigningPair: the instance's service account must reach the group
// signing certificate and its private key (BP3001, BP3002), and the
// certificate must be usable (BP3003–BP3005, BP5001); the same for the
// signing_rollover certificate (BP3007), which signs from its at on. Once
// the rollover is due, the current certificate is not needed any more.
// user names the port or location and what in it signs.
func (c *checker) checkSigningPair(user string, in *model.Instance) {
	if in.Account == nil || in.Account.PersonalStore == nil {
		return // unresolved reference, already reported
	}
	decl := in.Account.PersonalStore
	ls := c.stores[decl]
	if ls == nil || ls.store == nil {
		return // store unreadable or path unknown, already reported
	}
	who := fmt.Sprintf("%s and runs on the instance of %s, whose personal store is %s",
		user, instanceDesc(in), storeDesc(decl))
	if c.signingOK && !c.rolledOver() {
		c.checkCurrentSigning(who, in, decl, ls)
	}
	if c.rolloverOK {
		c.checkRolloverPair(who, in, decl, ls)
	}
}

// checkCurrentSigning checks the pair for the group's signing_certificate.
func (c *checker) checkCurrentSigning(who string, in *model.Instance, decl *model.CertificateStore, ls *loadedStore) {
	g := c.cfg.Group
	cert := ls.store.Find(c.signing)
	switch {
	case cert == nil && ls.complete:
		// A near match means a mistyped thumbprint, not a missing
		// certificate: point at signing_certificate, which needs the fix.
		rng, advice := in.DeclRange, "Add the certificate and its private key to the store, or run this instance as an account whose store has them."
		if hint, ok := c.typoHint(decl, ls.store, c.signing, "the group's signing_certificate"); ok {
			rng, advice = g.SigningCertificate.Range, strings.TrimSpace(hint)+" Otherwise add the certificate and its private key to the store."
		}
		c.add(diag.Errorf(diag.CodeSignCertMissing, rng, "Signing certificate not in personal store",
			"%s. That store has no certificate with the group %q signing thumbprint %s. %s",
			who, g.Name, c.tpDesc(c.signing), advice))
		return
	case cert == nil:
		return // may be in a PKCS#12 file that could not be opened (BP2005)
	case cert.Key == nil && ls.complete:
		c.add(diag.Errorf(diag.CodeSignKeyMissing, in.DeclRange, "Signing certificate has no private key",
			"%s. That store has the group signing certificate %s, %s, in %s, but not its private key%s, so this instance cannot sign. Add the key (for example a PKCS#12 file with certificate and key) to the store.",
			who, c.tpDesc(c.signing), subject(cert.Cert), fileIn(decl, cert.File), unmatchedKeys(decl, ls.store)))
	case cert.Key == nil:
		// The key may be in a PKCS#12 file that could not be opened (BP2005,
		// BP2003) or parsed (BP2002): do not report it missing.
	}
	c.naming(who, func() { c.checkSigningCert(decl, cert, false) })
}

// checkSigningCert reports a signing certificate's own problems once: the
// current one (rollover false), judged up to the rollover's at, or the
// rollover one, judged from its at on (language §12).
func (c *checker) checkSigningCert(decl *model.CertificateStore, cert *certstore.Certificate, rollover bool) {
	if !c.once(fmt.Sprintf("sign:%t:%s", rollover, cert.SHA256)) {
		return
	}
	g := c.cfg.Group
	rng, tp, what := g.SigningCertificate.Range, c.signing, "signing certificate"
	from, until := c.now, time.Time{}
	if rollover {
		rng, tp, what = g.SigningRollover.Thumbprint.Range, c.rollover, "signing_rollover certificate"
		if at, ok := c.rolloverAt(); ok && at.After(from) {
			from = at
		}
	} else if at, ok := c.rolloverAt(); ok {
		until = at
	}
	name := fmt.Sprintf("The group %q %s %s, %s, in %s,", g.Name, what, c.tpDesc(tp), subject(cert.Cert), fileIn(decl, cert.File))
	c.checkSigningDates(cert.Cert, rng, name, from, until)
	x := cert.Cert
	// RFC 8550 (4.4.2): recipients reject an S/MIME signature whose
	// certificate's key usage has neither digitalSignature nor
	// nonRepudiation, as the decoder does (certinfo.SignerError) and
	// OpenSSL's smimesign purpose: nonRepudiation alone is a signing
	// certificate.
	if x.KeyUsage != 0 && x.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		c.add(diag.Errorf(diag.CodeSignCertUsage, rng, "Signing certificate not valid for signatures",
			"%s has a key usage extension without digitalSignature or nonRepudiation (it allows %s), so recipients will reject its signatures. Use a certificate issued for signing.",
			name, strings.Join(certinfo.KeyUsage(x.KeyUsage), ", ")))
	} else if len(x.ExtKeyUsage)+len(x.UnknownExtKeyUsage) > 0 && !hasEKU(x, x509.ExtKeyUsageEmailProtection) {
		c.add(diag.Warningf(diag.CodeSignCertUsage, rng, "Signing certificate not issued for S/MIME",
			"%s has an extended key usage without emailProtection or anyExtendedKeyUsage; strict S/MIME recipients may reject its signatures.", name))
	} else if types, ok := netscapeCertType(x); ok && !slices.Contains(types, "email") && !slices.Contains(types, "client") {
		// The legacy form of the same restriction: crypto/x509 ignores
		// it, OpenSSL's smimesign purpose (cms -verify) refuses a
		// signer whose nsCertType has neither S/MIME nor SSL client.
		allows := "no type"
		if len(types) > 0 {
			allows = strings.Join(types, ", ")
		}
		c.add(diag.Warningf(diag.CodeSignCertUsage, rng, "Signing certificate not issued for S/MIME",
			"%s has a Netscape certificate type (nsCertType) without email or client (it allows %s); strict S/MIME recipients, OpenSSL among them (\"unsuitable certificate purpose\"), reject its signatures.",
			name, allows))
	}
	// Recipients verify the signature's certificate: crypto/x509 (a
	// partner running bizpipe, whose decoder applies
	// certinfo.SignerError) and any verifier that does not know the
	// extension, OpenSSL among them, refuse it (RFC 5280 4.2).
	if certinfo.CriticalExtensionError(x) != nil {
		c.add(diag.Errorf(diag.CodeSignCertUsage, rng, "Signing certificate has an unhandled critical extension",
			"%s has the critical extension %v, which crypto/x509 does not handle, so recipients that do not know it (bizpipe, OpenSSL: \"unhandled critical extension\") will reject its signatures. Use a certificate without it.",
			name, x.UnhandledCriticalExtensions[0]))
	}
	// The smime stage refuses such a key when run starts (signatureOID).
	if err := certinfo.SigningKeyError(x.PublicKey); err != nil {
		advice := "an RSA key of 2048 bits or more"
		if rsaMalformed(x.PublicKey) {
			advice = standardRSA
		}
		c.add(diag.Errorf(diag.CodeSignCertUsage, rng, "Signing certificate key cannot sign",
			"%s cannot sign: %v. Use a certificate with an ECDSA key or %s.",
			name, err, advice))
	}
	c.checkKeySize(x, rng, name)
}

// checkSigningDates judges a signing certificate over the time it signs,
// from from (now, or a later rollover at) until until (the rollover's at,
// zero when it signs for good): BP3003 when it is not valid at from,
// BP3004 when it expires within the warning window and before until.
func (c *checker) checkSigningDates(x *x509.Certificate, rng hcl.Range, name string, from, until time.Time) {
	window := c.window()
	at := ""
	if from.After(c.now) {
		at = fmt.Sprintf(", when the rollover at %s makes it sign", from.UTC().Format(time.RFC3339))
	}
	switch {
	case from.Before(x.NotBefore):
		c.add(diag.Errorf(diag.CodeSignCertDates, rng, "Certificate not yet valid",
			"%s is not valid before %s%s.", name, x.NotBefore.UTC().Format(time.RFC3339), at))
	case from.After(x.NotAfter) && at != "":
		c.add(diag.Errorf(diag.CodeSignCertDates, rng, "Certificate expires before the rollover",
			"%s expires on %s, before it is needed%s. Use a certificate valid from then on.", name, x.NotAfter.UTC().Format(time.RFC3339), at))
	case from.After(x.NotAfter):
		c.add(diag.Errorf(diag.CodeSignCertDates, rng, "Certificate expired",
			"%s expired on %s.", name, x.NotAfter.UTC().Format(time.RFC3339)))
	case !until.IsZero() && !x.NotAfter.Before(until):
		// The rollover replaces it before it expires.
	case c.now.Add(window).After(x.NotAfter):
		more := ""
		if !until.IsZero() {
			more = fmt.Sprintf(" It expires before the signing_rollover at %s: move the rollover before its expiry.", until.UTC().Format(time.RFC3339))
		}
		c.add(diag.Warningf(diag.CodeSignCertExpiring, rng, "Certificate expires soon",
			"%s expires on %s, within the %s warning window (certificate_expiry_warning).%s",
			name, x.NotAfter.UTC().Format(time.RFC3339), window, more))
	}
}

// checkEncryption checks an encrypting port's certificate on every server
// where its host has an instance (BP4001–BP4005).
func (c *checker) checkEncryption(p *model.SendPort) {
	if !p.EncryptionCertificate.Set {
		c.add(diag.Errorf(diag.CodeEncCertRequired, p.DeclRange, "Encrypting send port has no encryption certificate",
			"Send port %q uses %s, which encrypts, but sets no encryption_certificate. Set it to the thumbprint of the partner's certificate (bizpipe certs lists them).",
			p.Name, keyUser(p.Pipeline, p.Transport, encryptionNeed)))
		return
	}
	tp, ok := c.encrypt[p]
	if !ok {
		return // unknown or malformed, already reported
	}
	rng := p.EncryptionCertificate.Range
	for _, in := range c.instancesOf(p.Host) {
		srv := in.Server
		if srv == nil || !c.once(fmt.Sprintf("enc:%p:%p", p, srv)) {
			continue // unresolved, or this server already checked for this port
		}
		who := fmt.Sprintf("Send port %q encrypts with %s and runs on the instance of %s", p.Name, keyUser(p.Pipeline, p.Transport, encryptionNeed), instanceDesc(in))
		if srv.OtherPeopleStore == nil {
			if srv.OtherPeopleStoreRef == nil {
				c.add(diag.Errorf(diag.CodeEncCertMissing, srv.DeclRange, "Server has no other-people store",
					"%s, but server %q declares no other_people_store, so the partner certificate %s cannot be found there. Add other_people_store = certificate_store.NAME to the server.",
					who, srv.Name, c.tpDesc(tp)))
			}
			continue
		}
		decl := srv.OtherPeopleStore
		ls := c.stores[decl]
		if ls == nil || ls.store == nil {
			continue
		}
		cert := ls.store.Find(tp)
		if cert == nil {
			if ls.complete {
				hint, _ := c.typoHint(decl, ls.store, tp, "the send port's encryption_certificate")
				c.add(diag.Errorf(diag.CodeEncCertMissing, rng, "Encryption certificate not in other-people store",
					"%s; the other-people store of server %q is %s, which has no certificate with thumbprint %s.%s Add the partner's certificate to that store on every server where the host has an instance.",
					who, srv.Name, storeDesc(decl), c.tpDesc(tp), hint))
			}
			continue
		}
		c.naming(fmt.Sprintf("%s; the other-people store of server %q is %s", who, srv.Name, storeDesc(decl)),
			func() { c.checkEncryptionCert(p, tp, decl, cert) })
	}
}

// checkEncryptionCert reports a partner certificate's own problems once per port.
func (c *checker) checkEncryptionCert(p *model.SendPort, tp thumbprint.Thumbprint, decl *model.CertificateStore, cert *certstore.Certificate) {
	if !c.once(fmt.Sprintf("enccert:%p:%s", p, cert.SHA256)) {
		return
	}
	rng := p.EncryptionCertificate.Range
	name := fmt.Sprintf("The encryption certificate %s of send port %q, %s, in %s,", c.tpDesc(tp), p.Name, subject(cert.Cert), fileIn(decl, cert.File))
	c.checkDates(cert.Cert, rng, name, diag.CodeEncCertDates, diag.CodeEncCertExpiring)
	// Unlike the signing certificate's, its critical extensions are not
	// judged: nothing path-validates it. bizpipe pins it by thumbprint and
	// encrypts with its key alone (cms.Encrypt), and the partner decrypts
	// with its own key, whatever extensions its certificate carries
	// (OpenSSL's cms -decrypt does not examine the recipient
	// certificate), so an unhandled critical extension suspends nothing.
	c.checkKeyTransport(cert.Cert, rng, name, diag.CodeEncCertUsage, "Encryption",
		"S/MIME encryption here needs an RSA key for key transport", "so it cannot be used to encrypt",
		"so bizpipe run cannot encrypt for it")
	c.checkKeySize(cert.Cert, rng, name)
}

// checkKeyTransport reports (code) a certificate named name that cannot
// transport an S/MIME content key: not an RSA key, or a key usage
// extension without keyEncipherment, or an RSA key crypto/rsa refuses
// (certinfo.RSAKeyError: too small, or with numbers no RSA key pair has).
// role titles the finding; notRSA, noKeyUsage and refusedKey end its text
// for each case.
func (c *checker) checkKeyTransport(x *x509.Certificate, rng hcl.Range, name string, code diag.Code, role, notRSA, noKeyUsage, refusedKey string) {
	if _, isRSA := x.PublicKey.(*rsa.PublicKey); !isRSA {
		c.add(diag.Errorf(code, rng, role+" certificate cannot transport keys",
			"%s has %s key; %s.", name, certinfo.WithArticle(certinfo.Algorithm(x)), notRSA))
	} else if err := certinfo.RSAKeyError(x.PublicKey); err != nil {
		// crypto/rsa refuses it in every operation, encryption and
		// decryption alike.
		title, advice := role+" certificate key too small", "an RSA key of 2048 bits or more"
		if rsaMalformed(x.PublicKey) {
			title, advice = role+" certificate key not usable", standardRSA
		}
		c.add(diag.Errorf(code, rng, title,
			"%s has %v, %s. Use a certificate with %s.", name, err, refusedKey, advice))
	} else if x.KeyUsage != 0 && x.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		c.add(diag.Errorf(code, rng, role+" certificate not valid for key encipherment",
			"%s has a key usage extension without keyEncipherment (it allows %s), %s.", name, strings.Join(certinfo.KeyUsage(x.KeyUsage), ", "), noKeyUsage))
	}
}

// checkEncryptionUnused warns when a port sets a certificate it never uses (BP4006).
func (c *checker) checkEncryptionUnused(p *model.SendPort) {
	if !p.EncryptionCertificate.Set {
		return
	}
	if p.PipelineRef != nil && p.Pipeline == nil {
		return // pipeline unresolved: cannot tell
	}
	if p.Pipeline != nil && !encryptKnown(p.Pipeline) {
		return
	}
	what := "has no pipeline"
	if p.Pipeline != nil {
		what = fmt.Sprintf("uses pipeline %q, which does not encrypt", p.Pipeline.Name)
	}
	c.add(diag.Warningf(diag.CodeEncCertUnused, p.EncryptionCertificate.Range, "Encryption certificate set but not used",
		"Send port %q sets encryption_certificate but %s, so messages leave unencrypted. Use an encrypting pipeline, or remove the attribute.", p.Name, what))
}

func signingNeed(n component.Needs) component.Need    { return n.Signing }
func encryptionNeed(n component.Needs) component.Need { return n.Encryption }

// keyUser names what makes a port or location need a key, for details: its
// pipeline (`pipeline "sign"`), its transport (`transport "as2"`), or both.
func keyUser(pl *model.Pipeline, tr *model.Component, need func(component.Needs) component.Need) string {
	var users []string
	if pl != nil && need(pl.Needs()) == component.Needed {
		users = append(users, fmt.Sprintf("pipeline %q", pl.Name))
	}
	if tr != nil && need(tr.Needs()) == component.Needed {
		users = append(users, fmt.Sprintf("transport %q", tr.Spec.Name))
	}
	return strings.Join(users, " and ")
}

// encryptKnown reports whether it is known whether the pipeline encrypts.
func encryptKnown(pl *model.Pipeline) bool {
	return pl.Needs().Encryption != component.MaybeNeeded
}

// checkDates reports an expired or not-yet-valid certificate, or one expiring
// within the group's warning window.
func (c *checker) checkDates(x *x509.Certificate, rng hcl.Range, name string, errCode, warnCode diag.Code) {
	window := time.Duration(0)
	if g := c.cfg.Group; g != nil && g.CertificateExpiryWarning.Known {
		window = g.CertificateExpiryWarning.V
	}
	switch {
	case c.now.Before(x.NotBefore):
		c.add(diag.Errorf(errCode, rng, "Certificate not yet valid",
			"%s is not valid before %s.", name, x.NotBefore.UTC().Format(time.RFC3339)))
	case c.now.After(x.NotAfter):
		c.add(diag.Errorf(errCode, rng, "Certificate expired",
			"%s expired on %s.", name, x.NotAfter.UTC().Format(time.RFC3339)))
	case c.now.Add(window).After(x.NotAfter):
		c.add(diag.Warningf(warnCode, rng, "Certificate expires soon",
			"%s expires on %s, within the %s warning window (certificate_expiry_warning).",
			name, x.NotAfter.UTC().Format(time.RFC3339), window))
	}
}

// checkKeySize warns (BP5001) of an RSA key under minRSABits that
// crypto/rsa still uses; a smaller one, or one crypto/rsa refuses for its
// numbers, is an error of the certificate's role (certinfo.RSAKeyError),
// not a weakness.
func (c *checker) checkKeySize(x *x509.Certificate, rng hcl.Range, name string) {
	if k, ok := x.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits && certinfo.RSAKeyError(k) == nil {
		c.add(diag.Warningf(diag.CodeWeakAlgorithm, rng, "Weak RSA key",
			"%s has a %d-bit RSA key; keys under %d bits are weak.", name, k.N.BitLen(), minRSABits))
	}
}

// standardRSA is the key to use instead of one rsaMalformed reports.
const standardRSA = "a standard RSA key (2048 bits or more, public exponent 65537)"

// rsaMalformed reports an RSA key crypto/rsa refuses for its numbers (an
// even modulus, an exponent not odd or out of range) rather than for its
// size, both certinfo.RSAKeyError.
func rsaMalformed(pub crypto.PublicKey) bool {
	k, ok := pub.(*rsa.PublicKey)
	return ok && k.N != nil && k.N.BitLen() >= certinfo.MinRSABits && certinfo.RSAKeyError(pub) != nil
}

// oidNetscapeCertType is the Netscape certificate type extension
// (nsCertType), which older CAs still write.
var oidNetscapeCertType = asn1.ObjectIdentifier{2, 16, 840, 1, 113730, 1, 1}

// netscapeCertType returns the types x's nsCertType extension allows, by
// the names OpenSSL's configuration gives them (client, server, email,
// ...), and ok false when x has no such extension, or one that does not
// parse.
func netscapeCertType(x *x509.Certificate) (types []string, ok bool) {
	names := []string{"client", "server", "email", "objsign", "reserved", "sslCA", "emailCA", "objCA"}
	for _, e := range x.Extensions {
		if !e.Id.Equal(oidNetscapeCertType) {
			continue
		}
		var bits asn1.BitString
		if rest, err := asn1.Unmarshal(e.Value, &bits); err != nil || len(rest) > 0 {
			return nil, false
		}
		types = []string{}
		for i, n := range names {
			if bits.At(i) == 1 {
				types = append(types, n)
			}
		}
		return types, true
	}
	return nil, false
}

func hasEKU(x *x509.Certificate, want x509.ExtKeyUsage) bool {
	for _, u := range x.ExtKeyUsage {
		if u == want || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

func subject(x *x509.Certificate) string {
	return fmt.Sprintf("subject %q", x.Subject.String())
}

// fileIn names a store file by the store path as configured (relative to the
// working directory, like every other path in diagnostics), not the loader's
// absolute path. The name is escaped (safetext.Field): whoever drops a file
// in a store chooses it, and a control character in it must not reach a
// terminal or forge a line of the report.
func fileIn(decl *model.CertificateStore, file string) string {
	if decl.Path.Sensitive {
		return safetext.Field(filepath.Base(file)) // the directory comes from a sensitive value
	}
	return safetext.Field(filepath.Join(decl.Path.V, filepath.Base(file)))
}

// unmatchedKeys is what a detail that reports a certificate without its
// private key adds when the store holds keys that match no certificate: "
// (the private key in F matches no certificate in the store, this one
// included)". Such a key was exported with another certificate than its
// own (a PKCS#12 file of one certificate and another's key), and "add the
// key" alone would send the user to add what is there already. Empty when
// every key of the store has its certificate.
func unmatchedKeys(decl *model.CertificateStore, st *certstore.Store) string {
	var files []string
	for _, k := range st.UnmatchedKeys {
		if !slices.Contains(files, k.File) {
			files = append(files, k.File)
		}
	}
	switch n := len(st.UnmatchedKeys); n {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (the private key in %s matches no certificate in the store, this one included)", listFiles(decl, files))
	default:
		return fmt.Sprintf(" (the %d private keys in %s match no certificate in the store, this one included)", n, listFiles(decl, files))
	}
}

func quoted(names []string) string {
	sort.Strings(names)
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
