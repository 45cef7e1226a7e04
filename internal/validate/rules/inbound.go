package rules

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// partyThumbprint is one well-formed thumbprint of a party's
// signing_certificates, with the range of its list element.
type partyThumbprint struct {
	tp  thumbprint.Thumbprint
	rng hcl.Range
}

// checkLocations evaluates the inbound rules (§10) for every (receive
// location, host instance) pair: the host's decryption certificate for a
// decrypting location (BP7001–BP7005), the parties' signing certificates for
// a verifying one (BP7006–BP7008), and the group signing certificate for a
// location whose transport signs (an AS2 location's MDNs, BP3001–BP3005).
// What a location needs comes from its components' Needs, as for ports.
func (c *checker) checkLocations() {
	undeclared := map[*model.Host][]string{}
	for _, r := range c.cfg.ReceiveLocations {
		if r.Host == nil || !c.runs(r.Host) {
			continue // unresolved reference, already reported, or not covered
		}
		needs := r.Needs()
		if needs.Signing == component.Needed && (c.signingOK || c.rolloverOK) {
			user := fmt.Sprintf("Receive location %q signs with %s", r.Name, keyUser(r.Pipeline, r.Transport, signingNeed))
			for _, in := range c.instancesOf(r.Host) {
				c.checkSigningPair(user, in)
			}
		}
		if needs.Decryption == component.Needed {
			h := r.Host
			if !h.DecryptionCertificate.Set {
				undeclared[h] = append(undeclared[h], r.Name)
			} else {
				certs := c.decryptionCerts(h)
				for _, in := range c.instancesOf(h) {
					for _, dc := range certs {
						c.checkDecryptionPair(r, in, dc)
					}
				}
			}
		}
		if needs.PartySigning == component.Needed {
			rng := r.DeclRange
			if r.PipelineRef != nil {
				rng = r.PipelineRef.Range
			}
			c.checkPartyCerts(fmt.Sprintf("Receive location %q verifies signatures with %s", r.Name, keyUser(r.Pipeline, r.Transport, partySigningNeed)),
				rng, r.Host, c.cfg.Parties, nil)
		}
	}
	for _, h := range c.cfg.Hosts {
		if locs := undeclared[h]; len(locs) > 0 {
			c.add(diag.Errorf(diag.CodeDecCertRequired, h.DeclRange, "Decrypting host has no decryption certificate",
				"Host %q runs the decrypting receive location(s) %s but declares no decryption_certificate, so its instances have nothing to decrypt with. Set decryption_certificate to the thumbprint of the host's decryption certificate (bizpipe certs lists them).",
				h.Name, quoted(locs)))
		}
	}
}

// decryptionCert is one certificate a host decrypts with: its
// decryption_certificate, or an entry of its
// previous_decryption_certificates, which still decrypts what partners
// encrypted for it while they switch.
type decryptionCert struct {
	tp  thumbprint.Thumbprint
	rng hcl.Range // the attribute's value, or the list element's
	// attr names it in the host block: "decryption_certificate", or
	// "previous_decryption_certificates[1]".
	attr     string
	previous bool
}

// decryptionCerts are the well-formed certificates host h decrypts with:
// its decryption_certificate first, then its previous ones. The rules
// check each alike where a location needs to decrypt (Needs.Decryption),
// as the runner provisions each.
func (c *checker) decryptionCerts(h *model.Host) []decryptionCert {
	var out []decryptionCert
	if tp, ok := c.decrypt[h]; ok {
		out = append(out, decryptionCert{tp: tp, rng: h.DecryptionCertificate.Range, attr: "decryption_certificate"})
	}
	return append(out, c.previous[h]...)
}

// thumbprintOf names dc's thumbprint as a detail does: "host "h"'s
// decryption thumbprint 5B1E... (SHA-1)".
func (c *checker) thumbprintOf(h *model.Host, dc decryptionCert) string {
	if dc.previous {
		return fmt.Sprintf("host %q's previous decryption thumbprint %s, its %s", h.Name, c.tpDesc(dc.tp), dc.attr)
	}
	return fmt.Sprintf("host %q's decryption thumbprint %s", h.Name, c.tpDesc(dc.tp))
}

