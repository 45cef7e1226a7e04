package smime

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
)

// Content-transfer encodings and text canonicalisation (RFC 2045, RFC 2049,
// RFC 8551 §3.1.1). Encoders append to a caller-provided buffer so that a
// large body is written once, straight into the message being built.

const (
	qpMaxLine     = 76  // RFC 2045 §6.7 rule 5, including the soft break "="
	maxLineOctets = 998 // RFC 5322 §2.1.1 / RFC 2045 §2.8, excluding CRLF
)

// canonicalText returns text with every line break in MIME canonical form:
// CRLF, bare LF and bare CR each become CRLF. RFC 2046 §4.1.1 allows CR and
// LF in text only as a CRLF pair, so a lone CR is treated as a line break
// (old Mac convention) rather than left for verifiers to interpret: OpenSSL's
// own canonicalisation collapses "\r\r\n" and would otherwise disagree with
// what we signed. When src is already canonical it is returned unchanged
// (not copied).
func canonicalText(src []byte) []byte {
	// Fast path: most text is already canonical, or uses LF only.
	extra, canonical := 0, true
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
				continue
			}
			extra++
			canonical = false
		case '\n':
			extra++
			canonical = false
		}
	}
	if canonical {
		return src
	}
	dst := make([]byte, 0, len(src)+extra)
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			dst = append(dst, '\r', '\n')
		case '\n':
			dst = append(dst, '\r', '\n')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// lfToCRLF converts bare LFs to CRLF and changes nothing else. It inverts
// the usual damage done to a canonical entity by a Unix tool or transport
// (CRLF → LF), which is why the decoder tries it when a clear-signed part
// does not verify as received.
func lfToCRLF(src []byte) []byte {
	n := 0
	for i, c := range src {
		if c == '\n' && (i == 0 || src[i-1] != '\r') {
			n++
		}
	}
	if n == 0 {
		return src
	}
	dst := make([]byte, 0, len(src)+n)
	for i, c := range src {
		if c == '\n' && (i == 0 || src[i-1] != '\r') {
			dst = append(dst, '\r')
		}
		dst = append(dst, c)
	}
	return dst
}

// decodeBase64 decodes a base64 body, ignoring line breaks and other white
// space wherever they occur (RFC 2045 §6.8 asks decoders to ignore
// characters outside the alphabet; we reject them instead, because a body we
// cannot decode exactly is better reported than silently altered).
func decodeBase64(src []byte) ([]byte, error) {
	clean := make([]byte, 0, len(src))
	for _, c := range src {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return out[:n], nil
}

// appendQuotedPrintable appends the quoted-printable encoding of src
// (RFC 2045 §6.7). For text (already canonical), CRLF pairs are hard line
// breaks; otherwise every octet is data and CR and LF are encoded, so binary
// bodies round-trip exactly. Lines are at most 76 characters. Beyond the
// rules, a line-initial "." and "From " are encoded (RFC 2049 §3 items 7-8),
// so that mail transports and mbox files cannot alter the signed text. The
// output always ends with a line break: a soft one ("=" CRLF) when the data
// does not end with a hard line break, so the decoded body gains nothing.
func appendQuotedPrintable(dst, src []byte, text bool) []byte {
	dst = slices.Grow(dst, len(src)+len(src)/8+8)
	e := qpEncoder{text: text}
	dst, _ = e.encode(dst, src, true)
	return e.finish(dst)
}

// qpLookahead is how far the quoted-printable encoder looks past an octet
// to decide how to write it ("From " at a line start).
const qpLookahead = 5

// qpEncoder is the state of a quoted-printable encoding that is fed in
// pieces (appendQuotedPrintable feeds everything at once).
type qpEncoder struct {
	text  bool
	col   int     // characters on the current output line
	any   bool    // some input was encoded
	last2 [2]byte // the last two input octets encoded
}

// encode appends the encoding of a prefix of src and returns how much of
// src it consumed. Unless final, it stops qpLookahead octets before the end
// of src: the caller passes those again with more input.
func (e *qpEncoder) encode(dst, src []byte, final bool) ([]byte, int) {
	const hex = "0123456789ABCDEF"
	limit := len(src)
	if !final {
		limit -= qpLookahead
	}
	i := 0
	for ; i < limit; i++ {
		c := src[i]
		if e.text && c == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			dst = append(dst, '\r', '\n')
			e.col = 0
			i++
			continue
		}
		encode := func(col int) bool {
			switch {
			case c == ' ' || c == '\t':
				// White space is encoded at the end of a line (transports
				// strip it there): before a hard break or at the end.
				rest := src[i+1:]
				return len(rest) == 0 || (e.text && bytes.HasPrefix(rest, crlf))
			case c == '=' || c < 33 || c > 126:
				return true
			case col == 0 && (c == '.' || (c == 'F' && bytes.HasPrefix(src[i:], []byte("From ")))):
				return true
			}
			return false
		}
		enc := encode(e.col)
		width := 1
		if enc {
			width = 3
		}
		if e.col+width > qpMaxLine-1 {
			dst = append(dst, '=', '\r', '\n')
			e.col = 0
			if enc = encode(e.col); enc {
				width = 3
			}
		}
		if enc {
			dst = append(dst, '=', hex[c>>4], hex[c&15])
		} else {
			dst = append(dst, c)
		}
		e.col += width
	}
	if i > 0 {
		e.any = true
		if i >= 2 {
			e.last2 = [2]byte{src[i-2], src[i-1]}
		} else {
			e.last2 = [2]byte{e.last2[1], src[0]}
		}
	}
	return dst, i
}

