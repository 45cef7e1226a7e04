package ber

import (
	"errors"
	"fmt"
)

// Reading BER: the one header parser and nesting bound of the code base
// (the cms reader and the smime decoder use them), and ToDER, which
// re-encodes BER with definite lengths in linear time.

// MaxDepth bounds the nesting of elements; real CMS needs about 12 (a
// SignedData with certificates and their extensions).
const MaxDepth = 48

// maxTagNumberOctets bounds the high-tag-number form: at most 4 base-128
// digits.
const maxTagNumberOctets = 4

// Errors of the reader; the returned errors wrap one of them with details.
var (
	ErrTruncated = errors.New("ber: truncated")
	ErrMalformed = errors.New("ber: malformed")
	ErrTooDeep   = fmt.Errorf("ber: nesting deeper than %d", MaxDepth)
)

// Header is a parsed identifier and length.
type Header struct {
	Class       uint8 // 0 universal, 1 application, 2 context, 3 private
	Constructed bool
	Tag         uint32
	IDLen       int  // octets of the identifier
	Len         int  // octets of identifier and length
	Length      int  // content octets; -1 for an indefinite length
	Minimal     bool // the length is in minimal (DER) form
}

// Indefinite reports an indefinite length.
func (h Header) Indefinite() bool { return h.Length < 0 }

// ParseHeader parses the identifier and length octets at the start of b
// and checks that a definite length fits in b. Universal tag 0 is refused:
// it is the end-of-contents marker, which only ends an indefinite length
// (callers consume it there); re-encoded, it would end an element early.
func ParseHeader(b []byte) (Header, error) {
	h, err := ParseHead(b)
	if err != nil {
		return h, err
	}
	if h.Length > len(b)-h.Len {
		return h, fmt.Errorf("%w: length exceeds the data", ErrTruncated)
	}
	return h, nil
}