// checkPreviousDecryption reports, per host, a previous decryption
// certificate that is its decryption_certificate, or listed twice, by the
// same or another kind of thumbprint (BP1004, as a rollover to the same
// certificate is): the list is of the certificates the host decrypted
// with before, each to be removed on its own once partners have switched.
// Such an entry is left out of the other rules, which judge it as the
// certificate it repeats.
func (c *checker) checkPreviousDecryption() {
	for _, h := range c.cfg.Hosts {
		if !c.runs(h) {
			continue
		}
		var kept []decryptionCert
		cur, curOK := c.decrypt[h]
	entries:
		for _, dc := range c.previous[h] {
			if curOK && c.sameCertificate(cur, dc.tp) {
				c.add(diag.Errorf(diag.CodeInvalidValue, dc.rng, "Previous decryption certificate is the current one",
					"The %s of host %q is %s, which is already its decryption_certificate: the list is of the certificates the host decrypted with before, which it still decrypts with while partners switch to the current one. Remove it from previous_decryption_certificates.",
					dc.attr, h.Name, c.tpDesc(dc.tp)))
				continue
			}
			for _, k := range kept {
				if c.sameCertificate(k.tp, dc.tp) {
					c.add(diag.Errorf(diag.CodeInvalidValue, dc.rng, "Previous decryption certificate listed twice",
						"The %s of host %q is %s, the certificate its %s already lists. Remove one of them.",
						dc.attr, h.Name, c.tpDesc(dc.tp), k.attr))
					continue entries
				}
			}
			kept = append(kept, dc)
		}
		c.previous[h] = kept
	}
}

// checkDecryptionPair: the instance's service account must reach dc, one
// of the host's decryption certificates, and its private key (BP7002,
// BP7003), and the certificate must be usable (BP7004, BP7005, BP5001). A
// previous certificate is needed as much as the current one: without it,
// what partners still encrypt for it is suspended.
func (c *checker) checkDecryptionPair(r *model.ReceiveLocation, in *model.Instance, dc decryptionCert) {
	if in.Account == nil || in.Account.PersonalStore == nil {
		return // unresolved reference, already reported
	}
	decl := in.Account.PersonalStore
	ls := c.stores[decl]
	if ls == nil || ls.store == nil {
		return // store unreadable or path unknown, already reported
	}
	h := r.Host
	who := fmt.Sprintf("Receive location %q decrypts with %s and runs on the instance of %s, whose personal store is %s",
		r.Name, keyUser(r.Pipeline, r.Transport, decryptionNeed), instanceDesc(in), storeDesc(decl))
	role, consequence, undecrypted, remove := "decryption certificate", "", "", ""
	if dc.previous {
		role = "previous decryption certificate"
		consequence = ", so the messages partners still encrypt for it would be suspended"
		undecrypted = " the messages partners still encrypt for it, which would be suspended"
		remove = " Once no partner encrypts for it any more, remove it from previous_decryption_certificates instead."
	}
	cert := ls.store.Find(dc.tp)
	switch {
	case cert == nil && ls.complete:
		// As for BP3001: a near match points at the thumbprint.
		rng, advice := in.DeclRange, "Add the certificate and its private key to the store, or run this instance as an account whose store has them."
		if hint, ok := c.typoHint(decl, ls.store, dc.tp, "the host's "+dc.attr); ok {
			rng, advice = dc.rng, strings.TrimSpace(hint)+" Otherwise add the certificate and its private key to the store."
		}
		c.add(diag.Errorf(diag.CodeDecCertMissing, rng, "Decryption certificate not in personal store",
			"%s. That store has no certificate with %s%s. %s%s",
			who, c.thumbprintOf(h, dc), consequence, advice, remove))
		return
	case cert == nil:
		return // may be in a PKCS#12 file that could not be opened (BP2005)
	case cert.Key == nil && ls.complete:
		what := fmt.Sprintf("host %q's %s %s", h.Name, role, c.tpDesc(dc.tp))
		if dc.previous {
			what += ", its " + dc.attr
		}
		c.add(diag.Errorf(diag.CodeDecKeyMissing, in.DeclRange, "Decryption certificate has no private key",
			"%s. That store has %s, %s, in %s, but not its private key%s, so this instance cannot decrypt%s. Add the key (for example a PKCS#12 file with certificate and key) to the store.%s",
			who, what, subject(cert.Cert), fileIn(decl, cert.File), unmatchedKeys(decl, ls.store), undecrypted, remove))
	}
	c.naming(who, func() { c.checkDecryptionCert(h, dc, decl, cert) })
}

