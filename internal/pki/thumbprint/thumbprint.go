// Package thumbprint parses and compares certificate thumbprints: the hex SHA-1
// (40 digits, what Windows and BizTalk show) or SHA-256 (64 digits) of a
// certificate's DER encoding (spec §4).
//
// Parsing ignores case, spaces and colons anywhere, because users paste
// thumbprints from certificate dialogs ("9f 1c 3a ...") and from openssl
// ("9F:1C:3A:..."). Every other character is rejected with an *Error that names
// it, because the classic failure is an invisible U+200E LEFT-TO-RIGHT MARK that
// Windows' certificate dialog puts in front of a copied thumbprint: it makes the
// configured thumbprint never match and is impossible to see in an editor.
package thumbprint

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/runenames"
)

// Kind is the hash a thumbprint is made with; it follows from the number of
// hex digits.
type Kind int

const (
	// SHA1 is a 40-hex-digit SHA-1 thumbprint, the form Windows and BizTalk show.
	SHA1 Kind = iota + 1
	// SHA256 is a 64-hex-digit SHA-256 thumbprint.
	SHA256
)

// Digit counts of the two thumbprint kinds.
const (
	SHA1Digits   = 2 * sha1.Size   // 40
	SHA256Digits = 2 * sha256.Size // 64
)

