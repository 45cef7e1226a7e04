package as2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// receiptRecorder is a component.ReceiptSink that keeps what it is given.
type receiptRecorder struct {
	mu  sync.Mutex
	got []component.IncomingReceipt
}

func (s *receiptRecorder) SettleReceipt(_ context.Context, in component.IncomingReceipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, in)
	return nil
}

// TestAsyncMDNReadOnce: an asynchronous MDN is read once, by the receive
// location, which hands its reading (unverified: only the port knows
// whose signature counts) to the runner with the Original-Message-ID; the
// port's CheckReceipt verifies that same reading instead of reading the
// MDN again. An unreadable MDN is refused (400) before the runner sees it.
func TestAsyncMDNReadOnce(t *testing.T) {
	url, sink, partner := mdnLocation(t)
	post := func(b *as2.Built) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b.Body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range b.Header {
			req.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	h := as2.NewHasher()
	h.Write([]byte("the entity sent"))
	mic := h.MIC(as2.SHA256)
	const sent = "<d1@contoso.example>"
	built, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: sent, FinalRecipient: "CONTOSO", Disposition: as2.Processed(), MIC: &mic},
		as2.BuildOptions{Signer: &smime.Signer{Cert: partner.Cert, Key: partner.Key}, From: "FABRIKAM", To: "CONTOSO"})
	if err != nil {
		t.Fatal(err)
	}
	if code := post(built); code != http.StatusOK {
		t.Fatalf("POST of a signed MDN: %d", code)
	}
	garbage := &as2.Built{Header: http.Header{"Content-Type": {"multipart/report; report-type=disposition-notification; boundary=b"},
		"As2-From": {"FABRIKAM"}, "As2-To": {"CONTOSO"}, "As2-Version": {"1.2"}, "Message-Id": {"<g@fabrikam>"}},
		Body: []byte("--b\r\nContent-Type: text/plain\r\n\r\nno notification\r\n--b--\r\n")}
	if code := post(garbage); code != http.StatusBadRequest {
		t.Errorf("POST of an unreadable MDN: %d, want 400", code)
	}
	sink.mu.Lock()
	got := sink.got
	sink.mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the runner got %d receipts, want the readable one", len(got))
	}
	in := got[0]
	read, ok := in.Parsed.(*as2.ReceivedMDN)
	if !ok || in.Party != "fabrikam" || in.Correlation != sent || !strings.HasPrefix(in.ContentType, "multipart/signed") ||
		!bytes.Equal(read.Raw, in.Raw) || !bytes.HasSuffix(in.Raw, built.Body) {
		t.Fatalf("receipt handed over: party %q, correlation %q, content type %q, parsed %T", in.Party, in.Correlation, in.ContentType, in.Parsed)
	}
	if read.Signed {
		t.Fatal("the receive location verified the MDN: it cannot know whose signature counts")
	}

	ck := partnerChecker(t, partner)
	p := component.Pending{Correlation: sent, Check: encodeMICs(h)}
	rc, err := ck.CheckReceipt(context.Background(), in, p)
	if err != nil || rc == nil || !strings.Contains(rc.Summary, "processed") || !strings.Contains(rc.Summary, "signed") {
		t.Fatalf("CheckReceipt: %+v, %v", rc, err)
	}
	// Verified in place: the port used the location's reading.
	if !read.Signed || !read.Signer.Equal(partner.Cert) {
		t.Errorf("the reading handed over is not the one verified (signed %v)", read.Signed)
	}
	other := in
	other.Party = "litware"
	if _, err := ck.CheckReceipt(context.Background(), other, p); !errors.Is(err, component.ErrReceiptUnusable) {
		t.Errorf("an MDN from another party: %v, want ErrReceiptUnusable", err)
	}
	// The MDN received again is the one kept (rc.Data); from another
	// party, it is nothing.
	if same, err := ck.SameReceipt(in, rc.Data); !same || err != nil {
		t.Errorf("SameReceipt of the MDN kept: %v, %v", same, err)
	}
	if _, err := ck.SameReceipt(other, rc.Data); !errors.Is(err, component.ErrReceiptUnusable) {
		t.Errorf("SameReceipt of an MDN from another party: %v, want ErrReceiptUnusable", err)
	}
}