// checkDecryptionCert reports a decryption certificate's own problems once
// per host: dates and key transport (BP7004, BP7005), key size (BP5001).
// A previous certificate's dates are warnings (checkPreviousDates).
func (c *checker) checkDecryptionCert(h *model.Host, dc decryptionCert, decl *model.CertificateStore, cert *certstore.Certificate) {
	if !c.once(fmt.Sprintf("deccert:%p:%s", h, cert.SHA256)) {
		return
	}
	name := fmt.Sprintf("The decryption certificate %s of host %q, %s, in %s,", c.tpDesc(dc.tp), h.Name, subject(cert.Cert), fileIn(decl, cert.File))
	if dc.previous {
		name = fmt.Sprintf("The previous decryption certificate %s of host %q (%s), %s, in %s,", c.tpDesc(dc.tp), h.Name, dc.attr, subject(cert.Cert), fileIn(decl, cert.File))
		c.checkPreviousDates(cert.Cert, dc.rng, name)
	} else {
		c.checkDates(cert.Cert, dc.rng, name, diag.CodeDecCertUnusable, diag.CodeDecCertExpiring)
	}
	c.checkKeyTransport(cert.Cert, dc.rng, name, diag.CodeDecCertUnusable, "Decryption",
		// Partners can encrypt for an EC key (OpenSSL agrees a key by
		// ECDH): what fails is the decryption.
		"S/MIME decryption here needs an RSA key for key transport, so bizpipe run cannot decrypt what partners encrypt for it",
		"so partners' software refuses to encrypt for it",
		"so bizpipe run cannot decrypt with it")
	c.checkKeySize(cert.Cert, dc.rng, name)
}

// checkPreviousDates judges a previous decryption certificate's dates.
// Unlike the current one's, they are warnings: what decrypts a message is
// the key, whatever the dates, so no message is suspended for them. An
// expired one (BP7004) protects nothing new, as partners' software does
// not encrypt for an expired certificate: it is to be removed once what
// was encrypted for it before has arrived. One not yet valid (BP7004)
// cannot be what partners encrypted for before: most likely the next
// certificate in the wrong attribute. One expiring within the window
// (BP7005) tells that partners still encrypting for it must switch.
func (c *checker) checkPreviousDates(x *x509.Certificate, rng hcl.Range, name string) {
	window := c.window()
	switch {
	case c.now.Before(x.NotBefore):
		c.add(diag.Warningf(diag.CodeDecCertUnusable, rng, "Previous decryption certificate not yet valid",
			"%s is not valid before %s, so no partner can have encrypted for it yet: a previous decryption certificate is one partners encrypted for before decryption_certificate. If it is the host's next certificate, make it decryption_certificate once it is valid; otherwise correct the thumbprint.",
			name, x.NotBefore.UTC().Format(time.RFC3339)))
	case c.now.After(x.NotAfter):
		c.add(diag.Warningf(diag.CodeDecCertUnusable, rng, "Previous decryption certificate expired",
			"%s expired on %s, so partners' software no longer encrypts for it: it protects nothing new. What was encrypted for it before still decrypts; once that has arrived, remove it from previous_decryption_certificates.",
			name, x.NotAfter.UTC().Format(time.RFC3339)))
	case c.now.Add(window).After(x.NotAfter):
		c.add(diag.Warningf(diag.CodeDecCertExpiring, rng, "Previous decryption certificate expires soon",
			"%s expires on %s, within the %s warning window (certificate_expiry_warning). Partners that still encrypt for it must switch to the host's decryption_certificate before then; once none does, remove it from previous_decryption_certificates.",
			name, x.NotAfter.UTC().Format(time.RFC3339), window))
	}
}

