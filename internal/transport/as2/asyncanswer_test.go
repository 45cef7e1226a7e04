package as2

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/message/messagetest"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/syncbuf"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// TestAsyncAskedSyncAnswered: a partner that ignores Receipt-Delivery-Option
// (some servers only send synchronous MDNs) and answers a message that asked
// for an asynchronous MDN with an MDN in its response has that MDN judged as
// a synchronous one, verified with the partner's certificate: positive, the
// message is delivered with it kept, nothing awaited; negative, suspended
// with its disposition; unreadable or signed by another, the attempt fails
// (retried). A warning says the partner answered synchronously. An empty or
// non-MDN answer still awaits the asynchronous MDN, with no warning.
func TestAsyncAskedSyncAnswered(t *testing.T) {
	ca := testpki.NewCA(t, "Test CA")
	partner := ca.Issue(t, testpki.Options{CommonName: "Fabrikam Signing"})
	stranger := ca.Issue(t, testpki.Options{CommonName: "Stranger"})
	none := as2.ComputeMIC(as2.SHA256, nil) // nothing is written to the MIC
	const reportType = "multipart/report; report-type=disposition-notification; boundary=b"
	mdn := func(d as2.Disposition, signer *testpki.Cert) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			opts := as2.BuildOptions{From: "FABRIKAM", To: "CONTOSO"}
			if signer != nil {
				opts.Signer = &smime.Signer{Cert: signer.Cert, Key: signer.Key}
			}
			b, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: r.Header.Get("Message-Id"), FinalRecipient: "FABRIKAM",
				Disposition: d, MIC: &none}, opts)
			if err != nil {
				t.Error(err)
				return
			}
			for k, vs := range b.Header {
				w.Header()[k] = vs
			}
			_, _ = w.Write(b.Body)
		}
	}
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		// awaited: the asynchronous MDN is still awaited (no verdict).
		awaited, delivered, suspended bool
		want                          string // in the attempt's error
	}{
		{name: "positive", answer: mdn(as2.Processed(), partner), delivered: true},
		{name: "negative", answer: mdn(as2.ProcessedError("decryption-failed"), partner), suspended: true, want: "decryption-failed"},
		{name: "signed by another", answer: mdn(as2.Processed(), stranger), want: "Stranger"},
		{name: "unsigned", answer: mdn(as2.Processed(), nil), want: "not signed"},
		{name: "garbage", answer: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", reportType)
			_, _ = w.Write([]byte("--b\r\nContent-Type: text/plain\r\n\r\nno notification\r\n--b--\r\n"))
		}, want: "synchronously although an asynchronous one was asked for"},
		{name: "negative with status 500", answer: func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			mdn(as2.ProcessedError("decryption-failed"), partner)(rec, r)
			for k, vs := range rec.Header() {
				w.Header()[k] = vs
			}
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(rec.Body.Bytes())
		}, suspended: true, want: "decryption-failed"},
		{name: "empty 200", answer: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", reportType)
		}, awaited: true},
		{name: "text 200", answer: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("OK, your MDN will follow"))
		}, awaited: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Receipt-Delivery-Option") == "" {
					t.Error("the request asks for no asynchronous MDN")
				}
				tc.answer(w, r)
			}))
			defer srv.Close()
			var logged syncbuf.Buffer
			res, err := commitWith(t, map[string]any{"url": value.Known[message.Template](messagetest.Text(srv.URL), hcl.Range{}),
				"mdn": value.Known("async", hcl.Range{}), "async_mdn_url": value.Known("https://us.example/as2", hcl.Range{})},
				&component.SendEnv{Log: slog.New(slog.NewTextHandler(&logged, nil)),
					Keys: component.Keys{PartySigners: []component.PartyCertificate{{Party: "fabrikam", Cert: partner.Cert}}}})
			warnings := strings.Count(logged.String(), "although an asynchronous one was asked for")
			if tc.awaited {
				if err != nil || res.Pending == nil || res.Receipt != nil {
					t.Fatalf("Commit: %+v, %v; want the asynchronous MDN awaited", res, err)
				}
				if warnings != 0 {
					t.Errorf("warned that the partner answered synchronously:\n%s", logged.String())
				}
				return
			}
			if res.Pending != nil {
				t.Fatalf("Commit: %+v, %v; want the MDN answered judged, not an asynchronous one awaited", res, err)
			}
			switch {
			case tc.delivered:
				if err != nil || res.Receipt == nil || !strings.Contains(res.Receipt.Summary, "processed; Received-Content-MIC") ||
					!strings.Contains(res.Receipt.Summary, "signed") {
					t.Fatalf("Commit: %+v, %v; want delivered with the signed MDN kept", res.Receipt, err)
				}
			case tc.suspended:
				if !component.IsPermanent(err) || res.Receipt == nil {
					t.Fatalf("Commit: %v (receipt %v); want suspended with the MDN kept", err, res.Receipt)
				}
			default:
				if err == nil || component.IsPermanent(err) {
					t.Fatalf("Commit: %v; want a failed attempt, retried", err)
				}
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Commit: %v\nwant it to say %q", err, tc.want)
			}
			if warnings != 1 {
				t.Errorf("%d warnings that the partner answered synchronously, want 1:\n%s", warnings, logged.String())
			}
		})
	}
}

// commitWith is commitOnce with env's Log and Keys.
func commitWith(t *testing.T, attrs map[string]any, env *component.SendEnv) (component.Result, error) {
	t.Helper()
	b, _ := body(t, attrs)
	env.AS2ID, env.Namespace, env.PartyAS2IDs = "CONTOSO", "box", map[string]string{"fabrikam": "FABRIKAM"}
	s, err := SendSpec.Decode(b).(*SendConfig).NewSender(env)
	if err != nil {
		t.Fatal(err)
	}
	defer s.(*sender).Close()
	att, err := s.Begin(context.Background(), &component.Delivery{ID: 1, Port: "p", Message: &message.Message{}},
		component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "application/edi-x12"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := att.Write([]byte("ISA*00*~")); err != nil {
		t.Fatal(err)
	}
	return att.Commit(context.Background())
}
