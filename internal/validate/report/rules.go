package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// Rule describes one diagnostic code. The table returned by Rules is the single
// source of truth for code descriptions: the SARIF rules and the README table
// (WriteRulesMarkdown) are both generated from it.
type Rule struct {
	// Code is the stable code, e.g. "BP3001".
	Code diag.Code
	// Name is a stable PascalCase identifier (SARIF reportingDescriptor.name).
	Name string
	// Severity is the default severity. A few rules may report a lower one
	// in some cases (BP3005), which the table's Description says.
	Severity hcl.DiagnosticSeverity
	// Kind says what a rule needs to be checked, and so which commands
	// check it.
	Kind Kind
	// Title is a one-line description without a final period (SARIF
	// shortDescription).
	Title string
	// Description is one or two full sentences (SARIF fullDescription).
	Description string
}

// Kind is what a rule needs to be checked. The zero Kind is none of them:
// every row of the table says its own.
type Kind int

const (
	// Static rules need the configuration only (language.md §7.2):
	// validate and run check them, in CI on a checkout too.
	Static Kind = iota + 1
	// Live rules judge the machine they run on (language.md §7.3):
	// `validate --live` and run's start check them.
	Live
	// RunOnly rules are live rules only run's start checks: they judge
	// the process as the engine runs it (BP6004 compares its user with
	// the service account's), which validate --live, run by whoever runs
	// it, does not show.
	RunOnly
)

