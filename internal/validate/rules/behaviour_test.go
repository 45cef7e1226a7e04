package rules_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// twoServers: host send_host has an instance on srv1 (as svc_send1, stores
// personal1 and other1) and one on srv2 (as svc_send2, stores personal2 and
// other2). Port fabrikam signs and encrypts; port northwind only signs.
const twoServers = `
group "contoso" {
  signing_certificate = "{{tp "sign"}}" # @sign
}
certificate_store "personal1" {
  path = "stores/personal1"
}
certificate_store "personal2" {
  path = "stores/personal2"
}
certificate_store "other1" {
  path = "stores/other1"
}
certificate_store "other2" {
  path = "stores/other2"
}
service_account "svc_send1" {
  personal_store = certificate_store.personal1
}
service_account "svc_send2" {
  personal_store = certificate_store.personal2
}
server "srv1" {
  other_people_store = certificate_store.other1
}
server "srv2" {
  other_people_store = certificate_store.other2
}
host "send_host" {
  instance { # @inst1
    server          = server.srv1
    service_account = service_account.svc_send1
  }
  instance { # @inst2
    server          = server.srv2
    service_account = service_account.svc_send2
  }
}
pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
pipeline "sign_only" {
  encoder "smime" {
    signature = "opaque"
  }
}
send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{tp "partner"}}" # @enc
  transport "file" { path = "out/fabrikam" }
}
send_port "northwind" {
  host     = host.send_host
  pipeline = pipeline.sign_only
  transport "file" { path = "out/northwind" }
}
`

// TestPerPair: rules are evaluated per (send port, host instance) pair, and a
// finding names the exact instance, never its healthy sibling.
func TestPerPair(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	good := func(s *scene, n int) {
		s.certKey(fmt.Sprintf("personal%d", n), "sign.pem", "sign")
		s.der(fmt.Sprintf("other%d", n), "partner.cer", "partner")
	}
	srv2 := func(store string, extra ...string) []string {
		return append([]string{`host "send_host"`, `server "srv2"`, `service account "svc_send2"`, fmt.Sprintf("certificate store %q", store)}, extra...)
	}
	srv1 := func(store string, extra ...string) []string {
		return append([]string{`host "send_host"`, `server "srv1"`, `service account "svc_send1"`, fmt.Sprintf("certificate store %q", store)}, extra...)
	}
	cases := []struct {
		name string
		// expiring makes the signing and partner certificates the ones
		// that expire soon.
		expiring bool
		stores   func(s *scene)
		want     []finding
		// absent must not appear in any detail: the healthy instance.
		absent []string
	}{
		{
			name:   "both instances healthy",
			stores: func(s *scene) { good(s, 1); good(s, 2) },
		},
		{
			name: "srv2's account lacks the signing certificate: one finding per signing port",
			stores: func(s *scene) {
				good(s, 1)
				s.certKey("personal2", "decoy.pem", "decoy")
				s.der("other2", "partner.cer", "partner")
			},
			want: []finding{
				{diag.CodeSignCertMissing, errorSev, "inst2", "instance {", "}", srv2("personal2", `Send port "fabrikam"`, `pipeline "sign_encrypt"`)},
				{diag.CodeSignCertMissing, errorSev, "inst2", "instance {", "}", srv2("personal2", `Send port "northwind"`, `pipeline "sign_only"`)},
			},
			absent: []string{`"srv1"`, `"svc_send1"`, `"personal1"`},
		},
		{
			name: "srv2's other-people store lacks the partner certificate",
			stores: func(s *scene) {
				good(s, 1)
				s.certKey("personal2", "sign.pem", "sign")
				s.der("other2", "decoy.cer", "decoy")
			},
			want: []finding{
				{diag.CodeEncCertMissing, errorSev, "enc", `"{{tp "partner"}}"`, "", srv2("other2", `Send port "fabrikam"`, `pipeline "sign_encrypt"`, `{{TP "partner"}}`)},
			},
			absent: []string{`"srv1"`, `"svc_send1"`, `"other1"`, `"northwind"`},
		},
		{
			name: "srv1 broken, srv2 healthy",
			stores: func(s *scene) {
				s.certOnly("personal1", "sign.pem", "sign")
				s.der("other1", "decoy.cer", "decoy")
				good(s, 2)
			},
			want: []finding{
				{diag.CodeSignKeyMissing, errorSev, "inst1", "instance {", "}", srv1("personal1", `Send port "fabrikam"`)},
				{diag.CodeSignKeyMissing, errorSev, "inst1", "instance {", "}", srv1("personal1", `Send port "northwind"`)},
				{diag.CodeEncCertMissing, errorSev, "enc", `"{{tp "partner"}}"`, "", srv1("other1", `Send port "fabrikam"`)},
			},
			absent: []string{`"srv2"`, `"svc_send2"`, `"personal2"`, `"other2"`},
		},
		{
			name: "both broken: each instance reported",
			stores: func(s *scene) {
				s.mkdir("personal1")
				s.mkdir("personal2")
				s.mkdir("other1")
				s.mkdir("other2")
			},
			want: []finding{
				{diag.CodeSignCertMissing, errorSev, "inst1", "instance {", "}", srv1("personal1", `"fabrikam"`)},
				{diag.CodeSignCertMissing, errorSev, "inst1", "instance {", "}", srv1("personal1", `"northwind"`)},
				{diag.CodeSignCertMissing, errorSev, "inst2", "instance {", "}", srv2("personal2", `"fabrikam"`)},
				{diag.CodeSignCertMissing, errorSev, "inst2", "instance {", "}", srv2("personal2", `"northwind"`)},
				{diag.CodeEncCertMissing, errorSev, "enc", `"{{tp "partner"}}"`, "", srv1("other1")},
				{diag.CodeEncCertMissing, errorSev, "enc", `"{{tp "partner"}}"`, "", srv2("other2")},
			},
		},
		{
			name:     "certificate problems are reported once, not per pair",
			expiring: true,
			stores: func(s *scene) {
				for _, n := range []string{"1", "2"} {
					s.certKey("personal"+n, "sign.pem", "sign-expiring")
					s.der("other"+n, "partner.cer", "partner-expiring")
				}
			},
			want: []finding{
				{diag.CodeSignCertExpiring, warningSev, "sign", `"{{tp "sign-expiring"}}"`, "", list(`{{TP "sign-expiring"}}`)},
				{diag.CodeEncCertExpiring, warningSev, "enc", `"{{tp "partner-expiring"}}"`, "", list(`send port "fabrikam"`, `{{TP "partner-expiring"}}`)},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t, p.with(t))
			tc.stores(s)
			config := twoServers
			if tc.expiring {
				config = strings.NewReplacer(`{{tp "sign"}}`, `{{tp "sign-expiring"}}`, `{{tp "partner"}}`, `{{tp "partner-expiring"}}`).Replace(config)
			}
			s.write(config)
			_, diags := rules.Check(s.load(), rules.Options{Now: p.now})
			s.expect(diags, tc.want)
			for _, d := range diags {
				for _, a := range tc.absent {
					if strings.Contains(d.Detail, a) {
						t.Errorf("%s names %s, which is healthy: %s", diag.CodeOf(d), a, d.Detail)
					}
				}
			}
		})
	}
}

