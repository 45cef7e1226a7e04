package smime

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/bizpipe/bizpipe/internal/message"
)

// HeaderField is one header field of a MIME entity, in the order it
// appears, with folded lines joined (so the value holds no CR or LF).
type HeaderField struct {
	Name  string
	Value string
}

// maxHeaderFields bounds the header section of one entity; real S/MIME
// entities have a handful of fields.
const maxHeaderFields = 1000

// SplitEntity splits a MIME entity (as produced by Encoder.Encode) into its
// top-level header fields and its body. The body is a subslice of entity.
//
// It exists for the HTTP transport, which sends the header fields as HTTP
// headers and the body as the request body: the values are unfolded and
// contain no CR or LF, so they can be passed to http.Header.Add as they are.
func SplitEntity(entity []byte) ([]HeaderField, []byte, error) {
	h, body, err := parseEntity(entity)
	if err != nil {
		return nil, nil, fmt.Errorf("smime: %w", err)
	}
	return h, body, nil
}

// parseEntity splits raw into header fields and body. Line breaks may be
// CRLF or bare LF (messages that went through Unix tools). The header
// section ends at the first empty line; an entity that ends without one has
// an empty body. Lines that are neither header fields nor continuation lines
// are errors: guessing where the body starts would change the bytes handed
// to the caller.
func parseEntity(raw []byte) ([]HeaderField, []byte, error) {
	var fields []HeaderField
	// A folded value is unfolded into one buffer, which doubles as it
	// grows, so a hostile run of continuation lines costs linear time and
	// memory (a string per line cost 30 times their size).
	var folded strings.Builder
	flush := func() {
		if folded.Len() > 0 {
			f := &fields[len(fields)-1]
			f.Value = strings.TrimSpace(folded.String())
			folded.Reset()
		}
	}
	rest := raw
	for lineNo := 1; ; lineNo++ {
		if len(rest) == 0 {
			flush()
			return fields, rest, nil
		}
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = rest[len(rest):]
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			flush()
			return fields, rest, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, nil, fmt.Errorf("header line %d: continuation line without a header field", lineNo)
			}
			if p := bytes.TrimSpace(line); len(p) > 0 {
				if folded.Len() == 0 {
					folded.WriteString(fields[len(fields)-1].Value)
				}
				folded.Grow(1 + len(p)) // doubles; WriteByte alone grows by 1.25
				folded.WriteByte(' ')
				folded.Write(p)
			}
			continue
		}
		flush()
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) {
			return nil, nil, fmt.Errorf("header line %d is not a header field (missing blank line between header and body?)", lineNo)
		}
		if len(fields) == maxHeaderFields {
			return nil, nil, fmt.Errorf("more than %d header fields", maxHeaderFields)
		}
		fields = append(fields, HeaderField{
			Name:  string(line[:colon]),
			Value: strings.TrimSpace(string(line[colon+1:])),
		})
	}
}

// validFieldName reports whether name is an RFC 5322 field name: printable
// US-ASCII except colon (and no space).
func validFieldName(name []byte) bool {
	for _, c := range name {
		if c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// headerValue returns the value of the named field (case-insensitive). A
// field that occurs more than once is an error: two Content-Type fields
// could be read differently by the signer's and the reader's software.
func headerValue(fields []HeaderField, name string) (string, bool, error) {
	var v string
	found := false
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			if found {
				return "", false, fmt.Errorf("duplicate %s header field", name)
			}
			v, found = f.Value, true
		}
	}
	return v, found, nil
}

// normaliseContentType is message.NormaliseContentType, its error naming
// the content type.
func normaliseContentType(ct string) (value, mediaType string, err error) {
	value, mediaType, err = message.NormaliseContentType(ct)
	if err != nil {
		return "", "", fmt.Errorf("smime: invalid content type %q: %w", ct, err)
	}
	return value, mediaType, nil
}

// clip shortens a value taken from a message for an error text: hostile
// input must not turn into megabyte-long log lines.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// multipartPart is one body part of a multipart entity. body ends before
// the CRLF that belongs to the next delimiter (RFC 2046 §5.1.1); when the
// message uses bare LF line breaks, lfBody is the alternative reading that
// removes only the LF (the two differ only when the part ends in CR).
type multipartPart struct {
	body   []byte
	lfBody []byte // nil when the same as body
}

var errNoCloseDelimiter = errors.New("multipart body has no close delimiter (truncated?)")

// errTooManyParts is the error of splitMultipart and splitMultipartSection
// for a body with more than max parts.
func errTooManyParts(max int) error {
	return fmt.Errorf("multipart body has more than %d parts", max)
}

// splitMultipart returns the body parts of a multipart body with the given
// boundary, at most maxParts of them. The preamble and epilogue are
// ignored. Delimiter lines may have trailing white space (RFC 2046 §5.1.1).
func splitMultipart(body []byte, boundary string, maxParts int) ([]multipartPart, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, fmt.Errorf("invalid multipart boundary %q", clip(boundary))
	}
	dash := []byte("--" + boundary)
	type delim struct {
		start, end int // line start; position after its line break
		close      bool
	}
	var delims []delim
	for pos := 0; pos < len(body); {
		i := bytes.Index(body[pos:], dash)
		if i < 0 {
			break
		}
		i += pos
		pos = i + 1
		if i > 0 && body[i-1] != '\n' {
			continue
		}
		j := i + len(dash)
		closing := bytes.HasPrefix(body[j:], []byte("--"))
		if closing {
			j += 2
		}
		for j < len(body) && (body[j] == ' ' || body[j] == '\t') {
			j++
		}
		switch {
		case j == len(body):
		case body[j] == '\n':
			j++
		case body[j] == '\r' && j+1 < len(body) && body[j+1] == '\n':
			j += 2
		default:
			continue // the boundary is a prefix of something else on this line
		}
		delims = append(delims, delim{i, j, closing})
		if closing {
			break
		}
		// Checked as the delimiters are found: a body of nothing but
		// delimiter lines has one part per four octets.
		if len(delims) > maxParts {
			return nil, errTooManyParts(maxParts)
		}
		pos = j
	}
	if len(delims) == 0 {
		return nil, fmt.Errorf("multipart boundary %q not found", boundary)
	}
	if !delims[len(delims)-1].close {
		return nil, errNoCloseDelimiter
	}
	if delims[0].close {
		return nil, errors.New("multipart body has no parts")
	}
	parts := make([]multipartPart, 0, len(delims)-1)
	for k := 0; k+1 < len(delims); k++ {
		start, next := delims[k].end, delims[k+1].start
		if next <= start {
			// "--b\r\n--b": an empty part without the CRLF of a body.
			parts = append(parts, multipartPart{body: body[start:start]})
			continue
		}
		// body[next-1] is the LF before the next delimiter line.
		p := multipartPart{body: body[start : next-1]}
		if next-2 >= start && body[next-2] == '\r' {
			p.lfBody = p.body
			p.body = body[start : next-2]
		}
		parts = append(parts, p)
	}
	return parts, nil
}