// checkPartyCerts checks, on every server where host h has an instance
// but those in checked, that each of parties has a signing certificate in
// the server's other-people store (BP7006) that is usable (BP7007,
// BP7008). user names the location or port that verifies and with what;
// userRange is where a finding about it as a whole points.
//
// A party whose list is unknown during validate is skipped, as is one that
// lists no certificates: a party may exist only for AS2 (unsigned MDNs) and
// is then no signer. That no party at all lists one is reported, as every
// signed message would be rejected.
func (c *checker) checkPartyCerts(user string, userRange hcl.Range, h *model.Host, parties []*model.Party, checked map[*model.Server]bool) {
	var listed []*model.Party
	unknown, written := false, false
	for _, p := range parties {
		switch {
		case !p.SigningCertificatesKnown:
			unknown = true
		case len(p.SigningCertificates) > 0:
			written = true
			if len(c.partyCerts[p]) > 0 {
				listed = append(listed, p)
			}
		}
	}
	if !unknown && !written {
		what := "no party lists signing_certificates"
		if len(parties) == 0 {
			what = "no party is declared"
		}
		c.add(diag.Errorf(diag.CodePartyCertMissing, userRange, "No party signing certificate to verify with",
			"%s, but %s, so every signed message would be rejected as coming from an unknown signer. Declare the partners as party blocks with signing_certificates = [thumbprints].",
			user, what))
		return
	}
	for _, in := range c.instancesOf(h) {
		srv := in.Server
		if srv == nil || checked[srv] {
			continue // unresolved reference, already reported; or judged already
		}
		who := fmt.Sprintf("%s and runs on the instance of %s", user, instanceDesc(in))
		for _, p := range listed {
			if !c.once(fmt.Sprintf("party:%s:%p:%p", user, srv, p)) {
				continue // this server already checked for this user and party
			}
			if srv.OtherPeopleStore == nil {
				if srv.OtherPeopleStoreRef == nil {
					c.add(diag.Errorf(diag.CodePartyCertMissing, srv.DeclRange, "Server has no other-people store",
						"%s, but server %q declares no other_people_store, so the signing certificates of party %q (%s) cannot be found there. Add other_people_store = certificate_store.NAME to the server.",
						who, srv.Name, p.Name, c.partyTPList(p)))
				}
				continue
			}
			decl := srv.OtherPeopleStore
			ls := c.stores[decl]
			if ls == nil || ls.store == nil {
				continue // store unreadable or path unknown, already reported
			}
			var found []foundCert
			for _, pt := range c.partyCerts[p] {
				if cert := ls.store.Find(pt.tp); cert != nil {
					found = append(found, foundCert{partyThumbprint: pt, cert: cert})
				}
			}
			if len(found) == 0 {
				if ls.complete {
					c.add(diag.Errorf(diag.CodePartyCertMissing, p.SigningCertificatesRange, "Party signing certificate not in other-people store",
						"%s; the other-people store of server %q is %s, which has none of the signing certificates of party %q (%s). Add the party's current signing certificate to that store on every server where the host has an instance.",
						who, srv.Name, storeDesc(decl), p.Name, c.partyTPList(p)))
				}
				continue
			}
			c.checkPartyCertDates(p, decl, found, who)
		}
	}
}