// sameServer: two instances of send_host on srv1, as two accounts.
const sameServer = `
group "contoso" {
  signing_certificate = "{{tp "sign"}}"
}
certificate_store "personal" {
  path = "stores/personal"
}
certificate_store "other" {
  path = "stores/other"
}
service_account "svc_a" {
  personal_store = certificate_store.personal
}
service_account "svc_b" {
  personal_store = certificate_store.personal
}
server "srv1" {
  other_people_store = certificate_store.other
}
host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_a
  }
  instance {
    server          = server.srv1
    service_account = service_account.svc_b
  }
}
pipeline "pl" {
  encoder "smime" {
    encrypt = true
  }
}
send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.pl
  encryption_certificate = "{{tp "partner"}}" # @enc
  transport "file" { path = "out" }
}
`

// TestOneServerOneFinding: a missing partner certificate is a property of
// (port, server): two instances on the same server give one finding.
func TestOneServerOneFinding(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	s := newScene(t, p)
	s.mkdir("personal")
	s.der("other", "decoy.cer", "decoy")
	s.write(sameServer)
	_, diags := rules.Check(s.load(), rules.Options{Now: p.now})
	s.expect(diags, []finding{{diag.CodeEncCertMissing, errorSev, "enc", `"{{tp "partner"}}"`, "",
		list(`Send port "fabrikam"`, `server "srv1"`, `certificate store "other"`, `{{TP "partner"}}`)}})
}

