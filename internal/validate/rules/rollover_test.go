package rules_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// rolloverBody is a signing_rollover body to cert (an expression) at at (an
// expression), with the markers @next and @at.
func rolloverBody(cert, at string) string {
	return fmt.Sprintf("    certificate = %s # @next\n    at          = %s # @at", cert, at)
}

// TestRolloverRules checks the rules of a planned signing certificate
// change (language §12) against an injected now: BP3007 per instance, a
// warning before the warning window and an error in it or after at;
// BP3008 once at has passed; the expiry rules judging the current
// certificate up to at and the rollover certificate from at on; BP3005 and
// BP5001 for both.
func TestRolloverRules(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	day := 24 * time.Hour
	// in is an at expression d from the tests' now.
	in := func(d time.Duration) string { return `"` + p.now.Add(d).UTC().Format(time.RFC3339) + `"` }
	next := `"{{tp "next"}}"`
	deployed := func(s *scene) {
		defaultStores(s)
		s.certKey("personal", "next.pem", "next")
	}
	deploy := func(name string) func(s *scene) {
		return func(s *scene) {
			defaultStores(s)
			s.certKey("personal", "next.pem", name)
		}
	}
	inst := func(extra ...string) []string {
		return signPair(append([]string{`"contoso"`}, extra...)...)
	}

	cases := []ruleCase{
		{name: "pass: deployed, at in 60 days", hcl: topo{Rollover: rolloverBody(next, in(60*day))}.hcl(), stores: deployed},
		{name: "pass: deployed, at in 10 days", hcl: topo{Rollover: rolloverBody(next, in(10*day))}.hcl(), stores: deployed},
		{name: "pass: SHA-256 thumbprint, deployed as PKCS#1 DER pair", hcl: topo{Rollover: rolloverBody(`"{{tp256 "next"}}"`, in(10*day))}.hcl(),
			stores: func(s *scene) {
				defaultStores(s)
				s.der("personal", "next.der", "next")
				s.put("personal", "next.key", s.pki.cert("next").KeyPKCS1PEM(s.t))
			}},

		// BP3007: warning before the window, error in it or after at.
		{
			name: "BP3007 warning: not in the store, at in 60 days",
			hcl:  topo{Rollover: rolloverBody(next, in(60*day))}.hcl(),
			want: []finding{{diag.CodeRolloverUnreachable, warningSev, "inst", "instance {", "}",
				inst(`no certificate with the signing_rollover thumbprint {{TP "next"}} (SHA-1)`, "Deploy the new certificate", "before "+p.now.Add(60*day).UTC().Format(time.RFC3339))}},
		},
		{
			name: "BP3007 error: not in the store, at in 10 days (720h window)",
			hcl:  topo{Rollover: rolloverBody(next, in(10*day))}.hcl(),
			want: []finding{{diag.CodeRolloverUnreachable, errorSev, "inst", "instance {", "}",
				inst(`no certificate with the signing_rollover thumbprint {{TP "next"}}`, "within the 720h0m0s warning window", "before "+p.now.Add(10*day).UTC().Format(time.RFC3339))}},
		},
		{
			name: "BP3007 warning: at in 10 days, outside a 48h window",
			hcl:  topo{Window: "48h", Rollover: rolloverBody(next, in(10*day))}.hcl(),
			want: []finding{{diag.CodeRolloverUnreachable, warningSev, "inst", "instance {", "}",
				inst("no certificate with the signing_rollover thumbprint")}},
		},
		{
			name:   "BP3007 error: certificate without its key",
			hcl:    topo{Rollover: rolloverBody(next, in(10*day))}.hcl(),
			stores: func(s *scene) { defaultStores(s); s.certOnly("personal", "next.crt", "next") },
			want: []finding{{diag.CodeRolloverUnreachable, errorSev, "inst", "instance {", "}",
				inst(`signing_rollover certificate {{TP "next"}}`, `"CN=test next"`, "stores/personal/next.crt", "not its private key")}},
		},
		{
			name:   "BP3007 warning: certificate without its key, at in 60 days",
			hcl:    topo{Rollover: rolloverBody(next, in(60*day))}.hcl(),
			stores: func(s *scene) { defaultStores(s); s.certOnly("personal", "next.crt", "next") },
			want: []finding{{diag.CodeRolloverUnreachable, warningSev, "inst", "instance {", "}",
				inst("not its private key", "Deploy the new certificate")}},
		},
		{
			name:   "BP3007 error and BP3008: at has passed, the instance cannot sign; the old certificate is not needed (no BP3001)",
			hcl:    topo{Rollover: rolloverBody(next, in(-day))}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "decoy.pem", "decoy"); s.der("other", "partner.cer", "partner") },
			want: []finding{
				{diag.CodeRolloverUnreachable, errorSev, "inst", "instance {", "}", inst("took effect at "+p.now.Add(-day).UTC().Format(time.RFC3339), "cannot sign")},
				{diag.CodeRolloverDone, warningSev, "rollover", "signing_rollover", "", list(`group "contoso"`, `{{TP "next"}}`, "signing_certificate", "remove the signing_rollover block")},
			},
		},
		{
			name: "BP3007 warning: at unknown during validate",
			hcl:  topo{Rollover: rolloverBody(next, "var.thumbprint")}.hcl(),
			want: []finding{{diag.CodeRolloverUnreachable, warningSev, "inst", "instance {", "}", inst("before its at")}},
		},
		{
			name:   "BP3007 pass: a port that does not sign needs no rollover certificate",
			hcl:    topo{Signature: "none", Rollover: rolloverBody(next, in(day))}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "decoy.pem", "decoy"); s.der("other", "partner.cer", "partner") },
		},
		{
			name: "BP3007 pass: PKCS#12 with an unknown password may hold it (BP2005 only)",
			hcl:  topo{PersonalPassword: "var.p12_password", Rollover: rolloverBody(next, in(day))}.hcl(),
			stores: func(s *scene) {
				defaultStores(s)
				s.put("personal", "next.p12", s.pkcs12("next", "pw", false))
			},
			want: []finding{{diag.CodePasswordUnknown, warningSev, "personal_password", "var.p12_password", "", list(`certificate store "personal"`)}},
		},

		// BP3008 alone: done and deployed; the old certificate may be gone.
		{
			name:   "BP3008 rollover done",
			hcl:    topo{Rollover: rolloverBody(next, in(-day))}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "next.pem", "next"); s.der("other", "partner.cer", "partner") },
			want: []finding{{diag.CodeRolloverDone, warningSev, "rollover", "signing_rollover", "",
				list(`group "contoso"`, "took effect at "+p.now.Add(-day).UTC().Format(time.RFC3339), `{{TP "next"}}`)}},
		},
		{
			name: "BP3008 pass: at is still ahead",
			hcl:  topo{Rollover: rolloverBody(next, in(time.Hour))}.hcl(), stores: deployed,
		},

		// BP3003/BP3004: the current certificate up to at.
		{
			name: "BP3004 pass: the current certificate expires after the rollover",
			hcl:  topo{Sign: `"{{tp "sign-expiring"}}"`, Rollover: rolloverBody(next, in(5*day))}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-expiring")
				s.certKey("personal", "next.pem", "next")
				s.der("other", "partner.cer", "partner")
			},
		},
		{
			name: "BP3004 the current certificate expires before the rollover",
			hcl:  topo{Sign: `"{{tp "sign-expiring"}}"`, Rollover: rolloverBody(next, in(20*day))}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-expiring")
				s.certKey("personal", "next.pem", "next")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertExpiring, warningSev, "sign", `"{{tp "sign-expiring"}}"`, "",
				list(`{{TP "sign-expiring"}}`, "before the signing_rollover at "+p.now.Add(20*day).UTC().Format(time.RFC3339))}},
		},
		{
			name: "BP3003 pass: an expired current certificate after the rollover (BP3008 only)",
			hcl:  topo{Sign: `"{{tp "sign-expired"}}"`, Rollover: rolloverBody(next, in(-day))}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-expired")
				s.certKey("personal", "next.pem", "next")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeRolloverDone, warningSev, "rollover", "signing_rollover", "", list(`group "contoso"`)}},
		},
		{
			name: "BP3003 the current certificate expired before the rollover",
			hcl:  topo{Sign: `"{{tp "sign-expired"}}"`, Rollover: rolloverBody(next, in(day))}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-expired")
				s.certKey("personal", "next.pem", "next")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertDates, errorSev, "sign", `"{{tp "sign-expired"}}"`, "", list(`{{TP "sign-expired"}}`, "expired on")}},
		},

		// BP3003/BP3004: the rollover certificate from at on.
		{
			name:   "BP3003 pass: the rollover certificate is valid from before at",
			hcl:    topo{Rollover: rolloverBody(`"{{tp "next-notyet"}}"`, in(60*day))}.hcl(),
			stores: deploy("next-notyet"),
		},
		{
			name:   "BP3003 the rollover certificate is not yet valid at at",
			hcl:    topo{Rollover: rolloverBody(`"{{tp "next-notyet"}}"`, in(20*day))}.hcl(),
			stores: deploy("next-notyet"),
			want: []finding{{diag.CodeSignCertDates, errorSev, "next", `"{{tp "next-notyet"}}"`, "",
				list(`signing_rollover certificate {{TP "next-notyet"}}`, "not valid before "+p.cert("next-notyet").Cert.NotBefore.UTC().Format(time.RFC3339), "when the rollover at")}},
		},
		{
			name:   "BP3003 the rollover certificate expires before at",
			hcl:    topo{Rollover: rolloverBody(`"{{tp "next-short"}}"`, in(60*day))}.hcl(),
			stores: deploy("next-short"),
			want: []finding{{diag.CodeSignCertDates, errorSev, "next", `"{{tp "next-short"}}"`, "",
				list(`signing_rollover certificate {{TP "next-short"}}`, "expires on", "before it is needed")}},
		},
		{
			name:   "BP3004 the rollover certificate expires within the window",
			hcl:    topo{Rollover: rolloverBody(`"{{tp "next-short"}}"`, in(5*day))}.hcl(),
			stores: deploy("next-short"),
			want: []finding{{diag.CodeSignCertExpiring, warningSev, "next", `"{{tp "next-short"}}"`, "",
				list(`signing_rollover certificate {{TP "next-short"}}`, "720h")}},
		},

		// BP3005 and BP5001 apply to the rollover certificate too.
		{
			name:   "BP3005 the rollover certificate is not for signatures",
			hcl:    topo{Rollover: rolloverBody(`"{{tp "sign-no-ds"}}"`, in(60*day))}.hcl(),
			stores: deploy("sign-no-ds"),
			want: []finding{{diag.CodeSignCertUsage, errorSev, "next", `"{{tp "sign-no-ds"}}"`, "",
				list(`signing_rollover certificate {{TP "sign-no-ds"}}`, "digitalSignature")}},
		},
		{
			name:   "BP3005 the rollover certificate has an Ed25519 key",
			hcl:    topo{Rollover: rolloverBody(`"{{tp "sign-ed25519"}}"`, in(60*day))}.hcl(),
			stores: deploy("sign-ed25519"),
			want: []finding{{diag.CodeSignCertUsage, errorSev, "next", `"{{tp "sign-ed25519"}}"`, "",
				list(`signing_rollover certificate {{TP "sign-ed25519"}}`, "Ed25519", "RSA or ECDSA")}},
		},
		{
			name:   "BP3005 the rollover certificate has a 512-bit RSA key",
			hcl:    topo{Rollover: rolloverBody(`"{{tp "sign-512"}}"`, in(60*day))}.hcl(),
			stores: deploy("sign-512"),
			want: []finding{{diag.CodeSignCertUsage, errorSev, "next", `"{{tp "sign-512"}}"`, "",
				list(`signing_rollover certificate {{TP "sign-512"}}`, "512-bit")}},
		},
		{
			name:   "BP5001 the rollover certificate has a 1024-bit key",
			hcl:    topo{Rollover: rolloverBody(`"{{tp "sign-1024"}}"`, in(60*day))}.hcl(),
			stores: deploy("sign-1024"),
			want: []finding{{diag.CodeWeakAlgorithm, warningSev, "next", `"{{tp "sign-1024"}}"`, "",
				list(`signing_rollover certificate {{TP "sign-1024"}}`, "1024-bit")}},
		},

		{
			name:   "BP3007 a sensitive rollover thumbprint is never shown",
			hcl:    topo{Rollover: rolloverBody("var.secret_sign", in(60*day))}.hcl(),
			vars:   []string{"secret_sign={{TP \"next\"}}"},
			secret: "{{TP \"next\"}}",
			want: []finding{{diag.CodeRolloverUnreachable, warningSev, "inst", "instance {", "}",
				inst("(sensitive value) (SHA-1)")}},
		},

		// The block's own values.
		{
			name: "BP2004 malformed rollover thumbprint",
			hcl:  topo{Rollover: rolloverBody(`"{{lrm (tp "next")}}"`, in(60*day))}.hcl(),
			want: []finding{{diag.CodeThumbprint, errorSev, "next", "\"\u200e", "",
				list(`certificate of the signing_rollover of group "contoso"`, "U+200E")}},
		},
		{
			name: "BP1004 rollover to the signing certificate itself",
			hcl:  topo{Rollover: rolloverBody(`"{{tp256 "sign"}}"`, in(60*day))}.hcl(),
			want: []finding{{diag.CodeInvalidValue, errorSev, "next", `"{{tp256 "sign"}}"`, "",
				list(`group "contoso"`, `{{TP256 "sign"}}`, "already its signing_certificate")}},
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
			s.write(tc.hcl)
			var vars []string
			for _, v := range tc.vars {
				vars = append(vars, s.pki.render(v))
			}
			cfg, loadDiags := s.loadChecked(vars...)
			_, diags := rules.Check(cfg, rules.Options{Now: p.now})
			diags = append(loadDiags, diags...)
			s.expect(diags, tc.want)
			if secret := s.pki.render(tc.secret); secret != "" {
				for _, d := range diags {
					if strings.Contains(d.Summary+d.Detail, secret) {
						t.Errorf("%s reveals the sensitive value: %s", diag.CodeOf(d), d.Detail)
					}
				}
			}
		})
	}
}
