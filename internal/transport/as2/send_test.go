package as2

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testhttp"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/message/messagetest"
)

// TestSyncMDNTimeout: a partner that answers 200 and then sends its MDN
// too slowly fails the attempt (retried, not suspended) with an error that
// names the port, the partner and the timeout that passed, not only
// "context deadline exceeded".
func TestSyncMDNTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/report; report-type=disposition-notification; boundary=b")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("--b\r\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes: the client gives up
	}))
	defer srv.Close()
	err := sendOnce(t, map[string]any{"url": value.Known[message.Template](messagetest.Text(srv.URL), hcl.Range{}),
		"timeout": value.Known(300*time.Millisecond, hcl.Range{}), "signed_mdn": value.Known(false, hcl.Range{})})
	if err == nil || component.IsPermanent(err) {
		t.Fatalf("Commit: %v, want a failed attempt", err)
	}
	for _, want := range []string{`send port "p"`, `party "fabrikam"'s MDN`, "within the timeout of 300ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Commit: %v\nwant it to say %q", err, want)
		}
	}
}

// TestPartnerReasonPhraseBounded: the status a partner answers is quoted in
// the attempt's error (which the box keeps and the log repeats) at most
// some 200 printable bytes of its reason phrase, however long and
// whatever control characters the partner sent.
func TestPartnerReasonPhraseBounded(t *testing.T) {
	reason := strings.Repeat("\x1b[2J\x07Boom", 20000)
	addr, _ := testhttp.RawPartner(t, "HTTP/1.1 200 "+reason+"\r\nContent-Length: 0\r\n\r\n")
	err := sendOnce(t, map[string]any{"url": value.Known[message.Template](messagetest.Text("http://"+addr+"/as2"), hcl.Range{}),
		"signed_mdn": value.Known(false, hcl.Range{})})
	if err == nil || !strings.Contains(err.Error(), "without an MDN") {
		t.Fatalf("Commit: %v, want the answer without an MDN", err)
	}
	if msg := err.Error(); len(msg) > 400 || strings.ContainsAny(msg, "\x1b\x07") {
		t.Errorf("the error quotes %d bytes, control characters included: %.300q", len(msg), msg)
	}
}

// sendOnce makes one delivery of a small EDI body to party fabrikam through
// an as2 transport of attrs, as port "p", and returns its Commit's error.
func sendOnce(t *testing.T, attrs map[string]any) error {
	t.Helper()
	_, err := commitOnce(t, attrs)
	return err
}

// commitOnce is sendOnce returning the Commit's result too. The MIC of
// what was sent is that of no content: nothing is written to the
// attempt's ContentWriter.
func commitOnce(t *testing.T, attrs map[string]any) (component.Result, error) {
	t.Helper()
	return commitWith(t, attrs, &component.SendEnv{})
}

// TestReceivedDispositionShownBounded: the disposition of a partner's MDN
// is quoted in the attempt's error and the receipt's summary (which the
// box keeps and the log repeats) at most some 200 printable octets,
// however long the partner wrote it and whatever control characters it
// holds; the MDN kept holds it whole. A negative one still suspends,
// naming its disposition type; a positive one still delivers.
func TestReceivedDispositionShownBounded(t *testing.T) {
	junk := strings.Repeat("\x1b[2J\x07Boom", 20000)
	none := as2.ComputeMIC(as2.SHA256, nil)
	for _, tc := range []struct {
		name, disposition string
		negative          bool
	}{
		{"negative, long description", "automatic-action/MDN-sent-automatically; processed/error: " + junk, true},
		{"positive, long action", junk + "; processed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "multipart/report; report-type=disposition-notification; boundary=b")
				_, _ = w.Write([]byte("--b\r\nContent-Type: message/disposition-notification\r\n\r\n" +
					"Original-Message-ID: " + r.Header.Get("Message-Id") + "\r\nDisposition: " + tc.disposition +
					"\r\nReceived-Content-MIC: " + none.String() + "\r\n\r\n--b--\r\n"))
			}))
			defer srv.Close()
			res, err := commitOnce(t, map[string]any{"url": value.Known[message.Template](messagetest.Text(srv.URL), hcl.Range{}),
				"signed_mdn": value.Known(false, hcl.Range{})})
			if tc.negative != (err != nil) || tc.negative != component.IsPermanent(err) {
				t.Fatalf("Commit: %v, want suspended %v", err, tc.negative)
			}
			if res.Receipt == nil || !bytes.Contains(res.Receipt.Data, []byte(junk)) {
				t.Fatal("the MDN kept does not hold the disposition whole")
			}
			shown := map[string]string{"summary": res.Receipt.Summary}
			if err != nil {
				shown["error"] = err.Error()
				if !strings.Contains(err.Error(), "; processed/error: ?[2J?Boom") {
					t.Errorf("Commit: %.300q\nwant it to name the disposition", err)
				}
			}
			for what, s := range shown {
				if len(s) > 400 || strings.ContainsAny(s, "\x1b\x07") {
					t.Errorf("the %s quotes %d bytes, control characters included: %.300q", what, len(s), s)
				}
			}
		})
	}
}

