package as2

import (
	"fmt"
	"strings"
)

// DispositionAction is the action and sending mode of an AS2 MDN
// (RFC 3798 §3.2.6.1; AS2 receipts are always automatic).
const DispositionAction = "automatic-action/MDN-sent-automatically"

// Disposition is the Disposition field of an MDN: "processed",
// "processed/error: authentication-failed", "failed/failure: ..." and so
// on (RFC 4130 §7.4.3, RFC 3798 §3.2.6).
type Disposition struct {
	// Action is the action and sending mode, DispositionAction for AS2.
	Action string
	// Type is the disposition type, lower case: "processed" or "failed"
	// (other RFC 3798 types such as "displayed" are kept as read).
	Type string
	// Modifier is "error", "warning" or "failure" (lower case), or "".
	Modifier string
	// Description is the text after the modifier, e.g.
	// "authentication-failed", "decryption-failed", "unexpected-processing-error".
	Description string
}

// Processed returns the positive disposition.
func Processed() Disposition { return Disposition{Action: DispositionAction, Type: "processed"} }

// ProcessedError returns "processed/error: description".
func ProcessedError(description string) Disposition {
	return Disposition{Action: DispositionAction, Type: "processed", Modifier: "error", Description: description}
}

// Failed returns "failed/failure: description".
func Failed(description string) Disposition {
	return Disposition{Action: DispositionAction, Type: "failed", Modifier: "failure", Description: description}
}

// Positive reports a processed disposition whose modifiers, if any, are
// all warning ("processed" or "processed/warning: ..."): the only kind
// that settles a delivery as delivered. RFC 3798 §3.2.6 lets a disposition
// carry a comma-separated list of modifiers ("processed/warning, error"):
// one that holds error, or any modifier AS2 does not define, is no
// positive receipt.
func (d Disposition) Positive() bool {
	if d.Type != "processed" {
		return false
	}
	if d.Modifier == "" {
		return true
	}
	for _, m := range strings.Split(d.Modifier, ",") {
		if strings.TrimSpace(m) != "warning" {
			return false
		}
	}
	return true
}

// Outcome summarises d in one word for reports and metrics: "processed",
// "processed-warning", "processed-error", "failed", or the type itself.
func (d Disposition) Outcome() string {
	switch {
	case d.Type == "processed" && d.Modifier == "":
		return "processed"
	case d.Type == "processed":
		return "processed-" + d.Modifier
	}
	return d.Type
}

// String formats d as a Disposition field value.
func (d Disposition) String() string {
	action := d.Action
	if action == "" {
		action = DispositionAction
	}
	s := action + "; " + d.Type
	if d.Modifier != "" {
		s += "/" + d.Modifier
		if d.Description != "" {
			s += ": " + d.Description
		}
	}
	return s
}

// maxShownDisposition bounds a disposition as Shown quotes it.
const maxShownDisposition = 200

// Shown is String as an error or a receipt summary quotes a received
// disposition, which the box keeps and the log repeats: the partner's
// text may run to megabytes and hold terminal escapes, so only printable
// US-ASCII is kept (a tab a space, any other octet a "?") and at most
// maxShownDisposition octets ("..." when cut). The kept MDN holds it whole.
func (d Disposition) Shown() string {
	s := d.String()
	var b strings.Builder
	for i := 0; i < len(s) && i < maxShownDisposition; i++ {
		switch c := s[i]; {
		case c == '\t': // from a folded field
			b.WriteByte(' ')
		case c < ' ' || c > '~':
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	if len(s) > maxShownDisposition {
		b.WriteString("...")
	}
	return b.String()
}

// ParseDisposition reads a Disposition field value. The modifier's
// description may follow ":" (RFC 4130) or "=" (libas2 writes that).
func ParseDisposition(v string) (Disposition, error) {
	action, rest, ok := strings.Cut(v, ";")
	if !ok {
		return Disposition{}, fmt.Errorf("as2: Disposition %q: want \"action/mode; type\"", clip(v))
	}
	d := Disposition{Action: strings.TrimSpace(action)}
	rest = strings.TrimSpace(rest)
	typ, mod, hasMod := strings.Cut(rest, "/")
	d.Type = strings.ToLower(strings.TrimSpace(typ))
	if d.Type == "" || strings.ContainsAny(d.Type, " \t:=;") {
		return Disposition{}, fmt.Errorf("as2: Disposition %q: no disposition type", clip(v))
	}
	if hasMod {
		i := strings.IndexAny(mod, ":=")
		if i < 0 {
			i = len(mod)
		}
		d.Modifier = strings.ToLower(strings.TrimSpace(mod[:i]))
		if d.Modifier == "" {
			// What the "/" was to introduce is missing: reading it as
			// no modifier, positive, would take a garbled error for a
			// receipt.
			return Disposition{}, fmt.Errorf("as2: Disposition %q: \"/\" with no modifier after it", clip(v))
		}
		if i < len(mod) {
			d.Description = strings.TrimSpace(mod[i+1:])
		}
	}
	return d, nil
}