// foundCert is a party thumbprint found in an other-people store.
type foundCert struct {
	partyThumbprint
	cert *certstore.Certificate
}

// checkPartyCertDates judges the party certificates found in one store
// together, as a verifier does: a party signs with any one of them, so a
// certificate that is not usable (expired, not yet valid, or one the
// decoder rejects whatever the time: certinfo.SignerError) is reported
// as an error (BP7007) only when none of the others found is usable now,
// and an expiring one (BP7008) only when none is usable beyond the
// warning window. A partner's old certificate lingering in the list
// during its rollover is no finding; one the decoder always rejects is a
// warning next to a usable one, as what the partner signs with it is
// rejected. who names the first pair that needs the certificates (the
// findings are properties of the certificates, so they are reported
// once).
func (c *checker) checkPartyCertDates(p *model.Party, decl *model.CertificateStore, found []foundCert, who string) {
	// rejected[i]: why the decoder rejects found[i] whatever the time.
	rejected := make([]error, len(found))
	var best *foundCert
	for i, f := range found {
		x := f.cert.Cert
		rejected[i] = certinfo.SignerError(x)
		if c.now.Before(x.NotBefore) || c.now.After(x.NotAfter) || rejected[i] != nil {
			continue
		}
		if best == nil || x.NotAfter.After(best.cert.Cert.NotAfter) {
			best = &found[i]
		}
	}
	name := func(f foundCert) string {
		return fmt.Sprintf("The signing certificate %s of party %q, %s, in %s,", c.tpDesc(f.tp), p.Name, subject(f.cert.Cert), fileIn(decl, f.cert.File))
	}
	others := ""
	if len(c.partyCerts[p]) > 1 {
		others = " None of the party's other listed certificates is usable there either."
	}
	needed := " " + who + "."
	for _, f := range found {
		if c.once(fmt.Sprintf("partykey:%s", f.cert.SHA256)) {
			c.checkKeySize(f.cert.Cert, f.rng, name(f))
		}
	}
	// The decoder's own test, whatever the dates. The error (no usable
	// certificate found next to it in this store) and the warning (one is)
	// are reported once each: a store that has the warning must not hide
	// the error of another server's store that holds only the rejected
	// certificate, whichever instance comes first.
	for i, f := range found {
		err := rejected[i]
		if err == nil || !c.once(fmt.Sprintf("partyuse:%p:%s:%t", p, f.cert.SHA256, best == nil)) {
			continue
		}
		if best == nil {
			c.add(diag.Errorf(diag.CodePartyCertInvalid, f.rng, "Party signing certificate not usable",
				"%s cannot verify signatures: %v, so the decoder rejects every signature made with it.%s%s Ask the party for a certificate it can sign S/MIME with, add it to the store and to signing_certificates.",
				name(f), err, others, needed))
		} else {
			c.add(diag.Warningf(diag.CodePartyCertInvalid, f.rng, "Party signing certificate not usable",
				"%s cannot verify signatures: %v, so the decoder rejects every signature made with it; the party's certificate %s is usable.%s Remove it from signing_certificates, or ask the party for one it can sign S/MIME with.",
				name(f), err, c.tpDesc(best.tp), needed))
		}
	}
	if best == nil {
		for i, f := range found {
			if rejected[i] != nil || !c.once(fmt.Sprintf("partycert:%p:%s", p, f.cert.SHA256)) {
				continue
			}
			x := f.cert.Cert
			if c.now.Before(x.NotBefore) {
				c.add(diag.Errorf(diag.CodePartyCertInvalid, f.rng, "Party signing certificate not yet valid",
					"%s is not valid before %s, so signatures made with it are rejected until then.%s%s", name(f), x.NotBefore.UTC().Format(time.RFC3339), others, needed))
			} else if c.now.After(x.NotAfter) {
				c.add(diag.Errorf(diag.CodePartyCertInvalid, f.rng, "Party signing certificate expired",
					"%s expired on %s, so signatures made with it are rejected.%s%s Ask the party for its current certificate, add it to the store and to signing_certificates.", name(f), x.NotAfter.UTC().Format(time.RFC3339), others, needed))
			}
		}
		return
	}
	window := c.window()
	if x := best.cert.Cert; c.now.Add(window).After(x.NotAfter) && c.once(fmt.Sprintf("partyexp:%p:%s", p, best.cert.SHA256)) {
		c.add(diag.Warningf(diag.CodePartyCertExpiring, best.rng, "Party signing certificate expires soon",
			"%s expires on %s, within the %s warning window (certificate_expiry_warning), and the party lists no certificate found there that is valid for longer.%s Ask the party for its next certificate.",
			name(*best), x.NotAfter.UTC().Format(time.RFC3339), window, needed))
	}
}