// TestNewJudge: what judges a port's MDNs on a server that does not send
// is built without the files of the port's tls block, which only the
// servers that send have, where NewSender needs them; it judges, and
// sends nothing.
func TestNewJudge(t *testing.T) {
	b, _ := body(t, map[string]any{"signed_mdn": value.Known(false, hcl.Range{})})
	cfg := SendSpec.Decode(b).(*SendConfig)
	missing := filepath.Join(t.TempDir(), "absent")
	cfg.CertFile, cfg.KeyFile = value.Known(missing+".crt", hcl.Range{}), value.Known(missing+".key", hcl.Range{})
	env := &component.SendEnv{AS2ID: "CONTOSO", Namespace: "box", PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"}}
	if s, err := cfg.NewSender(env); err == nil {
		s.(*sender).Close()
		t.Fatal("NewSender without the tls block's files succeeded")
	}
	j, err := cfg.NewJudge(env)
	if err != nil {
		t.Fatalf("NewJudge without the tls block's files: %v", err)
	}
	defer j.(*sender).Close()
	d := &component.Delivery{ID: 1, Port: "p", Message: &message.Message{}}
	id := j.Correlation(d)
	mdn, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: id, FinalRecipient: "FABRIKAM", Disposition: as2.ProcessedError("decryption-failed")},
		as2.BuildOptions{From: "FABRIKAM", To: "CONTOSO"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = j.CheckReceipt(context.Background(), component.IncomingReceipt{Party: "fabrikam", Correlation: id, Raw: mdn.Entity,
		ContentType: mdn.Header.Get("Content-Type")}, component.Pending{Correlation: id, Check: "sha-256=AAAA"})
	if !component.IsPermanent(err) || !strings.Contains(err.Error(), "decryption-failed") {
		t.Errorf("the judge's verdict on a negative MDN: %v, want it suspending, naming the disposition", err)
	}
	if _, err := j.Begin(context.Background(), d, component.Header{}); err == nil || !strings.Contains(err.Error(), "does not send") {
		t.Errorf("the judge's Begin: %v, want a refusal", err)
	}
}

// TestAsyncMDNReasonNamesThePort: the reason an asynchronous MDN fails its
// delivery (kept as the message's reason, which may have deliveries to
// several ports) names the send port, as a synchronous MDN's does, and the
// partner and what was wrong.
func TestAsyncMDNReasonNamesThePort(t *testing.T) {
	b, _ := body(t, map[string]any{"signed_mdn": value.Known(false, hcl.Range{}), "mdn": value.Known("async", hcl.Range{}),
		"async_mdn_url": value.Known("https://us.example/as2", hcl.Range{})})
	j, err := SendSpec.Decode(b).(*SendConfig).NewJudge(&component.SendEnv{Port: "to_fabrikam", AS2ID: "CONTOSO", Namespace: "box",
		PartyAS2IDs: map[string]string{"fabrikam": "FABRIKAM"}})
	if err != nil {
		t.Fatal(err)
	}
	id := j.Correlation(&component.Delivery{ID: 1, Port: "to_fabrikam", Message: &message.Message{}})
	wrong := as2.ComputeMIC(as2.SHA256, []byte("not what was sent"))
	for _, tc := range []struct {
		name string
		mdn  as2.MDN
		want string
	}{
		{"negative", as2.MDN{Disposition: as2.ProcessedError("decryption-failed")}, "decryption-failed"},
		{"wrong MIC", as2.MDN{Disposition: as2.Processed(), MIC: &wrong}, "does not match"},
	} {
		tc.mdn.OriginalMessageID, tc.mdn.FinalRecipient = id, "FABRIKAM"
		built, err := as2.BuildMDN(&tc.mdn, as2.BuildOptions{From: "FABRIKAM", To: "CONTOSO"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = j.CheckReceipt(context.Background(), component.IncomingReceipt{Party: "fabrikam", Correlation: id, Raw: built.Entity,
			ContentType: built.Header.Get("Content-Type")}, component.Pending{Correlation: id, Check: "sha-256=AAAA"})
		for _, want := range []string{`send port "to_fabrikam"`, `party "fabrikam"`, tc.want} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want it to say %q", tc.name, err, want)
			}
		}
	}
}