// rules is kept in code order. It is an array, not a slice, so that Rules can
// hand out copies and nobody can mutate the table.
var rules = [...]Rule{
	{diag.CodeSyntax, "SyntaxError", hcl.DiagError, Static,
		"Syntax error",
		"A configuration file is not valid HCL (or HCL JSON) and cannot be parsed."},
	{diag.CodeUndeclared, "UndeclaredReference", hcl.DiagError, Static,
		"Reference to an undeclared object",
		"A reference names an object that is not declared, or an object of the wrong kind."},
	{diag.CodeDuplicate, "DuplicateName", hcl.DiagError, Static,
		"Duplicate name",
		"Two blocks of the same type have the same name; names are unique per block type across all files."},
	{diag.CodeGroupCount, "GroupCount", hcl.DiagError, Static,
		"Missing or duplicate group block",
		"The configuration has no group block, or more than one; exactly one is required."},
	{diag.CodeInvalidValue, "InvalidValue", hcl.DiagError, Static,
		"Invalid attribute value",
		"An attribute value is invalid (enum, duration, size or type), or a required attribute is missing; or values that cannot work together on one server: two receive locations listening on one address, two taking the same files (one directory, as written or, with validate --live and at run, one on the server by another name such as a symbolic link; a file name both patterns match), or a server name too long for the claims of a file receive location."},
	{diag.CodeFilter, "InvalidFilterOrTemplate", hcl.DiagError, Static,
		"Invalid filter or template",
		"A filter is not boolean, or a filter or template uses an unknown message attribute."},
	{diag.CodeFilterLocation, "FilterUndeclaredReceiveLocation", hcl.DiagWarning, Static,
		"Filter names an undeclared receive location",
		"A send port's filter compares message.receive_location with a literal name that no receive_location declares, so that comparison never holds."},
	{diag.CodeUnrouted, "ReceiveLocationUnrouted", hcl.DiagWarning, Static,
		"No send port can match a receive location's messages",
		"Every send port's filter is false for the messages a receive location receives (judged from their receive_location and the location's properties), or no send port has a filter, so each of them would be suspended as a routing failure."},
	{diag.CodeFilterProperty, "FilterPropertyNeverSet", hcl.DiagWarning, Static,
		"Filter reads a property no receive location sets",
		"A send port's filter reads message.properties.KEY, but no receive location sets KEY, so the filter cannot be evaluated for any message."},
	{diag.CodeNeedUnknown, "RulesSkippedForUnknownValue", hcl.DiagWarning, Static,
		"Value unknown during validate: rules skipped",
		"An attribute that decides whether a stage or transport uses a certificate (an smime encoder's signature or encrypt, an smime decoder's decrypt or verify, an as2 send transport's mdn or signed_mdn), or a thumbprint where a send port or receive location may need the certificate it names (the group's signing_certificate or its signing_rollover's certificate, a send port's encryption_certificate, a host's decryption_certificate or previous_decryption_certificates, a party's signing_certificates), or the group's certificate_expiry_warning, or a receive location's properties as a whole (BP1007 and BP1008 read them), or, with validate --live, a value the live rules read (a transport's directory, BP6006; a tls block's cert_file, key_file or ca_file, BP6007; a certificate store's path, BP6002 and BP6003; a service account's user, BP6001 and what BP6002, BP6006 and BP6007 check of its rights; the message box's postgres url, BP6005), has no value during validate (no --var or environment value), so the rules that depend on it are skipped for the send ports, receive locations, service accounts and hosts concerned, rather than guessed; the warning names them."},
	{diag.CodeTLSUnused, "TLSBlockOnPlainHTTP", hcl.DiagWarning, Static,
		"tls block on an http:// url",
		"A sending transport (http, as2) has a tls block, but its url is http://: requests go to the partner in clear, and the block's ca_file and client certificate are not used for it (only for an https proxy named by HTTP_PROXY). Use an https:// url, or remove the tls block. A url whose scheme is not known during validate is not judged."},
	{diag.CodeStorePath, "StorePathUnusable", hcl.DiagError, Static,
		"Certificate store path unusable",
		"A certificate store path is missing, not a directory, or unreadable."},
	{diag.CodeStoreFile, "StoreFileUnparsable", hcl.DiagError, Static,
		"Certificate store file cannot be parsed",
		"A file in a certificate store cannot be parsed."},
	{diag.CodeStorePassword, "StorePasswordWrong", hcl.DiagError, Static,
		"PKCS#12 file cannot be decrypted",
		"A PKCS#12 file cannot be decrypted with the store's password."},
	{diag.CodeThumbprint, "MalformedThumbprint", hcl.DiagError, Static,
		"Malformed thumbprint",
		"A thumbprint is not 40 (SHA-1) or 64 (SHA-256) hex digits, or contains a character other than hex digits, spaces and colons (such as an invisible U+200E)."},
	{diag.CodePasswordUnknown, "StorePasswordUnknown", hcl.DiagWarning, Static,
		"Store password unknown during validate",
		"A store holds PKCS#12 files but its password has no value during validate (no --var or environment value): those files are not opened, and the rules that need them are skipped for that store."},
	{diag.CodeSignCertMissing, "SigningCertificateMissing", hcl.DiagError, Static,
		"Signing certificate not in personal store",
		"A host instance runs a signing send port, but its service account's personal store has no certificate with the group signing thumbprint."},
	{diag.CodeSignKeyMissing, "SigningKeyMissing", hcl.DiagError, Static,
		"Signing certificate has no private key",
		"A host instance runs a signing send port; its service account's personal store has the group signing certificate but not its private key."},
	{diag.CodeSignCertDates, "SigningCertificateNotValid", hcl.DiagError, Static,
		"Signing certificate expired or not yet valid",
		"The group signing certificate is expired or not yet valid; with a signing_rollover, signing_certificate is judged up to its at and the rollover certificate from its at on."},
	{diag.CodeSignCertExpiring, "SigningCertificateExpiring", hcl.DiagWarning, Static,
		"Signing certificate expires soon",
		"The group signing certificate expires within certificate_expiry_warning (with a signing_rollover: signing_certificate only when it expires before the rollover's at)."},
	{diag.CodeSignCertUsage, "SigningCertificateUsage", hcl.DiagError, Static,
		"Signing certificate not usable for signatures",
		"The signing certificate's key usage does not allow digital signatures (it has neither digitalSignature nor nonRepudiation), or it has a critical extension crypto/x509 does not handle, for which recipients reject its signatures, or its key cannot sign here: neither RSA nor ECDSA (an Ed25519 key, for one), or an RSA key crypto/rsa refuses (under 1024 bits, with an even modulus, or with a public exponent that is even, under 3 or over 2^31-1). Reported as a warning instead when only the extended key usage lacks emailProtection or anyExtendedKeyUsage, or the legacy Netscape certificate type (nsCertType) lacks email and client, which OpenSSL refuses too."},
	{diag.CodeSignHostNoInstance, "SigningHostNoInstance", hcl.DiagError, Static,
		"Signing host has no instance",
		"A host that runs a signing send port has no host instance."},
	{diag.CodeRolloverUnreachable, "RolloverCertificateUnreachable", hcl.DiagError, Static,
		"Rollover certificate not reachable with its private key",
		"A host instance that signs (a signing send port, an AS2 receive location's MDNs) cannot reach the group's signing_rollover certificate with its private key: it is not in the service account's personal store, or its key is not. An error once the rollover's at is within certificate_expiry_warning or past; a warning before."},
	{diag.CodeRolloverDone, "RolloverDone", hcl.DiagWarning, Static,
		"Signing certificate rollover is done",
		"The group's signing_rollover at is in the past: the rollover certificate signs. Make its thumbprint the signing_certificate and remove the signing_rollover block."},
	{diag.CodeEncCertRequired, "EncryptionCertificateRequired", hcl.DiagError, Static,
		"Encryption certificate required",
		"An encrypting send port has no encryption_certificate."},
	{diag.CodeEncCertMissing, "EncryptionCertificateMissing", hcl.DiagError, Static,
		"Encryption certificate not in other-people store",
		"The encryption certificate is not in the other-people store of a server where the port's host has an instance, or that server has no other-people store."},
	{diag.CodeEncCertDates, "EncryptionCertificateNotValid", hcl.DiagError, Static,
		"Encryption certificate expired or not yet valid",
		"The encryption certificate is expired or not yet valid."},
	{diag.CodeEncCertExpiring, "EncryptionCertificateExpiring", hcl.DiagWarning, Static,
		"Encryption certificate expires soon",
		"The encryption certificate expires within certificate_expiry_warning."},
	{diag.CodeEncCertUsage, "EncryptionCertificateUsage", hcl.DiagError, Static,
		"Encryption certificate not usable for key transport",
		"The encryption certificate cannot be used for key transport: its key is not RSA, or is an RSA key crypto/rsa refuses (under 1024 bits, with an even modulus, or with a public exponent that is even, under 3 or over 2^31-1), or its key usage lacks keyEncipherment."},
	{diag.CodeEncCertUnused, "EncryptionCertificateUnused", hcl.DiagWarning, Static,
		"Encryption certificate set but not used",
		"A send port sets encryption_certificate but its pipeline does not encrypt."},
	{diag.CodeWeakAlgorithm, "WeakAlgorithm", hcl.DiagWarning, Static,
		"Weak algorithm",
		"A weak algorithm is used: sha1, des3, or an RSA key under 2048 bits (one crypto/rsa refuses, under 1024 bits for one, is an error of the certificate's role instead)."},
	{diag.CodeUnused, "DeclaredButUnused", hcl.DiagWarning, Static,
		"Declared but never used",
		"A store, service account, server, pipeline or host is declared but never used."},
	{diag.CodeLiveUser, "ServiceAccountUserMissing", hcl.DiagError, Live,
		"Service account user does not exist",
		"A service account's user does not exist on this machine."},
	{diag.CodeLiveUnreadable, "StoreNotReadable", hcl.DiagError, Live,
		"Store not readable by the service account",
		"A store directory or file is not readable by the service account's user (owner, group and mode bits)."},
	{diag.CodeLiveKeyExposed, "PrivateKeyExposed", hcl.DiagError, Live,
		"Private key file readable by others",
		"An unencrypted private key file (PEM) is readable or writable by group or others. Password-protected PKCS#12 files are exempt."},
	{diag.CodeLiveRunAs, "RunAsMismatch", hcl.DiagWarning, RunOnly,
		"Running as a different user than the service account",
		"The process runs as a different user than the host instance's service account."},
	{diag.CodeLiveMessageBox, "MessageBoxUnreachable", hcl.DiagError, Live,
		"Message box unreachable or at another schema version",
		"The shared PostgreSQL message box cannot be reached, or its schema is newer than this bizpipe's. An older schema is a warning: run migrates it when it starts, and older bizpipe servers then refuse it."},
	{diag.CodeLiveDirectory, "ComponentDirectoryUnusable", hcl.DiagWarning, Live,
		"Transport directory missing or not usable",
		"A directory that a receive location or send port of an instance on this server polls or writes (a file transport's path) is missing, not a directory, or cannot be read, searched or written by the instance's user. A warning, as the directory may be a share mounted later; until it is there, the location receives nothing and the port's deliveries fail and are retried."},
	{diag.CodeLiveFiles, "ComponentFilesUnusable", hcl.DiagError, Live,
		"TLS files cannot be loaded",
		"The files that a receive location or send port of an instance on this server loads when it starts (a tls block's cert_file, key_file and ca_file) cannot be loaded as the transport loads them: missing, unreadable by the instance's user, not PEM, or a key that does not match its certificate. Key material is never shown."},
	{diag.CodeDecCertRequired, "DecryptionCertificateRequired", hcl.DiagError, Static,
		"Decrypting host has no decryption certificate",
		"A host runs a decrypting receive location but declares no decryption_certificate."},
	{diag.CodeDecCertMissing, "DecryptionCertificateMissing", hcl.DiagError, Static,
		"Decryption certificate not in personal store",
		"A host instance runs a decrypting receive location, but its service account's personal store has no certificate with the host's decryption thumbprint, or with one of its previous_decryption_certificates (the detail says which)."},
	{diag.CodeDecKeyMissing, "DecryptionKeyMissing", hcl.DiagError, Static,
		"Decryption certificate has no private key",
		"A host instance runs a decrypting receive location; its service account's personal store has the host's decryption certificate, or one of its previous_decryption_certificates (the detail says which), but not its private key."},
	{diag.CodeDecCertUnusable, "DecryptionCertificateNotUsable", hcl.DiagError, Static,
		"Decryption certificate expired, not yet valid or not usable for key transport",
		"The host's decryption certificate, or one of its previous_decryption_certificates, is expired or not yet valid, or cannot be used for key transport: its key is not RSA, or is an RSA key crypto/rsa refuses (under 1024 bits, with an even modulus, or with a public exponent that is even, under 3 or over 2^31-1), or its key usage lacks keyEncipherment. A warning for a previous certificate's dates, which suspend no message: an expired one protects nothing new and is to be removed, one not yet valid is likely the next certificate in the wrong attribute."},
	{diag.CodeDecCertExpiring, "DecryptionCertificateExpiring", hcl.DiagWarning, Static,
		"Decryption certificate expires soon",
		"The host's decryption certificate, or one of its previous_decryption_certificates, expires within certificate_expiry_warning."},
	{diag.CodePartyCertMissing, "PartySigningCertificateMissing", hcl.DiagError, Static,
		"Party signing certificate not in other-people store",
		"A verifying receive location (or an AS2 partner whose MDNs are verified) runs on a server whose other-people store has none of the party's signing_certificates, or that server has no other-people store. An AS2 partner's asynchronous MDNs are verified where they arrive: on the servers of the as2 receive locations that serve the path of the send port's async_mdn_url (of every as2 receive location when none does), which are judged too."},
	{diag.CodePartyCertInvalid, "PartySigningCertificateNotValid", hcl.DiagError, Static,
		"Party signing certificate expired or not yet valid",
		"A party signing certificate that is needed is expired or not yet valid, or one the decoder rejects whatever the time (key usage without digitalSignature or nonRepudiation, an unhandled critical extension, a key neither RSA nor ECDSA, or an RSA key crypto/rsa refuses: one under 1024 bits, with an even modulus, or with a public exponent that is even, under 3 or over 2^31-1), and none of the party's other listed certificates is usable. A warning for a certificate the decoder rejects when another listed one is usable."},
	{diag.CodePartyCertExpiring, "PartySigningCertificateExpiring", hcl.DiagWarning, Static,
		"Party signing certificate expires soon",
		"A party signing certificate that is needed expires within certificate_expiry_warning, and none of the party's other listed certificates is valid for longer."},
	{diag.CodeAS2Config, "AS2Configuration", hcl.DiagError, Static,
		"AS2 configuration incomplete or ambiguous",
		"No group as2_id while an as2 transport exists, an AS2 partner without as2_id, mdn = \"async\" without async_mdn_url, or two parties with the same as2_id (compared exactly, case and spaces included, as AS2-From is: RFC 4130 §6.2)."},
}

// Rules returns every known diagnostic code, in code order. The slice is a
// fresh copy on every call.
func Rules() []Rule {
	out := rules // copies the array
	return out[:]
}

// LookupRule returns the rule for code.
func LookupRule(code diag.Code) (Rule, bool) {
	for _, r := range rules {
		if r.Code == code {
			return r, true
		}
	}
	return Rule{}, false
}

// WriteRulesMarkdown writes the rule table as Markdown, in the shape of
// language.md §7.2/§7.3, for the README.
func WriteRulesMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| code | severity | rule | description |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, r := range rules {
		desc := r.Description
		switch r.Kind {
		case RunOnly:
			desc += " (live check: `run` only)"
		case Live:
			desc += " (live check: `validate --live` and `run` only)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Code, severityString(r.Severity), mdEscape(r.Title), mdEscape(desc))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
