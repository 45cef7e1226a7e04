package cms

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// gcmStream encrypts with AES-GCM (SP 800-38D) one piece at a time, for a
// 96-bit nonce and no additional data: CTR mode from J0+1 (crypto/cipher's
// CTR, hardware-accelerated) plus a GHASH of the ciphertext (ghashBulk,
// hardware-accelerated for all but short data); the tag comes
// at the end. It produces exactly what cipher.AEAD's Seal would for the
// concatenated plaintext.
type gcmStream struct {
	ctr   cipher.Stream
	gh    *ghashBulk
	ej0   [16]byte // E(K, J0), masks the tag
	n     uint64   // plaintext octets so far
	final bool
}

// gcmMaxPlaintext is the GCM limit: 2^32-2 blocks.
const gcmMaxPlaintext = (1<<32 - 2) * 16

var errGCMTooLarge = errors.New("content too large for AES-GCM")

func newGCMStream(block cipher.Block, nonce []byte) *gcmStream {
	if block.BlockSize() != 16 || len(nonce) != gcmNonceSize {
		panic("cms: GCM needs a 128-bit block cipher and a 96-bit nonce")
	}
	var h [16]byte
	block.Encrypt(h[:], h[:])
	var j0 [16]byte
	copy(j0[:], nonce)
	j0[15] = 1
	s := &gcmStream{gh: newGHASHBulk(block, h[:])}
	block.Encrypt(s.ej0[:], j0[:])
	// The counter starts at J0+1. crypto/cipher's CTR increments all 128
	// bits where GCM increments the low 32 only; they agree because the
	// low word starts at 2 and gcmMaxPlaintext keeps it from wrapping.
	binary.BigEndian.PutUint32(j0[12:], 2)
	s.ctr = cipher.NewCTR(block, j0[:])
	return s
}

// encrypt encrypts src into dst (which may be src) and hashes it.
func (s *gcmStream) encrypt(dst, src []byte) error {
	if s.final {
		return errors.New("GCM stream already finished")
	}
	if s.n+uint64(len(src)) > gcmMaxPlaintext {
		return errGCMTooLarge
	}
	s.n += uint64(len(src))
	s.ctr.XORKeyStream(dst, src)
	s.gh.write(dst[:len(src)])
	return nil
}

// tag finishes the stream and returns the 16-octet authentication tag.
func (s *gcmStream) tag() [16]byte {
	s.final = true
	t := s.gh.sum(0, s.n)
	subtle.XORBytes(t[:], t[:], s.ej0[:])
	return t
}
