// Package certuse lists the certificates a configuration uses, each with
// its use and where it is needed (language §13): the group signing
// certificate in the personal store of every instance that signs, a send
// port's encryption certificate and the parties' signing certificates in
// the other-people store of every server where they are needed, a host's
// decryption certificate, and its previous ones, in its instances'
// personal stores.
//
// One list serves `bizpipe certs --expiring-within` and the expiry gauge
// of `bizpipe run`, so that the two never disagree about what is in use.
// It follows the run time's resolution (package runner): a use is listed
// where a send port's or receive location's needs ask for it.
package certuse

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
)

// Use is what a certificate is used for: the use label of the gauge
// bizpipe_certificate_expiry_timestamp_seconds.
type Use string

// The uses.
const (
	Signing         Use = "signing"
	SigningRollover Use = "signing_rollover"
	Encryption      Use = "encryption"
	Decryption      Use = "decryption"
	Party           Use = "party"
)

// Need is one certificate needed in one place: by one send port or
// receive location, on one instance, from one store.
type Need struct {
	Use Use
	// Thumbprint is the thumbprint as configured.
	Thumbprint thumbprint.Thumbprint
	// Sensitive: the thumbprint derives from a sensitive value, so output
	// must not show it.
	Sensitive bool
	// Object names what needs it: `send port "fabrikam"`, or for a party
	// certificate `receive location "as2_in" (party "fabrikam")`.
	Object   string
	Instance *model.Instance
	// Store is where the certificate must be; nil when the instance has
	// no such store (validate reports it).
	Store *model.CertificateStore
	// Cert is the certificate found in Store; nil when Store does not hold
	// it or could not be read.
	Cert *certstore.Certificate
	// Unresolved, when not "", is why the thumbprint names no certificate
	// (NoValue, Malformed): Thumbprint is then zero, and Cert nil.
	Unresolved Unresolved
}

// Unresolved is why a thumbprint in use names no certificate, so that
// whether it expires cannot be known.
type Unresolved string

// The reasons.
const (
	// NoValue: the thumbprint has no value during validate (a variable
	// without one).
	NoValue Unresolved = "no value"
	// Malformed: the thumbprint is not one (BP2004).
	Malformed Unresolved = "malformed"
)

// Where says where n is needed, for a person: the object, the instance and
// the store.
func (n Need) Where() string {
	var b strings.Builder
	b.WriteString(n.Object)
	in := n.Instance
	fmt.Fprintf(&b, " on the instance of host %q on server %q", in.Host.Name, in.Server.Name)
	if in.Account != nil {
		fmt.Fprintf(&b, " as service account %q", in.Account.Name)
	}
	if n.Store != nil {
		fmt.Fprintf(&b, ", in certificate store %q", n.Store.Name)
	} else {
		b.WriteString(", which has no store for it")
	}
	return b.String()
}

// Options select what List looks at.
type Options struct {
	// Stores are the loaded stores (rules.Result.Stores): a store missing
	// from it could not be read, and its needs have no Cert.
	Stores map[*model.CertificateStore]*certstore.Store
	// Instance, when set, keeps only the instances it returns true for
	// (run: the instances on its server).
	Instance func(*model.Instance) bool
	// Now decides whether a signing_rollover has taken place: from its
	// at on, signing_certificate is no longer in use. Zero: time.Now().
	Now time.Time
}

