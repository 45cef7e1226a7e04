package as2

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2/as2test"
	"github.com/bizpipe/bizpipe/internal/cms"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// partnerFiles writes the PEM files the libas2 partner needs: its own
// certificate and key (them) and ours (us).
func partnerFiles(t *testing.T, us, them *party) (cert, key, partnerCert string) {
	t.Helper()
	dir := t.TempDir()
	cert, key = as2test.PEMFiles(t, dir, "partner", them.CertPEM(), them.KeyPEM())
	partnerCert, _ = as2test.PEMFiles(t, dir, "us", us.CertPEM(), nil)
	return cert, key, partnerCert
}

// TestLibas2VerifiesOurMDN: the MDNs BuildMDN writes, signed with each
// digest and unsigned, are read by libas2 (AS2Disposition.incoming, which
// verifies the signature with our certificate) with the disposition and
// Received-Content-MIC we wrote.
func TestLibas2VerifiesOurMDN(t *testing.T) {
	us, them := newParty(t, "CONTOSO"), newParty(t, "FABRIKAM")
	_, _, ourCert := partnerFiles(t, us, them)
	for _, tc := range []struct {
		name   string
		signed bool
		digest Alg
		disp   Disposition
		tamper bool
	}{
		{"signed sha256", true, SHA256, Processed(), false},
		{"signed sha384", true, SHA384, Processed(), false},
		{"signed sha512 error", true, SHA512, ProcessedError("authentication-failed"), false},
		{"signed sha1", true, SHA1, Processed(), false},
		{"unsigned", false, SHA256, Processed(), false},
		{"unsigned failed", false, SHA256, Failed("unsupported format"), false},
		// The control: libas2 does check the signature.
		{"signed, tampered", true, SHA256, Processed(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mic := ComputeMIC(tc.digest, []byte("payload entity"))
			m := &MDN{FinalRecipient: "CONTOSO", OriginalMessageID: "<m1@fabrikam.example>", Disposition: tc.disp, MIC: &mic}
			bo := BuildOptions{Digest: tc.digest, From: "CONTOSO", To: "FABRIKAM"}
			if tc.signed {
				bo.Signer = us.signer()
			}
			b, err := BuildMDN(m, bo)
			if err != nil {
				t.Fatal(err)
			}
			entity := b.Entity
			if tc.tamper {
				entity = bytes.Replace(entity, []byte("Original-Message-ID: <m1@"), []byte("Original-Message-ID: <m2@"), 1)
			}
			file := filepath.Join(t.TempDir(), "mdn.eml")
			if err := os.WriteFile(file, entity, 0o600); err != nil {
				t.Fatal(err)
			}
			r := as2test.Run(t, as2test.Config{Mode: "verify-mdn", MDNFile: file, PartnerCert: ourCert}, time.Minute).Reading
			if r == nil {
				t.Fatal("no reading from libas2")
			}
			if tc.tamper {
				if r.Error == "" {
					t.Fatal("libas2 accepts a tampered MDN: the test proves nothing")
				}
				return
			}
			if r.Error != "" {
				t.Fatalf("libas2 rejects our MDN: %s", r.Error)
			}
			if r.Signed != tc.signed || (tc.signed && !r.Verified) {
				t.Fatalf("libas2: signed=%v verified=%v", r.Signed, r.Verified)
			}
			if r.OriginalMessageID != "<m1@fabrikam.example>" {
				t.Errorf("libas2 reads Original-Message-ID %q", r.OriginalMessageID)
			}
			if r.Disposition == nil || r.Disposition.Processed != (tc.disp.Type == "processed") {
				t.Errorf("libas2 reads the disposition as %v", r.Disposition)
			}
			got, err := ParseMIC(r.MIC + ", " + r.MICAlgorithm)
			if err != nil || !got.Equal(mic) {
				t.Errorf("libas2 reads the MIC as %q, %q (%v); we wrote %s", r.MIC, r.MICAlgorithm, err, mic)
			}
		})
	}
}

// sendAS2 posts entity (an S/MIME entity from the smime Encoder) to url
// with the AS2 headers of req, with a Content-Length, and returns the
// response's entity (headers and body).
func sendAS2(t *testing.T, url string, req *Request, entity []byte) (int, []byte) {
	t.Helper()
	h, err := req.Header()
	if err != nil {
		t.Fatal(err)
	}
	fields, body, err := smime.SplitEntity(entity)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		h.Add(f.Name, f.Value)
	}
	hr, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header = h
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, MaxMDNSize+1))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, JoinEntity(resp.Header, rb)
}

