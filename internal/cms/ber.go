package cms

// A minimal, allocation-light BER reader (X.690) sufficient for CMS, on
// top of internal/ber's header parser and nesting bound (shared with the
// smime decoder).
//
// It accepts definite and indefinite lengths and constructed string
// encodings, never copies the input (except when a constructed OCTET STRING
// has to be reassembled) and bounds recursion, so hostile input yields an
// error rather than a panic or unbounded work.

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/bizpipe/bizpipe/internal/ber"
)

const (
	classUniversal = 0
	classContext   = 2
	tagInteger     = 2
	tagOctetString = 4
	tagNull        = 5
	tagOID         = 6
	tagSequence    = 16
	tagSet         = 17
	maxDepth       = ber.MaxDepth
)

var (
	errTruncated = errors.New("envelope: malformed BER: truncated")
	errMalformed = errors.New("envelope: malformed BER")
	errTooDeep   = errors.New("envelope: malformed BER: nesting too deep")
)

// element is one parsed TLV. body aliases the input.
type element struct {
	class       uint8
	constructed bool
	tag         uint32
	indefinite  bool
	depth       int
	raw         []byte // whole encoding, header to end (incl. EOC)
	body        []byte // contents octets (excluding EOC)
}

func (e *element) is(class uint8, tag uint32) bool { return e.class == class && e.tag == tag }

// parseHeader parses identifier and length octets (ber.ParseHeader, with
// this package's errors). length < 0 means indefinite.
func parseHeader(b []byte) (class uint8, constructed bool, tag uint32, hdrLen int, length int, err error) {
	h, err := ber.ParseHeader(b)
	if err != nil {
		if errors.Is(err, ber.ErrTruncated) {
			return 0, false, 0, 0, 0, errTruncated
		}
		return 0, false, 0, 0, 0, errMalformed
	}
	return h.Class, h.Constructed, h.Tag, h.Len, h.Length, nil
}

// parseElement parses one element from the front of b.
func parseElement(b []byte, depth int) (element, []byte, error) {
	if depth > maxDepth {
		return element{}, nil, errTooDeep
	}
	class, cons, tag, hl, length, err := parseHeader(b)
	if err != nil {
		return element{}, nil, err
	}
	e := element{class: class, constructed: cons, tag: tag, depth: depth}
	if length >= 0 {
		e.body = b[hl : hl+length]
		e.raw = b[:hl+length]
		return e, b[hl+length:], nil
	}
	// Indefinite length: skip children until the end-of-contents octets.
	e.indefinite = true
	pos := hl
	for {
		if len(b)-pos < 2 {
			return element{}, nil, errTruncated
		}
		if b[pos] == 0 && b[pos+1] == 0 {
			e.body = b[hl:pos]
			e.raw = b[:pos+2]
			return e, b[pos+2:], nil
		}
		_, rest, err := parseElement(b[pos:], depth+1)
		if err != nil {
			return element{}, nil, err
		}
		pos = len(b) - len(rest)
	}
}

// reader iterates over the children of a constructed element.
type reader struct {
	rest  []byte
	depth int
}

func (e *element) reader() (reader, error) {
	if !e.constructed {
		return reader{}, errMalformed
	}
	return reader{rest: e.body, depth: e.depth + 1}, nil
}

func (r *reader) empty() bool { return len(r.rest) == 0 }

func (r *reader) next() (element, error) {
	if len(r.rest) == 0 {
		return element{}, errTruncated
	}
	e, rest, err := parseElement(r.rest, r.depth)
	if err != nil {
		return element{}, err
	}
	r.rest = rest
	return e, nil
}

// peekIs reports whether the next child has the given class and tag,
// without parsing its contents.
func (r *reader) peekIs(class uint8, tag uint32) bool {
	c, _, t, _, _, err := parseHeader(r.rest)
	return err == nil && c == class && t == tag
}

// expect reads the next child and checks its class and tag.
func (r *reader) expect(class uint8, tag uint32) (element, error) {
	e, err := r.next()
	if err != nil {
		return element{}, err
	}
	if !e.is(class, tag) {
		return element{}, errMalformed
	}
	return e, nil
}

func (r *reader) end() error {
	if len(r.rest) != 0 {
		return errMalformed
	}
	return nil
}

// walkOctets calls fn for each primitive segment of a (possibly constructed)
// string element, in order. Segments of a constructed encoding must be
// universal OCTET STRINGs, nested at most maxStringNesting deep (encoders
// use one level; the bound keeps hostile input from costing depth×size).
func walkOctets(e *element, fn func([]byte)) error {
	return walkOctetsNested(e, fn, 0)
}

const maxStringNesting = 4

