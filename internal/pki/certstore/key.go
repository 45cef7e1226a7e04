package certstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"io"

	"github.com/bizpipe/bizpipe/internal/pki/certinfo"
)

// redactedKey is what every textual form of a PrivateKey prints.
const redactedKey = "[private key redacted]"

// PrivateKey is a private key found in a store. It wraps the key so that
// logging or formatting it (with any fmt verb, %v, %+v and %#v included) prints
// "[private key redacted]" instead of the key material, which fmt would
// otherwise print field by field.
//
// PrivateKey is itself a crypto.Signer, safe to pass around. Signer returns the
// underlying key for libraries that need its concrete type; that value is not
// redacted, so do not format it.
type PrivateKey struct {
	signer crypto.Signer
	// File is the path of the file the key was read from.
	File string
}

// Signer returns the underlying key: *rsa.PrivateKey, *ecdsa.PrivateKey or
// ed25519.PrivateKey.
func (k *PrivateKey) Signer() crypto.Signer { return k.signer }

// Decrypter returns the key as a crypto.Decrypter, or nil when the key type
// cannot decrypt (only RSA keys can, which is what S/MIME key transport needs).
func (k *PrivateKey) Decrypter() crypto.Decrypter {
	d, _ := k.signer.(crypto.Decrypter)
	return d
}

// Public returns the public half of the key.
func (k *PrivateKey) Public() crypto.PublicKey { return k.signer.Public() }

// Sign signs digest with the key; see crypto.Signer.
func (k *PrivateKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.signer.Sign(rand, digest, opts)
}

// Algorithm describes the key without revealing it, e.g. "RSA-2048",
// "ECDSA P-256" or "Ed25519".
func (k *PrivateKey) Algorithm() string { return keyAlgorithm(k.signer) }

// String returns "[private key redacted]".
func (k PrivateKey) String() string { return redactedKey }

// GoString returns "[private key redacted]", for %#v.
func (k PrivateKey) GoString() string { return redactedKey }

// Format prints "[private key redacted]" for every verb, so that no verb
// (%x, %d, %+v ...) falls back to printing the fields.
func (k PrivateKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redactedKey) }

func keyAlgorithm(s crypto.Signer) string {
	switch k := s.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return keyTypeName(s)
}

// keyTypeName names a key's algorithm in a note (certinfo.KeyType), or
// says it is unknown: never by its Go type.
func keyTypeName(k any) string {
	if name := certinfo.KeyType(k); name != "" {
		return name
	}
	return "unknown algorithm"
}

// Password is a store's PKCS#12 password. It has three states, because
// `validate` must tell "no password configured" (try the empty password)
// from "configured, but the variable has no value yet" (do not open PKCS#12
// files at all, BP2005). The zero value is NoPassword.
//
// Password is comparable and its textual forms never show the value.
type Password struct {
	state passwordState
	value string
}

type passwordState int

const (
	passwordNone passwordState = iota
	passwordKnown
	passwordUnknown
)

// NoPassword means the store declares no password: PKCS#12 files are opened
// with the empty password.
func NoPassword() Password { return Password{} }

// KnownPassword is a password whose value is known.
func KnownPassword(value string) Password { return Password{state: passwordKnown, value: value} }

// UnknownPassword is a password that is configured but has no value during
// validate: PKCS#12 files are not opened (see Store.UnopenedPKCS12).
func UnknownPassword() Password { return Password{state: passwordUnknown} }

// IsSet reports whether the store declares a password (known or unknown).
func (p Password) IsSet() bool { return p.state != passwordNone }

// IsUnknown reports whether the password is declared but has no value.
func (p Password) IsUnknown() bool { return p.state == passwordUnknown }

// Value returns the password to decrypt with: "" for NoPassword, and ok false
// when the password is unknown.
func (p Password) Value() (value string, ok bool) {
	return p.value, p.state != passwordUnknown
}

// String describes the state without the value: "no password",
// "[password redacted]" or "unknown password".
func (p Password) String() string {
	switch p.state {
	case passwordKnown:
		return "[password redacted]"
	case passwordUnknown:
		return "unknown password"
	}
	return "no password"
}

// GoString is String, so that %#v does not print the value.
func (p Password) GoString() string { return p.String() }

// Format prints String for every verb, so that no verb prints the value.
func (p Password) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.String()) }
