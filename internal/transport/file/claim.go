package file

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Claim file names.
//
// A file NAME is claimed by renaming it, in the same directory, to
//
//	.bizpipe-claim-<owner>-<random>-NAME
//
// where <owner> is the escaped Owner (see escapeOwner) and <random> is
// claimRandLen lower-case hex digits. The leading dot hides the claim from
// every receiver's listing (dot-files are skipped), the owner lets a
// restarted process find what it had claimed when it died, the random part
// makes every claim's name - and so its SourceKey - unique, and NAME is kept
// so that the original name can be recovered from the claim alone.
//
// The random part starts with the claim's second (see newClaimName), so
// that SourceKeys grow with time: the message box's index of them then
// takes each batch's keys at its end, in a page or two, where keys all
// random would each change a page of their own in a large box.
const (
	claimPrefix  = ".bizpipe-claim-"
	claimRandLen = 16 // hex digits: 64 bits
	// maxNameLen is the longest file name (in bytes) that Linux, macOS and
	// Windows file systems accept; a claim name longer than this cannot be
	// made, so such a file is left alone with a warning.
	maxNameLen = 255
)

// escapeOwner makes an owner name safe and unambiguous inside a file name:
// ASCII letters, digits, '_' and '.' are kept, every other byte becomes %XX
// (upper-case hex). '-' is escaped too because it ends the owner part: were
// it kept, owner "a" would mistake owner "a-b"'s claims
// (".bizpipe-claim-a-b-...") for its own. The mapping is injective, so two
// owners never share a prefix.
func escapeOwner(owner string) string {
	var b strings.Builder
	for i := 0; i < len(owner); i++ {
		c := owner[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// ownerClaimPrefix is the prefix of every claim name owner makes.
func ownerClaimPrefix(owner string) string {
	return claimPrefix + escapeOwner(owner) + "-"
}

// newClaimName returns a fresh claim name for the file name under prefix,
// claimed at now: its random part is the low 24 bits of now's Unix second
// (wrapping every 194 days), then 40 random bits. Two claims of one name
// collide only in the same second with the same 40 bits.
func newClaimName(prefix, name string, now time.Time) string {
	var r [claimRandLen / 2]byte
	sec := uint32(now.Unix())
	r[0], r[1], r[2] = byte(sec>>16), byte(sec>>8), byte(sec)
	// crypto/rand.Read never returns an error (it panics instead).
	_, _ = rand.Read(r[3:])
	return prefix + hex.EncodeToString(r[:]) + "-" + name
}

// claimKey is the part of a claim name that does not depend on its owner:
// "<random>-NAME". SourceKeys are built from it, so that a claim taken over
// from a dead server (renamed to the new owner's prefix, same random part)
// keeps its key, and the box reports it as a duplicate if the dead server
// had committed it.
func claimKey(claim string) string {
	rest := strings.TrimPrefix(claim, claimPrefix)
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		return rest[i+1:]
	}
	return rest
}

// parseAnyClaim splits a claim name of any owner into the escaped owner, the
// owner-independent key and the original file name.
func parseAnyClaim(claim string) (owner, key, name string, ok bool) {
	rest, ok := strings.CutPrefix(claim, claimPrefix)
	if !ok {
		return "", "", "", false
	}
	i := strings.IndexByte(rest, '-')
	if i <= 0 {
		return "", "", "", false
	}
	name, ok = parseClaim(claimPrefix+rest[:i+1], claim)
	if !ok {
		return "", "", "", false
	}
	return rest[:i], rest[i+1:], name, true
}

// parseClaim returns the original file name of claim, a claim name made
// under prefix; ok is false when claim is not one.
func parseClaim(prefix, claim string) (name string, ok bool) {
	rest, ok := strings.CutPrefix(claim, prefix)
	if !ok || len(rest) < claimRandLen+2 || rest[claimRandLen] != '-' {
		return "", false
	}
	for _, c := range []byte(rest[:claimRandLen]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return rest[claimRandLen+1:], true
}