// String returns "SHA-1" or "SHA-256".
func (k Kind) String() string {
	switch k {
	case SHA1:
		return "SHA-1"
	case SHA256:
		return "SHA-256"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Thumbprint is a parsed thumbprint. The zero value is "no thumbprint" and
// matches nothing.
type Thumbprint struct {
	// Hex is the hash in lowercase hex without separators: 40 digits for
	// SHA1, 64 for SHA256.
	Hex  string
	Kind Kind
}

// Parse parses a thumbprint. Case is ignored, and so are spaces and colons in
// any number and at any position. Any other character, an empty input, or a
// digit count other than 40 or 64 is an error of type *Error.
func Parse(s string) (Thumbprint, error) {
	digits := make([]byte, 0, SHA256Digits)
	pos := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		pos++
		switch {
		case r == utf8.RuneError && size == 1:
			return Thumbprint{}, &Error{Input: s, Reason: BadByte, Position: pos, Rune: r, Byte: s[i]}
		case r == ' ' || r == ':':
			// Separators users paste from certificate dialogs and openssl.
		case '0' <= r && r <= '9', 'a' <= r && r <= 'f':
			digits = append(digits, byte(r))
		case 'A' <= r && r <= 'F':
			digits = append(digits, byte(r)+('a'-'A'))
		default:
			return Thumbprint{}, &Error{Input: s, Reason: BadCharacter, Position: pos, Rune: r, RuneName: runeName(r)}
		}
		i += size
	}
	switch len(digits) {
	case SHA1Digits:
		return Thumbprint{Hex: string(digits), Kind: SHA1}, nil
	case SHA256Digits:
		return Thumbprint{Hex: string(digits), Kind: SHA256}, nil
	case 0:
		return Thumbprint{}, &Error{Input: s, Reason: Empty}
	default:
		return Thumbprint{}, &Error{Input: s, Reason: BadLength, Digits: len(digits)}
	}
}

// IsZero reports whether t is the zero Thumbprint.
func (t Thumbprint) IsZero() bool { return t == Thumbprint{} }

// Matches reports whether der, a certificate's DER encoding, has thumbprint t,
// hashing with the algorithm of t's Kind. The zero Thumbprint matches nothing.
func (t Thumbprint) Matches(der []byte) bool {
	switch t.Kind {
	case SHA1:
		return SHA1Hex(der) == t.Hex
	case SHA256:
		return SHA256Hex(der) == t.Hex
	}
	return false
}

// MatchesCertificate reports whether c has thumbprint t; a nil c matches
// nothing.
func (t Thumbprint) MatchesCertificate(c *x509.Certificate) bool {
	return c != nil && t.Matches(c.Raw)
}

// String returns the thumbprint in uppercase hex without separators, the form
// Windows, certutil and BizTalk display, so that users can search for it in
// their tools. Parse(t.String()) returns t. The zero Thumbprint prints as "".
func (t Thumbprint) String() string { return strings.ToUpper(t.Hex) }

// SHA1Hex returns the lowercase hex SHA-1 of der.
func SHA1Hex(der []byte) string {
	sum := sha1.Sum(der)
	return hex.EncodeToString(sum[:])
}

// SHA256Hex returns the lowercase hex SHA-256 of der.
func SHA256Hex(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Reason says why a thumbprint is malformed.
type Reason int

const (
	// BadCharacter is a character other than a hex digit, space or colon.
	BadCharacter Reason = iota + 1
	// BadByte is a byte that is not valid UTF-8.
	BadByte
	// Empty is an input without any hex digit.
	Empty
	// BadLength is a number of hex digits other than 40 or 64.
	BadLength
)

// ErrHidden is what to show instead of an *Error when the thumbprint is a
// sensitive value: *Error names a character of it, its position or the
// number of hex digits, each a piece of the value.
var ErrHidden = errors.New("malformed thumbprint (details hidden: the value is sensitive)")

// Error is a malformed thumbprint (diagnostic BP2004).
type Error struct {
	// Input is the text that was parsed.
	Input  string
	Reason Reason
	// Position is the 1-based character (rune) position of the offending
	// character for BadCharacter and BadByte; an invalid byte counts as one
	// character. It is 0 otherwise.
	Position int
	// Rune is the offending character (utf8.RuneError for BadByte).
	Rune rune
	// RuneName is the Unicode name of Rune, e.g. "LEFT-TO-RIGHT MARK"; for
	// characters the Unicode data gives no name it is a label such as
	// "<control>" or a control character's alias ("CHARACTER TABULATION").
	RuneName string
	// Byte is the invalid byte for BadByte.
	Byte byte
	// Digits is the number of hex digits found, for BadLength.
	Digits int
}

// Error describes the problem without repeating the input, because the
// offending character is often invisible; the position and the Unicode name
// are what lets a user find it.
func (e *Error) Error() string {
	switch e.Reason {
	case BadCharacter:
		if quotable(e.Rune) {
			return fmt.Sprintf("unexpected character %s (%U %s) at position %d",
				strconv.QuoteRune(e.Rune), e.Rune, e.RuneName, e.Position)
		}
		return fmt.Sprintf("unexpected character %U %s at position %d", e.Rune, e.RuneName, e.Position)
	case BadByte:
		return fmt.Sprintf("invalid UTF-8 byte 0x%02X at position %d", e.Byte, e.Position)
	case Empty:
		return fmt.Sprintf("thumbprint is empty; a thumbprint has %d (SHA-1) or %d (SHA-256) hex digits", SHA1Digits, SHA256Digits)
	case BadLength:
		return fmt.Sprintf("thumbprint has %d hex digits; a thumbprint has %d (SHA-1) or %d (SHA-256)", e.Digits, SHA1Digits, SHA256Digits)
	}
	return "malformed thumbprint"
}

// quotable reports whether showing the character itself helps: visible
// characters yes (a Cyrillic 'А' next to its name explains a lookalike), but
// spaces, controls, format characters and lone combining marks are invisible
// or garble the message, so only their code point and name are shown.
func quotable(r rune) bool {
	return unicode.IsPrint(r) && r != ' ' && !unicode.Is(unicode.M, r)
}

// runeName returns the Unicode name of r, filling the gaps runenames leaves.
func runeName(r rune) string {
	name := runenames.Name(r)
	switch {
	case name == "<control>":
		if alias := controlAlias(r); alias != "" {
			return alias
		}
	case strings.HasPrefix(name, "<CJK Ideograph"):
		// The Unicode name of a CJK ideograph is derived from its code point.
		return fmt.Sprintf("CJK UNIFIED IDEOGRAPH-%04X", r)
	case name == "":
		return "<unassigned>"
	}
	return name
}

// controlAlias returns the Unicode name alias of the control characters a
// thumbprint is likely to pick up from copy and paste, or "".
func controlAlias(r rune) string {
	switch r {
	case 0x00:
		return "NULL"
	case 0x08:
		return "BACKSPACE"
	case 0x09:
		return "CHARACTER TABULATION"
	case 0x0A:
		return "LINE FEED"
	case 0x0B:
		return "LINE TABULATION"
	case 0x0C:
		return "FORM FEED"
	case 0x0D:
		return "CARRIAGE RETURN"
	case 0x1B:
		return "ESCAPE"
	case 0x7F:
		return "DELETE"
	case 0x85:
		return "NEXT LINE"
	}
	return ""
}