// TestAsyncMDNWithoutAngleBrackets: an asynchronous MDN whose
// Original-Message-ID (and own Message-ID) lack the angle brackets of the
// Message-ID sent (RFC 4130 §5.3.3: a receiver does not check for them)
// is accepted and handed to the
// runner under the Message-ID as sent, which finds the delivery awaiting
// it, and the port's check accepts it.
func TestAsyncMDNWithoutAngleBrackets(t *testing.T) {
	url, sink, partner := mdnLocation(t)

	h := as2.NewHasher()
	h.Write([]byte("the entity sent"))
	mic := h.MIC(as2.SHA256)
	const sent = "<d1@contoso.example>"
	built, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: "d1@contoso.example", FinalRecipient: "CONTOSO", Disposition: as2.Processed(), MIC: &mic},
		as2.BuildOptions{Signer: &smime.Signer{Cert: partner.Cert, Key: partner.Key}, From: "FABRIKAM", To: "CONTOSO"})
	if err != nil {
		t.Fatal(err)
	}
	// Its own Message-ID without angle brackets too, as such a partner
	// writes them: a receiver does not check for them.
	built.Header.Set("Message-Id", strings.Trim(built.Header.Get("Message-Id"), "<>"))
	postBuiltMDN(t, url, built)
	sink.mu.Lock()
	got := sink.got
	sink.mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the runner got %d receipts, want 1", len(got))
	}
	if got[0].Correlation != sent {
		t.Fatalf("the runner got the receipt for %q, want %q", got[0].Correlation, sent)
	}

	rc, err := partnerChecker(t, partner).CheckReceipt(context.Background(), got[0], component.Pending{Correlation: sent, Check: encodeMICs(h)})
	if err != nil || rc == nil || !strings.Contains(rc.Summary, "processed") {
		t.Fatalf("CheckReceipt: %+v, %v", rc, err)
	}
}

// mdnLocation starts an as2 receive location of CONTOSO that takes
// asynchronous MDNs from party fabrikam (FABRIKAM), handing them to sink,
// and returns its URL, the sink and fabrikam's signing certificate.
func mdnLocation(t *testing.T) (string, *receiptRecorder, *testpki.Cert) {
	t.Helper()
	ca := testpki.NewCA(t, "Test CA")
	partner := ca.Issue(t, testpki.Options{CommonName: "Fabrikam Signing"})
	us := ca.Issue(t, testpki.Options{CommonName: "Contoso Signing"})
	sink := &receiptRecorder{}
	cfg := &ReceiveConfig{Listen: value.Value[string]{V: "127.0.0.1:0"}, Path: value.Value[string]{V: "/as2"}}
	url := "http://" + startReceiver(t, cfg, &component.ReceiveEnv{
		Location: "in", ContentType: "application/octet-stream", Sink: &recordingSink{}, Receipts: sink,
		AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"},
		Keys: component.Keys{Signer: &component.Identity{Cert: us.Cert, Key: us.Key}},
	}) + "/as2"
	return url, sink, partner
}

