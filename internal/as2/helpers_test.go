package as2

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"testing"

	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// party is one side of a test exchange: its certificate (signing and
// decryption) with the key.
type party struct {
	*testpki.Cert
	ID string
}

func newParty(t testing.TB, id string) *party {
	t.Helper()
	return &party{Cert: testpki.SelfSigned(t, testpki.Options{CommonName: id + " AS2", Email: "as2@" + id + ".example"}), ID: id}
}

func (p *party) decrypter(t testing.TB) crypto.Decrypter {
	t.Helper()
	d, ok := p.Key.(crypto.Decrypter)
	if !ok {
		t.Fatalf("%s: key %T cannot decrypt", p.ID, p.Key)
	}
	return d
}

func (p *party) signer() *smime.Signer { return &smime.Signer{Cert: p.Cert.Cert, Key: p.Key} }

// signedMessage encodes body as an AS2 payload with the smime Encoder:
// clear-signed with digest, then encrypted for to when to is not nil.
func signedMessage(t testing.TB, from *party, to *party, ct string, body []byte, cte, digest string, sign bool) []byte {
	t.Helper()
	o := smime.DefaultOptions()
	if sign {
		o.Signature = "clear"
	}
	o.Digest = digest
	o.ContentTransferEncoding = cte
	var recipient *x509.Certificate
	if to != nil {
		o.Encrypt = true
		recipient = to.Cert.Cert
	}
	enc, err := smime.NewEncoder(o)
	if err != nil {
		t.Fatal(err)
	}
	var s *smime.Signer
	if sign {
		s = from.signer()
	}
	out, err := enc.Encode(nil, ct, body, s, recipient)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}

// signedDigest returns the message-digest signed attribute of a
// multipart/signed entity's signature: what the signer hashed, taken from
// the signature rather than from our reading of the MIME structure.
func signedDigest(t testing.TB, entity []byte) []byte {
	t.Helper()
	e, err := parseEntity(entity)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := smime.SplitMultipart(e.body, e.params["boundary"], 2)
	if err != nil || len(parts) != 2 {
		t.Fatalf("multipart/signed: %d parts, %v", len(parts), err)
	}
	sig, err := parseEntity(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	der, err := decodeBody(sig.body, sig.cte)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := parsePKCS7(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range p7.Signers[0].AuthenticatedAttributes {
		if a.Type.Equal(oidMessageDigest) {
			var d []byte
			if _, err := asn1.Unmarshal(a.Value.Bytes, &d); err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatal("no message-digest attribute")
	return nil
}