// finish appends the soft line break that ends data without a final hard
// line break.
func (e *qpEncoder) finish(dst []byte) []byte {
	if e.any && !(e.text && e.last2 == [2]byte{'\r', '\n'}) {
		dst = append(dst, '=', '\r', '\n')
	}
	return dst
}

var crlf = []byte("\r\n")

// decodeQuotedPrintable decodes a quoted-printable body. Hard line breaks
// (CRLF, or a bare LF from a Unix transport) decode as CRLF, the canonical
// line break; soft breaks and transport-added trailing white space are
// removed. Malformed "=" escapes are errors rather than passed through, so
// the caller never receives a body different from what the sender encoded.
func decodeQuotedPrintable(src []byte) ([]byte, error) {
	out := make([]byte, 0, len(src))
	lineNo := 0
	for len(src) > 0 {
		lineNo++
		line := src
		eol := false
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src, eol = src[:i], src[i+1:], true
		} else {
			src = nil
		}
		line = bytes.TrimRight(line, " \t\r")
		soft := false
		if len(line) > 0 && line[len(line)-1] == '=' {
			soft, line = true, line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c != '=' {
				out = append(out, c)
				continue
			}
			if i+2 >= len(line) {
				return nil, fmt.Errorf("invalid quoted-printable escape on line %d", lineNo)
			}
			hi, ok1 := unhex(line[i+1])
			lo, ok2 := unhex(line[i+2])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("invalid quoted-printable escape on line %d", lineNo)
			}
			out = append(out, hi<<4|lo)
			i += 2
		}
		if eol && !soft {
			out = append(out, '\r', '\n')
		}
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f': // lowercase is not canonical but harmless (RFC 2045 §6.7)
		return c - 'a' + 10, true
	}
	return 0, false
}

// checkIdentityDomain verifies that src may be sent unencoded under the
// given identity encoding (RFC 2045 §2.7-2.9): for 7bit and 8bit, no NUL,
// CR and LF only as CRLF pairs, lines of at most 998 octets, and for 7bit
// no octet above 127. "binary" accepts anything. Violations are errors:
// sending them anyway would let transports and verifiers "repair" the body
// and break the signature or the exact bytes.
func checkIdentityDomain(src []byte, c transferEncoding) error {
	k := identityChecker{cte: c}
	if err := k.check(src); err != nil {
		return err
	}
	return k.end()
}

// identityChecker checks checkIdentityDomain's rules on data that arrives
// in pieces: a CR at the end of one piece is judged by the next.
type identityChecker struct {
	cte       transferEncoding
	off       int  // octets checked so far
	lineStart int  // offset of the current line
	cr        bool // the last octet was a CR
}

func (k *identityChecker) check(src []byte) error {
	c := k.cte
	if c == cteBinary {
		return nil
	}
	for j, b := range src {
		i := k.off + j
		if k.cr {
			k.cr = false
			if b != '\n' {
				return k.lonelyCR(i - 1)
			}
			if i-1-k.lineStart > maxLineOctets {
				return k.longLine(i - 1)
			}
			k.lineStart = i + 1
			continue
		}
		switch {
		case b == 0:
			return fmt.Errorf("content_transfer_encoding %q cannot carry NUL (offset %d); use base64 or binary", c, i)
		case b == '\r':
			k.cr = true
		case b == '\n':
			return fmt.Errorf("content_transfer_encoding %q cannot carry an LF that is not part of CRLF (offset %d); use base64 or binary", c, i)
		case b > 127 && c == cte7bit:
			return fmt.Errorf("content_transfer_encoding %q cannot carry 8-bit octet 0x%02x (offset %d); use 8bit, quoted-printable or base64", c, b, i)
		}
	}
	k.off += len(src)
	return nil
}

// end checks the end of the data: a final CR, the last line's length.
func (k *identityChecker) end() error {
	if k.cte == cteBinary {
		return nil
	}
	if k.cr {
		return k.lonelyCR(k.off - 1)
	}
	if k.off-k.lineStart > maxLineOctets {
		return k.longLine(k.off)
	}
	return nil
}

func (k *identityChecker) lonelyCR(i int) error {
	return fmt.Errorf("content_transfer_encoding %q cannot carry a CR that is not part of CRLF (offset %d); use base64 or binary", k.cte, i)
}

// longLine reports the line that ends at offset i.
func (k *identityChecker) longLine(i int) error {
	return fmt.Errorf("content_transfer_encoding %q allows lines of at most %d octets (line at offset %d has %d); use base64 or quoted-printable", k.cte, maxLineOctets, k.lineStart, i-k.lineStart)
}

// decodeTransfer undoes a Content-Transfer-Encoding. Identity encodings
// return a copy, so the result never aliases the caller's input.
func decodeTransfer(body []byte, cte string) ([]byte, error) {
	switch cte {
	case "", "7bit", "8bit", "binary":
		return bytes.Clone(body), nil
	case "base64":
		return decodeBase64(body)
	case "quoted-printable":
		return decodeQuotedPrintable(body)
	}
	return nil, fmt.Errorf("unsupported Content-Transfer-Encoding %q", clip(cte))
}
