package as2

import (
	"errors"
	"fmt"
	"strings"
)

// MICSource gives the MIC of what was sent with any algorithm; *Hasher is
// one.
type MICSource interface {
	MIC(alg Alg) MIC
}

// NegativeError is a receipt whose disposition is not positive
// (processed/error, failed): spec §11 suspends the delivery at once.
type NegativeError struct {
	Disposition Disposition
}

func (e *NegativeError) Error() string {
	return "as2: the partner's MDN is negative: " + e.Disposition.Shown()
}

// ErrUnsignedMDN is returned by Check for an unsigned MDN when a signed
// one was requested.
var ErrUnsignedMDN = errors.New("as2: the MDN is not signed but a signed MDN was requested")

// Check judges a received MDN for the message it answers (spec §11):
// nil when it is a positive receipt for messageID (its
// Original-Message-ID read with or without angle brackets) whose
// Received-Content-MIC equals the MIC of what was sent (with the
// algorithm the MDN names), and signed when requireSigned. A negative
// disposition, from a receipt that is otherwise acceptable, is a
// *NegativeError; every other error means the receipt proves nothing and
// the attempt failed.
//
// The MIC is compared in the algorithm the MDN names, whichever was asked
// for: RFC 4130 §7.3 lets the receiver fall back when it does not support
// the requested one, and libas2 always uses the digest of the message's
// signature. The MDN's own signature digest is likewise not checked
// against the request (libas2 signs with its configured digest).
func (m *ReceivedMDN) Check(messageID string, requireSigned bool, sent MICSource) error {
	if requireSigned && !m.Signed {
		return ErrUnsignedMDN
	}
	if m.OriginalMessageID != messageID {
		return fmt.Errorf("as2: the MDN answers Message-ID %q, not %q", clip(m.OriginalMessageID), messageID)
	}
	if !m.Disposition.Positive() {
		return &NegativeError{Disposition: m.Disposition}
	}
	if m.MIC == nil {
		if m.MICError != nil {
			return m.MICError
		}
		return errors.New("as2: the MDN has no Received-Content-MIC")
	}
	if want := sent.MIC(m.MIC.Alg); !m.MIC.Equal(want) {
		return fmt.Errorf("as2: the MDN's Received-Content-MIC %s does not match the message sent (%s)", m.MIC, want)
	}
	return nil
}

// SameReport reports whether m and o report the same: the same
// Original-Message-ID, disposition and Received-Content-MIC. What else
// differs does not count (the MDN's own Message-ID, its text, its
// signature): a partner that sends an MDN again, its first POST's answer
// lost, may build it anew.
func (m *ReceivedMDN) SameReport(o *ReceivedMDN) bool {
	d, e := m.Disposition, o.Disposition
	if m.OriginalMessageID != o.OriginalMessageID || !strings.EqualFold(d.Type, e.Type) ||
		!strings.EqualFold(d.Modifier, e.Modifier) || !strings.EqualFold(d.Description, e.Description) {
		return false
	}
	switch {
	case m.MIC != nil && o.MIC != nil:
		return m.MIC.Equal(*o.MIC)
	case m.MIC == nil && o.MIC == nil:
		// Absent from both, or written alike and not understood.
		return strings.TrimSpace(m.MICField) == strings.TrimSpace(o.MICField)
	}
	return false
}
