package smime

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/bizpipe/bizpipe/internal/component"
)

// TestTeeContent: what TeeContent copies while a message streams through
// the stage digests to the MIC an AS2 receiver computes from the message
// (DecodeOptions.MICHash, itself checked against the standard library and
// package cms by TestDecodeMIC), for every signature form, with and
// without encryption, text and binary content, identity and base64
// transfer encodings, written in odd pieces. For a clear signature it is
// byte for byte the first part of the multipart/signed.
func TestTeeContent(t *testing.T) {
	p := newPKI(t)
	for _, sig := range []string{"none", "clear", "opaque"} {
		for _, encrypt := range []bool{false, true} {
			for _, cte := range []string{"base64", "binary"} {
				for _, body := range []testBody{textBody(), binaryBody()} {
					name := fmt.Sprintf("%s/encrypt=%v/%s/%s", sig, encrypt, cte, body.name)
					t.Run(name, func(t *testing.T) {
						o := DefaultOptions()
						o.Signature, o.Encrypt, o.ContentTransferEncoding = sig, encrypt, cte
						st := mustStage(t, o, p.signer(), p.partner.Cert)
						enc, err := st.Start(component.Header{Fields: []component.Field{{Name: "Content-Type", Value: body.contentType}}})
						if err != nil {
							t.Fatal(err)
						}
						var tee, out bytes.Buffer
						enc.(component.ContentTeer).TeeContent(&tee)
						for _, f := range enc.Header().Fields {
							fmt.Fprintf(&out, "%s: %s\r\n", f.Name, f.Value)
						}
						out.WriteString("\r\n")
						if err := writeSplit(enc.Wrap(&out), body.data, []int{1, 7, 300, 4096}, 3); err != nil {
							t.Fatal(err)
						}
						opts := p.decodeOpts()
						opts.MICHash = crypto.SHA256
						d, err := Decode(out.Bytes(), opts)
						if err != nil {
							t.Fatal(err)
						}
						if got := sha256.Sum256(tee.Bytes()); !bytes.Equal(got[:], d.MIC) {
							t.Errorf("digest of the tee %x, receiver's MIC %x", got, d.MIC)
						}
						if sig == "clear" && !encrypt {
							if signed, _ := stdSignedParts(t, out.Bytes()); !bytes.Equal(signed, tee.Bytes()) {
								t.Errorf("tee %q\nwant the signed part %q", tee.Bytes(), signed)
							}
						}
					})
				}
			}
		}
	}
}
