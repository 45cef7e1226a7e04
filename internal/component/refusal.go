package component

import "errors"

// Kinds of refusal a decoder marks its errors with (Refusal), so that a
// transport that answers its sender (an AS2 negative MDN, RFC 4130 §7.4.3)
// can say why without reading error texts.
var (
	// ErrDecryptionFailed: the message could not be decrypted (not for
	// our certificate, damaged, no key), or its content, decrypted without
	// authentication, was refused (Unauthenticated).
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

// Unauthenticated marks err, a refusal of a message whose content was
// decrypted without authentication (CBC: no integrity), as
// ErrDecryptionFailed whatever kind it had: a bad CBC padding is
// ErrDecryptionFailed, and were a valid padding followed by a content
// refused for another reason (unparsable, a signature that does not
// verify) told apart from it, the sender's answer would be a padding
// oracle (Vaudenay) that decrypts a captured message block by block. A
// transport that answers by kind must test ErrDecryptionFailed first. The
// text stays err's, for the operator.
func Unauthenticated(err error) error {
	if err == nil || errors.Is(err, ErrDecryptionFailed) {
		return err
	}
	return refusal{kind: ErrDecryptionFailed, err: err}
}
