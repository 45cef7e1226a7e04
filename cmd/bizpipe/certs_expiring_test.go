package main

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/pki/certstore"
	"github.com/bizpipe/bizpipe/internal/pki/thumbprint"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * day, false},
		{" 14d ", 14 * day, false},
		{"0d", 0, false},
		{"0", 0, false},
		{"720h", 720 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"1d12h", day + 12*time.Hour, false},
		{"1d1d", 0, true},
		{"-3d", 0, true},
		{"-1h", 0, true},
		{"1d-1h", 0, true},
		{"30", 0, true},
		{"d", 0, true},
		{"30days", 0, true},
		{"", 0, true},
		{"106751d", 106751 * day, false},
		{"106752d", 0, true},    // beyond time.Duration
		{"106751d24h", 0, true}, // the sum beyond it
		{"99999999999999999999d", 0, true},
	} {
		got, err := parseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestExpiring: a certificate is listed when it expires at or before
// now+within, or has expired; one not found is listed apart; sensitive
// thumbprints are not shown.
func TestExpiring(t *testing.T) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	store := &model.CertificateStore{Name: "personal", Path: model.Known("stores/p", hcl.Range{})}
	in := &model.Instance{Host: &model.Host{Name: "h"}, Server: &model.Server{Name: "srv1"}, Account: &model.ServiceAccount{Name: "svc"}}
	cert := func(cn string, notAfter time.Time, sha1 string) *certstore.Certificate {
		return &certstore.Certificate{
			Cert: &x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotAfter: notAfter},
			SHA1: sha1, SHA256: strings.Repeat(sha1[:1], 64), File: "/abs/stores/p/" + cn + ".pem",
		}
	}
	need := func(use certuse.Use, c *certstore.Certificate, tp string, sensitive bool) certuse.Certificate {
		n := certuse.Need{Use: use, Thumbprint: thumbprint.Thumbprint{Hex: tp, Kind: thumbprint.SHA1}, Sensitive: sensitive,
			Object: `send port "out"`, Instance: in, Store: store, Cert: c}
		return certuse.Certificate{Use: use, Cert: c, Thumbprint: n.Thumbprint, Sensitive: sensitive, Needs: []certuse.Need{n}}
	}
	a40 := strings.Repeat("a", 40)
	certs := []certuse.Certificate{
		need(certuse.Signing, cert("expired", now.Add(-2*day), a40), a40, false),
		need(certuse.Signing, cert("edge", now.Add(30*day), strings.Repeat("b", 40)), strings.Repeat("b", 40), false),
		need(certuse.Encryption, cert("later", now.Add(30*day+time.Second), strings.Repeat("c", 40)), strings.Repeat("c", 40), false),
		need(certuse.Decryption, cert("secret", now.Add(day), strings.Repeat("d", 40)), strings.Repeat("d", 40), true),
		need(certuse.Party, nil, strings.Repeat("e", 40), false),
	}
	doc := expiring(certs, now, 30*day, newRedactor(nil))
	var got []string
	for _, c := range doc.Certificates {
		got = append(got, c.Use+" "+c.Subject+" "+c.SHA1)
	}
	want := []string{
		"signing CN=expired " + strings.Repeat("A", 40),
		"signing CN=edge " + strings.Repeat("B", 40),
		"decryption CN=secret (sensitive value)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("listed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(doc.NotFound) != 1 || doc.NotFound[0].Thumbprint != strings.Repeat("E", 40) || doc.NotFound[0].Use != "party" {
		t.Errorf("not found: %+v", doc.NotFound)
	}
	if doc.Certificates[0].Files[0] != "stores/p/expired.pem" {
		t.Errorf("file %q, want it as validate names it", doc.Certificates[0].Files[0])
	}

	var out bytes.Buffer
	writeExpiringText(&out, doc, now)
	text := out.String()
	for _, s := range []string{
		"signing  " + strings.Repeat("A", 40) + "  expires 2026-12-30T12:00:00Z, expired 2 days ago\n",
		"signing  " + strings.Repeat("B", 40) + "  expires 2027-01-31T12:00:00Z, in 30 days\n",
		"  needed by  send port \"out\" on the instance of host \"h\" on server \"srv1\" as service account \"svc\", in certificate store \"personal\"\n",
		"party  " + strings.Repeat("E", 40) + "  not found where needed",
		"\n3 certificates in use expire within 30 days; 1 not found where needed.\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, strings.Repeat("D", 40)) || strings.Contains(text, strings.Repeat("d", 40)) {
		t.Errorf("sensitive thumbprint shown:\n%s", text)
	}

	none := expiring(certs[2:3], now, 30*day, newRedactor(nil))
	out.Reset()
	writeExpiringText(&out, none, now)
	if out.String() != "No certificate in use expires within 30 days.\n" {
		t.Errorf("nothing expiring: %q", out.String())
	}
}

