package runner_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/as2/as2test"
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// as2AsyncLocation is the as2 receive location our partners POST their
// asynchronous MDNs to.
const as2AsyncLocation = `
receive_location "as2in" {
  host = host.h
  transport "as2" {
    listen = "127.0.0.1:{{.Port}}"
    path   = "/as2"
  }
}
`

// waitSettled waits until n messages are delivered or suspended and
// returns them by file name.
func waitSettled(t *testing.T, box msgbox.Box, n int) map[string]*msgbox.Detail {
	t.Helper()
	for range 1200 {
		msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*msgbox.Detail{}
		for _, m := range msgs {
			if m.Status == msgbox.StatusDelivered || m.Status == msgbox.StatusSuspended {
				d, err := box.Get(context.Background(), m.ID)
				if err != nil {
					t.Fatal(err)
				}
				out[m.FileName] = d
			}
		}
		if len(out) == n {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fewer than %d messages settled within a minute", n)
	return nil
}

// libas2AsyncPort is send port "fabrikam", signing and encrypting to the
// libas2 partner at {{.URL}} and asking for an asynchronous MDN at our
// location on port {{.Port}}, with more, an attribute of its transport.
func libas2AsyncPort(more string) string {
	return `
send_port "fabrikam" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = message.receive_location == "in"
  transport "as2" {
    url           = "{{.URL}}"
    partner       = party.fabrikam
    mdn           = "async"
    async_mdn_url = "http://127.0.0.1:{{.Port}}/as2"
    ` + more + `
  }
}
`
}

// TestAS2AsyncSendToLibas2: with mdn = "async" the message goes to the
// independent libas2 partner with a Receipt-Delivery-Option; libas2
// answers 200 and POSTs its MDN, signed or not as asked, to our as2
// receive location, which settles the delivery: delivered, with the MDN
// kept, whose processed disposition and Received-Content-MIC (libas2's
// own computation) our check accepted.
func TestAS2AsyncSendToLibas2(t *testing.T) {
	ossl := testpki.OpenSSL(t)
	p := newPKI(t)
	partner := libas2Receiver(t, p, as2test.Config{})
	for _, signed := range []bool{true, false} {
		t.Run("signed_mdn="+strconv.FormatBool(signed), func(t *testing.T) {
			dir := setup(t, p, as2Common+as2AsyncLocation+libas2AsyncPort("signed_mdn    = {{.Signed}}"), map[string]string{"URL": partner.URL(), "Port": freePort(t), "Signed": strconv.FormatBool(signed)})
			payload := []byte("ISA*00*          *00*          *ZZ*CONTOSO~\r\nGS*PO*CONTOSO*FABRIKAM~\r\n")
			put(t, dir, "order.edi", payload)
			r, box := start(t, dir)
			defer runInBackground(t, r)()
			got := partner.Next(t, time.Minute)
			if got.Event != "received" || got.MDNMode != "async" || got.SignedMDN != signed || !bytes.Equal(got.Content, payload) {
				t.Fatalf("partner: %+v", got)
			}
			if got.Disposition == nil || !got.Disposition.Processed {
				t.Errorf("partner's disposition %+v, want processed", got.Disposition)
			}
			if sent := partner.Next(t, time.Minute); sent.Event != "async-mdn-sent" || sent.Status != http.StatusOK {
				t.Fatalf("partner's async MDN: %+v\n%s", sent, partner.Stderr())
			}
			d := waitSettled(t, box, 1)["order.edi"]
			if d == nil || d.Message.Status != msgbox.StatusDelivered {
				t.Fatalf("settled: %+v", d)
			}
			rc := d.Deliveries[0].Receipt
			want := "Received-Content-MIC " + got.MIC + ", "
			if rc == nil || !strings.Contains(rc.Summary, "processed") || !strings.Contains(rc.Summary, want) ||
				strings.Contains(rc.Summary, "signed") != signed {
				t.Errorf("kept MDN %+v, want processed with %q (signed %v)", rc, want, signed)
			}
			if !strings.Contains(string(rc.Data), got.MessageID) {
				t.Errorf("kept MDN does not name Message-ID %s", got.MessageID)
			}
			if signed {
				// OpenSSL, independently, verifies the signed MDN kept.
				work := t.TempDir()
				out, err := exec.Command(ossl, "cms", "-verify", "-in", testpki.WriteFile(t, work, "mdn.eml", rc.Data),
					"-CAfile", testpki.WriteFile(t, work, "ca.pem", p.ca.CertPEM())).CombinedOutput()
				if err != nil {
					t.Errorf("openssl cms -verify rejects libas2's async MDN: %v\n%s", err, out)
				}
			}
		})
	}
}

// TestAS2AsyncAskedLibas2AnswersSync: the independent libas2 partner set to
// ignore Receipt-Delivery-Option, as servers that only send synchronous
// MDNs do, answers a message that asked for an asynchronous MDN with its
// signed MDN in the response: that MDN is judged as a synchronous one and
// delivers the message, kept, instead of being thrown away while an
// asynchronous one that never comes is awaited (mdn_timeout is an hour).
func TestAS2AsyncAskedLibas2AnswersSync(t *testing.T) {
	p := newPKI(t)
	partner := libas2Receiver(t, p, as2test.Config{SyncMDNOnly: true})
	dir := setup(t, p, as2Common+as2AsyncLocation+libas2AsyncPort(`mdn_timeout   = "1h"`), map[string]string{"URL": partner.URL(), "Port": freePort(t)})
	put(t, dir, "order.edi", []byte("ISA*00*          *00*          *ZZ*CONTOSO~\r\n"))
	r, box := start(t, dir)
	defer runInBackground(t, r)()
	got := partner.Next(t, time.Minute)
	if got.Event != "received" || got.MDNMode != "async" || !got.SignedMDN {
		t.Fatalf("partner: %+v", got)
	}
	d := waitSettled(t, box, 1)["order.edi"]
	if d == nil || d.Message.Status != msgbox.StatusDelivered {
		t.Fatalf("settled: %+v", d)
	}
	rc := d.Deliveries[0].Receipt
	want := "Received-Content-MIC " + got.MIC + ", "
	if rc == nil || !strings.Contains(rc.Summary, "processed") || !strings.Contains(rc.Summary, want) || !strings.Contains(rc.Summary, "signed") {
		t.Errorf("kept MDN %+v, want processed, signed, with %q", rc, want)
	}
}

// TestAS2AsyncReceipts: asynchronous MDNs that prove nothing fail the
// attempt, which is sent again with the same Message-ID and then
// suspended with the reason: an unsigned MDN when a signed one was asked
// for, a wrong Received-Content-MIC, a partner that never sends the MDN
// (mdn_timeout), and one whose MDN is garbage (refused 400, then the
// timeout); a negative MDN suspends at once; a good one delivers. An MDN
// for a Message-ID nobody sent is refused. run --once does not wait: the
// delivery stays awaiting_mdn, counted in its summary.
func TestAS2AsyncReceipts(t *testing.T) {
	p := newPKI(t)
	partnerSigner := &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}
	var mu sync.Mutex
	ids := map[string][]string{}  // Message-IDs received per path
	answers := map[string][]int{} // our answers to the MDNs POSTed per path
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := mustReadBody(t, r)
		id, to := r.Header.Get("Message-Id"), r.Header.Get("Receipt-Delivery-Option")
		mu.Lock()
		ids[r.URL.Path] = append(ids[r.URL.Path], id)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
		if to == "" {
			t.Errorf("%s: no Receipt-Delivery-Option", r.URL.Path)
			return
		}
		right := as2.ComputeMIC(as2.SHA256, body)
		wrong := as2.ComputeMIC(as2.SHA256, []byte("not what was sent"))
		m := &as2.MDN{OriginalMessageID: id, FinalRecipient: "FABRIKAM", Disposition: as2.Processed(), MIC: &right}
		o := as2.BuildOptions{Signer: partnerSigner, Digest: as2.SHA256, From: "FABRIKAM", To: "CONTOSO"}
		var built *as2.Built
		switch r.URL.Path {
		case "/never":
			return
		case "/unsigned":
			o.Signer = nil
		case "/wrongmic":
			m.MIC = &wrong
		case "/negative":
			m.Disposition, m.MIC = as2.ProcessedError("decryption-failed"), nil
		case "/garbage":
			built = &as2.Built{Header: http.Header{"Content-Type": {"multipart/report; report-type=disposition-notification; boundary=b"}},
				Body: []byte("--b\r\nContent-Type: text/plain\r\n\r\n\x00\xff garbage\r\n")}
		case "/stranger":
			m.OriginalMessageID = "<nobody-sent-this@contoso>"
		}
		if built == nil {
			var err error
			if built, err = as2.BuildMDN(m, o); err != nil {
				t.Errorf("%s: building the MDN: %v", r.URL.Path, err)
				return
			}
		}
		go func() {
			req, err := http.NewRequest(http.MethodPost, to, bytes.NewReader(built.Body))
			if err != nil {
				t.Errorf("async MDN request: %v", err)
				return
			}
			for k, vs := range built.Header {
				req.Header[k] = vs
			}
			req.Header.Set("AS2-From", "FABRIKAM")
			req.Header.Set("AS2-To", "CONTOSO")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("async MDN POST: %v", err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			answers[r.URL.Path] = append(answers[r.URL.Path], resp.StatusCode)
			mu.Unlock()
		}()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + ln.Addr().String()

	cases := []string{"good", "unsigned", "wrongmic", "negative", "never", "garbage", "stranger"}
	var cfg strings.Builder
	cfg.WriteString(as2Common + as2AsyncLocation)
	for _, c := range cases {
		cfg.WriteString(asyncPort(c, `message.file_name == "`+c+`.edi"`, "/"+c))
	}
	dir := setup(t, p, cfg.String(), map[string]string{"URL": url, "Port": freePort(t)})

	// run --once sends and does not wait.
	put(t, dir, "never.edi", []byte("ISA*00*~once"))
	r, box := start(t, dir)
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Delivered != 0 || sum.AwaitingMDN != 1 {
		t.Errorf("run --once summary %+v, want 1 awaiting an MDN", sum)
	}
	if as, err := box.(msgbox.MDNAwaiter).AwaitingMDNs(context.Background()); err != nil || len(as) != 1 || as[0].Port != "never" {
		t.Errorf("awaiting after --once: %+v, %v", as, err)
	}

	for _, c := range cases {
		if c != "never" {
			put(t, dir, c+".edi", []byte("ISA*00*~"+c))
		}
	}
	defer runInBackground(t, r)()
	got := waitSettled(t, box, len(cases))
	for _, c := range cases {
		d := got[c+".edi"]
		dl := d.Deliveries[0]
		mu.Lock()
		sent, answered := ids["/"+c], answers["/"+c]
		mu.Unlock()
		for _, id := range sent {
			if id != sent[0] {
				t.Errorf("%s: Message-IDs %v, want the same for every attempt", c, sent)
			}
		}
		var wantReason string
		wantSent := 2
		switch c {
		case "good":
			if d.Message.Status != msgbox.StatusDelivered || dl.Receipt == nil || !strings.Contains(dl.Receipt.Summary, "processed; Received-Content-MIC") {
				t.Errorf("good: %s %s, receipt %+v", d.Message.Status, d.Message.Reason, dl.Receipt)
			}
			if len(sent) != 1 {
				t.Errorf("good: sent %d times", len(sent))
			}
			continue
		case "unsigned":
			wantReason = "not signed"
		case "wrongmic":
			wantReason = "does not match"
		case "negative":
			wantReason, wantSent = "decryption-failed", 1
		case "never", "garbage", "stranger":
			wantReason = "no asynchronous MDN arrived within mdn_timeout"
		}
		if d.Message.Status != msgbox.StatusSuspended || !strings.Contains(d.Message.Reason, wantReason) {
			t.Errorf("%s: %s, reason %q; want suspended with %q", c, d.Message.Status, d.Message.Reason, wantReason)
		}
		if len(sent) != wantSent {
			t.Errorf("%s: sent %d times, want %d", c, len(sent), wantSent)
		}
		switch c {
		case "garbage", "stranger":
			for _, code := range answered {
				if code != http.StatusBadRequest {
					t.Errorf("%s: our answers to its MDNs %v, want 400", c, answered)
				}
			}
		case "unsigned", "wrongmic", "negative":
			if dl.Receipt == nil {
				t.Errorf("%s: the MDN that failed the delivery is not kept", c)
			}
		}
	}
}

// mustReadBody reads a request's body.
func mustReadBody(t *testing.T, r *http.Request) []byte {
	var b bytes.Buffer
	if _, err := b.ReadFrom(r.Body); err != nil {
		t.Errorf("reading the request: %v", err)
	}
	return b.Bytes()
}

// TestAS2AsyncMDNTimeoutRetry: an attempt whose asynchronous MDN does not
// come within mdn_timeout has failed, and the next comes retry.interval
// later, as after any failed attempt (language §9), not at once: the
// delivery is retrying, due at the wait's deadline plus the interval,
// sent once so far, its history holding the attempt that timed out. Its
// MDN coming late is judged all the same: one whose MIC is not that of
// what was sent settles nothing (refused 400, still retrying); a valid
// positive one delivers it (200), kept, and the retry is not made: the
// partner has the message. Without a retry left it is suspended at the
// deadline, saying why, and its late positive MDN delivers it too. A late
// negative MDN, valid by the same rules, suspends the delivery at once
// with its disposition (§11), kept, the retry not made (200); unsigned
// when a signed one was asked, it settles nothing (400, still retrying).
// A suspended delivery without an MDN keeps a late negative one, still
// suspended, now saying what the partner said. Resumed and timed out
// again, the late MDN of its earlier attempt sent again changes nothing.
func TestAS2AsyncMDNTimeoutRetry(t *testing.T) {
	p := newPKI(t)
	partnerSigner := &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}
	var mu sync.Mutex
	sent := map[string][]string{}   // Message-IDs received per path
	late := map[string]*as2.Built{} // the MDN not sent, per path
	partner := startPartner(t, func(w http.ResponseWriter, r *http.Request) {
		body := mustReadBody(t, r)
		id := r.Header.Get("Message-Id")
		mic := as2.ComputeMIC(as2.SHA256, body)
		built, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: id, FinalRecipient: "FABRIKAM", Disposition: as2.Processed(), MIC: &mic},
			as2.BuildOptions{Signer: partnerSigner, Digest: as2.SHA256, From: "FABRIKAM", To: "CONTOSO"})
		if err != nil {
			t.Errorf("building the MDN: %v", err)
		}
		mu.Lock()
		sent[r.URL.Path] = append(sent[r.URL.Path], id)
		late[r.URL.Path] = built
		mu.Unlock()
		w.WriteHeader(http.StatusOK) // and no MDN
	})
	port := func(name string, attempts int) string {
		return asyncPortWith(name, `message.file_name == "`+name+`.edi"`, "/"+name, "1s", retryBlock(attempts, "1h"))
	}
	ourPort := freePort(t)
	dir := setup(t, p, as2Common+as2AsyncLocation+port("retried", 1)+port("last", 0)+port("refused", 1)+port("gaveup", 0),
		map[string]string{"URL": partner, "Port": ourPort})
	m, logs := metrics.New(), &logBuffer{}
	r, box := startWith(t, dir, func(o *runner.Options) {
		o.Metrics = m
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	defer runInBackground(t, r)()
	for _, name := range []string{"retried", "last", "refused", "gaveup"} {
		put(t, dir, name+".edi", []byte("ISA*00*~"+name))
	}

	// Until neither awaits its MDN nor is being sent.
	var got map[string]*msgbox.Detail
	for i := 0; ; i++ {
		msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]*msgbox.Detail{}
		for _, m := range msgs {
			if m.Status == msgbox.StatusRetrying || m.Status == msgbox.StatusSuspended {
				if got[m.FileName], err = box.Get(context.Background(), m.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(got) == 4 {
			break
		}
		if i == 1200 {
			t.Fatalf("not all retrying or suspended within a minute: %v", msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()

	d := got["retried.edi"]
	if d == nil || len(d.Deliveries) != 1 {
		t.Fatalf("retried.edi: %+v", d)
	}
	if len(sent["/as2/retried"]) != 1 {
		t.Errorf("retried: sent %d times before its retry.interval passed, want once", len(sent["/as2/retried"]))
	}
	dl := d.Deliveries[0]
	expired := msgbox.LeaseExpiredError(msgbox.AwaitOwner)
	if d.Message.Status != msgbox.StatusRetrying || dl.State != msgbox.DeliveryRetrying || dl.Attempts != 1 || dl.LastError != expired {
		t.Fatalf("retried: %s (%s), delivery %s after %d attempt(s), last error %q; want retrying after 1, %q",
			d.Message.Status, d.Message.Reason, dl.State, dl.Attempts, dl.LastError, expired)
	}
	a, err := box.(msgbox.MDNAwaiter).AwaitedMDN(context.Background(), sent["/as2/retried"][0])
	if err != nil {
		t.Fatal(err)
	}
	if want := msgbox.Timestamp(a.Deadline.Add(time.Hour)); !dl.NextAttemptAt.Equal(want) {
		t.Errorf("retried: next attempt at %s, want retry.interval after the deadline %s: %s", dl.NextAttemptAt, a.Deadline, want)
	}
	if len(d.Attempts) != 1 || d.Attempts[0].Owner != msgbox.AwaitOwner || d.Attempts[0].Error != expired ||
		!d.Attempts[0].FinishedAt.Equal(a.Deadline) {
		t.Errorf("retried: attempts %+v, want the wait's, ended at the deadline %s", d.Attempts, a.Deadline)
	}
	wrong := as2.ComputeMIC(as2.SHA256, []byte("not what was sent"))
	mismatching, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: sent["/as2/retried"][0], FinalRecipient: "FABRIKAM",
		Disposition: as2.Processed(), MIC: &wrong}, as2.BuildOptions{Signer: partnerSigner, Digest: as2.SHA256, From: "FABRIKAM", To: "CONTOSO"})
	if err != nil {
		t.Fatal(err)
	}
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", mismatching); code != http.StatusBadRequest {
		t.Errorf("our answer to a late MDN with another MIC: %d, want 400", code)
	}
	if st := deliveryState(t, box, d.Message.ID); st != msgbox.DeliveryRetrying {
		t.Errorf("retried: %s after a late MDN with another MIC, want still retrying", st)
	}
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", late["/as2/retried"]); code != http.StatusOK {
		t.Errorf("our answer to the late MDN: %d, want 200", code)
	}
	settled, err := box.Get(context.Background(), d.Message.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dl := settled.Deliveries[0]; settled.Message.Status != msgbox.StatusDelivered || dl.State != msgbox.DeliveryDelivered ||
		dl.Attempts != 1 || dl.Receipt == nil || !bytes.Contains(dl.Receipt.Data, late["/as2/retried"].Body) {
		t.Errorf("retried: %s, delivery %s after %d attempt(s), receipt %v after the late MDN; want delivered after 1, keeping it",
			settled.Message.Status, dl.State, dl.Attempts, dl.Receipt)
	}
	if _, due, err := box.NextDue(context.Background(), []string{"retried"}); err != nil || due {
		t.Errorf("retried: a retry is still due (%v, %v) after the late MDN delivered it", due, err)
	}

	d = got["last.edi"]
	if d == nil {
		t.Fatal("last.edi did not settle")
	}
	const reason = "no asynchronous MDN arrived within mdn_timeout"
	if d.Message.Status != msgbox.StatusSuspended || !strings.Contains(d.Message.Reason, reason) {
		t.Errorf("last: %s, reason %q; want suspended with %q", d.Message.Status, d.Message.Reason, reason)
	}
	if len(sent["/as2/last"]) != 1 {
		t.Errorf("last: sent %d times, want once", len(sent["/as2/last"]))
	}
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", late["/as2/last"]); code != http.StatusOK {
		t.Errorf("our answer to last's late MDN: %d, want 200", code)
	}
	if st := deliveryState(t, box, d.Message.ID); st != msgbox.DeliveryDelivered {
		t.Errorf("last: %s after its late MDN, want delivered", st)
	}

	// negative builds a negative MDN for what was sent to path, signed by
	// the partner or not.
	negative := func(path string, signed bool) *as2.Built {
		t.Helper()
		opts := as2.BuildOptions{Digest: as2.SHA256, From: "FABRIKAM", To: "CONTOSO"}
		if signed {
			opts.Signer = partnerSigner
		}
		b, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: sent[path][0], FinalRecipient: "FABRIKAM",
			Disposition: as2.ProcessedError("unexpected-processing-error")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const disposition = "processed/error: unexpected-processing-error"
	d = got["refused.edi"]
	if d == nil || d.Deliveries[0].State != msgbox.DeliveryRetrying {
		t.Fatalf("refused.edi: %+v, want retrying", d)
	}
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", negative("/as2/refused", false)); code != http.StatusBadRequest {
		t.Errorf("our answer to an unsigned late negative MDN: %d, want 400", code)
	}
	if st := deliveryState(t, box, d.Message.ID); st != msgbox.DeliveryRetrying {
		t.Errorf("refused: %s after an unsigned late negative MDN, want still retrying", st)
	}
	neg := negative("/as2/refused", true)
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", neg); code != http.StatusOK {
		t.Errorf("our answer to the late negative MDN: %d, want 200", code)
	}
	settled, err = box.Get(context.Background(), d.Message.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dl := settled.Deliveries[0]; settled.Message.Status != msgbox.StatusSuspended || dl.State != msgbox.DeliverySuspended ||
		dl.Attempts != 1 || !strings.Contains(dl.LastError, disposition) || !strings.Contains(settled.Message.Reason, disposition) ||
		dl.Receipt == nil || !bytes.Contains(dl.Receipt.Data, neg.Body) {
		t.Errorf("refused: %s (%s), delivery %s after %d attempt(s), last error %q, receipt %v after the late negative MDN; "+
			"want suspended after 1 with %q, keeping it", settled.Message.Status, settled.Message.Reason, dl.State, dl.Attempts,
			dl.LastError, dl.Receipt, disposition)
	}
	if !slices.ContainsFunc(settled.History, func(e msgbox.Event) bool {
		return e.Port == "refused" && e.Status == string(msgbox.DeliverySuspended) && strings.Contains(e.Detail, disposition)
	}) {
		t.Errorf("refused: history %+v has no entry of the suspension by the late MDN", settled.History)
	}
	if _, due, err := box.NextDue(context.Background(), []string{"refused"}); err != nil || due {
		t.Errorf("refused: a retry is still due (%v, %v) after the late negative MDN suspended it", due, err)
	}
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", neg); code != http.StatusOK {
		t.Errorf("our answer to the late negative MDN sent again: %d, want 200", code)
	}
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", late["/as2/refused"]); code == http.StatusOK {
		t.Errorf("our answer to a positive MDN after the negative one kept: %d, want a refusal", code)
	}
	if st := deliveryState(t, box, d.Message.ID); st != msgbox.DeliverySuspended {
		t.Errorf("refused: %s after a positive MDN contradicting the negative one kept, want still suspended", st)
	}
	if len(sent["/as2/refused"]) != 1 {
		t.Errorf("refused: sent %d times, want once", len(sent["/as2/refused"]))
	}

	d = got["gaveup.edi"]
	if d == nil || d.Message.Status != msgbox.StatusSuspended {
		t.Fatalf("gaveup.edi: %+v, want suspended", d)
	}
	gaveNeg := negative("/as2/gaveup", true)
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", gaveNeg); code != http.StatusOK {
		t.Errorf("our answer to gaveup's late negative MDN: %d, want 200", code)
	}
	settled, err = box.Get(context.Background(), d.Message.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dl := settled.Deliveries[0]; settled.Message.Status != msgbox.StatusSuspended || dl.State != msgbox.DeliverySuspended ||
		!strings.Contains(settled.Message.Reason, disposition) || dl.Receipt == nil || !bytes.Contains(dl.Receipt.Data, gaveNeg.Body) {
		t.Errorf("gaveup: %s (%s), delivery %s, receipt %v after its late negative MDN; want still suspended, with %q, keeping it",
			settled.Message.Status, settled.Message.Reason, dl.State, dl.Receipt, disposition)
	}

	// Counted as MDNs in time are: a late negative one as negative, and
	// the suspension it makes as one (none for the one suspended before).
	for _, c := range []struct {
		port, outcome string
		want          float64
	}{
		{"retried", metrics.ReceiptPositive, 1}, {"last", metrics.ReceiptPositive, 1},
		{"refused", metrics.ReceiptNegative, 1}, {"refused", metrics.ReceiptPositive, 0}, {"refused", metrics.ReceiptRejected, 0},
		{"gaveup", metrics.ReceiptNegative, 1},
	} {
		var pb dto.Metric
		if err := m.Receipts.WithLabelValues(c.port, c.outcome).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if got := pb.GetCounter().GetValue(); got != c.want {
			t.Errorf("bizpipe_receipts_total{send_port=%q,outcome=%q} = %v, want %v", c.port, c.outcome, got, c.want)
		}
	}
	for port, want := range map[string]float64{"refused": 1, "gaveup": 1} {
		var pb dto.Metric
		if err := m.Suspended.WithLabelValues(port).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if got := pb.GetCounter().GetValue(); got != want {
			t.Errorf("bizpipe suspended{send_port=%q} = %v, want %v", port, got, want)
		}
	}
	// A late positive one counts as a delivery, as in time.
	for port, want := range map[string]float64{"retried": 1, "last": 1, "refused": 0} {
		var pb dto.Metric
		if err := m.Delivered.WithLabelValues(port).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if got := pb.GetCounter().GetValue(); got != want {
			t.Errorf("bizpipe delivered{send_port=%q} = %v, want %v", port, got, want)
		}
	}
	// Logged as delivered or suspended, as in time; the one suspended
	// before warned.
	for _, want := range [][]string{
		{"level=INFO", "msg=delivered", "send_port=retried", "late_mdn=true"},
		{"level=INFO", "msg=delivered", "send_port=last", "late_mdn=true", "was=suspended"},
		{"level=ERROR", `msg="delivery suspended"`, "send_port=refused", "late_mdn=true", disposition},
		{"level=WARN", "after the delivery was suspended", "send_port=gaveup", "late_mdn=true", disposition},
	} {
		if !slices.ContainsFunc(slices.Collect(strings.Lines(logs.String())), func(l string) bool {
			return !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(l, w) })
		}) {
			t.Errorf("no log line with %q; log:\n%s", want, logs)
		}
	}

	// Resumed, sent again and timed out again, refused keeps the late
	// negative MDN of its earlier attempt: that MDN POSTed again is
	// acknowledged and changes nothing (it is not this attempt's
	// verdict); a new one suspends it.
	id := got["refused.edi"].Message.ID
	if err := box.Resume(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	mu.Unlock() // the partner records the message sent again
	var again *msgbox.Detail
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if again, err = box.Get(context.Background(), id); err != nil || again.Deliveries[0].State == msgbox.DeliveryRetrying {
			break
		}
	}
	mu.Lock()
	if err != nil || again.Deliveries[0].State != msgbox.DeliveryRetrying || again.Deliveries[0].Receipt == nil || len(sent["/as2/refused"]) != 2 {
		t.Fatalf("refused, resumed: %v, %+v, sent %d times; want retrying after its second send, keeping the late MDN",
			err, again.Deliveries, len(sent["/as2/refused"]))
	}
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", neg); code != http.StatusOK {
		t.Errorf("our answer to the earlier attempt's late negative MDN sent again: %d, want 200", code)
	}
	if st := deliveryState(t, box, id); st != msgbox.DeliveryRetrying {
		t.Errorf("refused, resumed: %s after the earlier attempt's MDN sent again, want still retrying", st)
	}
	if code := postMDN(t, "http://127.0.0.1:"+ourPort+"/as2", negative("/as2/refused", true)); code != http.StatusOK {
		t.Errorf("our answer to the second attempt's late negative MDN: %d, want 200", code)
	}
	if st := deliveryState(t, box, id); st != msgbox.DeliverySuspended {
		t.Errorf("refused, resumed: %s after the second attempt's late negative MDN, want suspended", st)
	}
}

// deliveryState is the state of the delivery of message id (which has
// one).
func deliveryState(t *testing.T, box msgbox.Box, id string) msgbox.DeliveryState {
	t.Helper()
	d, err := box.Get(context.Background(), id)
	if err != nil || len(d.Deliveries) != 1 {
		t.Fatalf("Get(%s): %v, %+v", id, err, d)
	}
	return d.Deliveries[0].State
}
