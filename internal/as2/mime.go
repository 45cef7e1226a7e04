package as2

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/bizpipe/bizpipe/internal/ber"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/smallstep/pkcs7"
)

// entity is a parsed MIME entity: its header fields, media type and body
// (a subslice of the input).
type entity struct {
	fields    []smime.HeaderField
	mediaType string
	params    map[string]string
	cte       string
	body      []byte
}

// parseEntity splits raw into header fields and body (smime.SplitEntity:
// CRLF or bare LF, duplicate-free Content-Type) and parses its
// Content-Type (text/plain when absent, RFC 2045 §5.2).
func parseEntity(raw []byte) (*entity, error) {
	fields, body, err := smime.SplitEntity(raw)
	if err != nil {
		return nil, fmt.Errorf("as2: %w", err)
	}
	e := &entity{fields: fields, body: body, mediaType: "text/plain", params: map[string]string{}}
	ct, ok, err := field(fields, "Content-Type")
	if err != nil {
		return nil, err
	}
	if ok {
		e.mediaType, e.params, err = mime.ParseMediaType(ct)
		if err != nil {
			return nil, fmt.Errorf("as2: invalid Content-Type %q: %w", clip(ct), err)
		}
	}
	cte, _, err := field(fields, "Content-Transfer-Encoding")
	if err != nil {
		return nil, err
	}
	e.cte = strings.ToLower(strings.TrimSpace(cte))
	return e, nil
}

// field returns the value of the named header field; a field that occurs
// twice is an error (two readers could pick different ones).
func field(fields []smime.HeaderField, name string) (string, bool, error) {
	var v string
	found := false
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			if found {
				return "", false, fmt.Errorf("as2: duplicate %s header field", name)
			}
			v, found = f.Value, true
		}
	}
	return v, found, nil
}

// splitMultipart returns the raw parts (header fields and body, exactly
// as they lie between the delimiters) of a multipart body (RFC 2046
// §5.1.1): a part ends before the line break that precedes the next
// delimiter line. Delimiters may end with CRLF or a bare LF. At most
// maxParts parts are accepted.
func splitMultipart(body []byte, boundary string, maxParts int) ([][]byte, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, fmt.Errorf("invalid boundary %q", clip(boundary))
	}
	delim := []byte("--" + boundary)
	var parts [][]byte
	// Find the first delimiter: at the very start or after a line break.
	pos := -1
	if bytes.HasPrefix(body, delim) {
		pos = 0
	} else if i := bytes.Index(body, append([]byte("\n"), delim...)); i >= 0 {
		pos = i + 1
	}
	if pos < 0 {
		return nil, errors.New("no boundary delimiter")
	}
	for {
		// pos is at a delimiter line; see whether it closes.
		after := body[pos+len(delim):]
		if bytes.HasPrefix(after, []byte("--")) {
			return parts, nil
		}
		nl := bytes.IndexByte(after, '\n')
		if nl < 0 {
			return nil, errors.New("unterminated boundary delimiter line")
		}
		if strings.TrimRight(string(after[:nl]), " \t\r") != "" {
			return nil, errors.New("text after a boundary delimiter")
		}
		start := pos + len(delim) + nl + 1
		rel := bytes.Index(body[start:], append([]byte("\n"), delim...))
		if rel < 0 {
			return nil, errors.New("no closing boundary delimiter")
		}
		end := start + rel // at the LF
		next := end + 1
		if end > start && body[end-1] == '\r' {
			end--
		}
		if len(parts) == maxParts {
			return nil, fmt.Errorf("more than %d parts", maxParts)
		}
		parts = append(parts, body[start:end])
		pos = next
	}
}

// decodeBody undoes a part's transfer encoding (identity, base64 or
// quoted-printable).
func decodeBody(body []byte, cte string) ([]byte, error) {
	switch cte {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, body)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			return nil, fmt.Errorf("invalid base64: %w", err)
		}
		return out[:n], nil
	case "quoted-printable":
		return decodeQP(body)
	}
	return nil, fmt.Errorf("unsupported Content-Transfer-Encoding %q", clip(cte))
}

// decodeQP decodes quoted-printable (RFC 2045 §6.7) leniently: an invalid
// escape is kept as it is.
func decodeQP(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			i++
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			i += 2
		case i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// opaqueContent returns the encapsulated content of an
// application/pkcs7-mime signed-data entity, not verified (the MIC is a
// digest, not a trust decision).
func opaqueContent(e *entity) ([]byte, error) {
	der, err := decodeBody(e.body, e.cte)
	if err != nil {
		return nil, fmt.Errorf("as2: signed-data body: %w", err)
	}
	der, err = ber.ToDER(der)
	if err != nil {
		return nil, fmt.Errorf("as2: signed-data body: %w", err)
	}
	p7, err := parsePKCS7(der)
	if err != nil {
		return nil, fmt.Errorf("as2: signed-data body: %w", err)
	}
	if len(p7.Content) == 0 {
		return nil, errors.New("as2: signed-data without encapsulated content")
	}
	return p7.Content, nil
}

// parsePKCS7 calls pkcs7.Parse, which was not written for hostile input,
// with a recover.
func parsePKCS7(der []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if r := recover(); r != nil {
			p7, err = nil, fmt.Errorf("malformed SignedData (%v)", r)
		}
	}()
	return pkcs7.Parse(der)
}

// clip shortens a value taken from a message for an error text.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
