package component

import "errors"

// Kinds of refusal a decoder marks its errors with (Refusal), so that a
// transport that answers its sender (an AS2 negative MDN, RFC 4130 §7.4.3)
// can say why without reading error texts.
var (
	// ErrDecryptionFailed: the message could not be decrypted (not for
	// our certificate, damaged, no key).
	ErrDecryptionFailed = errors.New("decryption failed")
	// ErrAuthenticationFailed: a signature did not verify, or the signer
	// is not the one expected.
	ErrAuthenticationFailed = errors.New("authentication failed")
	// ErrInsufficientSecurity: the message lacks the encryption or the
	// signature the location requires.
	ErrInsufficientSecurity = errors.New("insufficient message security")
)

// refusal is an error marked with a kind; its text is the error's alone.
type refusal struct{ kind, err error }

func (r refusal) Error() string   { return r.err.Error() }
func (r refusal) Unwrap() []error { return []error{r.err, r.kind} }

// Refusal marks err with kind (one of the Err...Failed above): errors.Is(err,
// kind) then holds, and err's text is unchanged.
func Refusal(kind, err error) error {
	if err == nil {
		return nil
	}
	return refusal{kind: kind, err: err}
}
