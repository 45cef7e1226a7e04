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

// ghashElem is an element of GF(2^128) in GCM's bit order: low holds the
// first eight octets of a block, big-endian.
type ghashElem struct{ low, high uint64 }

// ghashOpen is a GHASH state keyed with H. It is self-contained (a
// streaming encrypter may carry its own; they can be merged later).
type ghashOpen struct {
	table   [16]ghashElem // multiples of H by the 4-bit values, bit-reversed index
	y       ghashElem
	partial [gcmBlock]byte
	np      int // octets in partial
}

func newGHASHOpen(h []byte) *ghashOpen {
	g := &ghashOpen{}
	x := ghashElem{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])}
	g.table[reverse4(1)] = x
	for i := 2; i < 16; i += 2 {
		g.table[reverse4(i)] = ghashDouble(g.table[reverse4(i/2)])
		d := g.table[reverse4(i)]
		g.table[reverse4(i+1)] = ghashElem{d.low ^ x.low, d.high ^ x.high}
	}
	return g
}

func reverse4(i int) int {
	i = ((i << 2) & 0xc) | ((i >> 2) & 0x3)
	return ((i << 1) & 0xa) | ((i >> 1) & 0x5)
}

// ghashDouble multiplies by x (a right shift in GCM's reflected order).
func ghashDouble(x ghashElem) ghashElem {
	msb := x.high&1 == 1
	d := ghashElem{low: x.low >> 1, high: x.high>>1 | x.low<<63}
	if msb {
		d.low ^= 0xe100000000000000
	}
	return d
}

var ghashReduction = [16]uint16{
	0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
	0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
}

// mul sets y = y·H.
func (g *ghashOpen) mul(y *ghashElem) {
	var z ghashElem
	for i := 0; i < 2; i++ {
		word := y.high
		if i == 1 {
			word = y.low
		}
		for j := 0; j < 64; j += 4 {
			msw := z.high & 0xf
			z.high = z.high>>4 | z.low<<60
			z.low = z.low>>4 ^ uint64(ghashReduction[msw])<<48
			t := &g.table[word&0xf]
			z.low ^= t.low
			z.high ^= t.high
			word >>= 4
		}
	}
	*y = z
}

func (g *ghashOpen) blocks(b []byte) {
	for len(b) >= gcmBlock {
		g.y.low ^= binary.BigEndian.Uint64(b)
		g.y.high ^= binary.BigEndian.Uint64(b[8:])
		g.mul(&g.y)
		b = b[gcmBlock:]
	}
}

// write absorbs data; a trailing partial block waits for more.
func (g *ghashOpen) write(b []byte) {
	if g.np > 0 {
		n := copy(g.partial[g.np:], b)
		g.np += n
		b = b[n:]
		if g.np < gcmBlock {
			return
		}
		g.blocks(g.partial[:])
		g.np = 0
	}
	full := len(b) &^ (gcmBlock - 1)
	g.blocks(b[:full])
	g.np = copy(g.partial[:], b[full:])
}

// pad completes the current input (AAD or ciphertext) with zeros to a
// block boundary, as GHASH does between its inputs.
func (g *ghashOpen) pad() {
	if g.np > 0 {
		clear(g.partial[g.np:])
		g.blocks(g.partial[:])
		g.np = 0
	}
}

// lengths absorbs the final length block (in bits) and returns the hash.
func (g *ghashOpen) lengths(aadLen, ctLen uint64) [gcmBlock]byte {
	g.pad()
	g.y.low ^= aadLen * 8
	g.y.high ^= ctLen * 8
	g.mul(&g.y)
	var out [gcmBlock]byte
	binary.BigEndian.PutUint64(out[:8], g.y.low)
	binary.BigEndian.PutUint64(out[8:], g.y.high)
	return out
}

// gfMul returns x·y in GF(2^128) (SP 800-38D algorithm 1). It is slow and
// used once per bulk chunk only.
func gfMul(x, y ghashElem) ghashElem {
	var z ghashElem
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
		v = ghashDouble(v)
	}
	return z
}

// gfPow returns h^n.
func gfPow(h ghashElem, n int) ghashElem {
	r := ghashElem{low: 1 << 63} // the field's 1 in GCM bit order
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

// gcmMaxPlaintext is the SP 800-38D limit, 2^39 - 256 bits.
const gcmMaxPlaintext = (1<<39 - 256) / 8

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
	g       *ghashOpen // H's table: the AAD, a non-96-bit nonce, small products
	h       ghashElem
	bulk    cipher.AEAD
	mask    ghashElem // E(K, 0^96 || 1): the mask of bulk's tags
	hChunk  ghashElem // H^(bulkChunk/16)
	z       ghashElem // the GHASH state times H
	stage   []byte    // ciphertext not yet hashed
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
	o := &gcmOpener{block: block, g: newGHASHOpen(h[:])}
	if len(nonce) == 12 {
		copy(o.j0[:], nonce)
		o.j0[gcmBlock-1] = 1
	} else {
		// J0 = GHASH(nonce || 0-pad || [0]64 || [len(nonce) in bits]64).
		n := newGHASHOpen(h[:])
		n.write(nonce)
		o.j0 = n.lengths(0, uint64(len(nonce)))
	}
	o.counter = o.j0
	incr32(&o.counter)
	o.g.write(aad)
	o.g.pad()
	o.aadLen = uint64(len(aad))

	o.h = ghashElem{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])}
	o.z = o.g.y
	o.g.mul(&o.z)
	bulk, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	o.bulk = bulk
	var j [gcmBlock]byte
	j[gcmBlock-1] = 1
	block.Encrypt(j[:], j[:])
	o.mask = ghashElem{binary.BigEndian.Uint64(j[:8]), binary.BigEndian.Uint64(j[8:])}
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
	s := ghashElem{binary.BigEndian.Uint64(t[:8]) ^ o.mask.low, binary.BigEndian.Uint64(t[8:]) ^ o.mask.high}
	lh := ghashElem{low: uint64(len(chunk)) * 8}
	o.g.mul(&lh)
	m := (len(chunk) + gcmBlock - 1) / gcmBlock
	hp := o.hChunk
	if m != bulkChunk/gcmBlock {
		hp = gfPow(o.h, m)
	}
	z := gfMul(o.z, hp)
	o.z = ghashElem{z.low ^ s.low ^ lh.low, z.high ^ s.high ^ lh.high}
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
	lh := ghashElem{o.aadLen * 8, o.ctLen * 8}
	o.g.mul(&lh)
	var s [gcmBlock]byte
	binary.BigEndian.PutUint64(s[:8], o.z.low^lh.low)
	binary.BigEndian.PutUint64(s[8:], o.z.high^lh.high)
	var mask [gcmBlock]byte
	o.block.Encrypt(mask[:], o.j0[:])
	subtle.XORBytes(s[:], s[:], mask[:])
	return len(tag) >= 12 && len(tag) <= gcmBlock && subtle.ConstantTimeCompare(s[:len(tag)], tag) == 1
}
