package rules_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// inTopo is the inbound test topology (language §10): group "contoso";
// stores "personal" (of service account "svc_recv") and "other" (of server
// "srv1"); host "recv_host" with one instance on srv1 as svc_recv; party
// "fabrikam"; pipeline "decode" (decoder "smime"); receive location
// "from_fabrikam" on recv_host. The zero value decrypts with {{tp "dec"}}
// and verifies against {{tp "party"}}, and is valid with inStores.
type inTopo struct {
	Dec       string // decryption_certificate expression; "-" omits it
	Previous  string // previous_decryption_certificates expression; "" omits it
	NoDecrypt bool   // decrypt = false
	DecryptAs string // decrypt's expression, when set (overrides NoDecrypt)
	NoVerify  bool   // verify = false
	Party     string // signing_certificates expression; "" is [{{tp "party"}}], "-" omits it
	Window    string // certificate_expiry_warning
	NoOther   bool   // srv1 declares no other_people_store
	Extra     string // appended verbatim
}

func (o inTopo) hcl() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line(`group "contoso" { # @group`)
	if o.Window != "" {
		line(`  certificate_expiry_warning = %q`, o.Window)
	}
	line(`}`)
	line(`certificate_store "personal" {`)
	line(`  path = "stores/personal"`)
	line(`}`)
	line(`certificate_store "other" { # @other_store`)
	line(`  path = "stores/other"`)
	line(`}`)
	line(`service_account "svc_recv" {`)
	line(`  personal_store = certificate_store.personal`)
	line(`}`)
	if o.NoOther {
		line(`server "srv1" { # @srv1`)
		line(`}`)
	} else {
		line(`server "srv1" { # @srv1`)
		line(`  other_people_store = certificate_store.other`)
		line(`}`)
	}
	line(`host "recv_host" { # @host`)
	switch o.Dec {
	case "-":
	case "":
		line(`  decryption_certificate = "{{tp "dec"}}" # @dec`)
	default:
		line(`  decryption_certificate = %s # @dec`, o.Dec)
	}
	if o.Previous != "" {
		line(`  previous_decryption_certificates = %s # @prev`, o.Previous)
	}
	line(`  instance { # @inst`)
	line(`    server          = server.srv1`)
	line(`    service_account = service_account.svc_recv`)
	line(`  }`)
	line(`}`)
	line(`party "fabrikam" { # @party`)
	line(`  as2_id = "FABRIKAM"`)
	switch o.Party {
	case "-":
	case "":
		line(`  signing_certificates = ["{{tp "party"}}"] # @party_certs`)
	default:
		line(`  signing_certificates = %s # @party_certs`, o.Party)
	}
	line(`}`)
	line(`pipeline "decode" {`)
	line(`  decoder "smime" {`)
	if o.DecryptAs != "" {
		line(`    decrypt = %s # @decrypt`, o.DecryptAs)
	} else {
		line(`    decrypt = %t`, !o.NoDecrypt)
	}
	line(`    verify  = %t`, !o.NoVerify)
	line(`  }`)
	line(`}`)
	line(`receive_location "from_fabrikam" { # @loc`)
	line(`  host     = host.recv_host`)
	line(`  pipeline = pipeline.decode # @pl`)
	line(`  transport "file" {`)
	line(`    path = "in"`)
	line(`  }`)
	line(`}`)
	// The location's messages go somewhere (else BP1007).
	line(`send_port "archive" {`)
	line(`  host   = host.recv_host`)
	line(`  filter = true`)
	line(`  transport "file" {`)
	line(`    path = "out"`)
	line(`  }`)
	line(`}`)
	b.WriteString(o.Extra)
	return b.String()
}

// inStores fills the inbound topology's stores so that it is valid: the
// decryption certificate with its key in the personal store, the party's
// signing certificate in the other-people store.
func inStores(s *scene) {
	s.certKey("personal", "dec.pem", "dec")
	s.certOnly("other", "fabrikam.pem", "party")
}

// Details of the inbound pair (from_fabrikam, instance of recv_host on srv1
// as svc_recv).
var inPairObjects = []string{`Receive location "from_fabrikam"`, `pipeline "decode"`, `host "recv_host"`, `server "srv1"`, `service account "svc_recv"`}

func decPair(extra ...string) []string {
	return append(append(append([]string{}, inPairObjects...), `certificate store "personal"`), extra...)
}

func partyPair(extra ...string) []string {
	return append(append(append([]string{}, inPairObjects...), `certificate store "other"`, `party "fabrikam"`), extra...)
}

