package smime

import (
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
)

// DecoderSpec declares the smime decoder stage: decoder "smime" { ... } in
// a receive pipeline (language §10).
var DecoderSpec = &component.Spec{
	Kind:    component.Decoder,
	Name:    "smime",
	Summary: "Decrypts and/or verifies an S/MIME message as it comes in (RFC 8551).",
	Doc: `Decrypts enveloped (enveloped-data and authEnveloped-data) input with the
host's decryption_certificate and its private key, taken from the personal
store of the service account of the host instance that received the message,
and/or verifies its signature (clear or opaque). While the host rotates its
decryption certificate, input still encrypted for one of the host's
previous_decryption_certificates is decrypted with that one's key: the key is
chosen by the message's recipient info (issuer and serial number, or subject
key identifier), and the log line of each message received names the
certificate that decrypted it.

A signature must verify with a certificate listed in some party's
signing_certificates, present in the other-people store of the server the
instance runs on and valid at the time of receipt, and use one of the
digests sha256, sha384, sha512 or sha1; an RSA signature may be PKCS #1
v1.5 or RSASSA-PSS (with MGF1 over the same digest, any salt length), as
partners configured for "RSASSA-PSS" send. The certificate embedded in the
signature alone is never trusted. The party found becomes message.party.
A message a party signed twice while it rolls its certificate over, with
its old and its new certificate, is accepted when one of them passes: the
old one may have expired, or the new one not be in the store yet. Every
other signer of a message must pass.

A message that fails decoding (cannot be decrypted, a bad or missing
signature, an unknown signer, not encrypted where require_encryption) is
stored with its bytes as received and suspended with the reason; it is never
routed, not even when resumed, and bizpipe messages body writes those bytes.
The reason names a signer that is no party's by its subject, issuer and
serial number, and says when the certificate a message carries has the
issuer and serial number of a party's certificate but is not that one (one
issued by another CA of the same name); a refused digest is named. A
signer whose thumbprint a party lists but that the server's other-people
store does not hold is refused too, the reason naming the party, the
thumbprint and the store, where the certificate is to be added.

With verify = false, signatures are neither required nor checked: a signed
message is unwrapped, and its message.party is "" as for an unsigned one.
In a pipeline where another decoder stage follows, such a stage stops at
the first signature instead and passes the signed entity whole to the next
stage, so that a pipeline may decrypt in one stage and verify in the next.
The decoded message's content_type is that of the innermost entity.`,
	Example: `decoder "smime" {
  decrypt = true
  verify  = true
}`,
	Attributes: []component.Attribute{
		{Name: "decrypt", Type: component.Bool, Default: false,
			Doc: "Decrypt enveloped input with the host's `decryption_certificate`, or one of its `previous_decryption_certificates` (BP7001–BP7005)."},
		{Name: "verify", Type: component.Bool, Default: false,
			Doc: "Require a signature that verifies with a party's `signing_certificates` (BP7006–BP7008), and set `message.party`."},
		// require_encryption has no static default: it defaults to decrypt,
		// which the schema cannot say; Decode applies it.
		{Name: "require_encryption", Type: component.Bool,
			Doc: "Reject input that is not encrypted. Default: the value of `decrypt`. Set to true, it needs `decrypt = true` (BP1004): a stage that does not decrypt would refuse every message."},
	},
	Decode: decodeDecoderConfig,
}

// DecoderConfig is the typed configuration of an smime decoder block.
type DecoderConfig struct {
	Decrypt           value.Value[bool]
	Verify            value.Value[bool]
	RequireEncryption value.Value[bool]
}

func decodeDecoderConfig(b *component.Body) component.Config {
	c := &DecoderConfig{
		Decrypt:           b.Bool("decrypt"),
		Verify:            b.Bool("verify"),
		RequireEncryption: b.Bool("require_encryption"),
	}
	if !c.RequireEncryption.Set {
		// The documented default is decrypt's value: a location that
		// decrypts rejects plain input unless told otherwise.
		c.RequireEncryption = c.Decrypt
		c.RequireEncryption.Default = true
		c.RequireEncryption.Range = b.Range
	} else if c.RequireEncryption.Known && c.RequireEncryption.V && c.Decrypt.Known && !c.Decrypt.V {
		// A stage that does not decrypt refuses encrypted input (it
		// cannot read it) and, told so, plain input: everything.
		b.Errorf(c.RequireEncryption.Range, "Invalid value for require_encryption",
			"The require_encryption of %s is true, but the stage does not decrypt (decrypt = false): it would refuse every message, "+
				"the encrypted ones because it cannot read them and the others because they are not encrypted. "+
				"Set decrypt = true, or leave require_encryption out.", b.What)
	}
	return c
}

// Needs: the host's decryption identity when the stage decrypts, the
// parties' signing certificates when it verifies; maybe, when that depends
// on a value unknown during validate.
func (c *DecoderConfig) Needs() component.Needs {
	var n component.Needs
	n.Decryption = need(c.Decrypt)
	n.PartySigning = need(c.Verify)
	return n
}

// UnknownNeeds: decrypt and verify decide what Needs asks for.
func (c *DecoderConfig) UnknownNeeds() []component.UnknownNeed {
	out := component.AppendUnknown(nil, "decrypt", c.Decrypt, component.Needs{Decryption: component.MaybeNeeded})
	return component.AppendUnknown(out, "verify", c.Verify, component.Needs{PartySigning: component.MaybeNeeded})
}

var _ component.UnknownNeedsConfig = (*DecoderConfig)(nil)

// need maps a bool attribute to whether it needs the key it enables.
func need(v value.Value[bool]) component.Need {
	switch {
	case !v.Known:
		return component.MaybeNeeded
	case v.V:
		return component.Needed
	}
	return component.NotNeeded
}