// partnerChecker is the receipt checker of an as2 send port to party
// fabrikam, whose MDNs partner signs; closed when the test ends.
func partnerChecker(t *testing.T, partner *testpki.Cert) component.ReceiptChecker {
	t.Helper()
	b, _ := body(t, nil)
	snd, err := SendSpec.Decode(b).(*SendConfig).NewSender(&component.SendEnv{AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"},
		Keys: component.Keys{PartySigners: []component.PartyCertificate{{Party: "fabrikam", Cert: partner.Cert}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snd.(*sender).Close() })
	return snd.(component.ReceiptChecker)
}

// TestAsyncMDNSignerReasons: an asynchronous MDN whose signer is not the
// partner's certificate, received by the receive location and judged by
// the port (CheckReceipt, as the runner does), is refused saying what the
// signer is to the parties (the port's PartySigners), as the smime decoder
// says it of a message, not with "certificate signed by unknown
// authority", which would send the operator to the partner's
// certificate: one that is no party's, and a look-alike of the partner's
// certificate (its issuer and serial number, from another CA of the same
// name). The partner's own signature still delivers.
func TestAsyncMDNSignerReasons(t *testing.T) {
	url, sink, partner := mdnLocation(t)
	litware := partner.Issuer.Issue(t, testpki.Options{CommonName: "Litware Signing"})
	stranger := partner.Issuer.Issue(t, testpki.Options{CommonName: "Stranger"})
	rogue := testpki.NewCA(t, partner.Issuer.Cert.Subject.CommonName)
	lookAlike := rogue.Issue(t, testpki.Options{CommonName: partner.Cert.Subject.CommonName, SerialNumber: partner.Cert.SerialNumber})
	if !bytes.Equal(lookAlike.Cert.RawIssuer, partner.Cert.RawIssuer) || lookAlike.Cert.Equal(partner.Cert) {
		t.Fatal("the look-alike does not have the partner's issuer, or is the partner's certificate")
	}
	b, _ := body(t, nil)
	snd, err := SendSpec.Decode(b).(*SendConfig).NewJudge(&component.SendEnv{Port: "p", AS2ID: "CONTOSO", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"},
		Keys: component.Keys{PartySigners: []component.PartyCertificate{{Party: "litware", Cert: litware.Cert}, {Party: "fabrikam", Cert: partner.Cert}}}})
	if err != nil {
		t.Fatal(err)
	}
	h := as2.NewHasher()
	h.Write([]byte("the entity sent"))
	mic := h.MIC(as2.SHA256)
	const what = `send port "p": party "fabrikam"'s asynchronous MDN: as2: MDN signature: smime: `
	for i, tc := range []struct {
		name   string
		signer *testpki.Cert
		want   string // "" when it delivers
	}{
		{"the partner", partner, ""},
		{"a stranger", stranger, what + `the signer "CN=Stranger" (issuer "CN=Test CA", serial ` + stranger.Cert.SerialNumber.Text(16) + `) is not a signing certificate of any party`},
		{"a look-alike of the partner's", lookAlike, what + `the signer certificate the message carries, "CN=Fabrikam Signing" (issuer "CN=Test CA", serial ` +
			partner.Cert.SerialNumber.Text(16) + `), does not match party "fabrikam"'s signing certificate with that issuer and serial number: its thumbprint and public key differ`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := fmt.Sprintf("<d%d@contoso.example>", i)
			built, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: sent, FinalRecipient: "CONTOSO", Disposition: as2.Processed(), MIC: &mic},
				as2.BuildOptions{Signer: &smime.Signer{Cert: tc.signer.Cert, Key: tc.signer.Key}, From: "FABRIKAM", To: "CONTOSO"})
			if err != nil {
				t.Fatal(err)
			}
			postBuiltMDN(t, url, built)
			sink.mu.Lock()
			in := sink.got[len(sink.got)-1]
			sink.mu.Unlock()
			if in.Correlation != sent {
				t.Fatalf("the runner got the receipt for %q, want %q", in.Correlation, sent)
			}
			rc, err := snd.CheckReceipt(context.Background(), in, component.Pending{Correlation: sent, Check: encodeMICs(h)})
			if tc.want == "" {
				if err != nil || rc == nil || !strings.HasSuffix(rc.Summary, "; signed") {
					t.Fatalf("CheckReceipt: %+v, %v; want the MDN signed and delivering", rc, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want || component.IsPermanent(err) || errors.Is(err, component.ErrReceiptUnusable) {
				t.Errorf("CheckReceipt error\n  %v\nwant the attempt failed with\n  %s", err, tc.want)
			}
			if rc == nil || rc.Summary != "unreadable MDN" || !bytes.Equal(rc.Data, in.Raw) {
				t.Errorf("receipt kept %+v, want the MDN as received", rc)
			}
		})
	}
}

// postBuiltMDN POSTs the built MDN to the location at url, as a partner does,
// and fails t unless it is answered 200.
func postBuiltMDN(t *testing.T, url string, built *as2.Built) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(built.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = built.Header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST of the MDN: %d", resp.StatusCode)
	}
}
