package rules

import (
	"fmt"
	"strings"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
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

// coveredUser is a send port or receive location this check covers (its
// host runs here), as the BP1009 checks read it.
type coveredUser struct {
	name      string // `send port "x"`, `receive location "y"`
	needs     component.Needs
	pipeline  *model.Pipeline
	transport *model.Component
}

// coveredUsers lists the covered send ports, then receive locations, in
// configuration order.
func (c *checker) coveredUsers() []coveredUser {
	var out []coveredUser
	for _, p := range c.cfg.SendPorts {
		if p.Host != nil && c.runs(p.Host) {
			out = append(out, coveredUser{fmt.Sprintf("send port %q", p.Name), p.Needs(), p.Pipeline, p.Transport})
		}
	}
	for _, r := range c.cfg.ReceiveLocations {
		if r.Host != nil && c.runs(r.Host) {
			out = append(out, coveredUser{fmt.Sprintf("receive location %q", r.Name), r.Needs(), r.Pipeline, r.Transport})
		}
	}
	return out
}