func TestInboundRules(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cases := []ruleCase{
		{name: "valid decrypt and verify", hcl: inTopo{}.hcl(), stores: inStores},
		{name: "valid: locations that neither decrypt nor verify, or have no pipeline, need nothing",
			hcl: inTopo{Dec: "-", Party: "-", NoDecrypt: true, NoVerify: true, Extra: `
receive_location "plain" {
  host = host.recv_host
  transport "file" { path = "plain" }
}
`}.hcl(), stores: func(s *scene) { s.mkdir("personal"); s.mkdir("other") }},

		// BP7001: a decrypting location's host has no decryption_certificate.
		{
			name: "BP7001 decrypting host without decryption_certificate", hcl: inTopo{Dec: "-"}.hcl(), stores: inStores,
			want: []finding{{diag.CodeDecCertRequired, errorSev, "host", `host "recv_host"`, "",
				list(`Host "recv_host"`, `receive location(s) "from_fabrikam"`, "decryption_certificate")}},
		},
		{
			name: "BP1009 decrypt from a variable without value: no BP7001, but a warning",
			hcl:  inTopo{Dec: "-", DecryptAs: "var.decrypt", Extra: "variable \"decrypt\" {\n  type = bool\n}\n"}.hcl(), stores: inStores,
			want: []finding{{diag.CodeNeedUnknown, warningSev, "decrypt", "var.decrypt", "",
				list(`decrypt attribute of decoder "smime" of pipeline "decode"`, "whether it decrypts", "BP7001–BP7005", `receive location "from_fabrikam"`)}},
		},
		{name: "BP7001 pass: a location that does not decrypt needs no decryption certificate",
			hcl: inTopo{Dec: "-", NoDecrypt: true}.hcl(), stores: inStores},

		// BP7002, BP7003: the instance's personal store.
		{
			name: "BP7002 personal store has another certificate", hcl: inTopo{}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "decoy.pem", "decoy"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeDecCertMissing, errorSev, "inst", "instance {", "}",
				decPair(`{{TP "dec"}} (SHA-1)`, `host "recv_host"'s decryption thumbprint`)}},
		},
		{
			name: "BP1009 decryption thumbprint from a variable without value: no BP7002, but a warning",
			hcl: inTopo{Dec: "var.dec", Extra: `
variable "dec" {
  type = string
}
`}.hcl(),
			stores: func(s *scene) { s.mkdir("personal"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeNeedUnknown, warningSev, "dec", "var.dec", "",
				list(`decryption_certificate attribute of host "recv_host"`, "BP7001–BP7005", `receive location "from_fabrikam"`)}},
		},
		{
			name: "BP7003 certificate without key", hcl: inTopo{}.hcl(),
			stores: func(s *scene) { s.certOnly("personal", "dec.pem", "dec"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeDecKeyMissing, errorSev, "inst", "instance {", "}",
				decPair(`{{TP "dec"}}`, "stores/personal/dec.pem", "not its private key")}},
		},

		{
			name: "BP7003 certificate with other certificates' keys", hcl: inTopo{}.hcl(),
			stores: func(s *scene) {
				s.certOnly("personal", "dec.pem", "dec")
				s.put("personal", "a.key", s.pki.cert("decoy").KeyPEM())
				s.put("personal", "b.key", s.pki.cert("sign").KeyPEM())
				s.certOnly("other", "f.pem", "party")
			},
			want: []finding{{diag.CodeDecKeyMissing, errorSev, "inst", "instance {", "}",
				decPair(`{{TP "dec"}}`, "stores/personal/dec.pem", "but not its private key (the 2 private keys in ", "stores/personal/a.key, ", "stores/personal/b.key match no certificate in the store, this one included)")}},
		},

		// BP7004, BP7005: the decryption certificate itself.
		{
			name: "BP7004 decryption certificate expired", hcl: inTopo{Dec: `"{{tp "dec-expired"}}"`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec-expired"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeDecCertUnusable, errorSev, "dec", `"{{tp "dec-expired"}}"`, "",
				list(`host "recv_host"`, `{{TP "dec-expired"}}`, "expired on",
					`Receive location "from_fabrikam"`, `server "srv1"`, `service account "svc_recv"`, `certificate store "personal"`)}},
		},
		{
			name: "BP7004 decryption certificate not yet valid", hcl: inTopo{Dec: `"{{tp "dec-notyet"}}"`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec-notyet"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeDecCertUnusable, errorSev, "dec", `"{{tp "dec-notyet"}}"`, "",
				list(`host "recv_host"`, "not valid before")}},
		},
		{
			name: "BP7004 decryption certificate without keyEncipherment", hcl: inTopo{Dec: `"{{tp "dec-no-ke"}}"`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec-no-ke"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeDecCertUnusable, errorSev, "dec", `"{{tp "dec-no-ke"}}"`, "",
				list(`host "recv_host"`, "keyEncipherment", "digitalSignature")}},
		},
		{
			name: "BP7004 512-bit RSA decryption certificate, which crypto/rsa refuses", hcl: inTopo{Dec: `"{{tp "dec-512"}}"`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec-512"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeDecCertUnusable, errorSev, "dec", `"{{tp "dec-512"}}"`, "",
				list(`host "recv_host"`, `{{TP "dec-512"}}`, "stores/personal/dec.pem", "512-bit", "cannot decrypt")}},
		},
		{
			// No private key can belong to it (BP7003).
			name: "BP7004 RSA decryption key with an even public exponent, which crypto/rsa refuses", hcl: inTopo{Dec: `"{{tp "dec-e65536"}}"`}.hcl(),
			stores: func(s *scene) { s.certOnly("personal", "dec.pem", "dec-e65536"); s.certOnly("other", "f.pem", "party") },
			want: []finding{
				{diag.CodeDecKeyMissing, errorSev, "inst", "instance {", "}", decPair(`{{TP "dec-e65536"}}`, "not its private key")},
				{diag.CodeDecCertUnusable, errorSev, "dec", `"{{tp "dec-e65536"}}"`, "",
					list(`host "recv_host"`, `{{TP "dec-e65536"}}`, "stores/personal/dec.pem", "even public exponent 65536, which crypto/rsa refuses", "cannot decrypt")},
			},
		},
		{
			name: "BP7004 ECDSA decryption certificate", hcl: inTopo{Dec: `"{{tp "dec-ecdsa"}}"`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec-ecdsa"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeDecCertUnusable, errorSev, "dec", `"{{tp "dec-ecdsa"}}"`, "",
				list(`host "recv_host"`, "ECDSA key")}},
		},
		{
			name: "BP7005 decryption certificate expires within the window", hcl: inTopo{Dec: `"{{tp "dec-expiring"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "dec.pem", "dec-expiring")
				s.certOnly("other", "f.pem", "party")
			},
			want: []finding{{diag.CodeDecCertExpiring, warningSev, "dec", `"{{tp "dec-expiring"}}"`, "",
				list(`host "recv_host"`, "720h0m0s warning window")}},
		},
		{
			name: "BP7005 pass: a shorter window", hcl: inTopo{Dec: `"{{tp "dec-expiring"}}"`, Window: "48h"}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "dec.pem", "dec-expiring")
				s.certOnly("other", "f.pem", "party")
			},
		},
		{
			name: "BP2004 decryption thumbprint copied with U+200E", hcl: inTopo{Dec: `"{{lrm (tp "dec")}}"`}.hcl(), stores: inStores,
			want: []finding{{diag.CodeThumbprint, errorSev, "dec", `"`, "", list(`decryption_certificate of host "recv_host"`, "U+200E")}},
		},

		// previous_decryption_certificates: each is needed as the current
		// one is (BP7002, BP7003, key transport BP7004, BP7005, BP5001),
		// its dates are warnings (BP7004), a repeat is BP1004.
		{name: "valid: a previous decryption certificate in the store with its key",
			hcl:    inTopo{Previous: `["{{tp "prev"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev") }},
		{
			name: "BP7002 previous decryption certificate not in the personal store", hcl: inTopo{Previous: `["{{tp "prev"}}"]`}.hcl(), stores: inStores,
			want: []finding{{diag.CodeDecCertMissing, errorSev, "inst", "instance {", "}",
				decPair(`host "recv_host"'s previous decryption thumbprint {{TP "prev"}} (SHA-1), its previous_decryption_certificates[0], so`,
					"would be suspended", "remove it from previous_decryption_certificates")}},
		},
		{
			name:   "BP7002 the second previous decryption certificate not in the personal store",
			hcl:    inTopo{Previous: `["{{tp "prev"}}", "{{tp "prev2"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev") },
			want: []finding{{diag.CodeDecCertMissing, errorSev, "inst", "instance {", "}",
				decPair(`{{TP "prev2"}} (SHA-1), its previous_decryption_certificates[1]`)}},
		},
		{
			name:   "BP7002 previous decryption thumbprint mistyped points at the element",
			hcl:    inTopo{Previous: `["{{typo "prev"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev") },
			want: []finding{{diag.CodeDecCertMissing, errorSev, "prev", `"{{typo "prev"}}"`, "",
				decPair("differs from it by 1 digit", "correct the thumbprint in the host's previous_decryption_certificates[0]")}},
		},
		{
			name: "BP7003 previous decryption certificate without key", hcl: inTopo{Previous: `["{{tp "prev"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certOnly("personal", "prev.pem", "prev") },
			want: []finding{{diag.CodeDecKeyMissing, errorSev, "inst", "instance {", "}",
				decPair(`previous decryption certificate {{TP "prev"}} (SHA-1), its previous_decryption_certificates[0], subject`, "stores/personal/prev.pem",
					"not its private key", "cannot decrypt the messages partners still encrypt for it")}},
		},
		{
			name: "BP7004 warning: previous decryption certificate expired", hcl: inTopo{Previous: `["{{tp "prev-expired"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev-expired") },
			want: []finding{{diag.CodeDecCertUnusable, warningSev, "prev", `"{{tp "prev-expired"}}"`, "",
				list(`previous decryption certificate {{TP "prev-expired"}}`, `host "recv_host"`, "previous_decryption_certificates[0]", "expired on", "remove it from previous_decryption_certificates")}},
		},
		{
			name: "BP7004 warning: previous decryption certificate not yet valid", hcl: inTopo{Previous: `["{{tp "prev-notyet"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev-notyet") },
			want: []finding{{diag.CodeDecCertUnusable, warningSev, "prev", `"{{tp "prev-notyet"}}"`, "",
				list(`host "recv_host"`, "not valid before", "make it decryption_certificate")}},
		},
		{
			name: "BP7004 ECDSA previous decryption certificate", hcl: inTopo{Previous: `["{{tp "prev-ecdsa"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev-ecdsa") },
			want: []finding{{diag.CodeDecCertUnusable, errorSev, "prev", `"{{tp "prev-ecdsa"}}"`, "",
				list(`previous decryption certificate {{TP "prev-ecdsa"}}`, "ECDSA key")}},
		},
		{
			name: "BP7005 previous decryption certificate expires within the window", hcl: inTopo{Previous: `["{{tp "prev-expiring"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev-expiring") },
			want: []finding{{diag.CodeDecCertExpiring, warningSev, "prev", `"{{tp "prev-expiring"}}"`, "",
				list(`host "recv_host"`, "720h0m0s warning window", "must switch to the host's decryption_certificate")}},
		},
		{
			name: "BP5001 previous decryption certificate with a weak key", hcl: inTopo{Previous: `["{{tp "prev-1024"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev-1024") },
			want: []finding{{diag.CodeWeakAlgorithm, warningSev, "prev", `"{{tp "prev-1024"}}"`, "",
				list(`previous decryption certificate {{TP "prev-1024"}}`, "1024-bit RSA key")}},
		},
		{
			name:   "BP1004 previous decryption certificate listed twice (SHA-1 and SHA-256)",
			hcl:    inTopo{Previous: `["{{tp "prev"}}", "{{tp256 "prev"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev") },
			want: []finding{{diag.CodeInvalidValue, errorSev, "prev", `"{{tp256 "prev"}}"`, "",
				list(`previous_decryption_certificates[1] of host "recv_host"`, `{{TP256 "prev"}}`, "previous_decryption_certificates[0] already lists")}},
		},
		{
			name: "BP1004 previous decryption certificate is the current one",
			hcl:  inTopo{Previous: `["{{tp256 "dec"}}"]`}.hcl(), stores: inStores,
			want: []finding{{diag.CodeInvalidValue, errorSev, "prev", `"{{tp256 "dec"}}"`, "",
				list(`previous_decryption_certificates[0] of host "recv_host"`, "already its decryption_certificate")}},
		},
		{
			name: "BP2004 previous decryption thumbprint copied with U+200E", hcl: inTopo{Previous: `["{{lrm (tp "prev")}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certKey("personal", "prev.pem", "prev") },
			want:   []finding{{diag.CodeThumbprint, errorSev, "prev", `"`, "", list(`previous_decryption_certificates[0] of host "recv_host"`, "U+200E")}},
		},
		{name: "BP1009 previous decryption certificates from a variable without value: a warning",
			hcl:    inTopo{Previous: "var.previous", Extra: "variable \"previous\" {\n  type = list(string)\n}\n"}.hcl(),
			stores: inStores,
			want: []finding{{diag.CodeNeedUnknown, warningSev, "prev", "var.previous", "",
				list(`previous_decryption_certificates attribute of host "recv_host"`, "BP7001–BP7005", `receive location "from_fabrikam"`)}}},
		{name: "BP7002 pass: a host that does not decrypt needs no previous decryption certificate",
			hcl: inTopo{NoDecrypt: true, Previous: `["{{tp "prev"}}"]`}.hcl(), stores: inStores},

		// BP7006: the party's certificates on the instance's server.
		{
			name: "BP7006 party certificate not in other-people store", hcl: inTopo{}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.certOnly("other", "decoy.pem", "decoy") },
			want: []finding{{diag.CodePartyCertMissing, errorSev, "party_certs", `["{{tp "party"}}"]`, "",
				partyPair(`{{TP "party"}} (SHA-1)`, `verifies signatures with pipeline "decode"`)}},
		},
		{
			name: "BP7006 server without other-people store", hcl: inTopo{NoOther: true}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.mkdir("other") },
			want: []finding{
				{diag.CodePartyCertMissing, errorSev, "srv1", `server "srv1"`, "", list(`Receive location "from_fabrikam"`, `server "srv1" declares no other_people_store`, `party "fabrikam"`)},
				{diag.CodeUnused, warningSev, "other_store", `certificate_store "other"`, "", list(`Certificate store "other"`)},
			},
		},
		{
			name: "BP7006 no party lists a signing certificate", hcl: inTopo{Party: "-"}.hcl(), stores: inStores,
			want: []finding{{diag.CodePartyCertMissing, errorSev, "pl", "pipeline.decode", "",
				list(`Receive location "from_fabrikam"`, "no party lists signing_certificates")}},
		},
		{
			// null is the language's "not set": no certificates, not unknown ones.
			name: "BP7006 signing_certificates = null lists none", hcl: inTopo{Party: "null"}.hcl(), stores: inStores,
			want: []finding{{diag.CodePartyCertMissing, errorSev, "pl", "pipeline.decode", "",
				list(`Receive location "from_fabrikam"`, "no party lists signing_certificates")}},
		},
		{name: "BP7006 pass: a location that does not verify needs no party certificate",
			hcl: inTopo{NoVerify: true, Party: "-"}.hcl(), stores: inStores},
		{name: "BP7006 pass: one of two listed certificates is present",
			hcl: inTopo{Party: `["{{tp "decoy"}}", "{{tp "party"}}"]`}.hcl(), stores: inStores},
		{name: "BP1009 one signing certificate from a variable without value: the list is unknown, with a warning",
			hcl:    inTopo{Party: `["{{tp "party"}}", var.cert]`, Extra: "variable \"cert\" {\n  type = string\n}\n"}.hcl(),
			stores: inStores,
			want: []finding{{diag.CodeNeedUnknown, warningSev, "party_certs", `["{{tp "party"}}", var.cert]`, "",
				list(`signing_certificates attribute of party "fabrikam"`, "BP7006–BP7008", `receive location "from_fabrikam"`)}}},
		{name: "BP1009 pass: a host that does not decrypt needs no decryption thumbprint, known or not",
			hcl: inTopo{NoDecrypt: true, Dec: "var.dec", Extra: `
variable "dec" {
  type = string
}
`}.hcl(),
			stores: inStores},
		{name: "BP1009 signing certificates from a variable without value: no BP7006, but a warning",
			hcl:    inTopo{Party: "var.certs", Extra: "variable \"certs\" {\n  type = list(string)\n}\n"}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.mkdir("other") },
			want: []finding{{diag.CodeNeedUnknown, warningSev, "party_certs", "var.certs", "",
				list(`signing_certificates attribute of party "fabrikam"`, "BP7006–BP7008", `receive location "from_fabrikam"`)}}},

		// BP7007, BP7008: the party certificates found, judged together.
		{
			name: "BP7007 the only party certificate expired", hcl: inTopo{Party: `["{{tp "party-expired"}}"]`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.certOnly("other", "f.pem", "party-expired") },
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-expired"}}"`, "",
				list(`party "fabrikam"`, `{{TP "party-expired"}}`, "expired on", "stores/other/f.pem", `Receive location "from_fabrikam"`, `server "srv1"`)}},
		},
		{
			name: "BP7007 both listed certificates unusable",
			hcl:  inTopo{Party: `["{{tp "party-expiring"}}", "{{tp "party-notyet"}}"]`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "dec.pem", "dec")
				s.certOnly("other", "f.pem", "party-notyet")
			},
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-notyet"}}"`, "",
				list(`party "fabrikam"`, "not valid before", "None of the party's other listed certificates")}},
		},
		// BP7007: a certificate the decoder rejects whatever the time
		// (certinfo.SignerError), alone or next to a usable one.
		{
			name: "BP7007 the only party certificate has no digitalSignature key usage", hcl: inTopo{Party: `["{{tp "party-no-ds"}}"]`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.certOnly("other", "f.pem", "party-no-ds") },
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-no-ds"}}"`, "",
				list(`party "fabrikam"`, `{{TP "party-no-ds"}}`, "stores/other/f.pem", "key usage does not allow digital signatures", `Receive location "from_fabrikam"`, `server "srv1"`)}},
		},
		{
			name: "BP7007 the only party certificate has an unhandled critical extension", hcl: inTopo{Party: `["{{tp "party-critical"}}"]`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "dec.pem", "dec")
				s.certOnly("other", "f.pem", "party-critical")
			},
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-critical"}}"`, "",
				list(`party "fabrikam"`, `{{TP "party-critical"}}`, "unhandled critical extension")}},
		},
		{
			name: "BP7007 the only party certificate has a 512-bit RSA key", hcl: inTopo{Party: `["{{tp "party-512"}}"]`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.certOnly("other", "f.pem", "party-512") },
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-512"}}"`, "",
				list(`party "fabrikam"`, `{{TP "party-512"}}`, "512-bit")}},
		},
		{
			name: "BP7007 the only party certificate has an RSA key with an even public exponent", hcl: inTopo{Party: `["{{tp "party-e65536"}}"]`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.certOnly("other", "f.pem", "party-e65536") },
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-e65536"}}"`, "",
				list(`party "fabrikam"`, `{{TP "party-e65536"}}`, "cannot verify signatures: an RSA key with the even public exponent 65536, which crypto/rsa refuses")}},
		},
		{
			name: "BP7007 the only party certificate has an RSA key with an even modulus", hcl: inTopo{Party: `["{{tp "party-even-n"}}"]`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.certOnly("other", "f.pem", "party-even-n") },
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-even-n"}}"`, "",
				list(`party "fabrikam"`, `{{TP "party-even-n"}}`, "an RSA key with an even modulus, which crypto/rsa refuses")}},
		},
		{
			name: "BP7007 the only party certificate has an Ed25519 key", hcl: inTopo{Party: `["{{tp "party-ed25519"}}"]`}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "dec.pem", "dec"); s.certOnly("other", "f.pem", "party-ed25519") },
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-ed25519"}}"`, "",
				list(`party "fabrikam"`, `{{TP "party-ed25519"}}`, "Ed25519")}},
		},
		{
			name: "BP7007 two listed, and the one found is unusable",
			hcl:  inTopo{Party: `["{{tp "party-no-ds"}}", "{{tp "party-expiring"}}"]`, Window: "1h"}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "dec.pem", "dec")
				s.certOnly("other", "f.pem", "party-no-ds")
			},
			want: []finding{{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-no-ds"}}"`, "",
				list(`{{TP "party-no-ds"}}`, "key usage", "None of the party's other listed certificates")}},
		},
		{
			name:   "BP7007 warning: an unusable certificate next to a usable one",
			hcl:    inTopo{Party: `["{{tp "party-critical"}}", "{{tp "party"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certOnly("other", "bad.pem", "party-critical") },
			want: []finding{{diag.CodePartyCertInvalid, warningSev, "party_certs", `"{{tp "party-critical"}}"`, "",
				list(`{{TP "party-critical"}}`, "unhandled critical extension", `{{TP "party"}}`, "is usable")}},
		},
		{
			name:   "BP7007 pass: an expired certificate next to a valid one (a rollover)",
			hcl:    inTopo{Party: `["{{tp "party-expired"}}", "{{tp "party"}}"]`}.hcl(),
			stores: func(s *scene) { inStores(s); s.certOnly("other", "old.pem", "party-expired") },
		},
		{
			name: "BP7008 the only party certificate expires soon", hcl: inTopo{Party: `["{{tp "party-expiring"}}"]`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "dec.pem", "dec")
				s.certOnly("other", "f.pem", "party-expiring")
			},
			want: []finding{{diag.CodePartyCertExpiring, warningSev, "party_certs", `"{{tp "party-expiring"}}"`, "",
				list(`party "fabrikam"`, `{{TP "party-expiring"}}`, "warning window", `Receive location "from_fabrikam"`, `service account "svc_recv"`)}},
		},
		{
			name: "BP7008 pass: the next certificate is already deployed",
			hcl:  inTopo{Party: `["{{tp "party-expiring"}}", "{{tp "party-next"}}"]`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "dec.pem", "dec")
				s.certOnly("other", "f.pem", "party-expiring")
				s.certOnly("other", "next.pem", "party-next")
			},
		},

		// BP7009: two parties with one as2_id (the AS2 transport parts are
		// TestAS2Rules').
		{
			name: "BP7009 two parties with the same as2_id", hcl: inTopo{Extra: `
party "fabrikam_eu" {
  as2_id = "FABRIKAM" # @dup
}
`}.hcl(), stores: inStores,
			want: []finding{{diag.CodeAS2Config, errorSev, "dup", `"FABRIKAM"`, "",
				list(`Parties "fabrikam_eu" and "fabrikam"`, `as2_id "FABRIKAM"`)}},
		},
		{
			// RFC 4130 §6.2 compares AS2 names case-sensitively, and the
			// receiver matches AS2-From exactly (quoted, a space is part of
			// the name): these are three identifiers, each one party's.
			name: "BP7009 pass: as2_ids that differ in case or by a space", hcl: inTopo{Extra: `
party "fabrikam_lower" {
  as2_id = "fabrikam"
}
party "fabrikam_spaced" {
  as2_id = "FABRIKAM "
}
`}.hcl(), stores: inStores,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t, p.with(t))
			tc.stores(s)
			s.write(tc.hcl)
			cfg, loadDiags := s.loadChecked(tc.vars...)
			_, diags := rules.Check(cfg, rules.Options{Now: p.now})
			s.expect(append(loadDiags, diags...), tc.want)
		})
	}
}