// TestSensitiveValuesNeverShown: values from sensitive variables appear in
// no summary or detail, whichever rule reports.
func TestSensitiveValuesNeverShown(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const password = "s3cret-Pa55word!"
	cases := []struct {
		name    string
		topo    topo
		vars    []string
		stores  func(s *scene)
		want    []finding
		secrets []string
	}{
		{
			name: "wrong store password (BP2003)",
			topo: topo{PersonalPassword: "var.p12_password"},
			vars: []string{"p12_password=" + password},
			stores: func(s *scene) {
				s.put("personal", "sign.p12", s.pkcs12("sign", "the real one", false))
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeStorePassword, errorSev, "personal_password", "var.p12_password", "",
				list(`certificate store "personal"`, "sign.p12")}},
			secrets: []string{password},
		},
		{
			name: "sensitive thumbprints not found (BP3001, BP4002)",
			topo: topo{Sign: "var.secret_sign", Enc: "var.secret_enc"},
			vars: []string{`secret_sign={{tp "sign"}}`, `secret_enc={{tp "partner"}}`},
			stores: func(s *scene) {
				s.certKey("personal", "decoy.pem", "decoy")
				s.der("other", "decoy.cer", "decoy")
			},
			want: []finding{
				{diag.CodeSignCertMissing, errorSev, "inst", "instance {", "}", signPair()},
				{diag.CodeEncCertMissing, errorSev, "enc", "var.secret_enc", "", encPair()},
			},
			secrets: []string{`{{TP "sign"}}`, `{{tp "sign"}}`, `{{TP "partner"}}`, `{{tp "partner"}}`},
		},
		{
			name: "sensitive thumbprints of expired certificates (BP3003, BP4003)",
			topo: topo{Sign: "var.secret_sign", Enc: "var.secret_enc"},
			vars: []string{`secret_sign={{tp "sign-expired"}}`, `secret_enc={{tp256 "partner-expired"}}`},
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-expired")
				s.der("other", "partner.cer", "partner-expired")
			},
			want: []finding{
				{diag.CodeSignCertDates, errorSev, "sign", "var.secret_sign", "", list("expired on")},
				{diag.CodeEncCertDates, errorSev, "enc", "var.secret_enc", "", list("expired on")},
			},
			secrets: []string{`{{TP "sign-expired"}}`, `{{TP256 "partner-expired"}}`, `{{tp256 "partner-expired"}}`},
		},
		// A malformed sensitive thumbprint: no character, position or
		// digit count of it, each a piece of the value.
		{
			name: "malformed sensitive thumbprint (BP2004)",
			topo: topo{Sign: "var.secret_sign"},
			vars: []string{`secret_sign={{lrm (tp "sign")}}`},
			want: []finding{{diag.CodeThumbprint, errorSev, "sign", "var.secret_sign", "",
				list("details are hidden, as the value is sensitive")}},
			secrets: []string{`{{TP "sign"}}`, `{{tp "sign"}}`, "U+200E", "LEFT-TO-RIGHT MARK", "position"},
		},
		{
			name: "sensitive thumbprint with a visible wrong character (BP2004)",
			topo: topo{Sign: "var.secret_sign"},
			vars: []string{`secret_sign=ABCDEF12Q0`},
			want: []finding{{diag.CodeThumbprint, errorSev, "sign", "var.secret_sign", "",
				list("details are hidden, as the value is sensitive")}},
			secrets: []string{"ABCDEF12Q0", "'Q'", "U+0051", "position"},
		},
		{
			name: "sensitive thumbprint of the wrong length (BP2004)",
			topo: topo{Sign: "var.secret_sign"},
			vars: []string{`secret_sign=0123456789`},
			want: []finding{{diag.CodeThumbprint, errorSev, "sign", "var.secret_sign", "",
				list("details are hidden, as the value is sensitive")}},
			secrets: []string{"0123456789", "10 hex digits", "has 10"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t, p.with(t))
			if tc.stores == nil {
				defaultStores(s)
			} else {
				tc.stores(s)
			}
			s.write(tc.topo.hcl())
			vars := make([]string, len(tc.vars))
			for i, v := range tc.vars {
				vars[i] = s.pki.render(v)
			}
			_, diags := rules.Check(s.load(vars...), rules.Options{Now: p.now})
			s.expect(diags, tc.want)
			for _, secret := range tc.secrets {
				secret = s.pki.render(secret)
				for _, d := range diags {
					if strings.Contains(d.Summary, secret) || strings.Contains(d.Detail, secret) {
						t.Errorf("%s reveals sensitive %q: %s", diag.CodeOf(d), secret, d.Detail)
					}
				}
			}
		})
	}
}

