package as2

// Whole-message helpers for the tests, which hold their small messages in
// memory: what a sender sent and a receiver got, to compare MICs with.
// The engine streams instead (smime.DecodeStream's MICHash, Hasher).

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/bizpipe/bizpipe/internal/ber"
	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// MessageMIC computes the MIC of an AS2 message as RFC 4130 §7.3.1 defines
// it. entity is the message as a MIME entity (header fields, an empty line,
// the body; the HTTP headers of the request may be among the fields) after
// decryption when it was encrypted, and encrypted says whether it was:
//
//   - signed (multipart/signed): the MIC covers the first part exactly as
//     it was signed, its MIME header fields and transfer encoding included;
//     (application/pkcs7-mime signed-data): the encapsulated entity;
//   - encrypted but not signed: the decrypted entity, header fields included;
//   - neither: the body only, without any header field.
//
// The sender passes what it sent before encryption; the receiver, what it
// decrypted. Both get the same value for the same message.
func MessageMIC(entity []byte, encrypted bool, alg Alg) (MIC, error) {
	data, err := MICContent(entity, encrypted)
	if err != nil {
		return MIC{}, err
	}
	return ComputeMIC(alg, data), nil
}

// MICContent returns the octets MessageMIC hashes (a subslice of entity,
// except for an opaque signature, whose content is decoded).
func MICContent(entity []byte, encrypted bool) ([]byte, error) {
	e, err := parseEntity(entity)
	if err != nil {
		return nil, err
	}
	switch e.mediaType {
	case "multipart/signed":
		parts, err := smime.SplitMultipart(e.body, e.params["boundary"], 2)
		if err != nil {
			return nil, fmt.Errorf("as2: multipart/signed: %w", err)
		}
		if len(parts) != 2 {
			return nil, fmt.Errorf("as2: multipart/signed has %d parts, want 2", len(parts))
		}
		return parts[0], nil
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		switch st := strings.ToLower(e.params["smime-type"]); st {
		case "signed-data":
			return opaqueContent(e)
		case "enveloped-data", "authenveloped-data":
			return nil, errors.New("as2: the entity is still encrypted: the MIC is computed over what was encrypted (see Decrypt)")
		}
	}
	if encrypted {
		return entity, nil
	}
	return e.body, nil
}

// opaqueContent returns the encapsulated content of an
// application/pkcs7-mime signed-data entity, not verified (the MIC is a
// digest, not a trust decision).
func opaqueContent(e *entity) ([]byte, error) {
	der, err := decodeBody(e.body, e.cte)
	if err != nil {
		return nil, fmt.Errorf("as2: signed-data body: %w", err)
	}
	der, err = ber.ToDER(der)
	if err != nil {
		return nil, fmt.Errorf("as2: signed-data body: %w", err)
	}
	p7, err := parsePKCS7(der)
	if err != nil {
		return nil, fmt.Errorf("as2: signed-data body: %w", err)
	}
	if len(p7.Content) == 0 {
		return nil, errors.New("as2: signed-data without encapsulated content")
	}
	return p7.Content, nil
}

// Decrypt returns the decrypted entity of an application/pkcs7-mime
// enveloped-data (or authEnveloped-data) entity and true, or entity itself
// and false when it is not enveloped. It is what a receiver hands to
// MessageMIC; the S/MIME decoding proper (verification, nested layers,
// large bodies) is smime.DecodeStream's.
func Decrypt(entity []byte, cert *x509.Certificate, key crypto.Decrypter) ([]byte, bool, error) {
	e, err := parseEntity(entity)
	if err != nil {
		return nil, false, err
	}
	if e.mediaType != "application/pkcs7-mime" && e.mediaType != "application/x-pkcs7-mime" {
		return entity, false, nil
	}
	switch st := strings.ToLower(e.params["smime-type"]); st {
	case "signed-data", "certs-only", "compressed-data":
		return entity, false, nil
	}
	if cert == nil || key == nil {
		return nil, false, errors.New("as2: the message is encrypted but no decryption certificate and key were given")
	}
	der, err := decodeBody(e.body, e.cte)
	if err != nil {
		return nil, false, fmt.Errorf("as2: enveloped body: %w", err)
	}
	out, err := cms.Decrypt(der, cert, key)
	if err != nil {
		return nil, false, fmt.Errorf("as2: decrypting: %w", err)
	}
	return out, true, nil
}