// window is the group's certificate_expiry_warning (0 when unknown).
func (c *checker) window() time.Duration {
	if g := c.cfg.Group; g != nil && g.CertificateExpiryWarning.Known {
		return g.CertificateExpiryWarning.V
	}
	return 0
}

// partyTPList renders a party's well-formed thumbprints for details.
func (c *checker) partyTPList(p *model.Party) string {
	var tps []string
	for _, pt := range c.partyCerts[p] {
		tps = append(tps, c.tpDesc(pt.tp))
	}
	return strings.Join(tps, ", ")
}

// checkAS2 reports the AS2 configuration problems of BP7009: two parties
// with one as2_id (an AS2-From would not name one party), and, for every
// transport whose configuration speaks AS2 (component.AS2Config), a group
// without as2_id, a partner without as2_id and an async MDN with nowhere to
// go. A send transport's partner is also the party whose signing
// certificates verify its MDNs, when its Needs ask for PartySigning.
func (c *checker) checkAS2() {
	seen := map[string]*model.Party{}
	for _, p := range c.cfg.Parties {
		if !p.AS2ID.Usable() {
			continue
		}
		first, dup := seen[p.AS2ID.V]
		if !dup {
			seen[p.AS2ID.V] = p
			continue
		}
		id := shownValue(p.AS2ID)
		c.add(diag.Errorf(diag.CodeAS2Config, p.AS2ID.Range, "Two parties with one AS2 identifier",
			"Parties %q and %q (declared at %s) both have as2_id %s, so an AS2 message from that identifier cannot be attributed to one party. Give each party its own as2_id.",
			p.Name, first.Name, first.DeclRange, id))
	}

	parties := map[string]*model.Party{}
	for _, p := range c.cfg.Parties {
		parties[p.Name] = p
	}
	var users []string
	for _, r := range c.cfg.ReceiveLocations {
		if _, ok := as2Of(r.Transport); ok && c.runs(r.Host) {
			users = append(users, fmt.Sprintf("receive location %q", r.Name))
		}
	}
	for _, p := range c.cfg.SendPorts {
		a, ok := as2Of(p.Transport)
		if !ok || !c.runs(p.Host) {
			continue
		}
		users = append(users, fmt.Sprintf("send port %q", p.Name))
		c.checkAS2Port(p, a, parties)
	}
	if g := c.cfg.Group; g != nil && len(users) > 0 && !g.AS2ID.Set {
		c.add(diag.Errorf(diag.CodeAS2Config, g.DeclRange, "Group has no AS2 identifier",
			"Group %q sets no as2_id, but %s use(s) an as2 transport, which needs it as the AS2-From of what the group sends and the AS2-To it accepts. Set as2_id in the group block.",
			g.Name, strings.Join(users, ", ")))
	}
}

