package as2

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/bizpipe/bizpipe/internal/cms"
)

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
