package smime

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/smallstep/pkcs7"

	"github.com/bizpipe/bizpipe/internal/ber"
)

// Signers identified by subject key identifier (RFC 5652 §5.3: a version 3
// SignerInfo whose sid is [0] SubjectKeyIdentifier, what "openssl cms
// -sign -keyid" and some S/MIME agents write). pkcs7 reads only signers
// identified by issuer and serial number: it drops every signer of a
// SignedData with another one. The sid is not signed (the signature covers
// the signed attributes, or the content), so each such signer is
// re-identified by the issuer and serial number of the certificate that
// has its key identifier, and verified as any other.

// keyIDSigners fills p7.Signers from the SignerInfos of der (the DER
// ContentInfo p7 was parsed from) when some identify their signer by
// subject key identifier, looking the certificate up in p7.Certificates.
// It leaves p7 alone when none does.
func keyIDSigners(der []byte, p7 *pkcs7.PKCS7) error {
	set, err := signerInfosSet(der)
	if err != nil {
		return nil // not for us to judge: pkcs7 read it
	}
	infos, err := ber.Children(set)
	if err != nil {
		return nil
	}
	found := false
	var out []byte
	for i, si := range infos {
		fields, err := ber.Children(si)
		if err != nil || len(fields) < 2 {
			return nil
		}
		sid := fields[1]
		if len(sid) < 2 || sid[0] != 0x80 { // [0] IMPLICIT SubjectKeyIdentifier
			out = append(out, si...)
			continue
		}
		found = true
		h, err := ber.ParseHeader(sid)
		if err != nil {
			return nil
		}
		keyID := sid[h.Len:]
		cert := certByKeyID(p7, keyID)
		if cert == nil {
			return fmt.Errorf("smime: SignerInfo %d: no certificate has the signer's subject key identifier %X (none embedded in the signature, nor a party's)", i+1, clipBytes(keyID))
		}
		ias, err := asn1.Marshal(struct {
			Issuer asn1.RawValue
			Serial *big.Int
		}{asn1.RawValue{FullBytes: cert.RawIssuer}, cert.SerialNumber})
		if err != nil {
			return fmt.Errorf("smime: SignerInfo %d: %w", i+1, err)
		}
		var body []byte
		body = append(body, fields[0]...)
		body = append(body, ias...)
		for _, f := range fields[2:] {
			body = append(body, f...)
		}
		out = append(ber.AppendLength(append(out, 0x30), len(body)), body...)
	}
	if !found {
		return nil
	}
	set = append(ber.AppendLength([]byte{0x31}, len(out)), out...)
	p7.Signers = nil
	if rest, err := asn1.UnmarshalWithParams(set, &p7.Signers, "set"); err != nil || len(rest) > 0 {
		return errors.New("smime: malformed SignerInfo")
	}
	return nil
}

// certByKeyID returns the last of p7's certificates whose subject key
// identifier is keyID: the parties' come after those embedded in the
// message (parseSignedData), which nothing signs, so that a certificate
// added to a message in transit cannot stand in for the party's.
func certByKeyID(p7 *pkcs7.PKCS7, keyID []byte) *x509.Certificate {
	for i := len(p7.Certificates) - 1; i >= 0; i-- {
		if c := p7.Certificates[i]; len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, keyID) {
			return c
		}
	}
	return nil
}

// signerInfosSet returns the signerInfos SET of a DER ContentInfo holding
// a SignedData: the last field of the SignedData.
func signerInfosSet(der []byte) ([]byte, error) {
	ci, err := ber.Children(der)
	if err != nil || len(ci) != 2 {
		return nil, errors.New("not a ContentInfo")
	}
	explicit, err := ber.Children(ci[1])
	if err != nil || len(explicit) != 1 {
		return nil, errors.New("not a ContentInfo")
	}
	sd, err := ber.Children(explicit[0])
	if err != nil || len(sd) == 0 || sd[len(sd)-1][0] != 0x31 {
		return nil, errors.New("not a SignedData")
	}
	return sd[len(sd)-1], nil
}

// clipBytes shortens a value taken from a message for an error text.
func clipBytes(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
