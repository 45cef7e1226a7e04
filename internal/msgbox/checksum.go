package msgbox

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"hash/crc32"
)

// castagnoli is the CRC-32C table; crc32 computes it with the CPU's CRC32
// instruction where there is one, whatever table is passed.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// NewChecksum returns the hash a box records over a body it stores, to
// detect storage corruption when the body is read back: CRC-32C, which
// runs at memory speed. It is not a defence against an attacker, who could
// rewrite the checksum too.
func NewChecksum() hash.Hash { return crc32.New(castagnoli) }

// SumMatches reports whether sum, a checksum a box recorded (either kind),
// is data's.
func SumMatches(data, sum []byte) bool {
	h := checksumFor(sum)
	h.Write(data)
	return bytes.Equal(h.Sum(nil), sum)
}

// checksumFor returns the hash that made a recorded checksum, by its
// length: CRC-32C (4 bytes), or SHA-256 (32 bytes), which boxes recorded
// before and the PostgreSQL box still does.
func checksumFor(sum []byte) hash.Hash {
	if len(sum) == crc32.Size {
		return crc32.New(castagnoli)
	}
	return sha256.New()
}