// TestUnresolvedHost: a port whose host reference is undeclared (BP1001, from
// the decoder) gets no invented findings; what does not depend on the host
// is still checked.
func TestUnresolvedHost(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	s := newScene(t, p)
	s.write(`
group "contoso" {
  signing_certificate = "{{tp "sign"}}"
}
pipeline "encrypt" {
  encoder "smime" {
    encrypt = true
  }
}
pipeline "sign" {
  encoder "smime" {
    signature = "clear"
  }
}
send_port "fabrikam" {
  host                   = host.nowhere
  pipeline               = pipeline.encrypt
  encryption_certificate = "{{tp "partner"}}"
  transport "file" { path = "out" }
}
send_port "northwind" {
  host                   = host.nowhere
  pipeline               = pipeline.sign
  encryption_certificate = "{{tp "partner"}}" # @enc
  transport "file" { path = "out" }
}
`)
	cfg, loadDiags := s.loadRaw()
	var codes []diag.Code
	for _, d := range loadDiags {
		codes = append(codes, diag.CodeOf(d))
	}
	if !slices.Equal(codes, []diag.Code{diag.CodeUndeclared, diag.CodeUndeclared}) {
		t.Fatalf("decoder diagnostics %v, want two BP1001:\n%s", codes, dump(loadDiags))
	}
	_, diags := rules.Check(cfg, rules.Options{Now: p.now})
	// fabrikam encrypts: its certificate is used, whatever its host. Only
	// northwind's certificate is unused.
	s.expect(diags, []finding{{diag.CodeEncCertUnused, warningSev, "enc", `"{{tp "partner"}}"`, "",
		list(`Send port "northwind"`, `pipeline "sign", which does not encrypt`)}})
}

// TestStoresLoadedOnce: 50 instances whose 50 accounts declare 50 stores with
// the same directory read it once: every declaration gets the very same
// loaded store, the one in the Cache passed in.
func TestStoresLoadedOnce(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	s := newScene(t, p)
	s.certKey("shared", "sign.pem", "sign")
	s.der("other", "partner.cer", "partner")

	var b strings.Builder
	b.WriteString(`
group "contoso" {
  signing_certificate = "{{tp "sign"}}"
}
certificate_store "other" {
  path = "stores/other"
}
server "srv1" {
  other_people_store = certificate_store.other
}
pipeline "pl" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
send_port "fabrikam" {
  host                   = host.send_host
  pipeline               = pipeline.pl
  encryption_certificate = "{{tp "partner"}}"
  transport "file" { path = "out" }
}
`)
	const n = 50
	for i := range n {
		fmt.Fprintf(&b, "certificate_store \"personal_%02d\" {\n  path = \"stores/shared\"\n}\n", i)
		fmt.Fprintf(&b, "service_account \"svc_%02d\" {\n  personal_store = certificate_store.personal_%02d\n}\n", i, i)
	}
	b.WriteString("host \"send_host\" {\n")
	for i := range n {
		fmt.Fprintf(&b, "  instance {\n    server          = server.srv1\n    service_account = service_account.svc_%02d\n  }\n", i)
	}
	b.WriteString("}\n")
	s.write(b.String())
	cfg := s.load()

	cache := certstore.NewCache()
	res, diags := rules.Check(cfg, rules.Options{Now: p.now, Cache: cache})
	s.expect(diags, nil)

	shared, err := cache.Load(s.storeDir("shared"), certstore.NoPassword())
	if err != nil {
		t.Fatal(err)
	}
	if len(shared.Certificates) != 1 || shared.Certificates[0].Key == nil {
		t.Fatalf("shared store: %d certificates, want the signing certificate with its key", len(shared.Certificates))
	}
	personal := 0
	for decl, st := range res.Stores {
		if !strings.HasPrefix(decl.Name, "personal_") {
			continue
		}
		personal++
		if st != shared {
			t.Errorf("store %s: loaded separately (%p), not the cached store %p", decl.Name, st, shared)
		}
	}
	if personal != n {
		t.Errorf("Result has %d personal stores, want %d", personal, n)
	}

	// The cache is what Check reads: with the signing certificate gone from
	// disk, a second Check with the same cache still sees it, and one with a
	// fresh cache reports all 50 instances.
	if err := os.Remove(filepath.Join(s.storeDir("shared"), "sign.pem")); err != nil {
		t.Fatal(err)
	}
	if _, diags := rules.Check(cfg, rules.Options{Now: p.now, Cache: cache}); len(diags) != 0 {
		t.Errorf("second Check with the same cache re-read the store:\n%s", dump(diags))
	}
	_, diags = rules.Check(cfg, rules.Options{Now: p.now})
	if got := countCode(diags, diag.CodeSignCertMissing); got != n {
		t.Errorf("fresh cache: %d BP3001, want %d:\n%s", got, n, dump(diags))
	}
}