func walkOctetsNested(e *element, fn func([]byte), nest int) error {
	if nest > maxStringNesting {
		return fmt.Errorf("%w: constructed string nested too deep", errMalformed)
	}
	if !e.constructed {
		fn(e.body)
		return nil
	}
	r, err := e.reader()
	if err != nil {
		return err
	}
	for !r.empty() {
		c, err := r.next()
		if err != nil {
			return err
		}
		if !c.is(classUniversal, tagOctetString) {
			return errMalformed
		}
		if !c.constructed {
			fn(c.body)
			continue
		}
		cc := c // only nested segments escape
		if err := walkOctetsNested(&cc, fn, nest+1); err != nil {
			return err
		}
	}
	return nil
}

// octets returns the value of an OCTET STRING (or implicitly tagged one).
// A primitive encoding is returned without copying; a constructed one is
// reassembled into a single new buffer (one pass to size it, one to copy).
func octets(e *element) ([]byte, error) {
	if !e.constructed {
		return e.body, nil
	}
	n := 0
	if err := walkOctets(e, func(b []byte) { n += len(b) }); err != nil {
		return nil, err
	}
	out := make([]byte, 0, n)
	_ = walkOctets(e, func(b []byte) { out = append(out, b...) })
	return out, nil
}

// smallInt decodes a non-negative INTEGER that fits comfortably in an int.
func smallInt(e *element) (int, error) {
	if !e.is(classUniversal, tagInteger) || e.constructed {
		return 0, errMalformed
	}
	b := e.body
	if err := checkInteger(b); err != nil {
		return 0, err
	}
	if b[0]&0x80 != 0 || len(b) > 4 {
		return 0, errMalformed
	}
	v := 0
	for _, c := range b {
		v = v<<8 | int(c)
	}
	return v, nil
}

func bigInt(e *element) (*big.Int, error) {
	if !e.is(classUniversal, tagInteger) || e.constructed {
		return nil, errMalformed
	}
	b := e.body
	if err := checkInteger(b); err != nil {
		return nil, err
	}
	v := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 { // negative: two's complement
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return v, nil
}

// checkInteger enforces the minimal encoding X.690 requires even in BER.
func checkInteger(b []byte) error {
	if len(b) == 0 {
		return errMalformed
	}
	if len(b) > 1 && ((b[0] == 0 && b[1]&0x80 == 0) || (b[0] == 0xff && b[1]&0x80 != 0)) {
		return errMalformed
	}
	return nil
}

// oidBody returns the contents octets of an OBJECT IDENTIFIER element.
func oidBody(e *element) ([]byte, error) {
	if !e.is(classUniversal, tagOID) || e.constructed || len(e.body) == 0 {
		return nil, errMalformed
	}
	return e.body, nil
}

// algorithmIdentifier parses AlgorithmIdentifier ::= SEQUENCE { OID, ANY OPTIONAL }.
// params is nil when absent.
func algorithmIdentifier(e *element) (oid []byte, params *element, err error) {
	if !e.is(classUniversal, tagSequence) {
		return nil, nil, errMalformed
	}
	r, err := e.reader()
	if err != nil {
		return nil, nil, err
	}
	o, err := r.next()
	if err != nil {
		return nil, nil, err
	}
	if oid, err = oidBody(&o); err != nil {
		return nil, nil, err
	}
	if !r.empty() {
		p, err := r.next()
		if err != nil {
			return nil, nil, err
		}
		params = &p
	}
	return oid, params, r.end()
}

// isAbsentOrNull reports whether algorithm parameters are absent or NULL.
func isAbsentOrNull(p *element) bool {
	return p == nil || (p.is(classUniversal, tagNull) && !p.constructed && len(p.body) == 0)
}

// toDER re-encodes e with minimal definite lengths (constructed strings are
// kept constructed), into a new buffer the caller may modify.
func toDER(e *element) ([]byte, error) {
	d, err := ber.ToDER(e.raw)
	if err != nil {
		return nil, errMalformed
	}
	return bytes.Clone(d), nil
}

// ---- DER writing helpers ----

// appendLength appends DER length octets for n.
func appendLength(dst []byte, n int) []byte { return ber.AppendLength(dst, n) }

// appendTLV appends identifier octets id, the DER length of body, and body.
func appendTLV(dst []byte, id []byte, body []byte) []byte {
	dst = append(dst, id...)
	dst = appendLength(dst, len(body))
	return append(dst, body...)
}

// tlv is appendTLV for a single-octet identifier.
func tlv(tag byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, 1+ber.LenLen(n)+n)
	out = append(out, tag)
	out = appendLength(out, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func mustOIDBytes(arcs ...int) []byte {
	der, err := asn1.Marshal(asn1.ObjectIdentifier(arcs))
	if err != nil {
		panic(err)
	}
	return der[2:] // all our OIDs are shorter than 128 octets
}
