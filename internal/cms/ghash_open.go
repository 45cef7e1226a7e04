package cms

// Incremental AES-GCM decryption (NIST SP 800-38D). crypto/cipher's AEAD
// needs the whole ciphertext in one slice, so large AuthEnvelopedData
// content is decrypted here instead: CTR with the GCM counter rule (only the
// low 32 bits increment) and GHASH with Shoup's 4-bit tables, fed chunk by
// chunk. The caller must not release any plaintext before verify succeeds.

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
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

// bulkChunk is the ciphertext hashed per call into crypto/cipher.
const bulkChunk = 64 << 10

// gcmOpener decrypts GCM ciphertext incrementally and checks the tag at
// the end.
//
// The ciphertext is hashed in bulk with crypto/cipher's (hardware) GHASH:
// sealing an empty plaintext with a chunk as additional data under the same
// key and a fixed nonce yields GHASH(chunk) masked with a known block, and
// GHASH is linear, so the chunk hashes combine into the running state with
// one multiplication by a power of H each. Those tags are never output.
type gcmOpener struct {
	block   cipher.Block
	g       *ghash // H's table: the AAD, a non-96-bit nonce, small products
	h       ghashElement
	bulk    cipher.AEAD
	mask    ghashElement // E(K, 0^96 || 1): the mask of bulk's tags
	hChunk  ghashElement // H^(bulkChunk/16)
	z       ghashElement // the GHASH state times H
	stage   []byte       // ciphertext not yet hashed
	sealBuf [gcmBlock]byte
	nonce0  [12]byte // bulk's fixed nonce (all zero)
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
	o := &gcmOpener{block: block, g: newGHASH(h[:])}
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
	o.g.write(aad)
	o.g.pad()
	o.aadLen = uint64(len(aad))

	o.h = ghashElement{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])}
	o.z = o.g.y
	o.z = o.g.mulH(o.z)
	bulk, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	o.bulk = bulk
	var j [gcmBlock]byte
	j[gcmBlock-1] = 1
	block.Encrypt(j[:], j[:])
	o.mask = ghashElement{binary.BigEndian.Uint64(j[:8]), binary.BigEndian.Uint64(j[8:])}
	o.hChunk = gfPow(o.h, bulkChunk/gcmBlock)
	o.stage = make([]byte, 0, bulkChunk)
	return o, nil
}

// absorb hashes one chunk of ciphertext (a whole number of blocks except
// for the last chunk, which GHASH pads with zeros).
func (o *gcmOpener) absorb(chunk []byte) {
	if len(chunk) == 0 {
		return
	}
	t := o.bulk.Seal(o.sealBuf[:0], o.nonce0[:], nil, chunk)
	// t = (Y·H ⊕ L·H) ⊕ mask, where Y is GHASH's state after the chunk's
	// blocks from zero and L its length block; with z = y·H,
	// z' = z·H^m ⊕ Y·H.
	s := ghashElement{binary.BigEndian.Uint64(t[:8]) ^ o.mask.low, binary.BigEndian.Uint64(t[8:]) ^ o.mask.high}
	lh := ghashElement{low: uint64(len(chunk)) * 8}
	lh = o.g.mulH(lh)
	m := (len(chunk) + gcmBlock - 1) / gcmBlock
	hp := o.hChunk
	if m != bulkChunk/gcmBlock {
		hp = gfPow(o.h, m)
	}
	z := gfMul(o.z, hp)
	o.z = ghashElement{z.low ^ s.low ^ lh.low, z.high ^ s.high ^ lh.high}
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
	for len(ct) > 0 {
		// Stage before decrypting: pt may alias ct.
		k := min(len(ct), bulkChunk-len(o.stage))
		o.stage = append(o.stage, ct[:k]...)
		if len(o.stage) == bulkChunk {
			o.absorb(o.stage)
			o.stage = o.stage[:0]
		}
		o.xorKeyStream(pt[:k], ct[:k])
		pt, ct = pt[k:], ct[k:]
	}
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
	o.absorb(o.stage)
	o.stage = o.stage[:0]
	lh := ghashElement{o.aadLen * 8, o.ctLen * 8}
	lh = o.g.mulH(lh)
	var s [gcmBlock]byte
	binary.BigEndian.PutUint64(s[:8], o.z.low^lh.low)
	binary.BigEndian.PutUint64(s[8:], o.z.high^lh.high)
	var mask [gcmBlock]byte
	o.block.Encrypt(mask[:], o.j0[:])
	subtle.XORBytes(s[:], s[:], mask[:])
	return len(tag) >= 12 && len(tag) <= gcmBlock && subtle.ConstantTimeCompare(s[:len(tag)], tag) == 1
}
