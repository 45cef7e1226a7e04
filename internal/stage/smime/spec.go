package smime

import (
	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/value"
)

// EncoderSpec declares the smime encoder stage: encoder "smime" { ... } in
// a pipeline (language §3, §6).
var EncoderSpec = &component.Spec{
	Kind:    component.Encoder,
	Name:    "smime",
	Summary: "Signs and/or encrypts the message as S/MIME (RFC 8551).",
	Doc: `Turns the message into a MIME entity (its content type, the body in
the configured content transfer encoding, text canonicalised to CRLF line
breaks only for text/* types), then signs it with the group signing
certificate's private key, taken from the personal store of the service
account of the host instance that runs the pipeline, and/or envelopes it for
the send port's encryption_certificate, taken from the other-people store of
the server the instance runs on.

A clear signature makes a multipart/signed entity with a detached signature
(smime.p7s), its micalg parameter naming the digest (sha-256, sha-384,
sha-512 or sha-1); an opaque one an application/pkcs7-mime signed-data
entity (smime.p7m). Encryption makes application/pkcs7-mime enveloped-data for the
CBC algorithms and 3DES, authEnveloped-data (RFC 5083/5084) for GCM. The
output verifies and decrypts with standard tools such as openssl cms.`,
	Example: `encoder "smime" {
  signature            = "clear"
  digest               = "sha256"
  encrypt              = true
  encryption_algorithm = "aes256-cbc"
}`,
	Attributes: []component.Attribute{
		{Name: "signature", Type: component.Enum, Default: "none", Values: []string{"none", "clear", "opaque"},
			Doc: "`clear` (multipart/signed, detached signature), `opaque` (signed-data) or `none`."},
		{Name: "digest", Type: component.Enum, Default: "sha256", Values: []string{"sha256", "sha384", "sha512", "sha1"},
			Doc: "The signature's digest algorithm. `sha1` is weak (BP5001)."},
		{Name: "include_certificate", Type: component.Bool, Default: true,
			Doc: "Embed the signing certificate, and the intermediate certificates of its store that chain it to a root, in the signature."},
		{Name: "encrypt", Type: component.Bool, Default: false,
			Doc: "Envelope the (signed) entity for the send port's `encryption_certificate`."},
		{Name: "encryption_algorithm", Type: component.Enum, Default: "aes256-cbc", Values: []string{"aes128-cbc", "aes256-cbc", "aes128-gcm", "aes256-gcm", "des3"},
			Doc: "The content-encryption algorithm. `des3` is weak (BP5001); the GCM algorithms make authEnveloped-data."},
		{Name: "content_transfer_encoding", Type: component.Enum, Default: "base64",
			Values: []string{"base64", "quoted-printable", "7bit", "8bit", "binary"},
			Doc: "How the message body is encoded in the innermost MIME entity. Left to its default, a `multipart/*` or `message/*` body, " +
				"which RFC 2045 §6.4 allows only 7bit, 8bit or binary, goes `binary`; set to `base64` or `quoted-printable`, such a body fails its delivery. " +
				"`binary` saves a third of the bytes to sign, encrypt and send, " +
				"but some readers cannot take a binary part of a clear signature: OpenSSL's S/MIME reader splits it into 1 KiB lines and " +
				"breaks the signature of long binary lines (it verifies a detached signature over the same bytes). " +
				"In a stage after another it is for the message body, which that stage does not see: the entity the stage before made is " +
				"carried in the base64 or quoted-printable it has, not encoded again, and a clear signature's multipart entity goes `binary`."},
	},
	Decode: decodeConfig,
}

// Config is the typed configuration of an smime encoder block.
type Config struct {
	Signature               value.Value[string]
	Digest                  value.Value[string]
	IncludeCertificate      value.Value[bool]
	Encrypt                 value.Value[bool]
	EncryptionAlgorithm     value.Value[string]
	ContentTransferEncoding value.Value[string]
}

func decodeConfig(b *component.Body) component.Config {
	c := &Config{
		Signature:               b.String("signature"),
		Digest:                  b.String("digest"),
		IncludeCertificate:      b.Bool("include_certificate"),
		Encrypt:                 b.Bool("encrypt"),
		EncryptionAlgorithm:     b.String("encryption_algorithm"),
		ContentTransferEncoding: b.String("content_transfer_encoding"),
	}
	if c.Needs().Signing == component.Needed && c.Digest.Known && c.Digest.V == "sha1" {
		b.Warnf(diag.CodeWeakAlgorithm, c.Digest.Range, "Weak digest algorithm",
			"The %s signs with SHA-1, which is broken for signatures; use \"sha256\" unless a partner cannot verify it.", b.What)
	}
	if c.Needs().Encryption == component.Needed && c.EncryptionAlgorithm.Known && c.EncryptionAlgorithm.V == "des3" {
		b.Warnf(diag.CodeWeakAlgorithm, c.EncryptionAlgorithm.Range, "Weak encryption algorithm",
			"The %s encrypts with 3DES, a 64-bit block cipher that is deprecated; use \"aes256-cbc\" or \"aes256-gcm\" unless a partner cannot decrypt it.", b.What)
	}
	return c
}

// Needs: the signing identity when the stage signs, the recipient
// certificate when it encrypts; maybe, when that depends on a value unknown
// during validate.
func (c *Config) Needs() component.Needs {
	var n component.Needs
	switch {
	case !c.Signature.Known:
		n.Signing = component.MaybeNeeded
	case c.Signature.V != "none":
		n.Signing = component.Needed
	}
	switch {
	case !c.Encrypt.Known:
		n.Encryption = component.MaybeNeeded
	case c.Encrypt.V:
		n.Encryption = component.Needed
	}
	return n
}

// UnknownNeeds: signature and encrypt decide what Needs asks for.
func (c *Config) UnknownNeeds() []component.UnknownNeed {
	out := component.AppendUnknown(nil, "signature", c.Signature, component.Needs{Signing: component.MaybeNeeded})
	return component.AppendUnknown(out, "encrypt", c.Encrypt, component.Needs{Encryption: component.MaybeNeeded})
}

var _ component.UnknownNeedsConfig = (*Config)(nil)

// Options are the encoder options of a known configuration.
func (c *Config) Options() (Options, error) {
	alg, err := cms.ParseAlgorithm(c.EncryptionAlgorithm.V)
	if err != nil {
		return Options{}, err
	}
	o := Options{
		Signature:               c.Signature.V,
		Digest:                  c.Digest.V,
		IncludeCertificate:      c.IncludeCertificate.V,
		Encrypt:                 c.Encrypt.V,
		Algorithm:               alg,
		ContentTransferEncoding: c.ContentTransferEncoding.V,
	}
	if c.ContentTransferEncoding.Default {
		o.ContentTransferEncoding = "" // the default: binary where base64 is not allowed (Encoder.forEntity)
	}
	return o, nil
}
