package smime

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/smallstep/pkcs7"

	"github.com/bizpipe/bizpipe/internal/cms"
)

// TestDecodeMIC checks DecodeOptions.MICHash (RFC 4130 §7.3.1) for every
// signature form with and without encryption, against sections found with
// the standard library and package cms: the first part of a clear
// signature, the encapsulated entity of an opaque one, the decrypted
// entity when nothing is signed, the body as received otherwise.
func TestDecodeMIC(t *testing.T) {
	p := newPKI(t)
	body := binaryBody()
	for _, sig := range []string{"none", "clear", "opaque"} {
		for _, encrypt := range []bool{false, true} {
			name := sig
			if encrypt {
				name += "+encrypt"
			}
			t.Run(name, func(t *testing.T) {
				o := DefaultOptions()
				o.Signature, o.Encrypt = sig, encrypt
				msg := mustEncode(t, mustEncoder(t, o), body.contentType, body.data, p.signer(), p.partner.Cert)
				inner := msg
				if encrypt {
					_, _, der := stdEntity(t, msg)
					var err error
					if inner, err = cms.Decrypt(der, p.partner.Cert, p.partner.Key.(*rsa.PrivateKey)); err != nil {
						t.Fatal(err)
					}
				}
				var covered []byte
				switch {
				case sig == "clear":
					covered, _ = stdSignedParts(t, inner)
				case sig == "opaque":
					_, _, der := stdEntity(t, inner)
					p7, err := pkcs7.Parse(der)
					if err != nil {
						t.Fatal(err)
					}
					covered = p7.Content
				case encrypt:
					covered = inner
				default:
					i := bytes.Index(msg, []byte("\r\n\r\n"))
					covered = msg[i+4:]
				}
				want := sha256.Sum256(covered)
				opts := p.decodeOpts()
				opts.MICHash = crypto.SHA256
				d, err := Decode(msg, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(d.MIC, want[:]) {
					t.Errorf("MIC %x, want %x", d.MIC, want)
				}
				if d2, err := Decode(msg, p.decodeOpts()); err != nil || d2.MIC != nil {
					t.Errorf("without MICHash: MIC %x, %v", d2.MIC, err)
				}
			})
		}
	}
}