func countCode(diags hcl.Diagnostics, code diag.Code) int {
	n := 0
	for _, d := range diags {
		if diag.CodeOf(d) == code {
			n++
		}
	}
	return n
}

// TestDeterministic: the same configuration gives the same diagnostics,
// run after run, although stores load concurrently.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	s := newScene(t, p)
	s.certOnly("personal1", "sign.pem", "sign")
	s.put("personal1", "broken.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	s.mkdir("personal2")
	s.der("other1", "decoy.cer", "decoy")
	s.der("other2", "partner.cer", "partner-expiring")
	s.put("other2", "junk.p12", []byte("not a PKCS#12 file"))
	s.write(strings.ReplaceAll(twoServers, `{{tp "partner"}}`, `{{tp "partner-expiring"}}`) + `
pipeline "spare" {
  encoder "smime" {
    signature = "clear"
    digest    = "sha1"
  }
}

server "spare" {}
`)
	cfg, _ := s.loadChecked() // the weak digest is reported by the decoder

	render := func(diags hcl.Diagnostics) []string {
		diag.Sort(diags)
		out := make([]string, len(diags))
		for i, d := range diags {
			out[i] = fmt.Sprintf("%s|%s|%v|%s|%s", diag.CodeOf(d), sevName(d.Severity), d.Subject, d.Summary, d.Detail)
		}
		return out
	}
	_, first := rules.Check(cfg, rules.Options{Now: p.now})
	want := render(first)
	if len(want) < 8 {
		t.Fatalf("fixture too tame: %d diagnostics:\n%s", len(want), dump(first))
	}
	for i := range 5 {
		_, again := rules.Check(cfg, rules.Options{Now: p.now})
		if got := render(again); !slices.Equal(got, want) {
			t.Fatalf("run %d differs:\n got  %q\n want %q", i+2, got, want)
		}
	}
}

// TestStorePathEscaped: a store path with a newline or another control
// character (from a --var value) is printed escaped, like the names of the
// files in the store: raw, it would forge a line of the text report.
func TestStorePathEscaped(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const name = "x\n\nError: [BP0000] forged\x1b[2J"
	hclText := strings.Replace(topo{}.hcl(), `"stores/personal"`, "var.dir", 1) + "variable \"dir\" {\n  type = string\n}\n"
	cases := []struct {
		name   string
		stores func(s *scene)
		want   []finding
	}{
		{
			name:   "store missing (BP2001)",
			stores: func(s *scene) { s.der("other", "partner.cer", "partner") },
			want:   []finding{{diag.CodeStorePath, errorSev, "personal", "var.dir", "", list(`certificate store "personal"`, "no such file or directory")}},
		},
		{
			name: "store file cannot be parsed (BP2002)",
			stores: func(s *scene) {
				s.certKey(name, "sign.pem", "sign")
				s.put(name, "broken.pem", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeStoreFile, errorSev, "personal", "var.dir", "", list(`certificate store "personal"`, "broken.pem")}},
		},
		{
			name: "signing certificate missing (BP3001)",
			stores: func(s *scene) {
				s.mkdir(name)
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertMissing, errorSev, "inst", "instance {", "}", signPair()}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t, p.with(t))
			tc.stores(s)
			s.write(hclText)
			_, diags := rules.Check(s.load("dir=stores/"+name), rules.Options{Now: p.now})
			s.expect(diags, tc.want)
			quoted := strconv.Quote(s.storeDir(name))
			for _, d := range diags {
				if strings.ContainsAny(d.Detail, "\n\x1b") {
					t.Errorf("%s detail holds a control character of the store path: %q", diag.CodeOf(d), d.Detail)
				}
				if !strings.Contains(d.Detail, quoted) {
					t.Errorf("%s detail does not name the store path escaped, %s: %q", diag.CodeOf(d), quoted, d.Detail)
				}
			}
		})
	}
}
