package pipeline_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"testing"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/pipeline"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

func smimeStage(signature string, encrypt bool) *model.Component {
	known := func(s string) model.Value[string] { return model.Value[string]{V: s, Set: true, Known: true} }
	return &model.Component{Spec: smime.EncoderSpec, Config: &smime.Config{
		Signature:               known(signature),
		Digest:                  known("sha256"),
		IncludeCertificate:      model.Value[bool]{V: true, Set: true, Known: true},
		Encrypt:                 model.Value[bool]{V: encrypt, Set: true, Known: true},
		EncryptionAlgorithm:     known("aes256-cbc"),
		ContentTransferEncoding: known("base64"),
	}}
}

type fixture struct {
	ca, signer, partner *testpki.Cert
	keys                pipeline.Keys
}

func newFixture(t testing.TB) *fixture {
	ks := testpki.NewKeys()
	ca := testpki.SelfSigned(t, testpki.Options{CommonName: "CA", IsCA: true, Key: ks.Key(t, testpki.RSA2048, 0)})
	f := &fixture{ca: ca,
		signer:  ca.Issue(t, testpki.Options{CommonName: "Signer", Key: ks.Key(t, testpki.RSA2048, 1)}),
		partner: ca.Issue(t, testpki.Options{CommonName: "Partner", Key: ks.Key(t, testpki.RSA2048, 2)}),
	}
	f.keys = pipeline.Keys{Signer: &smime.Signer{Cert: f.signer.Cert, Key: f.signer.Key}, Recipient: f.partner.Cert}
	return f
}

// TestBuildAndRun: a sign+encrypt pipeline produces an entity our decoder
// opens back to the exact body; a pass-through leaves the body alone; a
// signing pipeline without keys is refused at build time, not at run time.
func TestBuildAndRun(t *testing.T) {
	f := newFixture(t)
	reg := pipeline.DefaultRegistry()
	body := []byte("UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER'\x00\xff\r\n")

	pl, err := reg.Build(&model.Pipeline{Name: "p", Stages: []*model.Component{smimeStage("clear", true)}}, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pl.Run(nil, pipeline.Raw("application/edifact", body))
	if err != nil {
		t.Fatal(err)
	}
	if !out.MIME || !bytes.HasSuffix(out.Data, out.Body) || len(out.Header) == 0 {
		t.Fatalf("entity not split into header and body: MIME=%v header=%v", out.MIME, out.Header)
	}
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.Cert)
	dec, err := smime.Decode(out.Data, smime.DecodeOptions{Cert: f.partner.Cert, Key: f.partner.Key.(crypto.Decrypter), Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.Body, body) || !dec.Signed || !dec.Encrypted {
		t.Errorf("decoded body %q signed=%v encrypted=%v", dec.Body, dec.Signed, dec.Encrypted)
	}

	pass, err := reg.Build(nil, pipeline.Keys{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pass.Run(nil, pipeline.Raw("text/plain", body))
	if err != nil || !bytes.Equal(raw.Data, body) || raw.MIME || raw.ContentType() != "text/plain" {
		t.Errorf("pass-through changed the message: %v %q", err, raw.Data)
	}

	if _, err := reg.Build(&model.Pipeline{Name: "p", Stages: []*model.Component{smimeStage("clear", false)}}, pipeline.Keys{}); err == nil {
		t.Error("a signing pipeline without a signing key was built")
	}
	if _, err := reg.Build(&model.Pipeline{Name: "p", Stages: []*model.Component{{Spec: &component.Spec{Name: "as2"}}}}, f.keys); err == nil {
		t.Error("an unknown stage type was built")
	}
}

// BenchmarkSignEncrypt4KiB is the ceiling of issue 3's throughput target:
// RSA-2048 clear sign plus AES-256-CBC of a 4 KiB message in a tight loop on
// every core. Messages per second = GOMAXPROCS / (ns/op per goroutine), which
// b.RunParallel reports directly as ns/op across all cores.
func BenchmarkSignEncrypt4KiB(b *testing.B) {
	f := newFixture(b)
	pl, err := pipeline.DefaultRegistry().Build(&model.Pipeline{Name: "p", Stages: []*model.Component{smimeStage("clear", true)}}, f.keys)
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 256)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pl.Run(nil, pipeline.Raw("application/octet-stream", body)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
