package runner_test

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/as2/as2test"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// TestAS2MDNForAnotherServersPort: with a message box shared by two
// servers, the asynchronous MDN for a send of srv1's port reaches the as2
// location of srv2, which does not run the port (receive and send hosts on
// different servers, or one async_mdn_url behind a load balancer). srv2
// settles the delivery through the box, judging the MDN with the partner's
// certificates of its own other-people store, instead of refusing it 400,
// which loses it; without that store it cannot judge it, and answers 503
// with a Retry-After, so that the partner sends it again, perhaps to a
// server that can (validate refuses that configuration, BP7006: the case
// runs it regardless, as a server whose validation was not heeded would).
// Judging needs only those certificates: the files of
// the port's tls block, which only the servers that send need (and srv2
// does not have), do not stop srv2 from judging.
func TestAS2MDNForAnotherServersPort(t *testing.T) {
	p := newPKI(t)
	partnerSigner := &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}
	for _, tc := range []struct {
		name    string
		store   string // srv2's other_people_store attribute
		tls     bool   // the port has TLS client files, gone when srv2 starts
		status  int
		status2 msgbox.Status // the message's, after the MDN
		refused bool          // validate refuses it (BP7006 on srv2)
	}{
		{"judged through the shared box", "other_people_store = certificate_store.others", false, http.StatusOK, msgbox.StatusDelivered, false},
		{"srv2 cannot judge it", "", false, http.StatusServiceUnavailable, msgbox.StatusAwaitingMDN, true},
		{"judged without the port's TLS files", "other_people_store = certificate_store.others", true, http.StatusOK, msgbox.StatusDelivered, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var built *as2.Built
			partner := startPartner(t, func(w http.ResponseWriter, r *http.Request) {
				body := mustReadBody(t, r)
				mic := as2.ComputeMIC(as2.SHA256, body)
				b, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: r.Header.Get("Message-Id"), FinalRecipient: "FABRIKAM", Disposition: as2.Processed(), MIC: &mic},
					as2.BuildOptions{Signer: partnerSigner, From: "FABRIKAM", To: "CONTOSO"})
				if err != nil {
					t.Errorf("building the MDN: %v", err)
				}
				mu.Lock()
				built = b
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
			})
			port := freePort(t)
			srv2 := receivingServer(tc.store)
			sendPort := strings.Replace(asyncHourPort, "{{.URL}}", partner, 1)
			files := t.TempDir()
			if tc.tls {
				cert, key := as2test.PEMFiles(t, files, "client", p.signer.CertPEM(), p.signer.KeyPEM())
				sendPort = strings.Replace(sendPort, `mdn_timeout   = "1h"`, `mdn_timeout   = "1h"
    tls {
      cert_file = "`+cert+`"
      key_file  = "`+key+`"
    }`, 1)
			}
			dir := setup(t, p, as2Common+srv2+sendPort, map[string]string{"Port": port})
			put(t, dir, "order.edi", []byte("ISA*00*~srv1"))
			var allow []diag.Code
			if tc.refused {
				found := false
				for _, d := range ruleFindings(t, dir) {
					found = found || (diag.CodeOf(d) == diag.CodePartyCertMissing && strings.Contains(d.Detail, `server "srv2"`))
				}
				if !found {
					t.Fatal("validate passes a configuration whose srv2 receives the MDNs without the partner's certificate")
				}
				allow = append(allow, diag.CodePartyCertMissing)
			}
			r1, box := startAllowing(t, dir, nil, allow...)
			if got := r1.Ports(); len(got) != 1 || got[0] != "p" {
				t.Fatalf("srv1 runs %v", got)
			}
			if tc.tls {
				// Only srv1, which sends, has them.
				if err := os.RemoveAll(files); err != nil {
					t.Fatal(err)
				}
			}
			r2, _ := startAllowing(t, dir, func(o *runner.Options) { o.Server = "srv2"; o.Box = box }, allow...)
			if got := r2.Ports(); len(got) != 0 {
				t.Fatalf("srv2 runs %v", got)
			}
			defer runInBackground(t, r1)()
			waitAwaiting(t, box)
			defer runInBackground(t, r2)()
			url := "http://127.0.0.1:" + port + "/as2"
			waitListening(t, url)
			mu.Lock()
			b := built
			mu.Unlock()
			status, retryAfter := postMDNAnswer(t, url, b)
			if status != tc.status || (status == http.StatusServiceUnavailable) != (retryAfter != "") {
				t.Fatalf("srv2's answer to the MDN: %d, Retry-After %q; want %d", status, retryAfter, tc.status)
			}
			ms, err := msgbox.Collect(t.Context(), box, msgbox.Filter{})
			if err != nil || len(ms) != 1 {
				t.Fatalf("messages: %d, %v", len(ms), err)
			}
			if ms[0].Status != tc.status2 {
				t.Errorf("order.edi: %s (%s), want %s", ms[0].Status, ms[0].Reason, tc.status2)
			}
		})
	}
}

