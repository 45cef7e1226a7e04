package msgbox

import "fmt"

// CheckSentMDN is what every box checks of an MDN PutMDN is to store, and
// the text it stores cleaned (see CleanText).
func CheckSentMDN(m SentMDN) (SentMDN, error) {
	if err := CheckID(m.MessageID); err != nil {
		return m, err
	}
	return checkMDN(m)
}

// ReceivedMDN calls in.MDN and returns the MDN it made, checked and
// cleaned as CheckSentMDN does but for its MessageID, which the box sets
// as it stores the message; nil when in has no MDN or it made none. A box
// calls it where Incoming.MDN says, once.
func (in Incoming) ReceivedMDN() (*SentMDN, error) {
	if in.MDN == nil {
		return nil, nil
	}
	m, err := in.MDN()
	if err != nil {
		return nil, fmt.Errorf("making the MDN kept with the message: %w", err)
	}
	if m == nil {
		return nil, nil
	}
	checked, err := checkMDN(*m)
	if err != nil {
		return nil, fmt.Errorf("the MDN kept with the message: %w", err)
	}
	return &checked, nil
}

// checkMDN is CheckSentMDN but for the message id.
func checkMDN(m SentMDN) (SentMDN, error) {
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
