package cms

import (
	"crypto/cipher"
	"encoding/binary"
)

// bulkChunk is the data hashed per call into crypto/cipher.
const bulkChunk = 64 << 10

// ghashBulk is the GHASH of additional data and a ciphertext fed piece by
// piece, for streaming AES-GCM both ways (gcmStream, gcmOpener).
//
// Short data is hashed with the tables of ghash. From the first whole chunk
// on, the ciphertext is hashed in bulk with crypto/cipher's (hardware)
// GHASH, several times as fast: sealing an empty plaintext with a chunk as
// additional data under the same key and a fixed nonce yields GHASH(chunk)
// masked with a known block, and GHASH is linear, so the chunk hashes
// combine into the running state with one multiplication by a power of H
// each. Those tags are never output. A small message never pays for the
// switch (an AEAD and H^(bulkChunk/16) per key).
type ghashBulk struct {
	g     *ghash // H's table: the additional data, short data, small products
	block cipher.Block
	h     ghashElement
	// bulk is nil until the first whole chunk; then z is the GHASH state
	// times H.
	bulk    cipher.AEAD
	mask    ghashElement // E(K, 0^96 || 1): the mask of bulk's tags
	hChunk  ghashElement // H^(bulkChunk/16)
	z       ghashElement
	stage   []byte // ciphertext not yet hashed
	sealBuf [gcmBlock]byte
	nonce0  [12]byte // bulk's fixed nonce (all zero)
}

// newGHASHBulk starts a GHASH under block's key, whose hash subkey is h.
func newGHASHBulk(block cipher.Block, h []byte) *ghashBulk {
	return &ghashBulk{g: newGHASH(h), block: block,
		h: ghashElement{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])}}
}

// aad hashes the additional data, which comes before any ciphertext.
func (b *ghashBulk) aad(a []byte) {
	b.g.write(a)
	b.g.pad()
}

// write hashes p as the continuation of the ciphertext. It reads p before
// returning, so the caller may then overwrite it (decrypting in place).
func (b *ghashBulk) write(p []byte) {
	for len(p) > 0 {
		if len(b.stage) == 0 && len(p) >= bulkChunk {
			b.absorb(p[:bulkChunk])
			p = p[bulkChunk:]
			continue
		}
		if b.stage == nil {
			b.stage = make([]byte, 0, min(bulkChunk, max(len(p), 4<<10)))
		}
		k := min(len(p), bulkChunk-len(b.stage))
		b.stage = append(b.stage, p[:k]...)
		p = p[k:]
		if len(b.stage) == bulkChunk {
			b.absorb(b.stage)
			b.stage = b.stage[:0]
		}
	}
}

// start switches to bulk hashing. The tables have hashed whole blocks only
// (the additional data is padded; the ciphertext was staged).
func (b *ghashBulk) start() bool {
	bulk, err := cipher.NewGCM(b.block)
	if err != nil {
		return false // not an AES-sized block: the tables do it all
	}
	var j [gcmBlock]byte
	j[gcmBlock-1] = 1
	b.block.Encrypt(j[:], j[:])
	b.mask = ghashElement{binary.BigEndian.Uint64(j[:8]), binary.BigEndian.Uint64(j[8:])}
	b.hChunk = gfPow(b.h, bulkChunk/gcmBlock)
	b.z = b.g.mulH(b.g.y)
	b.bulk = bulk
	return true
}

// absorb hashes one chunk of ciphertext: a whole number of blocks, except
// for the last chunk, which GHASH pads with zeros.
func (b *ghashBulk) absorb(chunk []byte) {
	if len(chunk) == 0 {
		return
	}
	if b.bulk == nil && !b.start() {
		b.g.write(chunk)
		return
	}
	t := b.bulk.Seal(b.sealBuf[:0], b.nonce0[:], nil, chunk)
	// t = (Y·H ⊕ L·H) ⊕ mask, where Y is GHASH's state after the chunk's
	// blocks from zero and L its length block; with z = y·H,
	// z' = z·H^m ⊕ Y·H.
	s := ghashElement{binary.BigEndian.Uint64(t[:8]) ^ b.mask.low, binary.BigEndian.Uint64(t[8:]) ^ b.mask.high}
	lh := b.g.mulH(ghashElement{low: uint64(len(chunk)) * 8})
	m := (len(chunk) + gcmBlock - 1) / gcmBlock
	hp := b.hChunk
	if m != bulkChunk/gcmBlock {
		hp = gfPow(b.h, m)
	}
	z := gfMul(b.z, hp)
	b.z = ghashElement{z.low ^ s.low ^ lh.low, z.high ^ s.high ^ lh.high}
}

// sum returns GHASH(A || C) with the lengths block, for aadLen octets of
// additional data and ctLen of ciphertext: the tag before its mask.
func (b *ghashBulk) sum(aadLen, ctLen uint64) [gcmBlock]byte {
	if b.bulk == nil {
		b.g.write(b.stage)
		b.stage = b.stage[:0]
		return b.g.sum(aadLen, ctLen)
	}
	b.absorb(b.stage)
	b.stage = b.stage[:0]
	lh := b.g.mulH(ghashElement{aadLen * 8, ctLen * 8})
	var out [gcmBlock]byte
	binary.BigEndian.PutUint64(out[:8], b.z.low^lh.low)
	binary.BigEndian.PutUint64(out[8:], b.z.high^lh.high)
	return out
}
