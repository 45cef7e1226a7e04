package msgbox

import "fmt"

// CheckSentMDN is what every box checks of an MDN PutMDN is to store, and
// the text it stores cleaned (see CleanText).
func CheckSentMDN(m SentMDN) (SentMDN, error) {
	if err := CheckID(m.MessageID); err != nil {
		return m, err
	}
	if len(m.Data) > MaxReceiptSize {
		return m, fmt.Errorf("%w: an MDN of %d bytes exceeds %d", ErrInvalidOutcome, len(m.Data), MaxReceiptSize)
	}
	if !ValidMDNState(m.State) {
		return m, fmt.Errorf("%w: MDN state %q", ErrInvalidOutcome, m.State)
	}
	m.Location, m.URL, m.LastError = CleanText(m.Location), CleanText(m.URL), CleanText(m.LastError)
	if m.Data == nil {
		m.Data = []byte{}
	}
	m.Attempts = 0
	m.NextAttemptAt = Timestamp(m.NextAttemptAt)
	return m, nil
}
