package cms

// Incremental AES-GCM decryption (NIST SP 800-38D). crypto/cipher's AEAD
// needs the whole ciphertext in one slice, so large AuthEnvelopedData
// content is decrypted here instead: CTR with the GCM counter rule (only the
// low 32 bits increment) and GHASH (ghashBulk), fed piece by piece. The
// caller must not release any plaintext before verify succeeds.

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

const gcmBlock = 16

// gfMul returns x·y in GF(2^128) (SP 800-38D algorithm 1). It is slow and
// used once per bulk chunk only.
func gfMul(x, y ghashElement) ghashElement {
	var z ghashElement
	v := y
	for i := 0; i < 128; i++ {
		w, b := x.low, 63-i
		if i >= 64 {
			w, b = x.high, 127-i
		}
		if w>>b&1 == 1 {
			z.low ^= v.low
			z.high ^= v.high
		}
		v = v.double()
	}
	return z
}

// gfPow returns h^n.
func gfPow(h ghashElement, n int) ghashElement {
	r := ghashElement{low: 1 << 63} // the field's 1 in GCM bit order
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			r = gfMul(r, h)
		}
		h = gfMul(h, h)
	}
	return r
}

// gcmOpener decrypts GCM ciphertext incrementally and checks the tag at
// the end; the ciphertext is hashed by ghashBulk.
type gcmOpener struct {
	block   cipher.Block
	gh      *ghashBulk
	j0      [gcmBlock]byte
	ctr     cipher.Stream
	counter [gcmBlock]byte // next counter block when ctr is (re)created
	left    uint64         // keystream octets ctr can give before the low 32 bits wrap
	aadLen  uint64
	ctLen   uint64
}

// newGCMOpener starts decryption with a nonce of any length 1..64 and the
// additional authenticated data.
func newGCMOpener(block cipher.Block, nonce, aad []byte) (*gcmOpener, error) {
	if block.BlockSize() != gcmBlock {
		return nil, errors.New("envelope: GCM needs a 128-bit block cipher")
	}
	if len(nonce) == 0 {
		return nil, errors.New("envelope: empty GCM nonce")
	}
	var h [gcmBlock]byte
	block.Encrypt(h[:], h[:])
	o := &gcmOpener{block: block, gh: newGHASHBulk(block, h[:])}
	if len(nonce) == 12 {
		copy(o.j0[:], nonce)
		o.j0[gcmBlock-1] = 1
	} else {
		// J0 = GHASH(nonce || 0-pad || [0]64 || [len(nonce) in bits]64).
		n := newGHASH(h[:])
		n.write(nonce)
		o.j0 = n.sum(0, uint64(len(nonce)))
	}
	o.counter = o.j0
	incr32(&o.counter)
	o.gh.aad(aad)
	o.aadLen = uint64(len(aad))
	return o, nil
}

func incr32(c *[gcmBlock]byte) {
	binary.BigEndian.PutUint32(c[12:], binary.BigEndian.Uint32(c[12:])+1)
}

// decrypt decrypts ct into pt (same length, may alias exactly).
func (o *gcmOpener) decrypt(pt, ct []byte) error {
	if o.ctLen+uint64(len(ct)) > gcmMaxPlaintext {
		return errors.New("envelope: GCM content exceeds the mode's length limit")
	}
	o.ctLen += uint64(len(ct))
	o.gh.write(ct) // first: pt may alias ct
	o.xorKeyStream(pt, ct)
	return nil
}

func (o *gcmOpener) xorKeyStream(pt, ct []byte) {
	for len(ct) > 0 {
		if o.left == 0 {
			// cipher.NewCTR increments the whole block; GCM only the low
			// 32 bits, so restart it wherever those wrap.
			o.ctr = cipher.NewCTR(o.block, o.counter[:])
			o.left = (1<<32 - uint64(binary.BigEndian.Uint32(o.counter[12:]))) * gcmBlock
			binary.BigEndian.PutUint32(o.counter[12:], 0)
		}
		n := uint64(len(ct))
		if n > o.left {
			n = o.left
		}
		o.ctr.XORKeyStream(pt[:n], ct[:n])
		o.left -= n
		pt, ct = pt[n:], ct[n:]
	}
}

// verify checks the tag after all ciphertext was given to decrypt.
func (o *gcmOpener) verify(tag []byte) bool {
	s := o.gh.sum(o.aadLen, o.ctLen)
	var mask [gcmBlock]byte
	o.block.Encrypt(mask[:], o.j0[:])
	subtle.XORBytes(s[:], s[:], mask[:])
	return len(tag) >= 12 && len(tag) <= gcmBlock && subtle.ConstantTimeCompare(s[:len(tag)], tag) == 1
}
