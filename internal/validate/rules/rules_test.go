package rules_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// Details of the standard topology (see topo): the objects of the pair
// (fabrikam, instance of send_host on srv1 as svc_send).
var pairObjects = []string{`Send port "fabrikam"`, `pipeline "pl"`, `host "send_host"`, `server "srv1"`, `service account "svc_send"`}

func signPair(extra ...string) []string {
	return append(append(append([]string{}, pairObjects...), `certificate store "personal"`), extra...)
}

func encPair(extra ...string) []string {
	return append(append(append([]string{}, pairObjects...), `certificate store "other"`), extra...)
}

func list(xs ...string) []string { return xs }

// ruleCase is one configuration with its stores and the exact findings.
type ruleCase struct {
	name string
	hcl  string
	// stores fills the stores; nil means defaultStores.
	stores func(s *scene)
	// vars are --var NAME=VALUE options.
	vars []string
	want []finding
	// secret must appear in no summary or detail.
	secret string
	// loadErrors: the configuration has decoding errors, which are
	// findings of the case like the rules'.
	loadErrors bool
}

// Inline configurations for topologies topo cannot express.
const (
	// ordersIn declares the receive location "orders_in".
	ordersIn = `
receive_location "orders_in" {
  host       = host.send_host
  properties = { partner = "fabrikam" }
  transport "file" { path = "in" }
}
`
	// hostWithoutInstance: send_host has no instance block.
	hostWithoutInstance = `
group "contoso" {
  signing_certificate = "{{tp "sign"}}"
}
host "send_host" { # @host
}
pipeline "pl" {
  encoder "smime" {
    signature = "%s"
  }
}
send_port "fabrikam" {
  host     = host.send_host
  pipeline = pipeline.pl
  transport "file" { path = "out" }
}
`
	// serverWithoutOtherPeople: srv1 declares no other_people_store; the
	// pipeline's encrypt flag is a parameter.
	serverWithoutOtherPeople = `
group "contoso" {
  signing_certificate = "{{tp "sign"}}"
}
certificate_store "personal" {
  path = "stores/personal"
}
service_account "svc_send" {
  personal_store = certificate_store.personal
}
server "srv1" { # @srv1
}
host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}
pipeline "pl" {
  encoder "smime" {
    signature = "clear"
    encrypt   = %s
  }
}
send_port "fabrikam" {
  host     = host.send_host
  pipeline = pipeline.pl
  %s
  transport "file" { path = "out" }
}
`
	// portWithoutPipeline: a pass-through port that sets a certificate.
	portWithoutPipeline = `
group "contoso" {
  signing_certificate = "{{tp "sign"}}"
}
host "send_host" {
}
send_port "fabrikam" {
  host                   = host.send_host
  encryption_certificate = "{{tp "partner"}}" # @enc
  transport "file" { path = "out" }
}
`
)