// TestAS2MDNForAnotherServersSendInFlight: with a message box shared by
// two servers, srv1's partner POSTs the asynchronous MDN to srv2 before it
// answers srv1's POST, and answers that only once srv2 answered the MDN:
// the delivery is still being sent, its wait not recorded, when srv2's
// early wait for it ends. srv2 answers 503 with a Retry-After, which the
// partner honours (it never sends again an MDN refused 400, which would
// be lost, and the message sent again after mdn_timeout); sent again once
// srv1 recorded the wait, the MDN settles the delivery.
func TestAS2MDNForAnotherServersSendInFlight(t *testing.T) {
	p := newPKI(t)
	nextMDN, partner := mdnFirstPartner(t, p)
	port := freePort(t)
	srv2 := receivingServer("other_people_store = certificate_store.others")
	dir := setup(t, p, as2Common+srv2+strings.Replace(asyncHourPort, "{{.URL}}", partner, 1), map[string]string{"Port": port})
	put(t, dir, "order.edi", []byte("ISA*00*~in flight"))
	r1, box := startWith(t, dir, nil)
	r2, _ := startWith(t, dir, func(o *runner.Options) { o.Server = "srv2"; o.Box = box })
	if got := r2.Ports(); len(got) != 0 {
		t.Fatalf("srv2 runs %v", got)
	}
	// Its early wait ends while srv1's POST is held.
	runner.SetEarlyMDNWait(r2, 50*time.Millisecond)
	url := "http://127.0.0.1:" + port + "/as2"
	defer runInBackground(t, r2)()
	waitListening(t, url)
	defer runInBackground(t, r1)()
	got := nextMDN()
	if got.status != http.StatusServiceUnavailable || got.retryAfter == "" {
		t.Errorf("srv2's answer to the MDN of srv1's send in flight: %d, Retry-After %q; want 503 with a Retry-After", got.status, got.retryAfter)
	}
	waitAwaiting(t, box)
	if status, _ := postMDNAnswer(t, url, got.built); status != http.StatusOK {
		t.Fatalf("srv2's answer to the MDN sent again: %d, want 200", status)
	}
	if d := waitSettled(t, box, 1)["order.edi"]; d == nil || d.Message.Status != msgbox.StatusDelivered {
		t.Fatalf("order.edi: %+v", d)
	}
}

// postedMDN is what mdnFirstPartner's partner saw of the MDN it POSTed:
// the MDN, our answer's status and Retry-After, or what failed.
type postedMDN struct {
	built             *as2.Built
	status            int
	retryAfter, error string
}

// mdnFirstPartner starts a partner that, for each AS2 message, POSTs its
// positive signed MDN to the message's Receipt-Delivery-Option before it
// answers the message (200) — a partner that sends the MDN first, or
// answers slowly. next returns what it saw of the MDN it POSTed for the
// next message, failing t when that failed or none came.
func mdnFirstPartner(t *testing.T, p *pki) (next func() postedMDN, url string) {
	partnerSigner := &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}
	got := make(chan postedMDN, 1)
	url = startPartner(t, func(w http.ResponseWriter, r *http.Request) {
		defer w.WriteHeader(http.StatusOK)
		body := mustReadBody(t, r)
		mic := as2.ComputeMIC(as2.SHA256, body)
		built, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: r.Header.Get("Message-Id"), FinalRecipient: "FABRIKAM", Disposition: as2.Processed(), MIC: &mic},
			as2.BuildOptions{Signer: partnerSigner, From: "FABRIKAM", To: "CONTOSO"})
		if err != nil {
			got <- postedMDN{error: err.Error()}
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, r.Header.Get("Receipt-Delivery-Option"), bytes.NewReader(built.Body))
		if err != nil {
			got <- postedMDN{error: err.Error()}
			return
		}
		for k, vs := range built.Header {
			req.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- postedMDN{error: err.Error()}
			return
		}
		resp.Body.Close()
		got <- postedMDN{built, resp.StatusCode, resp.Header.Get("Retry-After"), ""}
	})
	return func() postedMDN {
		t.Helper()
		select {
		case m := <-got:
			if m.error != "" {
				t.Fatal(m.error)
			}
			return m
		case <-time.After(30 * time.Second): // a safety net, not a timing
			t.Fatal("the partner got no message")
			return postedMDN{}
		}
	}, url
}

// receivingServer declares server srv2, whose server block holds store
// (its other-people store, or nothing), and on it host r with the as2
// receive location as2in, listening on {{.Port}} at /as2: a server that
// receives the MDNs of srv1's sends.
func receivingServer(store string) string {
	return `
server "srv2" { ` + store + ` }
host "r" {
  instance {
    server          = server.srv2
    service_account = service_account.svc
  }
}
receive_location "as2in" {
  host = host.r
  transport "as2" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/as2"
  }
}
`
}