// asyncMDNs serves 127.0.0.1 and passes every MDN posted to it on.
func asyncMDNs(t *testing.T) (string, <-chan []byte) {
	t.Helper()
	ch := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxMDNSize+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ch <- JoinEntity(r.Header, b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/as2", ch
}

// TestSendToLibas2 sends our signed and encrypted messages to libas2 as the
// receiver and checks its MDN with ParseMDN and Check: sync and async,
// signed and unsigned MDNs, AES-CBC and Triple-DES, binary and text
// payloads. libas2 must read the payload we sent, and its
// Received-Content-MIC must equal the MIC of what we signed.
func TestSendToLibas2(t *testing.T) {
	us, them := newParty(t, "CONTOSO"), newParty(t, "FABRIKAM")
	cert, key, ourCert := partnerFiles(t, us, them)
	partner := as2test.Start(t, as2test.Config{Mode: "receive", ID: them.ID, Cert: cert, Key: key, PartnerCert: ourCert})
	binary := make([]byte, 5000)
	for i := range binary {
		binary[i] = byte(i*31 + i>>8)
	}
	text := []byte("ISA*00*          *00*          *ZZ*CONTOSO~\r\nGS*PO*CONTOSO*FABRIKAM~\r\n")
	for _, tc := range []struct {
		name    string
		ct      string
		body    []byte
		alg     cms.Algorithm
		digest  string
		receipt ReceiptMode
		signed  bool
		micAlg  Alg
		cte     string // "" = base64
		// negative: libas2 cannot verify what it parsed and answers
		// failed/failure (trap 6: a binary transfer encoding of non-text
		// content does not survive its parser).
		negative bool
	}{
		{"sync signed aes256 binary", "application/octet-stream", binary, cms.AES256CBC, "sha256", ReceiptSync, true, SHA256, "", false},
		{"sync signed 3des text", "text/plain", text, cms.DES3CBC, "sha256", ReceiptSync, true, SHA256, "", false},
		{"sync unsigned aes128 edi", "application/edi-x12", text, cms.AES128CBC, "sha512", ReceiptSync, false, SHA256, "", false},
		{"sync signed micalg sha384", "application/edi-x12", text, cms.AES256CBC, "sha384", ReceiptSync, true, SHA384, "", false},
		{"sync signed sha256, micalg sha512", "application/edi-x12", text, cms.AES256CBC, "sha256", ReceiptSync, true, SHA512, "", false},
		{"async signed aes256", "application/edi-x12", text, cms.AES256CBC, "sha256", ReceiptAsync, true, SHA256, "", false},
		{"async unsigned 3des binary", "application/octet-stream", binary, cms.DES3CBC, "sha256", ReceiptAsync, false, SHA256, "", false},
		{"sync signed binary cte", "application/octet-stream", binary, cms.AES256CBC, "sha256", ReceiptSync, true, SHA256, "binary", true},
		{"sync signed text cte binary", "text/plain", text, cms.AES256CBC, "sha256", ReceiptSync, true, SHA256, "binary", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := smime.DefaultOptions()
			o.Signature, o.Digest, o.Encrypt, o.Algorithm = "clear", tc.digest, true, tc.alg
			if tc.cte != "" {
				o.ContentTransferEncoding = tc.cte
			}
			enc, err := smime.NewEncoder(o)
			if err != nil {
				t.Fatal(err)
			}
			entity, err := enc.Encode(nil, tc.ct, tc.body, us.signer(), them.Cert.Cert)
			if err != nil {
				t.Fatal(err)
			}
			sent := sentMIC(t, entity, them)

			req := &Request{From: us.ID, To: them.ID, Subject: tc.name, MessageID: MessageID(t.Name(), "contoso.example"),
				Receipt: tc.receipt, SignedReceipt: tc.signed, MICAlg: tc.micAlg}
			var mdns <-chan []byte
			if tc.receipt == ReceiptAsync {
				req.AsyncURL, mdns = asyncMDNs(t)
			}
			status, resp := sendAS2(t, partner.URL(), req, entity)
			if status != http.StatusOK {
				t.Fatalf("libas2 answers %d", status)
			}
			got := partner.Next(t, time.Minute)
			if got.Event != "received" || got.MessageID != req.MessageID {
				t.Fatalf("partner: %+v", got)
			}
			// libas2 decodes a base64 part without Content-Disposition as
			// UTF-8 (trap 6): the payload entity the smime Encoder writes has
			// none, so only ASCII payloads arrive intact. The MIC is not
			// affected: libas2 hashes the raw part.
			// With an identity transfer encoding libas2 also keeps the
			// CRLF that belongs to the boundary delimiter.
			gotContent := got.Content
			if tc.cte == "binary" && bytes.HasSuffix(gotContent, []byte("\r\n\r\n")) {
				t.Log("libas2 reads the delimiter's CRLF as content (identity transfer encoding)")
				gotContent = gotContent[:len(gotContent)-2]
			}
			if ascii(tc.body) && !bytes.Equal(gotContent, canonical(tc.ct, tc.body)) {
				t.Errorf("libas2 read %q, we sent %q", gotContent, tc.body)
			}
			if !ascii(tc.body) && bytes.Equal(got.Content, tc.body) {
				t.Log("libas2 now reads binary payloads without Content-Disposition intact (trap 6 is gone)")
			}
			mdnEntity := resp
			if tc.receipt == ReceiptAsync {
				select {
				case mdnEntity = <-mdns:
				case <-time.After(time.Minute):
					t.Fatal("no async MDN")
				}
				if e := partner.Next(t, time.Minute); e.Event != "async-mdn-sent" || e.Status != http.StatusOK {
					t.Errorf("partner: %+v", e)
				}
			}
			mdn, err := ParseMDN(mdnEntity, VerifyOptions{Trusted: []*x509.Certificate{them.Cert.Cert}})
			if err != nil {
				t.Fatalf("our parser rejects libas2's MDN: %v\n%s", err, mdnEntity)
			}
			if tc.negative {
				var neg *NegativeError
				if err := mdn.Check(req.MessageID, tc.signed, sent); !errors.As(err, &neg) {
					t.Fatalf("Check: %v, want a negative MDN (trap 6 gone?)", err)
				}
				t.Logf("libas2 on a binary transfer encoding: %s", mdn.Disposition)
				return
			}
			if err := mdn.Check(req.MessageID, tc.signed, sent); err != nil {
				t.Fatalf("Check: %v (MDN MIC %s, disposition %s)", err, mdn.MICField, mdn.Disposition)
			}
			if mdn.Disposition.Outcome() != "processed" {
				t.Errorf("disposition %s", mdn.Disposition)
			}
			// libas2 computes its MIC with the signature's digest, whatever
			// micalg we asked for (trap 8).
			if want, _ := ParseAlg(tc.digest); mdn.MIC.Alg != want {
				t.Errorf("libas2 used %s for the MIC; the message was signed with %s, %s was asked for", mdn.MIC.Alg, tc.digest, tc.micAlg)
			}
		})
	}
}

