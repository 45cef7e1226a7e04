package msgbox

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// CleanText returns s as a box stores free text: valid UTF-8 without NUL.
// Each NUL byte and each byte of an invalid UTF-8 sequence is replaced by
// U+FFFD (one per byte, as encoding/json and a range over the string do);
// everything else, control characters included, is kept. Text that is
// valid already is returned as it is, without copying.
//
// It is one part of what every box stores of the strings it is given, the
// same in every box, so that a filter or template sees the same values
// whichever box holds the message:
//
//   - The body and Incoming.SourceKey: byte for byte. A body is bytes, and
//     a source key must match the source exactly (a file name may hold any
//     bytes) for de-duplication to recognise it.
//   - Properties (names and values): stored as JSON (EncodeProperties),
//     which keeps NUL bytes and every other character exactly, but cannot
//     hold invalid UTF-8: each byte of an invalid sequence becomes U+FFFD,
//     as encoding/json replaces it. Names that differ only there become one
//     property, the last of them in byte order (sensitive if any of them
//     was).
//   - Every other string (file name, content type, receive location, send
//     port names, lease owners, reasons, attempt errors, history):
//     CleanText.
//
// Why: PostgreSQL's text holds neither NUL nor invalid UTF-8, and storing
// those fields as bytes instead would make them opaque to an operator's SQL
// for the sake of values that are not text: filters and templates treat
// them as Unicode strings, and no file name holds a NUL. SQLite could keep
// the bytes, but then a message would read back, and a template render,
// differently from one box to the other. Where exact bytes matter,
// recognising a source, the source key keeps them. What a box returns
// (ReceiveRouted's Message, a claimed Delivery) is what it stored, never
// the caller's original (see NewMessage).
func CleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s { // an invalid byte is utf8.RuneError, width 1
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// CleanPorts applies CleanText to send port names, so that every method
// (Route, ClaimBatch, NextDue) agrees on the name a port is stored under.
// It returns ports itself when every name is clean.
func CleanPorts(ports []string) []string {
	var out []string
	for i, p := range ports {
		c := CleanText(p)
		if c != p && out == nil {
			out = make([]string, len(ports))
			copy(out, ports[:i])
		}
		if out != nil {
			out[i] = c
		}
	}
	if out == nil {
		return ports
	}
	return out
}

// UniquePorts returns the send ports a routing records: cleaned
// (CleanPorts), without duplicates, in the order given. An empty name is an
// error.
func UniquePorts(ports []string) ([]string, error) {
	var uniq []string
	seen := make(map[string]bool, len(ports))
	for _, p := range CleanPorts(ports) {
		if p == "" {
			return nil, errors.New("empty send port name")
		}
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	return uniq, nil
}

// NewMessage returns the metadata of a message received as in, as every box
// stores and returns it (see above): text cleaned, properties as they read
// back, status StatusReceived. The box fills in ID, Size and ReceivedAt.
// props is the text to store as the properties (EncodeProperties).
func NewMessage(in Incoming) (m Message, props string, err error) {
	props, err = EncodeProperties(in.Properties, in.SensitiveProperties)
	if err != nil {
		return Message{}, "", err
	}
	m = Message{
		ReceiveLocation: CleanText(in.ReceiveLocation),
		FileName:        CleanText(in.FileName),
		ContentType:     CleanText(in.ContentType),
		Party:           CleanText(in.Party),
		Decoding:        in.Decoding,
		Status:          StatusReceived,
	}
	switch in.Decoding {
	case NotDecoded, Decoded, DecodingFailed:
	default:
		return Message{}, "", fmt.Errorf("decoding %q: not a decoding state", in.Decoding)
	}
	if validProperties(in.Properties) {
		// What DecodeProperties(props) would return, without parsing.
		m.Properties = CloneProperties(in.Properties)
		m.SensitiveProperties = SensitiveNames(in.Properties, in.SensitiveProperties)
		return m, props, nil
	}
	m.Properties, m.SensitiveProperties, err = DecodeProperties(props)
	if err != nil {
		return Message{}, "", err
	}
	return m, props, nil
}

// validProperties reports whether every name and value of p is valid UTF-8,
// so that its JSON reads back exactly.
func validProperties(p map[string]string) bool {
	for k, v := range p {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}