// List returns every need of cfg, in configuration order: send ports,
// then receive locations, each instance of their host in order, uses in
// the order of the constants. A thumbprint that is unknown during validate
// or malformed (BP2004) names no certificate: its need has Unresolved set,
// so that a check of expiry cannot pass over a certificate it could not
// see.
func List(cfg *model.Config, opts Options) []Need {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var out []Need
	type user struct {
		object string
		host   *model.Host
		needs  component.Needs
		// encryption is the send port's encryption_certificate.
		encryption model.Value[string]
	}
	var users []user
	for _, p := range cfg.SendPorts {
		users = append(users, user{fmt.Sprintf("send port %q", p.Name), p.Host, p.Needs(), p.EncryptionCertificate})
	}
	for _, r := range cfg.ReceiveLocations {
		users = append(users, user{fmt.Sprintf("receive location %q", r.Name), r.Host, r.Needs(), model.Value[string]{}})
	}
	for _, u := range users {
		if u.host == nil {
			continue
		}
		for _, in := range u.host.Instances {
			if in.Server == nil || (opts.Instance != nil && !opts.Instance(in)) {
				continue
			}
			add := func(use Use, object string, v model.Value[string], store *model.CertificateStore) {
				if !v.Set {
					return // none configured: validate reports it
				}
				n := Need{Use: use, Sensitive: v.Sensitive, Object: object, Instance: in, Store: store}
				if !v.Known {
					n.Unresolved = NoValue
					out = append(out, n)
					return
				}
				tp, err := thumbprint.Parse(v.V)
				if err != nil {
					n.Unresolved = Malformed
					out = append(out, n)
					return
				}
				n.Thumbprint = tp
				if st := opts.Stores[store]; store != nil && st != nil {
					n.Cert = st.Find(tp)
				}
				out = append(out, n)
			}
			var personal *model.CertificateStore
			if in.Account != nil {
				personal = in.Account.PersonalStore
			}
			others := in.Server.OtherPeopleStore
			if u.needs.Signing == component.Needed && cfg.Group != nil {
				// The next certificate (language §12) must be held before
				// its date: it is in use as much as the current one. Once
				// the rollover has taken place the old certificate signs
				// nothing: its expiry no longer matters.
				next := cfg.Group.SigningRollover
				if !next.InEffect(opts.Now) {
					add(Signing, u.object, cfg.Group.SigningCertificate, personal)
				}
				if next != nil {
					add(SigningRollover, u.object, next.Thumbprint, personal)
				}
			}
			if u.needs.Encryption == component.Needed {
				add(Encryption, u.object, u.encryption, others)
			}
			if u.needs.Decryption == component.Needed {
				add(Decryption, u.object, u.host.DecryptionCertificate, personal)
				// A previous certificate decrypts what partners still
				// encrypt for it: in use as much as the current one.
				for _, v := range u.host.PreviousDecryptionCertificates {
					add(Decryption, u.object+" (previous decryption certificate)", v, personal)
				}
				if !u.host.PreviousDecryptionCertificatesKnown {
					add(Decryption, u.object+" (previous decryption certificate)", unknownThumbprint, personal)
				}
			}
			if u.needs.PartySigning == component.Needed {
				for _, p := range cfg.Parties {
					for _, v := range p.SigningCertificates {
						add(Party, fmt.Sprintf("%s (party %q)", u.object, p.Name), v, others)
					}
					if !p.SigningCertificatesKnown {
						add(Party, fmt.Sprintf("%s (party %q)", u.object, p.Name), unknownThumbprint, others)
					}
				}
			}
		}
	}
	return out
}

// unknownThumbprint stands for the thumbprints of a list that has no
// value during validate as a whole.
var unknownThumbprint = model.Value[string]{Set: true}

// Certificate is one certificate in one use, with every place it is
// needed: what Group makes of a list of needs.
type Certificate struct {
	Use Use
	// Cert is the certificate; nil for a group of needs whose certificate
	// was not found (Thumbprint says which was wanted).
	Cert       *certstore.Certificate
	Thumbprint thumbprint.Thumbprint
	// Unresolved is the needs' Unresolved: why Thumbprint names none.
	Unresolved Unresolved
	Sensitive  bool
	Needs      []Need
}

// Group gathers needs by use and certificate (by configured thumbprint
// when not found), sorted by use, then by end of validity (soonest
// first), then by thumbprint; the needs of each keep their order.
func Group(needs []Need) []Certificate {
	index := map[string]int{}
	var out []Certificate
	for _, n := range needs {
		key := string(n.Use) + "\x00"
		if n.Cert != nil {
			key += "found:" + n.Cert.SHA1
		} else {
			key += "missing:" + n.Thumbprint.Hex + "\x00" + string(n.Unresolved)
		}
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, Certificate{Use: n.Use, Cert: n.Cert, Thumbprint: n.Thumbprint, Unresolved: n.Unresolved})
		}
		out[i].Sensitive = out[i].Sensitive || n.Sensitive
		out[i].Needs = append(out[i].Needs, n)
	}
	order := map[Use]int{Signing: 0, SigningRollover: 1, Encryption: 2, Decryption: 3, Party: 4}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Use != b.Use {
			return order[a.Use] < order[b.Use]
		}
		if (a.Cert == nil) != (b.Cert == nil) {
			return a.Cert == nil // missing ones first: they matter most
		}
		if a.Cert != nil && !a.Cert.Cert.NotAfter.Equal(b.Cert.Cert.NotAfter) {
			return a.Cert.Cert.NotAfter.Before(b.Cert.Cert.NotAfter)
		}
		return a.Thumbprint.Hex < b.Thumbprint.Hex
	})
	return out
}
