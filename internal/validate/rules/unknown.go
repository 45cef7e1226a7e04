package rules

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/message"
)

// keyRules are the rules each key's checks make, in the order of
// component.Needs, for BP1009's detail.
var keyRules = []struct {
	need  func(component.Needs) component.Need
	does  string // what the component may do with the key
	rules string
}{
	{signingNeed, "signs", "the signing certificate rules (BP3001–BP3007)"},
	{encryptionNeed, "encrypts", "the encryption certificate rules (BP4001–BP4006)"},
	{decryptionNeed, "decrypts", "the decryption certificate rules (BP7001–BP7005)"},
	{partySigningNeed, "verifies signatures", "the party signing certificate rules (BP7006–BP7008)"},
}

// checkUnknownNeeds warns (BP1009) at each attribute, unknown during
// validate, that leaves a key MaybeNeeded for a covered send port or
// receive location: the rules for that key are skipped there, as BP2005
// says of a store whose password is unknown, rather than skipped silently.
// A key another component of the port certainly needs is checked, and
// not reported.
func (c *checker) checkUnknownNeeds() {
	type use struct {
		comp  *model.Component
		what  string // the component, for the detail
		u     component.UnknownNeed
		users []string
	}
	var uses []*use
	index := map[string]*use{}
	note := func(user string, needs component.Needs, comp *model.Component, what string) {
		cfg, ok := comp.Config.(component.UnknownNeedsConfig)
		if !ok {
			return
		}
		for _, u := range cfg.UnknownNeeds() {
			skipped := false
			for _, k := range keyRules {
				skipped = skipped || (k.need(u.Needs) == component.MaybeNeeded && k.need(needs) == component.MaybeNeeded)
			}
			if !skipped {
				continue
			}
			key := fmt.Sprintf("%p:%s", comp, u.Attribute)
			x := index[key]
			if x == nil {
				x = &use{comp: comp, what: what, u: u}
				index[key] = x
				uses = append(uses, x)
			}
			x.users = append(x.users, user)
		}
	}
	stages := func(user string, needs component.Needs, pl *model.Pipeline) {
		if pl == nil {
			return
		}
		for _, st := range pl.Stages {
			if st.Spec != nil {
				note(user, needs, st, fmt.Sprintf("%s %q of pipeline %q", st.Spec.Kind.Block(), st.Spec.Name, pl.Name))
			}
		}
	}
	for _, u := range c.coveredUsers() {
		stages(u.name, u.needs, u.pipeline)
		if t := u.transport; t != nil && t.Spec != nil {
			note(u.name, u.needs, t, fmt.Sprintf("transport %q of %s", t.Spec.Name, u.name))
		}
	}
	for _, x := range uses {
		var does, skipped []string
		for _, k := range keyRules {
			if k.need(x.u.Needs) == component.MaybeNeeded {
				does = append(does, k.does)
				skipped = append(skipped, k.rules)
			}
		}
		c.add(diag.Warningf(diag.CodeNeedUnknown, x.u.Range, "Value unknown: certificate rules skipped",
			"The %s attribute of %s has no value during validate (give one with --var, --var-file or BIZPIPE_VAR_*), so whether it %s is not known, and %s are skipped for %s.",
			x.u.Attribute, x.what, strings.Join(does, " or "), strings.Join(skipped, " and "), strings.Join(x.users, ", ")))
	}
}

// checkUnknownWindow warns (BP1009) at the group's
// certificate_expiry_warning when it is unknown during validate and a
// covered send port or receive location needs a certificate: the rules
// that judge a certificate "expiring soon" read it as 0, so they say
// nothing, which must not pass for "nothing expires soon".
func (c *checker) checkUnknownWindow() {
	g := c.cfg.Group
	if g == nil || !g.CertificateExpiryWarning.Set || g.CertificateExpiryWarning.Known {
		return
	}
	var users []string
	for _, u := range c.coveredUsers() {
		for _, k := range keyRules {
			if k.need(u.needs) != component.NotNeeded {
				users = append(users, u.name)
				break
			}
		}
	}
	if len(users) == 0 {
		return
	}
	c.add(diag.Warningf(diag.CodeNeedUnknown, g.CertificateExpiryWarning.Range, "Value unknown: certificate rules skipped",
		"The group's certificate_expiry_warning has no value during validate (give one with --var, --var-file or BIZPIPE_VAR_*), so no certificate is judged to expire soon: the warnings BP3004, BP4004, BP7005 and BP7008 are skipped for %s.",
		strings.Join(users, ", ")))
}

