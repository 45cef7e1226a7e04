// Package rules holds bizpipe's static validation rules (spec §7.2).
//
// Check loads every certificate store once and evaluates the signing and
// encryption rules per (send port, host instance) pair, and the decryption
// and party rules (§10) per (receive location, host instance) pair, so that
// each finding names the exact port or location, host, server, service
// account and store involved.
// Rules that depend on something unknown (an unset variable during validate,
// a store whose PKCS#12 files could not be opened) are skipped rather than
// guessed: a validate gate must have no false positives. A skip is said
// (BP2005, BP1009), never silent.
package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// Options controls Check.
type Options struct {
	// Now is the time certificates are checked against; zero means time.Now().
	Now time.Time
	// Cache reads each store once; nil means a fresh cache. The run-time
	// engine passes its own so that it uses the very keys validation checked.
	Cache *certstore.Cache
	// Host, when set, limits the checks to what host Host's instances on
	// server Server need, for a run --host process that runs as one
	// service account and may not read the stores of the others: only
	// the stores those instances use are loaded, and only Host's send
	// ports, receive locations and those instances are judged. What is
	// the group's, the parties' or the configuration's as a whole is
	// still checked; unused declarations (BP5002) are not. Empty (the
	// default, validate and run without --host) checks everything and
	// ignores Server.
	Host string
	// Server is the server whose instances of Host are checked.
	Server string
}

// Result is what Check found, beyond the diagnostics: the loaded stores, for
// the run-time engine and for live checks.
type Result struct {
	// Stores maps each declared store to its loaded content; a store that
	// could not be loaded (BP2001) or whose path is unknown is absent.
	Stores map[*model.CertificateStore]*certstore.Store
}

// Check runs every static rule over cfg.
func Check(cfg *model.Config, opts Options) (*Result, hcl.Diagnostics) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Cache == nil {
		opts.Cache = certstore.NewCache()
	}
	c := &checker{cfg: cfg, now: opts.Now, cache: opts.Cache, host: opts.Host, server: opts.Server,
		stores: map[*model.CertificateStore]*loadedStore{}}
	c.loadStores()
	c.checkThumbprints()
	c.checkSigningCertificateSet()
	c.checkRollover()
	c.checkPreviousDecryption()
	c.checkPorts()
	c.checkLocations()
	c.checkUnknownNeeds()
	c.checkUnknownWindow()
	c.checkUnknownProperties()
	c.checkUnknownCertificates()
	c.checkAS2()
	c.checkUnused()
	c.checkFilterLocations()
	c.checkFilterProperties()
	c.checkUnrouted()
	c.checkListeners()
	c.checkInputs()
	c.checkOwners()

	res := &Result{Stores: map[*model.CertificateStore]*certstore.Store{}}
	for s, ls := range c.stores {
		if ls.store != nil {
			res.Stores[s] = ls.store
		}
	}
	return res, c.diags
}

type checker struct {
	cfg    *model.Config
	now    time.Time
	cache  *certstore.Cache
	diags  hcl.Diagnostics
	stores map[*model.CertificateStore]*loadedStore
	// host and server are Options.Host and Options.Server.
	host, server string

	// Parsed thumbprints; ok is false when absent, unknown or malformed.
	signing   thumbprint.Thumbprint
	signingOK bool
	// rollover is the signing_rollover certificate (language §12);
	// rolloverOK is false when there is none or it is unknown or
	// malformed.
	rollover   thumbprint.Thumbprint
	rolloverOK bool
	encrypt    map[*model.SendPort]thumbprint.Thumbprint
	decrypt    map[*model.Host]thumbprint.Thumbprint
	// previous are each host's well-formed previous decryption
	// thumbprints, without those listed twice or equal to its
	// decryption_certificate (BP1004, checkPreviousDecryption).
	previous map[*model.Host][]decryptionCert
	// partyCerts are each party's well-formed signing thumbprints.
	partyCerts map[*model.Party][]partyThumbprint
	// hidden are thumbprints written with a sensitive value: never printed.
	hidden map[thumbprint.Thumbprint]bool

	// reported de-duplicates certificate findings that are properties of a
	// certificate, not of a pair (dates, key usage, key size).
	reported map[string]bool
}

// runs reports whether the checks cover host h: every host, or only
// Options.Host. An unresolved host (nil) is covered only without a filter.
func (c *checker) runs(h *model.Host) bool {
	return c.host == "" || (h != nil && h.Name == c.host)
}

// instancesOf returns the instances of h the checks cover: all of them, or,
// with Options.Host, those on Options.Server.
func (c *checker) instancesOf(h *model.Host) []*model.Instance {
	if c.host == "" {
		return h.Instances
	}
	var out []*model.Instance
	for _, in := range h.Instances {
		if in.Server != nil && in.Server.Name == c.server {
			out = append(out, in)
		}
	}
	return out
}

// neededStores is nil without Options.Host; with it, the stores the
// covered instances use: their service accounts' personal stores and their
// servers' other-people stores.
func (c *checker) neededStores() map[*model.CertificateStore]bool {
	if c.host == "" {
		return nil
	}
	need := map[*model.CertificateStore]bool{}
	for _, h := range c.cfg.Hosts {
		if !c.runs(h) {
			continue
		}
		for _, in := range c.instancesOf(h) {
			if in.Account != nil && in.Account.PersonalStore != nil {
				need[in.Account.PersonalStore] = true
			}
			if in.Server.OtherPeopleStore != nil {
				need[in.Server.OtherPeopleStore] = true
			}
		}
	}
	return need
}

func (c *checker) add(d ...*hcl.Diagnostic) { c.diags = append(c.diags, d...) }

// naming runs check, which reports a certificate's own problems (dates,
// key usage, key size) once for the certificate, and ends the detail of
// each finding it adds with who, the first pair that needs the
// certificate: the send port or receive location, the instance (host,
// server, service account) and the store (language §7.1, §7.2: a finding
// names the port and the exact instance), as BP7007 does.
func (c *checker) naming(who string, check func()) {
	n := len(c.diags)
	check()
	for _, d := range c.diags[n:] {
		d.Detail = strings.TrimSpace(d.Detail) + " " + who + "."
	}
}

// once reports whether key is new, recording it.
func (c *checker) once(key string) bool {
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	if c.reported[key] {
		return false
	}
	c.reported[key] = true
	return true
}

// instanceDesc names an instance and everything it involves, for details.
func instanceDesc(in *model.Instance) string {
	s := fmt.Sprintf("host %q", in.Host.Name)
	if in.Server != nil {
		s += fmt.Sprintf(" on server %q", in.Server.Name)
	}
	if in.Account != nil {
		s += fmt.Sprintf(" as service account %q", in.Account.Name)
	}
	return s
}

// storeDesc names a store and its directory. The directory is escaped
// (safetext.Field), as the names of its files are (fileIn): it may come
// from a --var value, and a newline in it must not forge a line of the
// report.
func storeDesc(s *model.CertificateStore) string {
	if s.Path.Known && !s.Path.Sensitive {
		return fmt.Sprintf("certificate store %q (%s)", s.Name, safetext.Field(s.Path.V))
	}
	return fmt.Sprintf("certificate store %q", s.Name)
}

// tpDesc renders a thumbprint the way Windows shows it, with its kind, or
// only its kind when it comes from a sensitive value.
func (c *checker) tpDesc(tp thumbprint.Thumbprint) string {
	if c.hidden[tp] {
		return fmt.Sprintf("(sensitive value) (%s)", tp.Kind)
	}
	return fmt.Sprintf("%s (%s)", tp.String(), tp.Kind)
}