// canonical is the content a receiver reads: text/* in CRLF form.
func canonical(ct string, body []byte) []byte {
	if strings.HasPrefix(ct, "text/") {
		return bytes.ReplaceAll(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	}
	return body
}

// sentMIC digests what we signed in entity, an encrypted message to
// them (the entity before encryption), as the MIC of its MDN covers it.
func sentMIC(t *testing.T, entity []byte, them *party) *Hasher {
	t.Helper()
	signedEntity, _, err := Decrypt(entity, them.Cert.Cert, them.decrypter(t))
	if err != nil {
		t.Fatal(err)
	}
	content, err := MICContent(signedEntity, true)
	if err != nil {
		t.Fatal(err)
	}
	sent := NewHasher()
	sent.Write(content)
	return sent
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// TestLibas2MDNDigestNotAsked: libas2 signs its MDNs with its own
// configured digest, whatever signed-receipt-micalg asked for (trap 8).
// Such an MDN, signed with SHA-512 when SHA-256 was asked for, verifies
// and proves receipt all the same: neither the MDN's signature digest nor
// its micalg is held to the request.
func TestLibas2MDNDigestNotAsked(t *testing.T) {
	us, them := newParty(t, "CONTOSO"), newParty(t, "FABRIKAM")
	cert, key, ourCert := partnerFiles(t, us, them)
	partner := as2test.Start(t, as2test.Config{Mode: "receive", ID: them.ID, Cert: cert, Key: key, PartnerCert: ourCert, MDNSigning: "sha-512"})
	entity := signedMessage(t, us, them, "application/edi-x12", []byte("ISA*00~"), "base64", "sha256", true)
	sent := sentMIC(t, entity, them)
	req := &Request{From: us.ID, To: them.ID, MessageID: MessageID(t.Name(), "contoso.example"), SignedReceipt: true, MICAlg: SHA256}
	status, resp := sendAS2(t, partner.URL(), req, entity)
	if status != http.StatusOK {
		t.Fatalf("libas2 answers %d", status)
	}
	if got := partner.Next(t, time.Minute); got.Event != "received" || got.MDNSigning != "sha-512" {
		t.Fatalf("partner: %+v, want an MDN signed with sha-512", got)
	}
	e, err := parseEntity(resp)
	if err != nil || e.mediaType != "multipart/signed" || e.params["micalg"] != "sha-512" {
		t.Fatalf("libas2's MDN is %q %v (%v), want multipart/signed with micalg sha-512: trap 8 not exercised", e.mediaType, e.params, err)
	}
	mdn, err := ParseMDN(resp, VerifyOptions{Trusted: []*x509.Certificate{them.Cert.Cert}})
	if err != nil {
		t.Fatalf("our parser rejects libas2's MDN signed with another digest than asked: %v", err)
	}
	if err := mdn.Check(req.MessageID, true, sent); err != nil {
		t.Fatalf("Check: %v (MDN MIC %s, disposition %s)", err, mdn.MICField, mdn.Disposition)
	}
}
