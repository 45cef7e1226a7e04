package as2

import (
	"fmt"
	"strings"

	"github.com/smallstep/pkcs7"

	"github.com/bizpipe/bizpipe/internal/stage/smime"
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
		e.mediaType, e.params, err = smime.ParseMediaType(ct)
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

// decodeBody undoes a part's transfer encoding (smime.DecodeTransfer).
func decodeBody(body []byte, cte string) ([]byte, error) {
	return smime.DecodeTransfer(body, cte)
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
