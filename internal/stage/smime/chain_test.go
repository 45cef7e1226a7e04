package smime

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/component"
)

// chainStage is an encoder stage of a pipeline of several (language §3:
// "stages run in the order written").
type chainStage struct {
	name string
	o    Options
}

var chainStages = []chainStage{
	{"plain", Options{}},
	{"clear", Options{Signature: "clear", IncludeCertificate: true}},
	{"opaque", Options{Signature: "opaque", IncludeCertificate: true}},
	{"cbc", Options{Encrypt: true, Algorithm: cms.AES256CBC}},
	{"gcm", Options{Encrypt: true, Algorithm: cms.AES128GCM}},
	{"qp", Options{ContentTransferEncoding: "quoted-printable"}},
	// content_transfer_encoding spelled out, as language §3's example
	// does: for the message body, which a later stage does not see.
	{"cbc-base64", Options{Encrypt: true, Algorithm: cms.AES256CBC, ContentTransferEncoding: "base64"}},
}

// streamChain runs body through the stages as the runner does: each stage
// starts with the header of the one before, and writes its body into the
// next one's.
func streamChain(t *testing.T, stages []*Stage, contentType string, body []byte) ([]byte, error) {
	t.Helper()
	h := component.Header{Fields: []component.Field{{Name: "Content-Type", Value: contentType}}}
	encs := make([]component.Encoding, len(stages))
	for i, st := range stages {
		enc, err := st.Start(h)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", i, err)
		}
		encs[i], h = enc, enc.Header()
	}
	var out bytes.Buffer
	for _, f := range h.Fields {
		fmt.Fprintf(&out, "%s: %s\r\n", f.Name, f.Value)
	}
	out.WriteString("\r\n")
	ws := make([]io.WriteCloser, len(encs))
	var w io.Writer = &out
	for i := len(encs) - 1; i >= 0; i-- {
		ws[i] = encs[i].Wrap(w)
		w = ws[i]
	}
	if _, err := w.Write(body); err != nil {
		t.Fatalf("writing the body: %v", err)
	}
	for i, w := range ws {
		if err := w.Close(); err != nil {
			t.Fatalf("stage %d: Close: %v", i, err)
		}
	}
	return out.Bytes(), nil
}

// TestStreamChainedStages: in a pipeline of two encoder stages, the second
// encodes the entity the first made, whatever they do: signing an envelope,
// encrypting an opaque signature, signing twice. openssl, peeling the
// layers as a partner would (verify a signature, decrypt an envelope),
// finds each stage's layer in the order written, and under the innermost
// the original body. An entity whose body arrives transfer-encoded (an
// envelope's or an opaque signature's base64) is carried in that encoding,
// not encoded a second time, and a multipart one (a clear signature) as
// it is, whatever content_transfer_encoding the later stage sets for the
// message body: RFC 2045 §6.4 allows a multipart entity no other.
func TestStreamChainedStages(t *testing.T) {
	ossl := openssl(t)
	p := newPKI(t)
	for _, first := range chainStages {
		for _, second := range chainStages {
			for _, body := range []testBody{binaryBody(), textBody()} {
				t.Run(first.name+"-"+second.name+"/"+body.name, func(t *testing.T) {
					t.Parallel()
					stages := []*Stage{
						mustStage(t, first.o, p.signer(), p.partner.Cert),
						mustStage(t, second.o, p.signer(), p.partner.Cert),
					}
					out, err := streamChain(t, stages, body.contentType, body.data)
					if err != nil {
						t.Fatal(err)
					}
					var layers []string
					for range 3 {
						mt, params, err := mime.ParseMediaType(headerOf(t, out, "Content-Type"))
						if err != nil {
							t.Fatal(err)
						}
						switch {
						case mt == "multipart/signed":
							layers = append(layers, "clear")
							out = run(t, out, ossl, "cms", "-verify", "-CAfile", p.caPEM)
						case mt == "application/pkcs7-mime" && params["smime-type"] == "signed-data":
							layers = append(layers, "opaque")
							out = run(t, out, ossl, "cms", "-verify", "-CAfile", p.caPEM)
						case mt == "application/pkcs7-mime" && params["smime-type"] == "enveloped-data":
							layers = append(layers, "enveloped")
							out = run(t, nil, ossl, "cms", "-decrypt", "-recip", p.partnerPEM, "-inkey", p.partnerKey, "-in", writeTemp(t, "out.eml", out))
						case mt == "application/pkcs7-mime" && params["smime-type"] == "authEnveloped-data":
							layers = append(layers, "authEnveloped")
							out = run(t, nil, ossl, "cms", "-decrypt", "-recip", p.partnerPEM, "-inkey", p.partnerKey, "-in", writeTemp(t, "out.eml", out))
						default:
							ct, _, got := stdEntity(t, out)
							var want []string
							for _, s := range []chainStage{second, first} {
								switch {
								case s.o.Encrypt && s.o.Algorithm == cms.AES128GCM:
									want = append(want, "authEnveloped")
								case s.o.Encrypt:
									want = append(want, "enveloped")
								case s.o.Signature != "":
									want = append(want, s.o.Signature)
								}
							}
							if strings.Join(layers, ",") != strings.Join(want, ",") {
								t.Errorf("layers %q, outermost first; want %q", layers, want)
							}
							if ct != body.contentType || !bytes.Equal(got, body.want) {
								t.Errorf("innermost entity %q, body:\n got %q\nwant %q", ct, got[:min(len(got), 200)], body.want[:min(len(body.want), 200)])
							}
							return
						}
					}
					t.Fatalf("more than three layers: %q", layers)
				})
			}
		}
	}
}