// checkUnknownProperties warns (BP1009) at a receive location's
// properties when they depend on a variable without a value, names and
// all (properties = var.props): its messages may have any property, with
// any value, so BP1007 is skipped for the location when only a filter
// that reads properties could route its messages, and BP1008 for the
// filters of covered ports that read a property no other location sets.
// Properties with only some values unknown ({ token = var.token }) skip
// nothing: both rules judge them, an unknown value as unknown.
func (c *checker) checkUnknownProperties() {
	names, _ := c.propertyNames()
	var ports []portIndex
	if !c.cfg.Skipped[blockSendPort] {
		ports = c.filterPorts()
	}
	for _, rl := range c.cfg.ReceiveLocations {
		if u := rl.UnknownProperties; u == nil || u.NamesKnown {
			continue
		}
		var skipped []string
		if c.runs(rl.Host) {
			if byProps := routedOnlyByProperties(rl, ports); len(byProps) > 0 {
				skipped = append(skipped, fmt.Sprintf("BP1007 (whether a send port's filter can match its messages) for receive location %q, whose routing depends on the filter of %s",
					rl.Name, portList(byProps)))
			}
		}
		if !c.cfg.Skipped["receive_location"] {
			var reads []string
			for _, p := range c.cfg.SendPorts {
				var keys []string
				for _, r := range c.unsetReads(p, names) {
					keys = append(keys, r.key)
				}
				if len(keys) > 0 {
					reads = append(reads, fmt.Sprintf("send port %q (properties %s)", p.Name, quoted(keys)))
				}
			}
			if len(reads) > 0 {
				skipped = append(skipped, "BP1008 (a filter reads a property no receive location sets) for "+strings.Join(reads, ", "))
			}
		}
		if len(skipped) == 0 {
			continue
		}
		c.add(diag.Warningf(diag.CodeNeedUnknown, rl.Properties.Range, "Value unknown: routing rules skipped",
			"The properties attribute of receive location %q has no value during validate (give one with --var, --var-file or BIZPIPE_VAR_*), so which properties its messages have is not known, and the routing rules are skipped: %s.",
			rl.Name, strings.Join(skipped, "; ")))
	}
}

// routedOnlyByProperties returns the ports whose filters read properties
// and may match rl's messages, when BP1007's finding for rl depends on
// them: no filter matches its messages whatever their properties, nor
// may one that ignores properties.
func routedOnlyByProperties(rl *model.ReceiveLocation, ports []portIndex) []portIndex {
	p := message.Partial{ReceiveLocation: rl.Name} // properties unknown
	var readers []portIndex
	for _, pi := range ports {
		if pi.locations != nil && !pi.locations[rl.Name] {
			continue
		}
		sf, ok := pi.port.Filter.(message.StaticFilter)
		switch {
		case !ok || sf.MustMatch(p):
			return nil // in error (may match anything), or matches whatever the properties
		case !sf.MayMatch(p):
			continue
		case !readsProperties(pi.port):
			return nil // may match, whatever the properties
		}
		readers = append(readers, pi)
	}
	return readers
}

// readsProperties reports whether p's filter reads message.properties, or
// the whole message object.
func readsProperties(p *model.SendPort) bool {
	if p.FilterExpr == nil {
		return false
	}
	for _, tr := range p.FilterExpr.Variables() {
		if tr.RootName() != "message" {
			continue
		}
		if len(tr) < 2 {
			return true
		}
		if a, ok := tr[1].(hcl.TraverseAttr); !ok || a.Name == "properties" {
			return true
		}
	}
	return false
}

// coveredUser is a send port or receive location this check covers (its
// host runs here), as the BP1009 checks read it.
type coveredUser struct {
	name      string // `send port "x"`, `receive location "y"`
	needs     component.Needs
	pipeline  *model.Pipeline
	transport *model.Component
	host      *model.Host
	port      *model.SendPort // nil for a receive location
}