// checkAS2Port checks an AS2 send transport's partner and MDN settings.
func (c *checker) checkAS2Port(p *model.SendPort, a component.AS2, parties map[string]*model.Party) {
	transport := fmt.Sprintf("transport %q", p.Transport.Spec.Name)
	if a.MDN.Usable() && a.MDN.V == "async" && !a.AsyncMDNURL.Set {
		c.add(diag.Errorf(diag.CodeAS2Config, a.MDN.Range, "Asynchronous MDN without a URL",
			"Send port %q asks for an asynchronous MDN (%s), but sets no async_mdn_url, so the partner has nowhere to send it. Set async_mdn_url to the URL of an as2 receive location of this group, or use mdn = \"sync\".",
			p.Name, transport))
	}
	if !a.Partner.Usable() {
		return
	}
	partner := parties[a.Partner.V]
	if partner == nil {
		return // undeclared party, already reported (BP1001)
	}
	if !partner.AS2ID.Set {
		c.add(diag.Errorf(diag.CodeAS2Config, a.Partner.Range, "AS2 partner has no AS2 identifier",
			"Send port %q sends with %s to party %q, which sets no as2_id, so there is no AS2-To to address it with. Set as2_id in party %q (declared at %s).",
			p.Name, transport, partner.Name, partner.Name, partner.DeclRange))
	}
	if p.Host != nil && p.Transport.Needs().PartySigning == component.Needed {
		c.checkPartyCerts(fmt.Sprintf("Send port %q verifies the MDNs of party %q with %s", p.Name, partner.Name, transport),
			a.Partner.Range, p.Host, []*model.Party{partner}, nil)
		if a.MDN.Usable() && a.MDN.V == "async" {
			c.checkAsyncMDNServers(p, a, partner, transport)
		}
	}
}

// checkAsyncMDNServers judges the partner's signing certificates where
// port p's asynchronous MDNs arrive and are verified: on the servers of
// the as2 receive locations that serve the path of its async_mdn_url (of
// all of them when none does, as a proxy in front may map the path),
// besides those where p runs, which checkAS2Port judged. A server that
// receives them without the partner's certificate answers each 503 until
// mdn_timeout suspends the delivery. An async_mdn_url unknown during
// validate is not guessed at.
func (c *checker) checkAsyncMDNServers(p *model.SendPort, a component.AS2, partner *model.Party, transport string) {
	if !a.AsyncMDNURL.Usable() || !partner.SigningCertificatesKnown || len(partner.SigningCertificates) == 0 {
		return // no URL (BP7009), or nothing to find (judged for the port)
	}
	u, err := url.Parse(a.AsyncMDNURL.V)
	if err != nil {
		return
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	var serving, all []*model.ReceiveLocation
	for _, r := range c.cfg.ReceiveLocations {
		ra, ok := as2Of(r.Transport)
		if !ok || r.Host == nil || !c.runs(r.Host) {
			continue
		}
		all = append(all, r)
		if ra.Path.Usable() && ra.Path.V == path {
			serving = append(serving, r)
		}
	}
	if len(serving) == 0 {
		serving = all
	}
	checked := map[*model.Server]bool{}
	for _, in := range c.instancesOf(p.Host) {
		checked[in.Server] = true
	}
	for _, r := range serving {
		c.checkPartyCerts(fmt.Sprintf("Send port %q asks party %q for asynchronous MDNs (%s), which receive location %q receives and verifies", p.Name, partner.Name, transport, r.Name),
			a.AsyncMDNURL.Range, r.Host, []*model.Party{partner}, checked)
	}
}

// as2Of returns what an AS2 transport's configuration says; ok is false for
// a transport that does not speak AS2, or that could not be decoded.
func as2Of(t *model.Component) (component.AS2, bool) {
	if t == nil || t.Config == nil {
		return component.AS2{}, false
	}
	a, ok := t.Config.(component.AS2Config)
	if !ok {
		return component.AS2{}, false
	}
	return a.AS2(), true
}

func decryptionNeed(n component.Needs) component.Need   { return n.Decryption }
func partySigningNeed(n component.Needs) component.Need { return n.PartySigning }

// shownValue renders a string value for a detail, hiding a sensitive one.
func shownValue(v model.Value[string]) string {
	if v.Sensitive {
		return redact.Shown
	}
	return fmt.Sprintf("%q", v.V)
}
