package message

import (
	"errors"
	"mime"
	"strings"
)

// DefaultContentType is the content type of a message nothing labels.
const DefaultContentType = "application/octet-stream"

// NormaliseContentType validates a content type and returns it
// re-serialised (lowercase type, quoted parameters as needed) and its media
// type. An empty type means DefaultContentType. Re-serialising also
// guarantees the value cannot inject header lines. The error says what is
// wrong without quoting the value (callers name it, or not when it is
// sensitive).
//
// It is the one definition of a valid content type: the S/MIME encoder
// checks a message's with it at run time, the configuration front end
// checks the content_type attributes with it, so that what validate accepts
// never suspends every message at run time, and the HTTP and AS2 receivers
// check a request's Content-Type with it, so that what they accept (202)
// is never suspended for its content type.
//
// A media type is type "/" subtype, both non-empty: mime.ParseMediaType
// accepts a type alone ("garbage"), which is refused here.
func NormaliseContentType(ct string) (value, mediaType string, err error) {
	if strings.TrimSpace(ct) == "" {
		return DefaultContentType, DefaultContentType, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", "", err
	}
	if typ, sub, ok := strings.Cut(mt, "/"); !ok || typ == "" || sub == "" || strings.Contains(sub, "/") {
		return "", "", errors.New("no subtype")
	}
	v := mime.FormatMediaType(mt, params)
	if v == "" {
		return "", "", errors.New("cannot be re-encoded")
	}
	return v, mt, nil
}
