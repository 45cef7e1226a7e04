package as2

import (
	"errors"
	"testing"
)

// TestDispositionModifierList: RFC 3798 §3.2.6 lets a disposition carry
// several modifiers, separated by commas ("processed/error, warning"). A
// receipt is positive only when each of them is warning (or it has none):
// a list that holds error, or a modifier AS2 does not define, is not a
// processed receipt, and Check refuses it as negative, not as delivered.
func TestDispositionModifierList(t *testing.T) {
	for _, tc := range []struct {
		in       string
		positive bool
	}{
		{"automatic-action/MDN-sent-automatically; processed/warning, error: unexpected-processing-error", false},
		{"automatic-action/MDN-sent-automatically; processed/error,warning: decryption-failed", false},
		{"automatic-action/MDN-sent-automatically; processed/Error , Warning: authentication-failed", false},
		{"automatic-action/MDN-sent-automatically; processed/failure: unsupported format", false},
		{"automatic-action/MDN-sent-automatically; processed/errors: insufficient-message-security", false},
		{"automatic-action/MDN-sent-automatically; processed/warning, warning: duplicate-document", true},
		{"automatic-action/MDN-sent-automatically; processed/Warning: duplicate-document", true},
		{"automatic-action/MDN-sent-automatically; processed", true},
	} {
		d, err := ParseDisposition(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if d.Positive() != tc.positive {
			t.Errorf("%q: positive %v, want %v", tc.in, d.Positive(), tc.positive)
		}
		m := &ReceivedMDN{MDN: *testMDN(d)}
		m.OriginalMessageID = "<abc@contoso.example>"
		err = m.Check("<abc@contoso.example>", false, micSource{receivedMIC})
		var neg *NegativeError
		if tc.positive != (err == nil) || !tc.positive && !errors.As(err, &neg) {
			t.Errorf("%q: Check = %v, want positive %v (or a NegativeError)", tc.in, err, tc.positive)
		}
	}
}

type micSource struct{ m MIC }

func (s micSource) MIC(Alg) MIC { return s.m }
