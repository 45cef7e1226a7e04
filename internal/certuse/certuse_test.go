package certuse_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/certuse"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/testpki"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// scene is one host with an instance on srv1, whose stores hold every
// certificate, and one on srv2, whose personal store is empty and whose
// server has no other-people store; a send port that signs and encrypts,
// a receive location that decrypts and verifies a party's signature, and
// an idle host that needs nothing.
type scene struct {
	cfg                       *model.Config
	stores                    rules.Result
	sign, partner, dec, party *testpki.Cert
	next                      *testpki.Cert // the signing_rollover certificate
	prev                      *testpki.Cert // a previous decryption certificate, in p1 (see TestPreviousDecryption)
}

func newScene(t *testing.T) *scene {
	t.Helper()
	dir := t.TempDir()
	keys := testpki.NewKeys()
	now := time.Now()
	cert := func(cn string, i int, validity time.Duration) *testpki.Cert {
		return testpki.SelfSigned(t, testpki.Options{CommonName: cn, Key: keys.Key(t, testpki.RSA2048, i), NotAfter: now.Add(validity)})
	}
	s := &scene{
		sign:    cert("Signing", 0, 400*24*time.Hour),
		partner: cert("Partner", 1, 20*24*time.Hour),
		dec:     cert("Decryption", 2, 90*24*time.Hour),
		party:   cert("Party", 3, 10*24*time.Hour),
		next:    cert("Next signing", 4, 800*24*time.Hour),
		prev:    cert("Previous decryption", 5, 30*24*time.Hour),
	}
	p1 := filepath.Join(dir, "p1")
	testpki.WriteFile(t, p1, "sign.pem", append(s.sign.CertPEM(), s.sign.KeyPEM()...))
	testpki.WriteFile(t, p1, "dec.pem", append(s.dec.CertPEM(), s.dec.KeyPEM()...))
	testpki.WriteFile(t, p1, "next.pem", append(s.next.CertPEM(), s.next.KeyPEM()...))
	testpki.WriteFile(t, p1, "prev.pem", append(s.prev.CertPEM(), s.prev.KeyPEM()...))
	if err := os.MkdirAll(filepath.Join(dir, "p2"), 0o755); err != nil {
		t.Fatal(err)
	}
	o1 := filepath.Join(dir, "o1")
	testpki.WriteFile(t, o1, "partner.pem", s.partner.CertPEM())
	testpki.WriteFile(t, o1, "party.pem", s.party.CertPEM())
	src := fmt.Sprintf(`
group "g" { signing_certificate = %q }
certificate_store "p1" { path = "p1" }
certificate_store "p2" { path = "p2" }
certificate_store "o1" { path = "o1" }
service_account "svc1" { personal_store = certificate_store.p1 }
service_account "svc2" { personal_store = certificate_store.p2 }
server "srv1" { other_people_store = certificate_store.o1 }
server "srv2" {}
host "h" {
  decryption_certificate = %q
  instance {
    server          = server.srv1
    service_account = service_account.svc1
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc2
  }
}
host "idle" {
  instance {
    server          = server.srv1
    service_account = service_account.svc1
  }
}
party "fabrikam" { signing_certificates = [%q] }
pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
pipeline "decode" {
  decoder "smime" {
    decrypt = true
    verify  = true
  }
}
receive_location "in" {
  host     = host.h
  pipeline = pipeline.decode
  transport "file" { path = "in" }
}
send_port "out" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = %q
  filter                 = true
  transport "file" { path = "out" }
}
`, s.sign.SHA1(), s.dec.SHA1(), s.party.SHA1(), s.partner.SHA256())
	file := testpki.WriteFile(t, dir, "main.hcl", []byte(src))
	cfg, diags := lang.Load([]string{file}, lang.Options{Mode: lang.ModeValidate, LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, _ := rules.Check(cfg, rules.Options{})
	s.cfg, s.stores = cfg, *res
	return s
}

// describe is a need as one comparable line.
func describe(n certuse.Need) string {
	store, found := "-", "missing"
	if n.Store != nil {
		store = n.Store.Name
	}
	if n.Cert != nil {
		found = strings.ToUpper(n.Cert.SHA1)
	}
	if n.Unresolved != "" {
		found = "unresolved: " + string(n.Unresolved)
	}
	return fmt.Sprintf("%s | %s | %s | %s | %s", n.Use, n.Object, n.Instance.Server.Name, store, found)
}

func TestList(t *testing.T) {
	s := newScene(t)
	up := strings.ToUpper
	all := []string{
		"signing | send port \"out\" | srv1 | p1 | " + up(s.sign.SHA1()),
		"encryption | send port \"out\" | srv1 | o1 | " + up(s.partner.SHA1()),
		"signing | send port \"out\" | srv2 | p2 | missing",
		"encryption | send port \"out\" | srv2 | - | missing",
		"decryption | receive location \"in\" | srv1 | p1 | " + up(s.dec.SHA1()),
		"party | receive location \"in\" (party \"fabrikam\") | srv1 | o1 | " + up(s.party.SHA1()),
		"decryption | receive location \"in\" | srv2 | p2 | missing",
		"party | receive location \"in\" (party \"fabrikam\") | srv2 | - | missing",
	}
	for _, tc := range []struct {
		name   string
		filter func(*model.Instance) bool
		want   []string
	}{
		{"every instance", nil, all},
		{"srv1 only", func(in *model.Instance) bool { return in.Server.Name == "srv1" }, []string{all[0], all[1], all[4], all[5]}},
		{"none", func(*model.Instance) bool { return false }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, n := range certuse.List(s.cfg, certuse.Options{Stores: s.stores.Stores, Instance: tc.filter}) {
				got = append(got, describe(n))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestWhere(t *testing.T) {
	s := newScene(t)
	needs := certuse.List(s.cfg, certuse.Options{Stores: s.stores.Stores})
	for i, want := range map[int]string{
		0: `send port "out" on the instance of host "h" on server "srv1" as service account "svc1", in certificate store "p1"`,
		3: `send port "out" on the instance of host "h" on server "srv2" as service account "svc2", which has no store for it`,
	} {
		if got := needs[i].Where(); got != want {
			t.Errorf("Where() = %s\nwant %s", got, want)
		}
	}
}

// TestGroup: one entry per use and certificate, missing ones by the
// thumbprint wanted; by use, then soonest expiry.
func TestGroup(t *testing.T) {
	s := newScene(t)
	got := certuse.Group(certuse.List(s.cfg, certuse.Options{Stores: s.stores.Stores}))
	var lines []string
	for _, c := range got {
		what := "missing " + strings.ToUpper(c.Thumbprint.Hex)
		if c.Cert != nil {
			what = c.Cert.Cert.Subject.CommonName
		}
		lines = append(lines, fmt.Sprintf("%s %s x%d", c.Use, what, len(c.Needs)))
	}
	up := strings.ToUpper
	want := []string{
		"signing missing " + up(s.sign.SHA1()) + " x1",
		"signing Signing x1",
		"encryption missing " + up(s.partner.SHA256()) + " x1",
		"encryption Partner x1",
		"decryption missing " + up(s.dec.SHA1()) + " x1",
		"decryption Decryption x1",
		"party missing " + up(s.party.SHA1()) + " x1",
		"party Party x1",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestRollover: before the rollover's at, both signing certificates are
// in use on every instance that signs; from at on, only the new one.
func TestRollover(t *testing.T) {
	s := newScene(t)
	at := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	up := strings.ToUpper
	signs := func(now time.Time) []string {
		var got []string
		cfg := *s.cfg
		g := *cfg.Group
		g.SigningRollover = &model.SigningRollover{Thumbprint: model.Known(s.next.SHA1(), hcl.Range{}), At: model.Known(at, hcl.Range{})}
		cfg.Group = &g
		for _, n := range certuse.List(&cfg, certuse.Options{Stores: s.stores.Stores, Now: now}) {
			if n.Use == certuse.Signing || n.Use == certuse.SigningRollover {
				got = append(got, describe(n))
			}
		}
		return got
	}
	before := []string{
		"signing | send port \"out\" | srv1 | p1 | " + up(s.sign.SHA1()),
		"signing_rollover | send port \"out\" | srv1 | p1 | " + up(s.next.SHA1()),
		"signing | send port \"out\" | srv2 | p2 | missing",
		"signing_rollover | send port \"out\" | srv2 | p2 | missing",
	}
	after := []string{before[1], before[3]}
	for _, tc := range []struct {
		now  time.Time
		want []string
	}{
		{at.Add(-time.Second), before},
		{at, after},
		{at.Add(time.Hour), after},
	} {
		if got := signs(tc.now); !slices.Equal(got, tc.want) {
			t.Errorf("at %s:\n%s\nwant\n%s", tc.now, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	// Without a rollover, List is unchanged by it.
	if n := len(certuse.List(s.cfg, certuse.Options{Stores: s.stores.Stores})); n != 8 {
		t.Errorf("List: %d needs, want 8", n)
	}
}

// TestPreviousDecryption: a host's previous decryption certificates are in
// use where its decryption certificate is, on every instance of a location
// that decrypts, named as previous ones: their expiry is watched as the
// current one's is.
func TestPreviousDecryption(t *testing.T) {
	s := newScene(t)
	up := strings.ToUpper
	cfg := *s.cfg
	var hosts []*model.Host
	for _, h := range cfg.Hosts {
		if h.Name == "h" {
			c := *h
			c.PreviousDecryptionCertificates = []model.Value[string]{model.Known(s.prev.SHA256(), hcl.Range{})}
			h = &c
		}
		hosts = append(hosts, h)
	}
	cfg.Hosts = hosts
	var locs []*model.ReceiveLocation
	for _, r := range cfg.ReceiveLocations {
		c := *r
		for _, h := range hosts {
			if h.Name == r.Host.Name {
				c.Host = h
			}
		}
		locs = append(locs, &c)
	}
	cfg.ReceiveLocations = locs
	var got []string
	for _, n := range certuse.List(&cfg, certuse.Options{Stores: s.stores.Stores}) {
		if n.Use == certuse.Decryption {
			got = append(got, describe(n))
		}
	}
	want := []string{
		"decryption | receive location \"in\" | srv1 | p1 | " + up(s.dec.SHA1()),
		"decryption | receive location \"in\" (previous decryption certificate) | srv1 | p1 | " + up(s.prev.SHA1()),
		"decryption | receive location \"in\" | srv2 | p2 | missing",
		"decryption | receive location \"in\" (previous decryption certificate) | srv2 | p2 | missing",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestUnresolved: a thumbprint in use that has no value during validate,
// or is malformed, names no certificate, but is listed all the same, saying
// why, so that certs --expiring-within cannot report that nothing expires
// when it could not see what is used. A list of thumbprints without a value
// (a party's, a host's previous decryption certificates) is one need.
func TestUnresolved(t *testing.T) {
	s := newScene(t)
	cfg := *s.cfg
	g := *cfg.Group
	g.SigningCertificate = model.Value[string]{Set: true, Sensitive: true} // a variable with no value
	cfg.Group = &g
	var hosts []*model.Host
	for _, h := range cfg.Hosts {
		if h.Name == "h" {
			c := *h
			c.PreviousDecryptionCertificates, c.PreviousDecryptionCertificatesKnown = nil, false
			h = &c
		}
		hosts = append(hosts, h)
	}
	cfg.Hosts = hosts
	host := func(h *model.Host) *model.Host {
		for _, c := range hosts {
			if c.Name == h.Name {
				return c
			}
		}
		return h
	}
	var ports []*model.SendPort
	for _, p := range cfg.SendPorts {
		c := *p
		c.Host = host(p.Host)
		c.EncryptionCertificate = model.Known("AA", hcl.Range{}) // BP2004
		ports = append(ports, &c)
	}
	cfg.SendPorts = ports
	var locs []*model.ReceiveLocation
	for _, r := range cfg.ReceiveLocations {
		c := *r
		c.Host = host(r.Host)
		locs = append(locs, &c)
	}
	cfg.ReceiveLocations = locs
	var parties []*model.Party
	for _, p := range cfg.Parties {
		c := *p
		c.SigningCertificates, c.SigningCertificatesKnown = nil, false
		parties = append(parties, &c)
	}
	cfg.Parties = parties

	var got []string
	for _, n := range certuse.List(&cfg, certuse.Options{Stores: s.stores.Stores}) {
		if n.Instance.Server.Name == "srv1" {
			got = append(got, describe(n))
		}
	}
	up := strings.ToUpper
	want := []string{
		"signing | send port \"out\" | srv1 | p1 | unresolved: no value",
		"encryption | send port \"out\" | srv1 | o1 | unresolved: malformed",
		"decryption | receive location \"in\" | srv1 | p1 | " + up(s.dec.SHA1()),
		"decryption | receive location \"in\" (previous decryption certificate) | srv1 | p1 | unresolved: no value",
		"party | receive location \"in\" (party \"fabrikam\") | srv1 | o1 | unresolved: no value",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range certuse.Group(certuse.List(&cfg, certuse.Options{Stores: s.stores.Stores})) {
		if c.Use == certuse.Signing && (c.Unresolved != certuse.NoValue || c.Cert != nil || len(c.Needs) != 2) {
			t.Errorf("Group: signing %+v, want one unresolved certificate needed on both instances", c)
		}
	}
}