// as2Send and as2Receive stand in for the as2 transports of language §11,
// which are built elsewhere: the rules find AS2 through component.AS2Config
// and the components' Needs, so a transport defined in a test reaches them
// exactly as the real one will.
type as2SendConfig struct {
	a         component.AS2
	signedMDN bool
}

func (c *as2SendConfig) AS2() component.AS2 { return c.a }

func (c *as2SendConfig) Needs() component.Needs {
	var n component.Needs
	if c.signedMDN && c.a.MDN.V != "none" {
		n.PartySigning = component.Needed // the partner's MDNs are verified
	}
	return n
}

type as2ReceiveConfig struct{ path value.Value[string] }

func (c as2ReceiveConfig) AS2() component.AS2 { return component.AS2{Path: c.path} }

// Needs: an AS2 receive location signs the MDNs it answers with.
func (as2ReceiveConfig) Needs() component.Needs { return component.Needs{Signing: component.Needed} }

func as2Registry(t *testing.T) *component.Registry {
	t.Helper()
	// The built-in components but the real as2 transports, which the
	// stand-ins replace with what the rules read of them.
	var specs []*component.Spec
	for _, s := range registry.Builtin().Specs() {
		if (s.Kind != component.SendTransport && s.Kind != component.ReceiveTransport) || s.Name != "as2" {
			specs = append(specs, s)
		}
	}
	reg, err := component.NewRegistry(specs...)
	if err != nil {
		t.Fatal(err)
	}
	send := &component.Spec{
		Kind: component.SendTransport, Name: "as2", Summary: "AS2 (a test stand-in).",
		Attributes: []component.Attribute{
			{Name: "url", Type: component.String, Required: true, Doc: "Where to post."},
			{Name: "partner", Type: component.PartyRef, Required: true, Doc: "The partner."},
			{Name: "mdn", Type: component.Enum, Default: "sync", Values: []string{"none", "sync", "async"}, Doc: "The MDN asked for."},
			{Name: "signed_mdn", Type: component.Bool, Default: true, Doc: "Ask for a signed MDN."},
			{Name: "async_mdn_url", Type: component.String, Doc: "Where async MDNs go."},
		},
		Decode: func(b *component.Body) component.Config {
			return &as2SendConfig{
				a:         component.AS2{Partner: b.PartyRef("partner"), MDN: b.String("mdn"), AsyncMDNURL: b.String("async_mdn_url")},
				signedMDN: b.Bool("signed_mdn").V,
			}
		},
	}
	receive := &component.Spec{
		Kind: component.ReceiveTransport, Name: "as2", Summary: "AS2 (a test stand-in).",
		Attributes: []component.Attribute{
			{Name: "listen", Type: component.String, Required: true, Doc: "Where to listen."},
			{Name: "path", Type: component.String, Default: "/", Doc: "The path served."},
		},
		Decode: func(b *component.Body) component.Config { return as2ReceiveConfig{path: b.String("path")} },
	}
	for _, s := range []*component.Spec{send, receive} {
		if err := reg.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// as2Topo: group "contoso" signing with {{tp "sign"}}; host "h" with one
// instance on srv1 as svc; party "fabrikam" signing with {{tp "party"}};
// send port "fabrikam_as2" and receive location "as2_in" with the test as2
// transports.
type as2Topo struct {
	NoGroupID, NoPartyID bool
	MDN                  string // default "sync"
	AsyncURL             bool
	Partner              string // default party.fabrikam
	// RecvHost is the host of receive location "as2_in" (default h),
	// RecvPath its path (default: none, the transport's "/").
	RecvHost, RecvPath string
	Extra              string
}

func (o as2Topo) hcl() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line(`group "contoso" { # @group`)
	line(`  signing_certificate = "{{tp "sign"}}" # @sign`)
	if !o.NoGroupID {
		line(`  as2_id = "CONTOSO"`)
	}
	line(`}`)
	line(`certificate_store "personal" {`)
	line(`  path = "stores/personal"`)
	line(`}`)
	line(`certificate_store "other" {`)
	line(`  path = "stores/other"`)
	line(`}`)
	line(`service_account "svc" {`)
	line(`  personal_store = certificate_store.personal`)
	line(`}`)
	line(`server "srv1" {`)
	line(`  other_people_store = certificate_store.other`)
	line(`}`)
	line(`host "h" {`)
	line(`  instance { # @inst`)
	line(`    server          = server.srv1`)
	line(`    service_account = service_account.svc`)
	line(`  }`)
	line(`}`)
	line(`party "fabrikam" {`)
	if !o.NoPartyID {
		line(`  as2_id = "FABRIKAM"`)
	}
	line(`  signing_certificates = ["{{tp "party"}}"] # @party_certs`)
	line(`}`)
	line(`send_port "fabrikam_as2" {`)
	line(`  host   = host.h`)
	line(`  filter = true`)
	line(`  transport "as2" {`)
	line(`    url     = "http://127.0.0.1:1/as2"`)
	partner := o.Partner
	if partner == "" {
		partner = "party.fabrikam"
	}
	line(`    partner = %s # @partner`, partner)
	mdn := o.MDN
	if mdn == "" {
		mdn = "sync"
	}
	line(`    mdn     = %q # @mdn`, mdn)
	if o.AsyncURL {
		line(`    async_mdn_url = "http://127.0.0.1:4080/as2"`)
	}
	line(`  }`)
	line(`}`)
	line(`receive_location "as2_in" {`)
	recvHost := o.RecvHost
	if recvHost == "" {
		recvHost = "h"
	}
	line(`  host = host.%s`, recvHost)
	line(`  transport "as2" {`)
	line(`    listen = "127.0.0.1:4080"`)
	if o.RecvPath != "" {
		line(`    path   = %q`, o.RecvPath)
	}
	line(`  }`)
	line(`}`)
	b.WriteString(o.Extra)
	return b.String()
}

// as2Srv2 adds host "h2", with one instance on server "srv2" as
// service account "svc2", whose stores are "personal2" and "other2".
const as2Srv2 = srv2Decls + `
host "h2" {
  instance {
    server          = server.srv2
    service_account = service_account.svc2
  }
}
`

func as2Stores(s *scene) {
	s.certKey("personal", "sign.pem", "sign")
	s.certOnly("other", "fabrikam.pem", "party")
}

// TestAS2Rules checks the AS2 parts of BP7009, the partner's MDN
// certificates (BP7006) and the MDN signing identity of an AS2 receive
// location (BP3001–BP3003), with stand-in as2 transports.
func TestAS2Rules(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	reg := as2Registry(t)
	cases := []ruleCase{
		{name: "valid AS2 send and receive", hcl: as2Topo{}.hcl(), stores: as2Stores},
		{name: "valid async MDN with a URL", hcl: as2Topo{MDN: "async", AsyncURL: true}.hcl(), stores: as2Stores},
		{
			name: "BP7009 an as2 transport but no group as2_id", hcl: as2Topo{NoGroupID: true}.hcl(), stores: as2Stores,
			want: []finding{{diag.CodeAS2Config, errorSev, "group", `group "contoso"`, "",
				list(`Group "contoso"`, `receive location "as2_in"`, `send port "fabrikam_as2"`, "as2_id")}},
		},
		{
			name: "BP7009 partner without as2_id", hcl: as2Topo{NoPartyID: true}.hcl(), stores: as2Stores,
			want: []finding{{diag.CodeAS2Config, errorSev, "partner", "party.fabrikam", "",
				list(`Send port "fabrikam_as2"`, `transport "as2"`, `party "fabrikam"`, "as2_id")}},
		},
		{
			name: "BP7009 async MDN without async_mdn_url", hcl: as2Topo{MDN: "async"}.hcl(), stores: as2Stores,
			want: []finding{{diag.CodeAS2Config, errorSev, "mdn", `"async"`, "",
				list(`Send port "fabrikam_as2"`, "async_mdn_url")}},
		},
		{
			name: "BP7006 the partner's MDN certificate is not on the server", hcl: as2Topo{}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "sign.pem", "sign"); s.mkdir("other") },
			want: []finding{{diag.CodePartyCertMissing, errorSev, "party_certs", `["{{tp "party"}}"]`, "",
				list(`Send port "fabrikam_as2" verifies the MDNs of party "fabrikam" with transport "as2"`, `server "srv1"`, `certificate store "other"`)}},
		},
		{
			// The async MDNs arrive at as2_in, on srv2, which verifies them
			// without the partner's certificate: each answered 503 until
			// mdn_timeout suspends the delivery.
			name:   "BP7006 the partner's async MDN certificate is not where its MDNs arrive",
			hcl:    as2Topo{MDN: "async", AsyncURL: true, RecvHost: "h2", RecvPath: "/as2", Extra: as2Srv2}.hcl(),
			stores: func(s *scene) { as2Stores(s); s.certKey("personal2", "sign.pem", "sign"); s.mkdir("other2") },
			want: []finding{{diag.CodePartyCertMissing, errorSev, "party_certs", `["{{tp "party"}}"]`, "",
				list(`Send port "fabrikam_as2" asks party "fabrikam" for asynchronous MDNs (transport "as2"), which receive location "as2_in" receives and verifies`,
					`server "srv2"`, `certificate store "other2"`)}},
		},
		{
			name: "BP7006 pass: the partner's certificate is where its async MDNs arrive",
			hcl:  as2Topo{MDN: "async", AsyncURL: true, RecvHost: "h2", RecvPath: "/as2", Extra: as2Srv2}.hcl(),
			stores: func(s *scene) {
				as2Stores(s)
				s.certKey("personal2", "sign.pem", "sign")
				s.certOnly("other2", "f.pem", "party")
			},
		},
		{
			// as2_in serves another path than async_mdn_url's; as2_mdn,
			// on srv1, which has the certificate, serves it.
			name: "BP7006 pass: the location serving async_mdn_url's path has the certificate",
			hcl: as2Topo{MDN: "async", AsyncURL: true, RecvHost: "h2", RecvPath: "/orders", Extra: as2Srv2 + `
receive_location "as2_mdn" {
  host = host.h
  transport "as2" {
    listen = "127.0.0.1:4081"
    path   = "/as2"
  }
}
`}.hcl(),
			stores: func(s *scene) { as2Stores(s); s.certKey("personal2", "sign.pem", "sign"); s.mkdir("other2") },
		},
		{
			name: "BP7006 pass: no MDN, nothing to verify", hcl: as2Topo{MDN: "none"}.hcl(),
			stores: func(s *scene) { s.certKey("personal", "sign.pem", "sign"); s.mkdir("other") },
		},
		{
			name: "BP3002 the AS2 receive location cannot sign its MDNs", hcl: as2Topo{}.hcl(),
			stores: func(s *scene) { s.certOnly("personal", "sign.pem", "sign"); s.certOnly("other", "f.pem", "party") },
			want: []finding{{diag.CodeSignKeyMissing, errorSev, "inst", "instance {", "}",
				list(`Receive location "as2_in" signs with transport "as2"`, `host "h"`, `server "srv1"`, `service account "svc"`, "not its private key")}},
		},
		{
			name: "BP3005 the AS2 receive location would sign its MDNs with an Ed25519 key",
			hcl:  strings.Replace(as2Topo{}.hcl(), `{{tp "sign"}}`, `{{tp "sign-ed25519"}}`, 1),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-ed25519")
				s.certOnly("other", "fabrikam.pem", "party")
			},
			want: []finding{{diag.CodeSignCertUsage, errorSev, "sign", `"{{tp "sign-ed25519"}}"`, "",
				list(`group "contoso"`, `{{TP "sign-ed25519"}}`, "stores/personal/sign.pem", "Ed25519")}},
		},
		{
			name: "BP3007 the AS2 receive location cannot sign its MDNs after the rollover",
			hcl: strings.Replace(as2Topo{}.hcl(), `  as2_id = "CONTOSO"`+"\n",
				`  as2_id = "CONTOSO"`+"\n"+`  signing_rollover {`+"\n"+`    certificate = "{{tp "next"}}"`+"\n"+`    at = "2099-01-01T00:00:00Z"`+"\n"+`  }`+"\n", 1),
			stores: as2Stores,
			want: []finding{{diag.CodeRolloverUnreachable, warningSev, "inst", "instance {", "}",
				list(`Receive location "as2_in" signs with transport "as2"`, `host "h"`, `server "srv1"`, `service account "svc"`, `{{TP "next"}}`, "before 2099-01-01T00:00:00Z")}},
		},
		{
			name: "BP1004 an AS2 receive location signs MDNs, but the group has no signing_certificate",
			hcl:  strings.Replace(as2Topo{}.hcl(), `  signing_certificate = "{{tp "sign"}}" # @sign`+"\n", "", 1), stores: as2Stores,
			want: []finding{{diag.CodeInvalidValue, errorSev, "group", `group "contoso"`, "",
				list(`Group "contoso"`, "signing_certificate", `receive location(s) "as2_in"`)}},
		},
		{
			name: "BP1001 partner names no party", hcl: as2Topo{Partner: "party.nobody"}.hcl(), stores: as2Stores,
			want: []finding{{diag.CodeUndeclared, errorSev, "partner", "party.nobody", "", list("party.nobody")}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t, p.with(t))
			tc.stores(s)
			s.write(tc.hcl)
			cfg, loadDiags := lang.Load([]string{s.file}, lang.Options{
				Mode: lang.ModeValidate, Registry: reg,
				LookupEnv: func(string) (string, bool) { return "", false },
			})
			_, diags := rules.Check(cfg, rules.Options{Now: p.now})
			s.expect(append(loadDiags, diags...), tc.want)
		})
	}
}