// coveredUsers lists the covered send ports, then receive locations, in
// configuration order.
func (c *checker) coveredUsers() []coveredUser {
	var out []coveredUser
	for _, p := range c.cfg.SendPorts {
		if p.Host != nil && c.runs(p.Host) {
			out = append(out, coveredUser{fmt.Sprintf("send port %q", p.Name), p.Needs(), p.Pipeline, p.Transport, p.Host, p})
		}
	}
	for _, r := range c.cfg.ReceiveLocations {
		if r.Host != nil && c.runs(r.Host) {
			out = append(out, coveredUser{fmt.Sprintf("receive location %q", r.Name), r.Needs(), r.Pipeline, r.Transport, r.Host, nil})
		}
	}
	return out
}

// checkUnknownCertificates warns (BP1009) at each thumbprint that has no
// value during validate where a covered send port or receive location may
// need it: the rules that find and judge that certificate are skipped for
// them, as BP2005 says of a store whose password is unknown, rather than
// skipped silently. Without it, a configuration whose thumbprints all came
// from variables given no value validated with nothing checked at all. A
// store path without a value is not warned about here: store paths are
// commonly unset in CI, where the stores are not; validate --live, on the
// server, says it (live: BP1009).
func (c *checker) checkUnknownCertificates() {
	unknown := func(v model.Value[string]) bool { return v.Set && !v.Known }
	warn := func(rng hcl.Range, attr, of, rules string, users []string) {
		if len(users) == 0 {
			return
		}
		c.add(diag.Warningf(diag.CodeNeedUnknown, rng, "Value unknown: certificate rules skipped",
			"The %s attribute of %s has no value during validate (give one with --var, --var-file or BIZPIPE_VAR_*), so %s are skipped for %s.",
			attr, of, rules, strings.Join(users, ", ")))
	}
	// needing names the covered ports and locations that may need a key
	// (need) and that keep says use it.
	users := c.coveredUsers()
	needing := func(need func(component.Needs) component.Need, keep func(coveredUser) bool) []string {
		var out []string
		for _, u := range users {
			if need(u.needs) != component.NotNeeded && keep(u) {
				out = append(out, u.name)
			}
		}
		return out
	}
	all := func(coveredUser) bool { return true }
	signingRules := "the signing certificate rules (BP3001–BP3007)"
	if g := c.cfg.Group; g != nil {
		if unknown(g.SigningCertificate) {
			warn(g.SigningCertificate.Range, "signing_certificate", fmt.Sprintf("group %q", g.Name), signingRules, needing(signingNeed, all))
		}
		if r := g.SigningRollover; r != nil && unknown(r.Thumbprint) {
			warn(r.Thumbprint.Range, "certificate", fmt.Sprintf("the signing_rollover of group %q", g.Name), signingRules, needing(signingNeed, all))
		}
	}
	for _, p := range c.cfg.SendPorts {
		if unknown(p.EncryptionCertificate) {
			warn(p.EncryptionCertificate.Range, "encryption_certificate", fmt.Sprintf("send port %q", p.Name), "the encryption certificate rules (BP4001–BP4006)",
				needing(encryptionNeed, func(u coveredUser) bool { return u.port == p }))
		}
	}
	for _, h := range c.cfg.Hosts {
		onHost := func(u coveredUser) bool { return u.host == h }
		decRules := "the decryption certificate rules (BP7001–BP7005)"
		host := fmt.Sprintf("host %q", h.Name)
		if unknown(h.DecryptionCertificate) {
			warn(h.DecryptionCertificate.Range, "decryption_certificate", host, decRules, needing(decryptionNeed, onHost))
		}
		// A list with an unknown element is unknown as a whole.
		if !h.PreviousDecryptionCertificatesKnown {
			warn(h.PreviousDecryptionCertificatesRange, "previous_decryption_certificates", host, decRules, needing(decryptionNeed, onHost))
		}
	}
	partyRules := "the party signing certificate rules (BP7006–BP7008)"
	for _, p := range c.cfg.Parties {
		// Every verifying location may meet any party; an AS2 port
		// verifies its partner's MDNs.
		verifies := func(u coveredUser) bool {
			if u.port == nil {
				return true
			}
			a, ok := as2Of(u.transport)
			return ok && a.Partner.Usable() && a.Partner.V == p.Name
		}
		party := fmt.Sprintf("party %q", p.Name)
		if !p.SigningCertificatesKnown {
			warn(p.SigningCertificatesRange, "signing_certificates", party, partyRules, needing(partySigningNeed, verifies))
		}
	}
}