// TestCertificateExpirySeries: the gauge's series are those of the
// instances run runs (its server, its --host), one per certificate and
// use; a sensitive thumbprint is not a label.
func TestCertificateExpirySeries(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, lookupEnv: noEnv}
	load := func(path string, vars ...string) (*model.Config, *rules.Result) {
		cfg, diags, err := loadConfig(e, []string{path}, varFlags{vars: vars}, lang.ModeRun)
		if err != nil || diags.HasErrors() {
			t.Fatalf("%s: %v %v", path, err, diags)
		}
		res, _ := rules.Check(cfg, rules.Options{})
		return cfg, res
	}
	series := func(certs []metrics.CertificateExpiry) []string {
		var out []string
		for _, c := range certs {
			out = append(out, fmt.Sprintf("%s %s %s %d", c.Use, c.Thumbprint, c.Subject, c.NotAfter.Unix()))
		}
		return out
	}
	const (
		signing    = "signing 4E077EB5555B50DCBCBF3D7261281954D2A1999D CN=Contoso Signing (DEMO ONLY),O=bizpipe demo 3471218919"
		encryption = "encryption CCFE302DA296CC18B316BA3063F069169382D9FC CN=Fabrikam Partner (DEMO ONLY),O=bizpipe demo 3471218920"
	)
	cfg, res := load("../../examples/misconfigured")
	for _, tc := range []struct {
		server, host string
		want         []string
	}{
		{"srv1", "", []string{signing, encryption}},
		{"srv2", "", []string{signing, encryption}},
		{"srv1", "send_host", []string{signing, encryption}},
		{"srv1", "other", nil},
		{"nowhere", "", nil},
	} {
		if got := series(certificateExpiry(cfg, res, tc.server, tc.host)(time.Now())); !slices.Equal(got, tc.want) {
			t.Errorf("server %s host %q:\n%s\nwant\n%s", tc.server, tc.host, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}

	// The inbound example with its decryption certificate's thumbprint
	// from a sensitive variable.
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/inbound/bizpipe.hcl")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), `decryption_certificate = "4E077EB5555B50DCBCBF3D7261281954D2A1999D"`, "decryption_certificate = var.dec", 1)
	abs, err := filepath.Abs("../../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	s = strings.ReplaceAll(s, "../quickstart", filepath.ToSlash(abs)) + "\nvariable \"dec\" {\n  type      = string\n  sensitive = true\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "bizpipe.hcl"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, res = load(dir, "dec=4E077EB5555B50DCBCBF3D7261281954D2A1999D")
	got := series(certificateExpiry(cfg, res, "srv1", "")(time.Now()))
	want := []string{
		"decryption (sensitive value) CN=Contoso Signing (DEMO ONLY),O=bizpipe demo 3471218919",
		"party CCFE302DA296CC18B316BA3063F069169382D9FC CN=Fabrikam Partner (DEMO ONLY),O=bizpipe demo 3471218920",
	}
	if !slices.Equal(got, want) {
		t.Errorf("inbound:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestExpiringWithinShown: certs --expiring-within names the window in
// its text as the flag reads it, whole days as days, without the zero
// units of Go's form ("1d12h", not "36h0m0s"); the JSON keeps Go's form,
// as documented.
func TestExpiringWithinShown(t *testing.T) {
	t.Chdir("../..")
	for _, tc := range []struct{ flag, text, json string }{
		{"1d12h", "1d12h", "36h0m0s"},
		{"36h", "1d12h", "36h0m0s"},
		{"30d", "30 days", "720h0m0s"},
		{"1d", "1 day", "24h0m0s"},
		{"12h", "12h", "12h0m0s"},
		{"90m", "1h30m", "1h30m0s"},
		{"1h0m30s", "1h0m30s", "1h0m30s"},
		{"10s", "10s", "10s"},
		{"2d30m", "2d30m", "48h30m0s"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			run([]string{"certs", "--expiring-within", tc.flag, "examples/inbound"}, &stdout, &stderr, noEnv)
			if want := "expires within " + tc.text + "."; !strings.Contains(stdout.String(), want) {
				t.Errorf("text:\n%s%s\nwant it to say %q", &stdout, &stderr, want)
			}
			stdout.Reset()
			run([]string{"certs", "--expiring-within", tc.flag, "--format", "json", "examples/inbound"}, &stdout, &stderr, noEnv)
			var doc expiringDocument
			if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil || doc.ExpiringWithin != tc.json {
				t.Errorf("JSON expiring_within %q (%v), want %q", doc.ExpiringWithin, err, tc.json)
			}
		})
	}
}