// ParseHead is ParseHeader for a reader that streams: b need hold only the
// identifier and length octets, not the contents. A definite length is at
// most 2^55 octets.
func ParseHead(b []byte) (Header, error) {
	var h Header
	if len(b) < 2 {
		return h, ErrTruncated
	}
	id := b[0]
	h.Class = id >> 6
	h.Constructed = id&0x20 != 0
	h.Tag = uint32(id & 0x1f)
	i := 1
	if h.Tag == 0x1f {
		h.Tag = 0
		for n := 0; ; n++ {
			if i >= len(b) {
				return h, ErrTruncated
			}
			if n >= maxTagNumberOctets || (n == 0 && b[i] == 0x80) {
				return h, fmt.Errorf("%w: tag number too large or not minimal", ErrMalformed)
			}
			c := b[i]
			i++
			h.Tag = h.Tag<<7 | uint32(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
		if h.Tag < 0x1f {
			return h, fmt.Errorf("%w: high-tag-number form for a low tag", ErrMalformed)
		}
	}
	if h.Class == 0 && h.Tag == 0 {
		return h, fmt.Errorf("%w: unexpected end-of-contents marker", ErrMalformed)
	}
	if i >= len(b) {
		return h, ErrTruncated
	}
	h.IDLen = i
	l := b[i]
	i++
	h.Minimal = true
	switch {
	case l < 0x80:
		h.Length = int(l)
	case l == 0x80:
		if !h.Constructed {
			return h, fmt.Errorf("%w: indefinite length on a primitive element", ErrMalformed)
		}
		h.Length = -1
	case l == 0xff:
		return h, fmt.Errorf("%w: reserved length octet", ErrMalformed)
	default:
		n := int(l & 0x7f)
		if n > len(b)-i {
			return h, ErrTruncated
		}
		var v uint64
		for _, c := range b[i : i+n] {
			if v > (1<<47)-1 {
				return h, fmt.Errorf("%w: length exceeds the data", ErrTruncated)
			}
			v = v<<8 | uint64(c)
		}
		i += n
		h.Length = int(v)
		h.Minimal = b[i-n] != 0 && v >= 0x80
	}
	h.Len = i
	return h, nil
}

// ToDER re-encodes one BER element (what "openssl cms -stream" and many
// S/MIME agents write) with minimal definite lengths. Constructed strings
// stay constructed. Input that needs no change is returned as is (not
// copied); otherwise the result is a new buffer.
//
// It bounds the depth (MaxDepth), runs in linear time, and makes two
// passes — measure, then write into one exact-size buffer — so large
// content is copied once.
func ToDER(in []byte) ([]byte, error) {
	m := measurer{}
	_, n, err := m.measure(in, 0)
	if err != nil {
		return nil, err
	}
	if n != len(in) {
		return nil, fmt.Errorf("%w: trailing data after the element", ErrMalformed)
	}
	if !m.changed {
		return in, nil
	}
	out := make([]byte, 0, m.total)
	w := derWriter{lens: m.lens}
	out, _ = w.emit(in, out)
	return out, nil
}

// measurer computes the DER size of every constructed element, in
// pre-order, for derWriter.
type measurer struct {
	lens    []int
	total   int
	changed bool
}

// measure returns the DER length of the element at b and the BER octets
// it occupies.
func (m *measurer) measure(b []byte, depth int) (derLen, used int, err error) {
	if depth > MaxDepth {
		return 0, 0, ErrTooDeep
	}
	h, err := ParseHeader(b)
	if err != nil {
		return 0, 0, err
	}
	if !h.Minimal || h.Indefinite() {
		m.changed = true
	}
	if !h.Constructed {
		used = h.Len + h.Length
		derLen = h.IDLen + LenLen(h.Length) + h.Length
		if depth == 0 {
			m.total = derLen
		}
		return derLen, used, nil
	}
	idx := len(m.lens)
	m.lens = append(m.lens, 0)
	content := 0
	pos := h.Len
	limit := len(b)
	if !h.Indefinite() {
		limit = h.Len + h.Length
	}
	for {
		if h.Indefinite() {
			if pos+2 <= len(b) && b[pos] == 0 && b[pos+1] == 0 {
				pos += 2
				break
			}
			if pos >= len(b) {
				return 0, 0, fmt.Errorf("%w: unterminated indefinite-length element", ErrTruncated)
			}
		} else if pos == limit {
			break
		}
		d, u, err := m.measure(b[pos:limit], depth+1)
		if err != nil {
			return 0, 0, err
		}
		content += d
		pos += u
	}
	m.lens[idx] = content
	derLen = h.IDLen + LenLen(content) + content
	if depth == 0 {
		m.total = derLen
	}
	return derLen, pos, nil
}

// derWriter writes DER using the lengths measurer recorded; the input has
// been validated by then.
type derWriter struct {
	lens []int
	next int
}

func (w *derWriter) emit(b, out []byte) ([]byte, int) {
	h, _ := ParseHeader(b)
	out = append(out, b[:h.IDLen]...)
	if !h.Constructed {
		out = AppendLength(out, h.Length)
		out = append(out, b[h.Len:h.Len+h.Length]...)
		return out, h.Len + h.Length
	}
	out = AppendLength(out, w.lens[w.next])
	w.next++
	pos := h.Len
	limit := len(b)
	if !h.Indefinite() {
		limit = h.Len + h.Length
	}
	for {
		if h.Indefinite() && b[pos] == 0 && b[pos+1] == 0 {
			return out, pos + 2
		}
		if !h.Indefinite() && pos == limit {
			return out, pos
		}
		var u int
		out, u = w.emit(b[pos:limit], out)
		pos += u
	}
}

// Children returns the encodings of the children of el, one constructed
// element with a definite length (as DER has it) that is the whole of el,
// as ParseHeader reads them; a child with an indefinite length is
// malformed here.
func Children(el []byte) ([][]byte, error) {
	h, err := ParseHeader(el)
	if err != nil {
		return nil, err
	}
	if !h.Constructed || h.Indefinite() || h.Len+h.Length != len(el) {
		return nil, fmt.Errorf("%w: not one constructed element of definite length", ErrMalformed)
	}
	var out [][]byte
	for b := el[h.Len:]; len(b) > 0; {
		c, err := ParseHeader(b)
		if err != nil {
			return nil, err
		}
		if c.Indefinite() {
			return nil, fmt.Errorf("%w: a child of indefinite length", ErrMalformed)
		}
		out = append(out, b[:c.Len+c.Length])
		b = b[c.Len+c.Length:]
	}
	return out, nil
}

// LenLen is the number of octets of the DER length n.
func LenLen(n int) int {
	if n < 0x80 {
		return 1
	}
	l := 1
	for ; n > 0; n >>= 8 {
		l++
	}
	return l
}