func TestRules(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const wrongPassword = "Tr0ub4dor&3-not-it"
	const p12Password = "correct horse battery staple"

	cases := []ruleCase{
		{name: "valid sign and encrypt", hcl: topo{}.hcl()},

		// BP2001: store path missing, not a directory, or unreadable.
		{
			name:   "BP2001 store directory missing",
			hcl:    topo{}.hcl(),
			stores: func(s *scene) { s.der("other", "partner.cer", "partner") },
			// The personal store cannot be read: no BP3001 is invented for it.
			want: []finding{{diag.CodeStorePath, errorSev, "personal", `"stores/personal"`, "",
				list(`certificate store "personal"`, "stores/personal", "no such file or directory")}},
		},
		{
			name: "BP2001 store path is a file",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				if err := os.WriteFile(s.storeDir("personal"), s.pki.cert("sign").CertPEM(), 0o600); err != nil {
					s.t.Fatal(err)
				}
			},
			want: []finding{{diag.CodeStorePath, errorSev, "personal", `"stores/personal"`, "",
				list(`certificate store "personal"`, "not a directory")}},
		},
		{
			name: "BP2001 store file cannot be read",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				defaultStores(s)
				if err := os.Symlink("gone.pem", filepath.Join(s.storeDir("personal"), "old.pem")); err != nil {
					s.t.Fatal(err)
				}
			},
			want: []finding{{diag.CodeStorePath, errorSev, "personal", `"stores/personal"`, "",
				list(`certificate store "personal"`, "stores/personal/old.pem", "cannot be read")}},
		},
		{
			name: "BP2001 unreadable file hides a possibly missing signing certificate: no BP3001",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "decoy.pem", "decoy")
				s.der("other", "partner.cer", "partner")
				if err := os.Symlink("gone.p12", filepath.Join(s.storeDir("personal"), "sign.p12")); err != nil {
					s.t.Fatal(err)
				}
			},
			want: []finding{{diag.CodeStorePath, errorSev, "personal", `"stores/personal"`, "",
				list(`certificate store "personal"`, "stores/personal/sign.p12")}},
		},
		{
			name: "BP2001 pass: unreadable store of a port that needs nothing from it",
			hcl:  topo{Signature: "none", NoEncrypt: true, Enc: "-"}.hcl(),
			stores: func(s *scene) {
				s.mkdir("personal")
				s.mkdir("other")
			},
		},

		// BP2002: a store file that cannot be parsed.
		{
			name: "BP2002 corrupt PEM certificate",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				defaultStores(s)
				s.put("personal", "broken.pem", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
			},
			want: []finding{{diag.CodeStoreFile, errorSev, "personal", `"stores/personal"`, "",
				list(`certificate store "personal"`, "stores/personal/broken.pem", "cannot be parsed")}},
		},
		{
			name: "BP2002 truncated PKCS#12 hides the signing certificate: no BP3001",
			hcl:  topo{PersonalPassword: `"` + p12Password + `"`}.hcl(),
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.put("personal", "sign.p12", s.pkcs12("sign", p12Password, false)[:200])
			},
			want: []finding{{diag.CodeStoreFile, errorSev, "personal", `"stores/personal"`, "",
				list(`certificate store "personal"`, "stores/personal/sign.p12")}},
		},
		{
			name: "BP2002 pass: a file that is no certificate is ignored",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				defaultStores(s)
				s.put("personal", "README.txt", []byte("Signing certificate for contoso; ask the PKI team.\n"))
			},
		},

		// BP2003: a PKCS#12 file that the store's password cannot decrypt.
		{
			name:   "BP2003 wrong sensitive password: no BP3001, password never shown",
			hcl:    topo{PersonalPassword: "var.p12_password"}.hcl(),
			vars:   []string{"p12_password=" + wrongPassword},
			secret: wrongPassword,
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.put("personal", "sign.p12", s.pkcs12("sign", p12Password, false))
			},
			want: []finding{{diag.CodeStorePassword, errorSev, "personal_password", "var.p12_password", "",
				list(`certificate store "personal"`, "stores/personal/sign.p12", "cannot be opened")}},
		},
		{
			name: "BP2003 password-protected PKCS#12 in a store without password",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.put("personal", "sign.pfx", s.pkcs12("sign", p12Password, true))
			},
			want: []finding{{diag.CodeStorePassword, errorSev, "personal", `"stores/personal"`, "",
				list(`certificate store "personal"`, "stores/personal/sign.pfx", "cannot be opened")}},
		},
		{
			name: "BP2003 pass: legacy PKCS#12 with the right password",
			hcl:  topo{PersonalPassword: "var.p12_password"}.hcl(),
			vars: []string{"p12_password=" + p12Password},
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.put("personal", "sign.pfx", s.pkcs12("sign", p12Password, true))
			},
		},
		{
			name: "BP2003 pass: modern PKCS#12 with the right password",
			hcl:  topo{PersonalPassword: `"` + p12Password + `"`}.hcl(),
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.put("personal", "sign.p12", s.pkcs12("sign", p12Password, false))
			},
		},

		// BP2004: malformed thumbprint.
		{
			name: "BP2004 signing thumbprint copied with U+200E",
			hcl:  topo{Sign: `"{{lrm (tp "sign")}}"`}.hcl(),
			want: []finding{{diag.CodeThumbprint, errorSev, "sign", "\"\u200e", "",
				list(`signing_certificate of group "contoso"`, "U+200E LEFT-TO-RIGHT MARK", "position 1")}},
		},
		{
			name: "BP2004 encryption thumbprint too short",
			hcl:  topo{Enc: `"4A 7B 9C"`}.hcl(),
			want: []finding{{diag.CodeThumbprint, errorSev, "enc", `"4A 7B 9C"`, "",
				list(`encryption_certificate of send port "fabrikam"`, "6 hex digits")}},
		},
		{
			name: "BP2004 pass: SHA-256 with colons and SHA-1 in lowercase",
			hcl:  topo{Sign: `"{{tp256 "sign"}}"`, Enc: `lower("{{tp "partner"}}")`}.hcl(),
		},

		// BP2005: PKCS#12 files in a store whose password has no value.
		{
			name: "BP2005 password unknown: PKCS#12 not opened, no BP3001",
			hcl:  topo{PersonalPassword: "var.p12_password"}.hcl(),
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.put("personal", "sign.p12", s.pkcs12("sign", p12Password, false))
			},
			want: []finding{{diag.CodePasswordUnknown, warningSev, "personal_password", "var.p12_password", "",
				list(`certificate store "personal"`, "1 PKCS#12 file ", "stores/personal/sign.p12")}},
		},
		{
			name: "BP2005 password unknown, certificate also in PEM: key may be in the PKCS#12, no BP3002",
			hcl:  topo{PersonalPassword: "var.p12_password"}.hcl(),
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.certOnly("personal", "sign.crt", "sign")
				s.put("personal", "sign.p12", s.pkcs12("sign", p12Password, false))
			},
			want: []finding{{diag.CodePasswordUnknown, warningSev, "personal_password", "var.p12_password", "",
				list(`certificate store "personal"`, "stores/personal/sign.p12")}},
		},
		{
			name: "BP2005 other-people store password unknown: no BP4002",
			hcl:  topo{OtherPassword: "var.p12_password"}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "decoy.cer", "decoy")
				s.put("other", "partners.p12", s.pkcs12("partner", p12Password, true))
			},
			want: []finding{{diag.CodePasswordUnknown, warningSev, "other_password", "var.p12_password", "",
				list(`certificate store "other"`, "stores/other/partners.p12")}},
		},
		{
			name: "BP2005 pass: password unknown but the store holds no PKCS#12",
			hcl:  topo{PersonalPassword: "var.p12_password"}.hcl(),
		},

		// BP3001: the instance's personal store lacks the signing certificate.
		{
			name: "BP3001 personal store has another certificate",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "decoy.pem", "decoy")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertMissing, errorSev, "inst", "instance {", "}",
				signPair(`group "contoso"`, `{{TP "sign"}} (SHA-1)`)}},
		},
		{
			name: "BP3001 SHA-256 thumbprint not in an empty store",
			hcl:  topo{Sign: `"{{tp256 "sign"}}"`}.hcl(),
			stores: func(s *scene) {
				s.mkdir("personal")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertMissing, errorSev, "inst", "instance {", "}",
				signPair(`{{TP256 "sign"}} (SHA-256)`)}},
		},
		{
			name: "BP3001 pass: DER certificate and PKCS#1 key in separate files",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.der("personal", "sign.der", "sign")
				s.put("personal", "sign.key", s.pki.cert("sign").KeyPKCS1PEM(s.t))
				s.der("other", "partner.cer", "partner")
			},
		},
		{
			name: "BP3001 pass: a host whose port does not sign needs no signing certificate",
			hcl:  topo{Signature: "none"}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "decoy.pem", "decoy")
				s.der("other", "partner.cer", "partner")
			},
		},
		{
			// Not BP3001 (the certificate is not known), but not silent.
			name: "BP1009 signing thumbprint from a variable without value: no BP3001, but a warning",
			hcl:  topo{Sign: "var.thumbprint"}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "decoy.pem", "decoy")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeNeedUnknown, warningSev, "sign", "var.thumbprint", "",
				list(`signing_certificate attribute of group "contoso"`, "BP3001–BP3007", `send port "fabrikam"`, "--var")}},
		},

		// BP3002: the certificate is there, its private key is not.
		{
			name: "BP3002 certificate without key",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.certOnly("personal", "sign.pem", "sign")
				s.certKey("personal", "decoy.pem", "decoy")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignKeyMissing, errorSev, "inst", "instance {", "}",
				signPair(`{{TP "sign"}}`, "stores/personal/sign.pem", `"CN=test sign"`)}},
		},
		{
			// The store has a key, but another certificate's: saying only
			// "add the key" sends the user to add what is already there.
			name: "BP3002 certificate with another certificate's key",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.put("personal", "sign.pem", s.pki.cert("sign").CertPEM(), s.pki.cert("decoy").KeyPEM())
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignKeyMissing, errorSev, "inst", "instance {", "}",
				signPair(`{{TP "sign"}}`, "stores/personal/sign.pem", "but not its private key (the private key in ", "stores/personal/sign.pem matches no certificate in the store, this one included)")}},
		},
		{
			name: "BP3002 pass: key in a separate PEM file",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.certOnly("personal", "sign.crt", "sign")
				s.put("personal", "sign.key", s.pki.cert("sign").KeyPEM())
				s.der("other", "partner.cer", "partner")
			},
		},

		// BP3003: signing certificate expired or not yet valid.
		{
			name: "BP3003 signing certificate expired",
			hcl:  topo{Sign: `"{{tp "sign-expired"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-expired")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertDates, errorSev, "sign", `"{{tp "sign-expired"}}"`, "",
				// Language §7.2: the finding names the send port and the
				// exact instance (host, server, service account, store).
				list(`group "contoso"`, `{{TP "sign-expired"}}`, "stores/personal/sign.pem", "expired on",
					`Send port "fabrikam"`, `host "send_host"`, `server "srv1"`, `service account "svc_send"`, `certificate store "personal"`)}},
		},
		{
			name: "BP3003 signing certificate not yet valid",
			hcl:  topo{Sign: `"{{tp "sign-notyet"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-notyet")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertDates, errorSev, "sign", `"{{tp "sign-notyet"}}"`, "",
				list(`group "contoso"`, `{{TP "sign-notyet"}}`, "stores/personal/sign.pem", "not valid before")}},
		},

		// BP3004: signing certificate expires within the warning window.
		{
			name: "BP3004 signing certificate expires in 10 days, default window",
			hcl:  topo{Sign: `"{{tp "sign-expiring"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-expiring")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertExpiring, warningSev, "sign", `"{{tp "sign-expiring"}}"`, "",
				list(`group "contoso"`, `{{TP "sign-expiring"}}`, "stores/personal/sign.pem", "720h", "certificate_expiry_warning")}},
		},
		{
			name: "BP3004 pass: 10 days left is outside a 48h window",
			hcl:  topo{Sign: `"{{tp "sign-expiring"}}"`, Window: "48h"}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-expiring")
				s.der("other", "partner.cer", "partner")
			},
		},

		// BP3005: signing certificate not for signatures.
		{
			name: "BP3005 key usage without digitalSignature",
			hcl:  topo{Sign: `"{{tp "sign-no-ds"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-no-ds")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertUsage, errorSev, "sign", `"{{tp "sign-no-ds"}}"`, "",
				list(`group "contoso"`, `{{TP "sign-no-ds"}}`, "stores/personal/sign.pem", "digitalSignature")}},
		},
		{
			// RFC 8550 4.4.2: a recipient rejects a signature when the key
			// usage has neither digitalSignature nor nonRepudiation; OpenSSL
			// (cms -verify) and bizpipe's own decoder (certinfo.SignerError)
			// accept nonRepudiation alone.
			name: "BP3005 pass: key usage nonRepudiation only",
			hcl:  topo{Sign: `"{{tp "sign-nr-only"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-nr-only")
				s.der("other", "partner.cer", "partner")
			},
		},
		{
			name: "BP3005 extended key usage serverAuth only: warning",
			hcl:  topo{Sign: `"{{tp "sign-eku-server"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-eku-server")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertUsage, warningSev, "sign", `"{{tp "sign-eku-server"}}"`, "",
				list(`group "contoso"`, `{{TP "sign-eku-server"}}`, "stores/personal/sign.pem", "emailProtection")}},
		},
		{
			name: "BP3005 extended key usage with an OID Go does not know: warning",
			hcl:  topo{Sign: `"{{tp "sign-eku-unknown"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-eku-unknown")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertUsage, warningSev, "sign", `"{{tp "sign-eku-unknown"}}"`, "",
				list(`{{TP "sign-eku-unknown"}}`, "emailProtection")}},
		},
		{
			name: "BP3005 Ed25519 key, which S/MIME signing does not support",
			hcl:  topo{Sign: `"{{tp "sign-ed25519"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-ed25519")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertUsage, errorSev, "sign", `"{{tp "sign-ed25519"}}"`, "",
				list(`group "contoso"`, `{{TP "sign-ed25519"}}`, "stores/personal/sign.pem", "Ed25519", "RSA or ECDSA")}},
		},
		{
			name: "BP3005 512-bit RSA key, which crypto/rsa refuses (1024 bits is BP5001)",
			hcl:  topo{Sign: `"{{tp "sign-512"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-512")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertUsage, errorSev, "sign", `"{{tp "sign-512"}}"`, "",
				list(`group "contoso"`, `{{TP "sign-512"}}`, "stores/personal/sign.pem", "512-bit", "1024")}},
		},
		{
			// No private key can belong to it (BP3002).
			name: "BP3005 RSA key with an even public exponent, which crypto/rsa refuses",
			hcl:  topo{Sign: `"{{tp "sign-e65536"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certOnly("personal", "sign.pem", "sign-e65536")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{
				{diag.CodeSignKeyMissing, errorSev, "inst", "instance {", "}", signPair(`{{TP "sign-e65536"}}`)},
				{diag.CodeSignCertUsage, errorSev, "sign", `"{{tp "sign-e65536"}}"`, "",
					list(`group "contoso"`, `{{TP "sign-e65536"}}`, "stores/personal/sign.pem", "cannot sign: an RSA key with the even public exponent 65536, which crypto/rsa refuses", "public exponent 65537")},
			},
		},
		{
			name: "BP3005 unhandled critical extension, which recipients refuse",
			hcl:  topo{Sign: `"{{tp "sign-critical"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-critical")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeSignCertUsage, errorSev, "sign", `"{{tp "sign-critical"}}"`, "",
				list(`group "contoso"`, `{{TP "sign-critical"}}`, "stores/personal/sign.pem", "critical extension 1.3.6.1.4.1.55555.1", "unhandled critical extension")}},
		},
		{
			name: "BP3005 pass: anyExtendedKeyUsage",
			hcl:  topo{Sign: `"{{tp "sign-eku-any"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-eku-any")
				s.der("other", "partner.cer", "partner")
			},
		},
		{
			name: "BP3005 pass: no key usage extensions at all",
			hcl:  topo{Sign: `"{{tp "sign-no-ku"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-no-ku")
				s.der("other", "partner.cer", "partner")
			},
		},

		// BP3006: a host running a signing port has no instance.
		{
			name:   "BP3006 signing host without instance",
			hcl:    fmt.Sprintf(hostWithoutInstance, "opaque"),
			stores: func(*scene) {},
			want: []finding{{diag.CodeSignHostNoInstance, errorSev, "host", `host "send_host"`, "",
				list(`Host "send_host"`, `"fabrikam"`)}},
		},
		{
			name:   "BP3006 pass: host without instance whose port does not sign",
			hcl:    fmt.Sprintf(hostWithoutInstance, "none"),
			stores: func(*scene) {},
		},

		// BP4001: encrypting port without encryption_certificate.
		{
			name: "BP4001 encrypting port without certificate",
			hcl:  topo{Enc: "-"}.hcl(),
			want: []finding{{diag.CodeEncCertRequired, errorSev, "port", `send_port "fabrikam"`, "",
				list(`Send port "fabrikam"`, `pipeline "pl"`, "encryption_certificate")}},
		},
		{
			name: "BP4001 pass: port without certificate that does not encrypt",
			hcl:  topo{Enc: "-", NoEncrypt: true}.hcl(),
		},

		// BP4002: encryption certificate not in the server's other-people store.
		{
			name: "BP4002 other-people store lacks the partner certificate",
			hcl:  topo{}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "decoy.cer", "decoy")
			},
			want: []finding{{diag.CodeEncCertMissing, errorSev, "enc", `"{{tp "partner"}}"`, "",
				encPair(`{{TP "partner"}} (SHA-1)`)}},
		},
		{
			name: "BP4002 server without other-people store",
			hcl:  fmt.Sprintf(serverWithoutOtherPeople, "true", `encryption_certificate = "{{tp "partner"}}"`),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
			},
			want: []finding{{diag.CodeEncCertMissing, errorSev, "srv1", `server "srv1"`, "",
				list(pairObjects[0], pairObjects[1], pairObjects[2], pairObjects[4], `server "srv1" declares no other_people_store`, `{{TP "partner"}}`)}},
		},
		{
			name: "BP4002 pass: a server that runs no encrypting port needs no other-people store",
			hcl:  fmt.Sprintf(serverWithoutOtherPeople, "false", ""),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
			},
		},
		{
			name: "BP4002 pass: partner certificate as PEM, found by SHA-256",
			hcl:  topo{Enc: `"{{tp256 "partner"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.put("other", "partner.pem", s.pki.cert("partner").CertPEM())
			},
		},
		{
			name: "BP1009 encryption thumbprint from a variable without value: no BP4002, but a warning",
			hcl:  topo{Enc: "var.thumbprint"}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "decoy.cer", "decoy")
			},
			want: []finding{{diag.CodeNeedUnknown, warningSev, "enc", "var.thumbprint", "",
				list(`encryption_certificate attribute of send port "fabrikam"`, "BP4001–BP4006", "--var")}},
		},

		// BP4003: encryption certificate expired or not yet valid.
		{
			name: "BP4003 partner certificate expired",
			hcl:  topo{Enc: `"{{tp "partner-expired"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-expired")
			},
			want: []finding{{diag.CodeEncCertDates, errorSev, "enc", `"{{tp "partner-expired"}}"`, "",
				list(`send port "fabrikam"`, `{{TP "partner-expired"}}`, "stores/other/partner.cer", "expired on",
					`host "send_host"`, `server "srv1"`, `service account "svc_send"`, `certificate store "other"`)}},
		},
		{
			name: "BP4003 partner certificate not yet valid",
			hcl:  topo{Enc: `"{{tp "partner-notyet"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-notyet")
			},
			want: []finding{{diag.CodeEncCertDates, errorSev, "enc", `"{{tp "partner-notyet"}}"`, "",
				list(`send port "fabrikam"`, `{{TP "partner-notyet"}}`, "stores/other/partner.cer", "not valid before")}},
		},

		// BP4004: encryption certificate expires within the window.
		{
			name: "BP4004 partner certificate expires in 10 days",
			hcl:  topo{Enc: `"{{tp "partner-expiring"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-expiring")
			},
			want: []finding{{diag.CodeEncCertExpiring, warningSev, "enc", `"{{tp "partner-expiring"}}"`, "",
				list(`send port "fabrikam"`, `{{TP "partner-expiring"}}`, "stores/other/partner.cer", "720h")}},
		},
		{
			name: "BP4004 pass: 10 days left is outside a 48h window",
			hcl:  topo{Enc: `"{{tp "partner-expiring"}}"`, Window: "48h"}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-expiring")
			},
		},

		// BP4005: encryption certificate cannot transport keys.
		{
			name: "BP4005 ECDSA partner certificate",
			hcl:  topo{Enc: `"{{tp "partner-ecdsa"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.put("other", "partner.pem", s.pki.cert("partner-ecdsa").CertPEM())
			},
			want: []finding{{diag.CodeEncCertUsage, errorSev, "enc", `"{{tp "partner-ecdsa"}}"`, "",
				list(`send port "fabrikam"`, `{{TP "partner-ecdsa"}}`, "stores/other/partner.pem", "ECDSA", "RSA")}},
		},
		{
			// Named by its algorithm, not by crypto/x509's number for an
			// algorithm it does not know ("has a 0 key").
			name: "BP4005 RSASSA-PSS partner certificate",
			hcl:  topo{Enc: `"{{tp "partner-pss"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-pss")
			},
			want: []finding{{diag.CodeEncCertUsage, errorSev, "enc", `"{{tp "partner-pss"}}"`, "",
				list(`send port "fabrikam"`, `{{TP "partner-pss"}}`, "stores/other/partner.cer", "has an RSASSA-PSS key", "RSA")}},
		},
		{
			name: "BP4005 512-bit RSA partner certificate, which crypto/rsa refuses (1024 bits is BP5001)",
			hcl:  topo{Enc: `"{{tp "partner-512"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-512")
			},
			want: []finding{{diag.CodeEncCertUsage, errorSev, "enc", `"{{tp "partner-512"}}"`, "",
				list(`send port "fabrikam"`, `{{TP "partner-512"}}`, "stores/other/partner.cer", "512-bit", "1024", "cannot encrypt")}},
		},
		{
			name: "BP4005 RSA partner key with an even public exponent, which crypto/rsa refuses",
			hcl:  topo{Enc: `"{{tp "partner-e65536"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-e65536")
			},
			want: []finding{{diag.CodeEncCertUsage, errorSev, "enc", `"{{tp "partner-e65536"}}"`, "",
				list(`send port "fabrikam"`, `{{TP "partner-e65536"}}`, "stores/other/partner.cer", "has an RSA key with the even public exponent 65536, which crypto/rsa refuses", "cannot encrypt for it", "public exponent 65537")}},
		},
		{
			name: "BP4005 RSA partner key with public exponent 1, which crypto/rsa refuses",
			hcl:  topo{Enc: `"{{tp "partner-e1"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-e1")
			},
			want: []finding{{diag.CodeEncCertUsage, errorSev, "enc", `"{{tp "partner-e1"}}"`, "",
				list(`{{TP "partner-e1"}}`, "has an RSA key with public exponent 1, which crypto/rsa refuses", "cannot encrypt for it")}},
		},
		{
			name: "BP4005 RSA partner key with an even modulus, which crypto/rsa refuses",
			hcl:  topo{Enc: `"{{tp "partner-even-n"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-even-n")
			},
			want: []finding{{diag.CodeEncCertUsage, errorSev, "enc", `"{{tp "partner-even-n"}}"`, "",
				list(`{{TP "partner-even-n"}}`, "has an RSA key with an even modulus, which crypto/rsa refuses", "cannot encrypt for it")}},
		},
		{
			name: "BP4005 pass: RSA partner key with public exponent 3, which crypto/rsa uses",
			hcl:  topo{Enc: `"{{tp "partner-e3"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-e3")
			},
		},
		{
			// Nothing path-validates the recipient's certificate: bizpipe
			// encrypts with its key, the partner decrypts with its own.
			name: "BP4005 pass: partner certificate with an unhandled critical extension",
			hcl:  topo{Enc: `"{{tp "partner-critical"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-critical")
			},
		},
		{
			name: "BP4005 key usage without keyEncipherment",
			hcl:  topo{Enc: `"{{tp "partner-no-ke"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-no-ke")
			},
			want: []finding{{diag.CodeEncCertUsage, errorSev, "enc", `"{{tp "partner-no-ke"}}"`, "",
				list(`send port "fabrikam"`, `{{TP "partner-no-ke"}}`, "stores/other/partner.cer", "keyEncipherment")}},
		},
		{
			name: "BP4005 pass: RSA certificate without key usage extension",
			hcl:  topo{Enc: `"{{tp "partner-no-ku"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner-no-ku")
			},
		},

		// BP4006: encryption_certificate set but nothing encrypts.
		{
			name: "BP4006 pipeline does not encrypt",
			hcl:  topo{NoEncrypt: true}.hcl(),
			want: []finding{{diag.CodeEncCertUnused, warningSev, "enc", `"{{tp "partner"}}"`, "",
				list(`Send port "fabrikam"`, `pipeline "pl", which does not encrypt`)}},
		},
		{
			name:   "BP4006 port without pipeline",
			hcl:    portWithoutPipeline,
			stores: func(*scene) {},
			want: []finding{{diag.CodeEncCertUnused, warningSev, "enc", `"{{tp "partner"}}"`, "",
				list(`Send port "fabrikam"`, "has no pipeline")}},
		},
		// A pipeline whose decoding failed says nothing about what it
		// does: its BP1004 is the one finding, never a follow-on BP4006
		// (nor the signing or encryption rules it might have needed).
		{
			name:       "BP1004 invalid digest in an encrypting pipeline: no BP4006",
			hcl:        topo{Digest: "sha265"}.hcl(),
			loadErrors: true,
			want: []finding{{diag.CodeInvalidValue, errorSev, "digest", `"sha265"`, "",
				list("sha256")}},
		},
		{
			name:       "BP1004 unknown encoder: no BP4006",
			hcl:        strings.Replace(topo{}.hcl(), `encoder "smime" {`, `encoder "smine" { # @encoder`, 1),
			loadErrors: true,
			want: []finding{{diag.CodeInvalidValue, errorSev, "encoder", `"smine"`, "",
				list(`"smine"`, `"smime"`)}},
		},
		{
			name: "BP1004 decoder stage in a send pipeline: no BP4006",
			hcl: strings.NewReplacer(`encoder "smime" {`, `decoder "smime" {
    verify = true
  }
  encoder "smime" { # @encoder`,
				"pipeline = pipeline.pl", "pipeline = pipeline.pl # @plref").Replace(topo{}.hcl()),
			loadErrors: true,
			want: []finding{
				// The first stage makes it a receive pipeline: the encoder
				// is out of place, and the port uses a receive pipeline.
				{diag.CodeInvalidValue, errorSev, "encoder", `encoder "smime"`, "", list("decoder stages", "never both")},
				{diag.CodeInvalidValue, errorSev, "plref", "pipeline.pl", "", list(`pipeline "pl", which has decoder stages`)},
			},
		},

		// BP5001: weak algorithms.
		{
			name: "BP5001 SHA-1 digest",
			hcl:  topo{Digest: "sha1"}.hcl(),
			want: []finding{{diag.CodeWeakAlgorithm, warningSev, "digest", `"sha1"`, "",
				list(`pipeline "pl"`, "SHA-1")}},
		},
		{
			name: "BP5001 3DES",
			hcl:  topo{Algorithm: "des3"}.hcl(),
			want: []finding{{diag.CodeWeakAlgorithm, warningSev, "algorithm", `"des3"`, "",
				list(`pipeline "pl"`, "3DES")}},
		},
		{
			name: "BP5001 RSA-1024 signing and partner certificates",
			hcl:  topo{Sign: `"{{tp "sign-1024"}}"`, Enc: `"{{tp "partner-1024"}}"`}.hcl(),
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign-1024")
				s.der("other", "partner.cer", "partner-1024")
			},
			want: []finding{
				{diag.CodeWeakAlgorithm, warningSev, "sign", `"{{tp "sign-1024"}}"`, "",
					list(`group "contoso"`, `{{TP "sign-1024"}}`, "1024-bit")},
				{diag.CodeWeakAlgorithm, warningSev, "enc", `"{{tp "partner-1024"}}"`, "",
					list(`send port "fabrikam"`, `{{TP "partner-1024"}}`, "1024-bit")},
			},
		},
		{
			name: "BP5001 pass: SHA-512 and AES-256-GCM",
			hcl:  topo{Digest: "sha512", Algorithm: "aes256-gcm"}.hcl(),
		},
		{
			name: "BP5001 pass: SHA-1 and 3DES set on a stage that neither signs nor encrypts",
			hcl:  topo{Signature: "none", Digest: "sha1", NoEncrypt: true, Algorithm: "des3", Enc: "-"}.hcl(),
		},

		// BP5002: declared but never used.
		{
			name: "BP5002 unused store, account, server, pipeline and host",
			hcl: topo{Extra: `
certificate_store "spare" { # @spare_store
  path = "stores/personal"
}
service_account "spare" { # @spare_account
  personal_store = certificate_store.personal
}
server "spare" { # @spare_server
}
pipeline "spare" { # @spare_pipeline
  encoder "smime" {
    signature = "clear"
  }
}
host "spare" { # @spare_host
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}
`}.hcl(),
			want: []finding{
				{diag.CodeUnused, warningSev, "spare_store", `certificate_store "spare"`, "", list(`Certificate store "spare"`)},
				{diag.CodeUnused, warningSev, "spare_account", `service_account "spare"`, "", list(`Service account "spare"`)},
				{diag.CodeUnused, warningSev, "spare_server", `server "spare"`, "", list(`Server "spare"`)},
				{diag.CodeUnused, warningSev, "spare_pipeline", `pipeline "spare"`, "", list(`Pipeline "spare"`)},
				{diag.CodeUnused, warningSev, "spare_host", `host "spare"`, "", list(`Host "spare"`)},
			},
		},

		// BP1006: a filter names a receive location nobody declares.
		{
			name: "BP1006 filter compares receive_location with undeclared names",
			hcl: topo{Extra: ordersIn,
				Filter: `message.receive_location == "orders_inn" || contains(["orders_in", "typo"], message.receive_location) || "other" != message.receive_location`,
			}.hcl(),
			want: []finding{
				{diag.CodeFilterLocation, warningSev, "filter", `"orders_inn"`, "", list(`send port "fabrikam"`, `"orders_inn"`, `declared: "orders_in"`)},
				{diag.CodeFilterLocation, warningSev, "filter", `"typo"`, "", list(`send port "fabrikam"`, `"typo"`)},
				{diag.CodeFilterLocation, warningSev, "filter", `"other"`, "", list(`send port "fabrikam"`, `"other"`)},
			},
		},
		{
			name: "BP1006 pass: declared names, other attributes, computed names",
			hcl: topo{Extra: ordersIn,
				Filter: `(message.receive_location == "orders_in" && message.properties.partner == "orders_inn") || message.receive_location == var.thumbprint || message.receive_location == "${var.thumbprint}x"`,
			}.hcl(),
		},

		// A thumbprint one digit off a certificate the store holds is a
		// typo: the finding points at the thumbprint and names the match.
		{
			name: "BP3001 near match: points at signing_certificate and names the certificate",
			hcl:  topo{Sign: `"{{typo "sign"}}"`}.hcl(),
			want: []finding{{diag.CodeSignCertMissing, errorSev, "sign", `"{{typo "sign"}}"`, "",
				list(`{{typo "sign"}} (SHA-1)`, `The store does hold {{TP "sign"}} (SHA-1)`, "differs from it by 1 digit", "signing_certificate", `instance of host "send_host"`)}},
		},
		{
			name:   "BP3001 near match of a sensitive thumbprint: not named",
			hcl:    topo{Sign: "var.secret_sign"}.hcl(),
			vars:   []string{"secret_sign={{typo \"sign\"}}"},
			secret: "{{TP \"sign\"}}",
			want: []finding{{diag.CodeSignCertMissing, errorSev, "inst", "instance {", "}",
				list("(sensitive value) (SHA-1)")}},
		},
		{
			name: "BP4002 near match: names the certificate the other-people store holds",
			hcl:  topo{Enc: `"{{typo "partner"}}"`}.hcl(),
			want: []finding{{diag.CodeEncCertMissing, errorSev, "enc", `"{{typo "partner"}}"`, "",
				list(`The store does hold {{TP "partner"}} (SHA-1)`, "encryption_certificate")}},
		},

		// BP2003 with an empty password: says it is empty.
		{
			name: "BP2003 empty password: says the value is empty",
			hcl:  topo{PersonalPassword: "var.p12_password"}.hcl(),
			vars: []string{"p12_password="},
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.put("personal", "sign.p12", s.pkcs12("sign", p12Password, false))
			},
			want: []finding{{diag.CodeStorePassword, errorSev, "personal_password", "var.p12_password", "",
				list("password is empty", "BIZPIPE_VAR_NAME=")}},
		},

		// A broken reference does not cascade: no BP4002 for a server
		// whose other_people_store is the wrong kind, no BP5002 for the
		// store it was probably meant to name.
		{
			name: "BP1001 wrong kind of other_people_store: no BP4002, no BP5002",
			hcl: strings.Replace(topo{}.hcl(), "other_people_store = certificate_store.other",
				"other_people_store = service_account.svc_send # @ops", 1),
			loadErrors: true,
			want: []finding{{diag.CodeUndeclared, errorSev, "ops", "service_account.svc_send", "",
				list("other_people_store", "certificate_store")}},
		},
		{
			name:       "BP1001 undeclared pipeline: did you mean, no BP5002 for the pipeline",
			hcl:        strings.Replace(topo{}.hcl(), "pipeline = pipeline.pl", "pipeline = pipeline.pll # @plref", 1),
			loadErrors: true,
			want: []finding{{diag.CodeUndeclared, errorSev, "plref", "pipeline.pll", "",
				list("pipeline.pll is not declared", "Did you mean pipeline.pl?")}},
		},

		{
			name:       "BP1001 misspelled password variable: did you mean, no BP2005",
			hcl:        topo{PersonalPassword: "var.p12_pasword"}.hcl(),
			loadErrors: true,
			stores: func(s *scene) {
				s.der("other", "partner.cer", "partner")
				s.put("personal", "sign.p12", s.pkcs12("sign", p12Password, false))
			},
			want: []finding{{diag.CodeUndeclared, errorSev, "personal_password", "var.p12_pasword", "",
				list("var.p12_pasword is not declared", "Did you mean var.p12_password?")}},
		},

		// BP1007: no send port's filter can match a location's messages.
		{
			name: "BP1007 filters false for a location's name and properties",
			hcl: topo{Filter: `message.receive_location == "orders_in" && message.properties.partner == "fabrikam"`, Extra: `
receive_location "orders_in" { # @orders_in
  host       = host.send_host
  properties = { partner = "fabrikm" }
  transport "file" { path = "in" }
}
receive_location "invoices_in" { # @invoices
  host       = host.send_host
  properties = { partner = "fabrikam" }
  transport "file" { path = "in2" }
}
receive_location "orders_in_b" { # @orders_b
  host = host.send_host
  transport "file" { path = "in3" }
}
`}.hcl(),
			want: []finding{
				{diag.CodeUnrouted, warningSev, "invoices", `receive_location "invoices_in"`, "",
					list(`Receive location "invoices_in"`, `partner = "fabrikam"`, `send port(s) "fabrikam"`, "routing failure")},
				{diag.CodeUnrouted, warningSev, "orders_b", `receive_location "orders_in_b"`, "",
					list(`Receive location "orders_in_b"`, "no properties")},
				// orders_in: its partner "fabrikm" rules the port out too.
				{diag.CodeUnrouted, warningSev, "orders_in", `receive_location "orders_in"`, "",
					list(`partner = "fabrikm"`)},
			},
		},
		{
			name: "BP1007 no send port has a filter",
			hcl:  topo{Extra: "receive_location \"orders_in\" { # @orders_in\n  host = host.send_host\n  transport \"file\" { path = \"in\" }\n}\n"}.hcl(),
			want: []finding{{diag.CodeUnrouted, warningSev, "orders_in", `receive_location "orders_in"`, "",
				list("No send port has a filter")}},
		},
		{
			// Whatever validate cannot know may match: a variable without
			// value, a property from one, the size, a filter in error.
			name: "BP1007 pass: unknown parts may match",
			hcl: topo{Filter: `message.receive_location == var.thumbprint || message.properties.p == "x" || message.size > 10 || message.properties.partner == "fabrikam"`, Extra: `
receive_location "a" {
  host       = host.send_host
  properties = { p = var.thumbprint }
  transport "file" { path = "in" }
}
receive_location "b" {
  host       = host.send_host
  properties = { partner = "contoso" }
  transport "file" { path = "in2" }
}
`}.hcl(),
		},
		{
			name: "BP1007 pass: contains() with the location's name",
			hcl: topo{Filter: `contains(["a", "b"], message.receive_location) && message.size >= 0`, Extra: `
receive_location "a" {
  host = host.send_host
  transport "file" { path = "in" }
}
receive_location "b" {
  host = host.send_host
  transport "file" { path = "in2" }
}
`}.hcl(),
		},

		// BP1008: a filter reads a property no location sets.
		{
			name: "BP1008 property no location sets, with a suggestion",
			hcl:  topo{Filter: `message.properties.partnr == "fabrikam" || message.properties["kind"] == "x" || lookup(message.properties, "other", "") == ""`, Extra: ordersIn}.hcl(),
			want: []finding{
				{diag.CodeFilterProperty, warningSev, "filter", "message.properties.partnr", "",
					list(`send port "fabrikam"`, `"partnr"`, `the properties set are "partner"`, "Did you mean message.properties.partner?")},
				{diag.CodeFilterProperty, warningSev, "filter", `message.properties["kind"]`, "",
					list(`"kind"`)},
			},
		},
		{
			// null is the language's "not set": the location sets no
			// property, as if the attribute were absent, not "unknown".
			name: "BP1008 a location's properties = null sets none",
			hcl: topo{Filter: `message.properties.partnr == "fabrikam"`, Extra: ordersIn + `
receive_location "a" {
  host       = host.send_host
  properties = null
  transport "file" { path = "in2" }
}
`}.hcl(),
			want: []finding{{diag.CodeFilterProperty, warningSev, "filter", "message.properties.partnr", "",
				list(`send port "fabrikam"`, `"partnr"`, `the properties set are "partner"`)}},
		},
		{
			// A property in error is reported (BP1004); the location
			// does set it, so no rule judges the location as if it set
			// none.
			name: "BP1008 pass: a location's properties with a null value, in error",
			hcl: topo{Filter: `message.properties.kind == "x"`, Extra: `
receive_location "a" {
  host       = host.send_host
  properties = { kind = null, token = var.thumbprint } # @props
  transport "file" { path = "in" }
}
`}.hcl(),
			loadErrors: true,
			want: []finding{{diag.CodeInvalidValue, errorSev, "props", "{ kind = null", "",
				list(`properties attribute of receive_location "a"`, `"kind" is null`)}},
		},
		{
			name: "BP1007 a location's properties = null from a variable: no properties",
			hcl: topo{Filter: `lookup(message.properties, "partner", "") == "fabrikam"`, Extra: ordersIn + `
variable "no_props" {
  type    = map(string)
  default = null
}
receive_location "a" { # @a
  host       = host.send_host
  properties = var.no_props
  transport "file" { path = "in2" }
}
`}.hcl(),
			want: []finding{{diag.CodeUnrouted, warningSev, "a", `receive_location "a"`, "",
				list(`Receive location "a"`, "no properties")}},
		},
		{
			// Any property may be set, with any value: BP1008 cannot be
			// judged for any port, nor BP1007 for the location, and
			// validate says so rather than passing in silence.
			name: "BP1009 a location's properties from a variable without value: BP1007 and BP1008 skipped, with a warning",
			hcl: topo{Filter: `message.properties.partnr == "fabrikam"`, Extra: `
receive_location "a" {
  host       = host.send_host
  properties = var.props # @props
  transport "file" { path = "in" }
}
variable "props" {
  type = map(string)
}
`}.hcl(),
			want: []finding{{diag.CodeNeedUnknown, warningSev, "props", "var.props", "",
				list(`properties attribute of receive location "a"`, "--var", `BP1007`, `receive location "a"`, "BP1008", `send port "fabrikam"`, `"partnr"`)}},
		},
		{
			// The port matches "a" by name whatever its properties, and
			// the property it reads is set by orders_in: nothing depends
			// on a's properties, so nothing is skipped.
			name: "BP1009 pass: a location's unknown properties that no rule needs",
			hcl: topo{Filter: `message.receive_location == "a" || message.properties.partner == "fabrikam"`, Extra: ordersIn + `
receive_location "a" {
  host       = host.send_host
  properties = var.props
  transport "file" { path = "in2" }
}
variable "props" {
  type = map(string)
}
`}.hcl(),
		},
		{
			// { token = var.x }: the names are known, only the value of
			// token is not. BP1008 reads names only, so it is judged.
			name: "BP1008 a location's properties with a value unknown during validate: names known",
			hcl: topo{Filter: `message.properties.partnr == "fabrikam"`, Extra: `
receive_location "a" {
  host       = host.send_host
  properties = { partner = "fabrikam", token = var.thumbprint }
  transport "file" { path = "in" }
}
`}.hcl(),
			want: []finding{{diag.CodeFilterProperty, warningSev, "filter", "message.properties.partnr", "",
				list(`send port "fabrikam"`, `"partnr"`, `the properties set are "partner", "token"`, "Did you mean message.properties.partner?")}},
		},
		{
			// BP1007 reads the known values: partner rules the port out
			// whatever token is.
			name: "BP1007 a location's properties with a value unknown during validate: known values judged",
			hcl: topo{Filter: `message.properties.partner == "fabrikam"`, Extra: `
receive_location "a" { # @a
  host       = host.send_host
  properties = { partner = "contoso", token = var.thumbprint }
  transport "file" { path = "in" }
}
`}.hcl(),
			want: []finding{{diag.CodeUnrouted, warningSev, "a", `receive_location "a"`, "",
				list(`Receive location "a"`, `partner = "contoso"`, "token = (unknown during validate)", `send port(s) "fabrikam"`)}},
		},
		{
			name: "BP1007 pass: a location's property with a value unknown during validate may match",
			hcl: topo{Filter: `message.properties.token == "x"`, Extra: `
receive_location "a" {
  host       = host.send_host
  properties = { partner = "contoso", token = var.thumbprint }
  transport "file" { path = "in" }
}
`}.hcl(),
		},

		// BP1009: whether a stage signs or encrypts is unknown during
		// validate: its rules are skipped, and validate says so.
		{
			name: "BP1009 signature from a variable without value: no BP3001, but a warning",
			hcl: strings.Replace(topo{}.hcl(), `signature = "clear"`, `signature = var.signature`, 1) +
				"variable \"signature\" {\n  type = string\n}\n",
			stores: func(s *scene) {
				s.certKey("personal", "decoy.pem", "decoy")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeNeedUnknown, warningSev, "signature", "var.signature", "",
				list(`signature attribute of encoder "smime" of pipeline "pl"`, "whether it signs", "BP3001–BP3007", `send port "fabrikam"`, "--var")}},
		},
		{
			name: "BP1009 encrypt from a variable without value: no BP4002, but a warning",
			hcl: strings.Replace(topo{}.hcl(), "    encrypt = true\n", "    encrypt = var.encrypt # @encrypt\n", 1) +
				"variable \"encrypt\" {\n  type = bool\n}\n",
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "decoy.cer", "decoy")
			},
			want: []finding{{diag.CodeNeedUnknown, warningSev, "encrypt", "var.encrypt", "",
				list(`encrypt attribute of encoder "smime" of pipeline "pl"`, "whether it encrypts", "BP4001–BP4006", `send port "fabrikam"`)}},
		},
		{
			// Unknown, the window was 0: no certificate was ever "expiring
			// soon", without a word.
			name: "BP1009 certificate_expiry_warning from a variable without value: expiry warnings skipped, with a warning",
			hcl: strings.Replace(topo{}.hcl(), "group \"contoso\" { # @group\n", "group \"contoso\" { # @group\n  certificate_expiry_warning = var.window # @window\n", 1) +
				"variable \"window\" {\n  type = string\n}\n",
			stores: func(s *scene) {
				s.certKey("personal", "sign.pem", "sign")
				s.der("other", "partner.cer", "partner")
			},
			want: []finding{{diag.CodeNeedUnknown, warningSev, "window", "var.window", "",
				list("certificate_expiry_warning", "BP3004", "BP4004", "BP7005", "BP7008", "--var")}},
		},
		{
			name: "BP1009 as2 mdn from a variable without value: party rules skipped, with a warning",
			hcl: strings.Replace(topo{Extra: `
variable "mdn" {
  type = string
}
party "fabrikam" {
  as2_id               = "FABRIKAM"
  signing_certificates = ["{{tp "party"}}"]
}
send_port "fabrikam_as2" {
  host   = host.send_host
  filter = true
  transport "as2" {
    url     = "https://127.0.0.1:1/as2"
    partner = party.fabrikam
    mdn     = var.mdn # @mdn
  }
}
`}.hcl(), `group "contoso" { # @group`, `group "contoso" { # @group`+"\n  as2_id = \"CONTOSO\"", 1),
			want: []finding{{diag.CodeNeedUnknown, warningSev, "mdn", "var.mdn", "",
				list(`mdn attribute of transport "as2" of send port "fabrikam_as2"`, "whether it verifies signatures", "BP7006–BP7008", `send port "fabrikam_as2"`)}},
		},
		{
			name: "BP1009 pass: a pipeline no send port uses skips nothing",
			hcl: strings.Replace(topo{}.hcl(), `signature = "clear"`, `signature = var.signature`, 1) +
				"variable \"signature\" {\n  type = string\n}\n" +
				"pipeline \"spare\" { # @spare\n  encoder \"smime\" {\n    signature = \"clear\"\n    encrypt = var.encrypt\n  }\n}\nvariable \"encrypt\" {\n  type = bool\n}\n",
			want: []finding{
				{diag.CodeNeedUnknown, warningSev, "signature", "var.signature", "", list(`send port "fabrikam"`)},
				{diag.CodeUnused, warningSev, "spare", `pipeline "spare"`, "", list(`Pipeline "spare"`)},
			},
		},

		// BP1004 (missing required): a signing pipeline needs the group's
		// signing_certificate (§3). Decoding cannot tell, so the rules do.
		{
			name: "BP1004 signing port but no signing_certificate",
			hcl:  topo{Sign: "-"}.hcl(),
			want: []finding{{diag.CodeInvalidValue, errorSev, "group", `group "contoso"`, "",
				list(`Group "contoso"`, "signing_certificate", `pipeline(s) "pl"`, `send port(s) "fabrikam"`)}},
		},
		{
			name: "BP1004 pass: no signing_certificate and nothing signs",
			hcl:  topo{Sign: "-", Signature: "none"}.hcl(),
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
			// Variables and the secret are templates too ({{typo "sign"}}).
			vars := make([]string, len(tc.vars))
			for i, v := range tc.vars {
				vars[i] = s.pki.render(v)
			}
			var cfg *model.Config
			var loadDiags hcl.Diagnostics
			if tc.loadErrors {
				cfg, loadDiags = s.loadRaw(vars...)
			} else {
				cfg, loadDiags = s.loadChecked(vars...)
			}
			_, diags := rules.Check(cfg, rules.Options{Now: p.now})
			diags = append(loadDiags, diags...)
			s.expect(diags, tc.want)
			if tc.secret != "" {
				secret := s.pki.render(tc.secret)
				for _, d := range diags {
					if strings.Contains(d.Summary, secret) || strings.Contains(d.Detail, secret) {
						t.Errorf("%s reveals the sensitive value: %s / %s", diag.CodeOf(d), d.Summary, d.Detail)
					}
				}
			}
		})
	}
}
