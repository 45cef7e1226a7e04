package smime

import (
	"fmt"
	"mime"
	"strings"
)

// SplitMultipart returns the body parts of a multipart body with the given
// boundary, each exactly as it lies between its delimiter lines: header
// fields, empty line and body, without the line break that belongs to the
// next delimiter (RFC 2046 §5.1.1). The preamble and epilogue are ignored;
// delimiter lines may end in CRLF or a bare LF. It is the splitter Decode
// uses, exported for the AS2 layer (the MIC of a signed message covers its
// first part; MDNs are multipart/report).
//
// A body with more than maxParts parts is an error, returned at the
// delimiter line that opens one part too many: the memory used does not
// grow with the number of delimiters.
func SplitMultipart(body []byte, boundary string, maxParts int) ([][]byte, error) {
	parts, err := splitMultipart(body, boundary, maxParts)
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	out := make([][]byte, len(parts))
	for i, p := range parts {
		out[i] = p.body
	}
	return out, nil
}

// maxMediaTypeParams bounds the parameters of a Content-Type; real ones
// have a handful.
const maxMediaTypeParams = 100

// ParseMediaType is mime.ParseMediaType for a Content-Type taken from a
// message, exported for the AS2 layer. mime.ParseMediaType makes a map of
// every parameter, some 20 times the size of the field, so one with more
// than maxMediaTypeParams semicolons (each parameter follows one; a quoted
// one counts too, and the bound leaves room for that) is refused first.
func ParseMediaType(ct string) (mediaType string, params map[string]string, err error) {
	if strings.Count(ct, ";") > maxMediaTypeParams {
		return "", nil, fmt.Errorf("more than %d media type parameters", maxMediaTypeParams)
	}
	return mime.ParseMediaType(ct)
}

// DecodeTransfer undoes a Content-Transfer-Encoding: cte is "" (none),
// "7bit", "8bit", "binary", "base64" or "quoted-printable", in lower case.
// The result never aliases body.
func DecodeTransfer(body []byte, cte string) ([]byte, error) {
	out, err := decodeTransfer(body, cte)
	if err != nil {
		return nil, fmt.Errorf("smime: %w", err)
	}
	return out, nil
}
