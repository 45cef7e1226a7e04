package as2

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2/as2test"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// received is what testReceiver saw of one message.
type received struct {
	raw     []byte // the message as received, HTTP headers included
	req     *ReceivedRequest
	content []byte
	mic     MIC
	err     error
}

// testReceiver is a minimal AS2 receiver built from this package and
// smime, as the as2 receive location will be: check the AS2 ids, decrypt,
// verify against the partner's certificate, compute the MIC and answer
// with a (signed, when asked) MDN, sync with a Content-Length or async by
// POST.
func testReceiver(t *testing.T, us, them *party, chunked bool) (string, <-chan received) {
	t.Helper()
	ch := make(chan received, 8)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, mdn, err := receiveOne(r, us, them)
		if err != nil {
			ch <- received{err: err}
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		ch <- rec
		if rec.req.Receipt == ReceiptNone {
			return
		}
		if rec.req.Receipt == ReceiptAsync {
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
			go func() {
				req, err := http.NewRequest(http.MethodPost, rec.req.AsyncURL, bytes.NewReader(mdn.Body))
				if err == nil {
					req.Header = mdn.Header.Clone()
					var resp *http.Response
					if resp, err = http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}
				if err != nil {
					ch <- received{err: fmt.Errorf("async MDN: %w", err)}
				}
			}()
			return
		}
		for k, vs := range mdn.Header {
			w.Header()[k] = vs
		}
		if chunked {
			// What a sync MDN must not be (trap 5): no Content-Length,
			// several chunks, as a streaming server writes it. (A single
			// chunk survives libas2: its size line and the last chunk
			// fall in the multipart preamble and epilogue.)
			w.WriteHeader(http.StatusOK)
			for b := mdn.Body; len(b) > 0; {
				n := min(len(b), 512)
				w.Write(b[:n])
				w.(http.Flusher).Flush()
				b = b[n:]
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(mdn.Body)))
		w.WriteHeader(http.StatusOK)
		w.Write(mdn.Body)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/as2", ch
}

func receiveOne(r *http.Request, us, them *party) (received, *Built, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return received{}, nil, err
	}
	req, err := ParseRequest(r.Header)
	if err != nil {
		return received{}, nil, err
	}
	if req.To != us.ID || req.From != them.ID {
		return received{}, nil, fmt.Errorf("AS2-From %q, AS2-To %q refused", req.From, req.To)
	}
	entity := JoinEntity(r.Header, body)
	rec := received{req: req, raw: entity}
	disp := Processed()
	dec, encrypted, err := Decrypt(entity, us.Cert.Cert, us.Key.(crypto.Decrypter))
	if err != nil {
		rec.err = err
		disp = ProcessedError("decryption-failed")
	} else {
		// The receive pipeline's decoder verifies and computes the MIC
		// (smime.DecodeOptions.MICHash); MessageMIC must agree.
		alg := req.Options.MICAlg()
		roots := x509.NewCertPool()
		roots.AddCert(them.Cert.Cert)
		d, err := smime.Decode(entity, smime.DecodeOptions{Cert: us.Cert.Cert, Key: us.Key.(crypto.Decrypter),
			Roots: roots, Certs: []*x509.Certificate{them.Cert.Cert}, MICHash: alg.Hash()})
		switch {
		case err != nil:
			rec.err = err
			disp = ProcessedError("authentication-failed")
		case !d.Signed || !bytes.Equal(d.Signer.Raw, them.Cert.Cert.Raw):
			rec.err = errors.New("not signed by the partner")
			disp = ProcessedError("authentication-failed")
		default:
			rec.content = d.Body
			rec.mic = MIC{Alg: alg, Digest: d.MIC}
			if m, err := MessageMIC(dec, encrypted, alg); err != nil || !m.Equal(rec.mic) {
				rec.err = fmt.Errorf("MessageMIC %v (%v) differs from the decoder's MIC %v", m, err, rec.mic)
			}
		}
	}
	m := &MDN{FinalRecipient: us.ID, OriginalMessageID: req.MessageID, Disposition: disp}
	if rec.mic.Digest != nil {
		m.MIC = &rec.mic
	}
	bo := BuildOptions{Digest: req.Options.MICAlg(), From: us.ID, To: them.ID}
	if req.Options.Signed {
		bo.Signer = us.signer()
	}
	b, err := BuildMDN(m, bo)
	if err != nil {
		return received{}, nil, err
	}
	return rec, b, nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestReceiveFromLibas2 has libas2 send signed, encrypted messages
// (RSAES-OAEP key transport, AES-CBC or Triple-DES) to our receiver and
// read our MDN: libas2 must verify it and find in it the MIC it expects —
// computed by libas2's own verification logic over what it signed — and
// our MIC must equal it for binary and CRLF text payloads.
func TestReceiveFromLibas2(t *testing.T) {
	us, them := newParty(t, "CONTOSO"), newParty(t, "FABRIKAM")
	cert, key, ourCert := partnerFiles(t, us, them)
	url, got := testReceiver(t, us, them, false)
	binary := make([]byte, 4096)
	for i := range binary {
		binary[i] = byte(i*13 + 5)
	}
	for _, tc := range []struct {
		name, ct, sign, enc, mdnSigning string
		content                         []byte
		unsigned, async                 bool
		// libasBroken: libas2 signs one CRLF less than it sends (a text
		// payload ending in CRLF): it cannot verify its own message and
		// neither can we; we must answer processed/error.
		libasBroken bool
	}{
		{"binary aes256 sync", "application/octet-stream", "sha-256", "aes256-CBC", "sha-256", binary, false, false, false},
		{"text crlf 3des sync", "text/plain", "sha-256", "des-EDE3-CBC", "sha-256", []byte("line 1\r\nline 2"), false, false, false},
		{"text ending in crlf", "text/plain", "sha-256", "aes256-CBC", "sha-256", []byte("line 1\r\nline 2\r\n"), false, false, true},
		{"edi aes128 sha512 sync", "application/edi-x12", "sha-512", "aes128-CBC", "sha-512", []byte("ISA*00~\nGS*PO~\n"), false, false, false},
		{"micalg differs from signature", "application/edi-x12", "sha-256", "aes256-CBC", "sha-384", []byte("ISA*00~"), false, false, false},
		{"unsigned mdn", "application/edi-x12", "sha-256", "aes256-CBC", "", []byte("ISA*01~"), true, false, false},
		{"async signed", "application/edi-x12", "sha-256", "des-EDE3-CBC", "sha-256", []byte("ISA*02~"), false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "payload")
			if err := os.WriteFile(file, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := as2test.Config{Mode: "send", ID: them.ID, PartnerID: us.ID, Cert: cert, Key: key, PartnerCert: ourCert,
				URL: url, Content: file, ContentType: tc.ct, Sign: tc.sign, Encryption: tc.enc, MDNSigning: tc.mdnSigning, UnsignedMDN: tc.unsigned}
			if tc.async {
				cfg.AsyncPort = freePort(t)
			}
			e := as2test.Run(t, cfg, 2*time.Minute)
			var rec received
			select {
			case rec = <-got:
			default:
				t.Fatal("our receiver saw nothing")
			}
			osslContent, osslErr := opensslDecryptVerify(t, rec.raw, us, them)
			if tc.libasBroken {
				if osslErr == nil {
					t.Fatal("OpenSSL verifies libas2's text message ending in CRLF")
				}
				if e.SelfVerified || rec.err == nil {
					t.Fatalf("libas2 verifies its own message: %v; we: %v", e.SelfVerified, rec.err)
				}
				if r := e.Reading; r == nil || !r.Verified || r.Disposition == nil || r.Disposition.Description == nil {
					t.Fatalf("libas2 does not read our negative MDN: %+v", r)
				}
				t.Logf("libas2 signs one CRLF less than it sends: we answer processed/error (%v)", rec.err)
				return
			}
			if rec.err != nil {
				t.Fatalf("our receiver: %v", rec.err)
			}
			// OpenSSL reads every layer of libas2's message as we do.
			if osslErr != nil {
				t.Fatalf("OpenSSL: %v", osslErr)
			}
			oe, err := parseEntity(osslContent)
			if err != nil {
				t.Fatal(err)
			}
			if ob, err := decodeBody(oe.body, oe.cte); err != nil || !bytes.Equal(bytes.ReplaceAll(ob, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(rec.content, []byte("\r\n"), []byte("\n"))) {
				t.Errorf("OpenSSL reads %q (%v), we read %q", ob, err, rec.content)
			}
			if tc.name == "binary aes256 sync" {
				// Trap 4: libas2 wraps the key with RSAES-OAEP, SHA-512.
				info := opensslPrint(t, rec.raw)
				if !bytes.Contains(info, []byte("rsaesOaep")) || !bytes.Contains(info, []byte("sha512")) {
					t.Errorf("libas2's key transport is not RSAES-OAEP with SHA-512:\n%s", info)
				}
			}
			if e.Status != http.StatusOK || e.MDNError != "" || e.Reading == nil {
				t.Fatalf("libas2: status %d, MDN error %q, reading %+v", e.Status, e.MDNError, e.Reading)
			}
			if !bytes.Equal(rec.content, canonical(tc.ct, tc.content)) {
				t.Errorf("we read %q, libas2 sent %q", rec.content, tc.content)
			}
			r := e.Reading
			if r.Signed == tc.unsigned || (!tc.unsigned && !r.Verified) {
				t.Errorf("libas2: MDN signed=%v verified=%v", r.Signed, r.Verified)
			}
			if r.Disposition == nil || !r.Disposition.Processed || r.Disposition.Description != nil || r.OriginalMessageID != e.MessageID {
				t.Errorf("libas2 reads disposition %v for %q (sent %q)", r.Disposition, r.OriginalMessageID, e.MessageID)
			}
			expected, err := ParseMIC(e.ExpectedMIC + ", " + e.ExpectedAlgorithm)
			if err != nil {
				t.Fatal(err)
			}
			// libas2's own MIC is always in its signing digest; ours in
			// the micalg asked for. Compare in the same algorithm.
			if rec.mic.Alg == expected.Alg && !rec.mic.Equal(expected) {
				t.Errorf("our MIC %s, libas2 expects %s", rec.mic, expected)
			}
			reported, err := ParseMIC(r.MIC + ", " + r.MICAlgorithm)
			if err != nil || !reported.Equal(rec.mic) {
				t.Errorf("libas2 reads our MIC as %q, %q (%v); we wrote %s", r.MIC, r.MICAlgorithm, err, rec.mic)
			}
		})
	}
}

// TestLibas2Traps checks two more of libas2's known traps against our
// receiver: a sync MDN sent chunked is lost on libas2 (trap 5), and its
// "AES-GCM" is plain EnvelopedData, which we refuse with a clear reason
// and a processed/error MDN (trap 9).
func TestLibas2Traps(t *testing.T) {
	us, them := newParty(t, "CONTOSO"), newParty(t, "FABRIKAM")
	cert, key, ourCert := partnerFiles(t, us, them)
	file := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(file, []byte("ISA*00~"), 0o600); err != nil {
		t.Fatal(err)
	}
	send := func(t *testing.T, url, enc string) as2test.Event {
		return as2test.Run(t, as2test.Config{Mode: "send", ID: them.ID, PartnerID: us.ID, Cert: cert, Key: key, PartnerCert: ourCert,
			URL: url, Content: file, ContentType: "application/edi-x12", Encryption: enc}, 2*time.Minute)
	}
	t.Run("chunked sync MDN", func(t *testing.T) {
		url, got := testReceiver(t, us, them, true)
		e := send(t, url, "aes256-CBC")
		if rec := <-got; rec.err != nil {
			t.Fatal(rec.err)
		}
		if !e.Chunked {
			t.Fatal("the response was not chunked")
		}
		if e.MDNError == "" && e.Reading != nil && e.Reading.Verified {
			t.Fatalf("libas2 reads a chunked MDN (%+v): trap 5 is gone", e.Reading)
		}
		t.Logf("libas2 on a chunked MDN: %s", e.MDNError)
	})
	t.Run("libas2 GCM", func(t *testing.T) {
		url, got := testReceiver(t, us, them, false)
		e := send(t, url, "aes256-GCM")
		rec := <-got
		if rec.err == nil {
			t.Fatal("we accepted libas2's GCM in EnvelopedData")
		}
		t.Logf("we refuse libas2's GCM: %v", rec.err)
		if e.Reading == nil || e.Reading.Disposition == nil || e.Reading.Disposition.Description == nil {
			t.Fatalf("libas2 did not get our negative MDN: %+v (%s)", e.Reading, e.MDNError)
		}
	})
}
