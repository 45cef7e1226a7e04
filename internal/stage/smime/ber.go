package smime

import (
	"errors"
	"fmt"
)

// berToDER re-encodes BER with definite lengths (what "openssl cms -stream"
// and many S/MIME agents write) before the SignedData reaches pkcs7.
//
// pkcs7 has its own BER converter, but it recurses once per nesting level
// without a bound (a few megabytes of "30 80 30 80 ..." overflow the
// goroutine stack, a fatal error that recover cannot catch) and searches
// for each end-of-contents marker from the current offset to the end of the
// input (quadratic time). This converter bounds the depth, runs in linear
// time and makes two passes — measure, then write into one exact-size
// buffer — so large content is copied once. Input that needs no change is
// returned as is. Constructed strings are kept constructed (pkcs7 joins
// the segments of a constructed OCTET STRING).
func berToDER(in []byte) ([]byte, error) {
	m := berMeasurer{}
	_, n, err := m.measure(in, 0)
	if err != nil {
		return nil, err
	}
	if n != len(in) {
		return nil, errors.New("trailing data after the ContentInfo")
	}
	if !m.changed {
		return in, nil
	}
	out := make([]byte, 0, m.total)
	w := berWriter{lens: m.lens}
	out, _ = w.emit(in, out)
	return out, nil
}

// maxBERDepth bounds nesting; a SignedData with certificates needs about 12.
const maxBERDepth = 64

// berHeader is a parsed identifier and length.
type berHeader struct {
	tagLen      int // octets of the identifier
	hdrLen      int // octets of identifier and length
	constructed bool
	indefinite  bool
	length      int  // content octets when definite
	minimal     bool // the length is in minimal (DER) form
}

func parseBERHeader(b []byte) (berHeader, error) {
	var h berHeader
	if len(b) < 2 {
		return h, errors.New("truncated BER element")
	}
	h.constructed = b[0]&0x20 != 0
	i := 1
	if b[0]&0x1f == 0x1f { // high tag number: base-128 octets
		for ; i < len(b) && b[i]&0x80 != 0; i++ {
			if i > 4 {
				return h, errors.New("BER tag number too large")
			}
		}
		i++
	}
	if i >= len(b) {
		return h, errors.New("truncated BER element")
	}
	h.tagLen = i
	l := b[i]
	i++
	h.minimal = true
	switch {
	case l < 0x80:
		h.length = int(l)
	case l == 0x80:
		if !h.constructed {
			return h, errors.New("indefinite length on a primitive BER element")
		}
		h.indefinite = true
	default:
		n := int(l & 0x7f)
		if n > 4 || i+n > len(b) {
			return h, errors.New("invalid BER length")
		}
		for _, c := range b[i : i+n] {
			h.length = h.length<<8 | int(c)
		}
		i += n
		h.minimal = b[i-n] != 0 && h.length >= 0x80
	}
	h.hdrLen = i
	if !h.indefinite && h.length > len(b)-i {
		return h, errors.New("BER length exceeds the data")
	}
	if b[0] == 0 {
		// Universal tag 0 is the end-of-contents marker, which only ends an
		// indefinite length (the callers consume it there), in any length
		// form: re-encoded as "00 00" it would end an element early.
		return h, errors.New("unexpected end-of-contents marker")
	}
	return h, nil
}

// berMeasurer computes the DER size of every constructed element, in
// pre-order, for berWriter.
type berMeasurer struct {
	lens    []int
	total   int
	changed bool
}

// measure returns the DER length of the element at b and the BER octets
// it occupies.
func (m *berMeasurer) measure(b []byte, depth int) (derLen, used int, err error) {
	if depth > maxBERDepth {
		return 0, 0, fmt.Errorf("BER nesting deeper than %d", maxBERDepth)
	}
	h, err := parseBERHeader(b)
	if err != nil {
		return 0, 0, err
	}
	if !h.minimal || h.indefinite {
		m.changed = true
	}
	if !h.constructed {
		used = h.hdrLen + h.length
		derLen = h.tagLen + lenLen(h.length) + h.length
		if depth == 0 {
			m.total = derLen
		}
		return derLen, used, nil
	}
	idx := len(m.lens)
	m.lens = append(m.lens, 0)
	content := 0
	pos := h.hdrLen
	end := h.hdrLen + h.length
	for {
		if h.indefinite {
			if pos+2 <= len(b) && b[pos] == 0 && b[pos+1] == 0 {
				pos += 2
				break
			}
			if pos >= len(b) {
				return 0, 0, errors.New("unterminated indefinite-length BER element")
			}
		} else if pos == end {
			break
		}
		limit := len(b)
		if !h.indefinite {
			limit = end
		}
		d, u, err := m.measure(b[pos:limit], depth+1)
		if err != nil {
			return 0, 0, err
		}
		content += d
		pos += u
	}
	m.lens[idx] = content
	derLen = h.tagLen + lenLen(content) + content
	if depth == 0 {
		m.total = derLen
	}
	return derLen, pos, nil
}

// berWriter writes DER using the lengths berMeasurer recorded; the input
// has been validated by then.
type berWriter struct {
	lens []int
	next int
}

func (w *berWriter) emit(b, out []byte) ([]byte, int) {
	h, _ := parseBERHeader(b)
	out = append(out, b[:h.tagLen]...)
	if !h.constructed {
		out = appendLength(out, h.length)
		out = append(out, b[h.hdrLen:h.hdrLen+h.length]...)
		return out, h.hdrLen + h.length
	}
	out = appendLength(out, w.lens[w.next])
	w.next++
	pos, end := h.hdrLen, h.hdrLen+h.length
	for {
		if h.indefinite && b[pos] == 0 && b[pos+1] == 0 {
			return out, pos + 2
		}
		if !h.indefinite && pos == end {
			return out, pos
		}
		limit := len(b)
		if !h.indefinite {
			limit = end
		}
		var u int
		out, u = w.emit(b[pos:limit], out)
		pos += u
	}
}

// appendLength appends a DER length.
func appendLength(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	k := lenLen(n) - 1
	dst = append(dst, 0x80|byte(k))
	for i := k - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst
}
