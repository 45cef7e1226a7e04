package as2

import (
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
)

// Alg is a MIC algorithm (RFC 4130 §7.3.1, the micalg values of RFC 5751
// §3.4.3.2). The zero value is SHA256, the default.
type Alg int

// The MIC algorithms bizpipe computes.
const (
	SHA256 Alg = iota
	SHA384
	SHA512
	SHA1
)

var algNames = [...]string{"sha-256", "sha-384", "sha-512", "sha-1"}

// Algs lists every supported algorithm, strongest common choice first.
var algs = [...]Alg{SHA256, SHA384, SHA512, SHA1}

// String returns the RFC 5751 name ("sha-256"), as written in
// Received-Content-MIC and signed-receipt-micalg.
func (a Alg) String() string {
	if a < 0 || int(a) >= len(algNames) {
		return fmt.Sprintf("as2.Alg(%d)", int(a))
	}
	return algNames[a]
}

// Hash returns the Go hash function of a.
func (a Alg) Hash() crypto.Hash {
	switch a {
	case SHA384:
		return crypto.SHA384
	case SHA512:
		return crypto.SHA512
	case SHA1:
		return crypto.SHA1
	}
	return crypto.SHA256
}

// ConfigName returns the name used by the configuration language and by
// package smime's Options.Digest ("sha256").
func (a Alg) ConfigName() string { return strings.ReplaceAll(a.String(), "-", "") }

func (a Alg) newHash() hash.Hash {
	switch a {
	case SHA384:
		return sha512.New384()
	case SHA512:
		return sha512.New()
	case SHA1:
		return sha1.New() // weak, but partners may ask for it (RFC 4130 §7.3)
	}
	return sha256.New()
}

// ParseAlg reads a MIC algorithm name. Names compare case-insensitively,
// with or without the hyphen: "sha256", "SHA-256", "sha-256" are the same.
func ParseAlg(s string) (Alg, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "")
	for _, a := range algs {
		if n == a.ConfigName() {
			return a, nil
		}
	}
	return 0, fmt.Errorf("as2: unsupported MIC algorithm %q (want sha-256, sha-384, sha-512 or sha-1)", clip(s))
}

// MIC is a message integrity check value: a digest and the algorithm that
// made it.
type MIC struct {
	Alg    Alg
	Digest []byte
}

// String formats m as a Received-Content-MIC value: "base64, sha-256".
func (m MIC) String() string {
	return base64.StdEncoding.EncodeToString(m.Digest) + ", " + m.Alg.String()
}

// Equal reports whether m and o have the same algorithm and digest (the
// digest compared in constant time).
func (m MIC) Equal(o MIC) bool {
	return m.Alg == o.Alg && len(m.Digest) > 0 && subtle.ConstantTimeCompare(m.Digest, o.Digest) == 1
}

// ParseMIC reads a Received-Content-MIC value ("base64, sha-256"; the
// algorithm name as ParseAlg accepts it, white space around both parts
// ignored).
func ParseMIC(s string) (MIC, error) {
	i := strings.LastIndexByte(s, ',')
	if i < 0 {
		return MIC{}, fmt.Errorf("as2: Received-Content-MIC %q: want \"digest, algorithm\"", clip(s))
	}
	alg, err := ParseAlg(s[i+1:])
	if err != nil {
		return MIC{}, fmt.Errorf("as2: Received-Content-MIC: %w", err)
	}
	b64 := strings.Join(strings.Fields(s[:i]), "")
	d, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return MIC{}, fmt.Errorf("as2: Received-Content-MIC %q: digest is not base64: %w", clip(s), err)
	}
	if len(d) != alg.Hash().Size() {
		return MIC{}, fmt.Errorf("as2: Received-Content-MIC %q: a %s digest has %d octets, not %d", clip(s), alg, alg.Hash().Size(), len(d))
	}
	return MIC{Alg: alg, Digest: d}, nil
}

// Hasher computes the MIC of the octets written to it with every supported
// algorithm at once, for a sender that learns only from the receipt which
// algorithm the receiver chose. The zero value is not usable; use
// NewHasher.
type Hasher struct {
	h [len(algs)]hash.Hash
}

// NewHasher returns a Hasher over no octets yet.
func NewHasher() *Hasher {
	var h Hasher
	for i, a := range algs {
		h.h[i] = a.newHash()
	}
	return &h
}

// Write adds p to every digest; it never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	for _, d := range h.h {
		d.Write(p)
	}
	return len(p), nil
}

// MIC returns the MIC of what was written so far with alg.
func (h *Hasher) MIC(alg Alg) MIC {
	for i, a := range algs {
		if a == alg {
			return MIC{Alg: a, Digest: h.h[i].Sum(nil)}
		}
	}
	return MIC{Alg: alg}
}

// ComputeMIC returns the MIC of data with alg.
func ComputeMIC(alg Alg, data []byte) MIC {
	d := alg.newHash()
	d.Write(data)
	return MIC{Alg: alg, Digest: d.Sum(nil)}
}
