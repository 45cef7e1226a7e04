package msgbox

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// IDLen is the length of the message ids NewID returns.
const IDLen = 26

// idAlphabet is Crockford's base32 in lower case: digits and letters without
// i, l, o and u, so an id survives being read aloud, typed, or stored on a
// case-insensitive file system, and needs no escaping in a file name or URL.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a new message id: 26 characters of [0-9a-z] (Crockford
// base32, lower case), safe in file names and templates. The first 10
// characters encode now in milliseconds since the Unix epoch (clamped to 0 for
// earlier times), so ids sort in the order they were made, to the
// millisecond; the last 16 encode 80 bits read from rand, which makes ids
// made in the same millisecond, by any number of processes, unique.
//
// Pass crypto/rand.Reader, which cannot fail. NewID panics if rand fails:
// an id that is not random would not be unique, and a duplicate id is a
// defect to stop at, not a condition to recover from.
func NewID(now time.Time, rand io.Reader) string {
	var entropy [10]byte
	if _, err := io.ReadFull(rand, entropy[:]); err != nil {
		panic(fmt.Sprintf("msgbox.NewID: reading randomness: %v", err))
	}
	ms := now.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	const maxMs = 1<<48 - 1 // 10 base32 digits hold 50 bits; ULID uses 48
	if ms > maxMs {
		ms = maxMs
	}

	var id [IDLen]byte
	t := uint64(ms)
	for i := 9; i >= 0; i-- {
		id[i] = idAlphabet[t&31]
		t >>= 5
	}
	// 80 random bits are exactly 16 base32 digits: take them 40 bits
	// (5 bytes, 8 digits) at a time.
	for half := 0; half < 2; half++ {
		var v uint64
		for _, b := range entropy[half*5 : half*5+5] {
			v = v<<8 | uint64(b)
		}
		for i := 7; i >= 0; i-- {
			id[10+half*8+i] = idAlphabet[v&31]
			v >>= 5
		}
	}
	return string(id[:])
}

// TypedID returns the id an operator typed or read back, as NewID makes
// it: Crockford's base32 is read case-insensitively, with I and L for the
// digit one and O for zero, the letters idAlphabet leaves out for that.
// Anything not of an id's shape is returned as it is, for ValidID to
// refuse.
func TypedID(s string) string {
	if len(s) != IDLen {
		return s
	}
	id := []byte(strings.ToLower(s))
	for i, c := range id {
		switch c {
		case 'i', 'l':
			id[i] = '1'
		case 'o':
			id[i] = '0'
		}
	}
	if !ValidID(string(id)) {
		return s
	}
	return string(id)
}

// ValidID reports whether s has the shape of an id NewID makes. Boxes use it
// to reject an operator's typo before touching the database.
func ValidID(s string) bool {
	if len(s) != IDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') || c == 'i' || c == 'l' || c == 'o' || c == 'u' {
			return false
		}
	}
	return true
}
