package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/metrics"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
	"github.com/bizpipe/bizpipe/internal/testhttp"
)

// asyncHourPort is send port "p": the messages of location "in", sent to
// {{.URL}} asking for an asynchronous MDN at our as2 location, awaited an
// hour: no test here waits for the timeout.
var asyncHourPort = asyncPortWith("p", `message.receive_location == "in"`, "", "1h", "")

// asyncRig is a running engine whose port "p" sent order.edi to a
// partner that answered 200 and owes its asynchronous MDN, which the
// test builds and POSTs to our as2 location.
type asyncRig struct {
	box     msgbox.Box
	metrics *metrics.Metrics
	log     *logBuffer
	partner *smime.Signer
	id      string  // the Message-ID sent
	mic     as2.MIC // the Received-Content-MIC of what was sent
	url     string  // its Receipt-Delivery-Option: our as2 location
	sends   func() int
	// sentMIC is the Received-Content-MIC of the i-th send (from 0).
	sentMIC func(i int) as2.MIC
}

// newAsyncRig starts the engine (its options changed by tune when not
// nil) and waits until order.edi's delivery awaits its MDN.
func newAsyncRig(t *testing.T, tune func(*runner.Options)) *asyncRig {
	t.Helper()
	return newAsyncRigPort(t, asyncHourPort, tune)
}

// newAsyncRigPort is newAsyncRig with port "p" declared as sendPort.
func newAsyncRigPort(t *testing.T, sendPort string, tune func(*runner.Options)) *asyncRig {
	t.Helper()
	p := newPKI(t)
	type request struct {
		id, url string
		body    []byte
	}
	var mu sync.Mutex
	var requests []request
	partner := startPartner(t, func(w http.ResponseWriter, r *http.Request) {
		body := mustReadBody(t, r)
		mu.Lock()
		requests = append(requests, request{r.Header.Get("Message-Id"), r.Header.Get("Receipt-Delivery-Option"), body})
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	dir := setup(t, p, as2Common+as2AsyncLocation+sendPort, map[string]string{"URL": partner, "Port": freePort(t)})
	put(t, dir, "order.edi", []byte("ISA*00*~async"))
	rg := &asyncRig{metrics: metrics.New(), log: &logBuffer{}, partner: &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}}
	rg.sends = func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(requests)
	}
	rg.sentMIC = func(i int) as2.MIC {
		mu.Lock()
		defer mu.Unlock()
		return as2.ComputeMIC(as2.SHA256, requests[i].body)
	}
	r, box := startWith(t, dir, func(o *runner.Options) {
		o.Metrics = rg.metrics
		o.Log = slog.New(slog.NewTextHandler(rg.log, nil))
		if tune != nil {
			tune(o)
		}
	})
	rg.box = box
	t.Cleanup(runInBackground(t, r))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		as, err := box.(msgbox.MDNAwaiter).AwaitingMDNs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(as) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order.edi's delivery does not await its MDN; log:\n%s", rg.log)
		}
	}
	mu.Lock()
	sent := requests[0]
	mu.Unlock()
	rg.id, rg.url, rg.mic = sent.id, sent.url, as2.ComputeMIC(as2.SHA256, sent.body)
	return rg
}

// mdn builds the partner's MDN for what was sent, with disposition d
// (and, when positive, the right Received-Content-MIC), signed as asked.
func (rg *asyncRig) mdn(t *testing.T, d as2.Disposition) *as2.Built {
	t.Helper()
	m := &as2.MDN{OriginalMessageID: rg.id, FinalRecipient: "CONTOSO", Disposition: d}
	if d.Positive() {
		mic := rg.mic
		m.MIC = &mic
	}
	b, err := as2.BuildMDN(m, as2.BuildOptions{Signer: rg.partner, From: "FABRIKAM", To: "CONTOSO"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post POSTs b to our as2 location, its header fields changed by edit
// when not nil, and returns the answer and its body.
func (rg *asyncRig) post(t *testing.T, b *as2.Built, edit func(http.Header)) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rg.url, bytes.NewReader(b.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = b.Header.Clone()
	if edit != nil {
		edit(req.Header)
	}
	return testhttp.Do(t, http.DefaultClient, req)
}

// delivery returns order.edi's message and its one delivery.
func (rg *asyncRig) delivery(t *testing.T) (*msgbox.Detail, msgbox.Delivery) {
	t.Helper()
	msgs, err := msgbox.Collect(context.Background(), rg.box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the box, want order.edi only", len(msgs))
	}
	d, err := rg.box.Get(context.Background(), msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Deliveries) != 1 {
		t.Fatalf("%d deliveries, want 1", len(d.Deliveries))
	}
	return d, d.Deliveries[0]
}

// receipts returns bizpipe_receipts_total of port "p" by outcome.
func (rg *asyncRig) receipts(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, o := range []string{metrics.ReceiptPositive, metrics.ReceiptNegative, metrics.ReceiptRejected} {
		var pb dto.Metric
		if err := rg.metrics.Receipts.WithLabelValues("p", o).Write(&pb); err != nil {
			t.Fatal(err)
		}
		if v := pb.GetCounter().GetValue(); v != 0 {
			out[o] = v
		}
	}
	return out
}

var (
	positive = as2.Processed()
	negative = as2.ProcessedError("decryption-failed")
)

// TestAsyncMDNAgain: a partner whose POST of an asynchronous MDN lost our
// 200 POSTs it again, as it was or built anew (another signature,
// another Message-ID of its own): it is answered 200, and nothing
// changes: the delivery keeps its state and receipt, no attempt is made,
// no receipt counted again. Another MDN for the delivery so settled (a
// forged negative one after the positive one, or the reverse) changes
// nothing either and is answered 409: it conflicts with the MDN the
// delivery was settled by.
func TestAsyncMDNAgain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		first     as2.Disposition
		again     func(t *testing.T, rg *asyncRig, first *as2.Built) *as2.Built
		wantCode  int
		wantState msgbox.DeliveryState
	}{
		{"the same positive MDN", positive, func(*testing.T, *asyncRig, *as2.Built) *as2.Built { return nil }, http.StatusOK, msgbox.DeliveryDelivered},
		{"the positive MDN built anew", positive, func(t *testing.T, rg *asyncRig, _ *as2.Built) *as2.Built { return rg.mdn(t, positive) },
			http.StatusOK, msgbox.DeliveryDelivered},
		{"a negative MDN after a positive one", positive, func(t *testing.T, rg *asyncRig, _ *as2.Built) *as2.Built { return rg.mdn(t, negative) },
			http.StatusConflict, msgbox.DeliveryDelivered},
		{"the same negative MDN", negative, func(*testing.T, *asyncRig, *as2.Built) *as2.Built { return nil }, http.StatusOK, msgbox.DeliverySuspended},
		{"a positive MDN after a negative one", negative, func(t *testing.T, rg *asyncRig, _ *as2.Built) *as2.Built { return rg.mdn(t, positive) },
			http.StatusConflict, msgbox.DeliverySuspended},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newAsyncRig(t, nil)
			first := rg.mdn(t, tc.first)
			if resp, body := rg.post(t, first, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("the first MDN: %d %s", resp.StatusCode, body)
			}
			_, before := rg.delivery(t)
			if before.State != tc.wantState || before.Receipt == nil {
				t.Fatalf("after the first MDN: %s, receipt %v", before.State, before.Receipt)
			}
			counted := rg.receipts(t)
			again := tc.again(t, rg, first)
			if again == nil {
				again = first
			}
			resp, body := rg.post(t, again, nil)
			if resp.StatusCode != tc.wantCode {
				t.Errorf("the MDN POSTed again: %d %s, want %d", resp.StatusCode, body, tc.wantCode)
			}
			if resp.StatusCode == http.StatusOK && len(body) != 0 {
				t.Errorf("answered with a body: %q", body)
			}
			d, after := rg.delivery(t)
			if after.State != before.State || after.Attempts != before.Attempts || after.LastError != before.LastError ||
				!bytes.Equal(after.Receipt.Data, before.Receipt.Data) || after.Receipt.Summary != before.Receipt.Summary {
				t.Errorf("the delivery changed: %s, %d attempts, %q, receipt %q; was %s, %d, %q, %q", after.State, after.Attempts,
					after.LastError, after.Receipt.Summary, before.State, before.Attempts, before.LastError, before.Receipt.Summary)
			}
			if len(d.Attempts) != 1 {
				t.Errorf("%d attempts in the history, want 1", len(d.Attempts))
			}
			if got := rg.receipts(t); len(got) != len(counted) || got[metrics.ReceiptPositive] != counted[metrics.ReceiptPositive] ||
				got[metrics.ReceiptNegative] != counted[metrics.ReceiptNegative] {
				t.Errorf("receipts counted %v, want %v as after the first MDN", got, counted)
			}
			if n := rg.sends(); n != 1 {
				t.Errorf("sent %d times, want 1", n)
			}
		})
	}
}

// TestAsyncMDNWithoutMessageID: an asynchronous MDN POSTed without a
// Message-ID of its own (OpenText sends them so) is identified by its
// Original-Message-ID and settles the delivery; a message without one,
// signed or not, is still refused 400, nothing stored.
func TestAsyncMDNWithoutMessageID(t *testing.T) {
	rg := newAsyncRig(t, nil)
	mdn := rg.mdn(t, positive)
	message := func(ct, body string) *as2.Built {
		h := mdn.Header.Clone()
		h.Set("Content-Type", ct)
		return &as2.Built{Header: h, Body: []byte(body)}
	}
	for _, tc := range []struct {
		name string
		post *as2.Built
		want int
	}{
		{"a message", message("application/edi-x12", "ISA*00*~"), http.StatusBadRequest},
		{"a signed message", message(`multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary=b`,
			"--b\r\nContent-Type: application/edi-x12\r\n\r\nISA*00*~\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nMIIB\r\n--b--\r\n"),
			http.StatusBadRequest},
		{"an MDN", mdn, http.StatusOK},
	} {
		resp, body := rg.post(t, tc.post, func(h http.Header) { h.Del("Message-Id") })
		if resp.StatusCode != tc.want {
			t.Errorf("%s without Message-ID: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	// delivery fails the test when anything was stored besides order.edi.
	if _, d := rg.delivery(t); d.State != msgbox.DeliveryDelivered || d.Receipt == nil || !strings.Contains(d.Receipt.Summary, "signed") {
		t.Errorf("the delivery: %s, receipt %v; want delivered by the signed MDN", d.State, d.Receipt)
	}
}

// TestAsyncMDNAskingForAnMDN: an asynchronous MDN that asks for a receipt
// itself (Disposition-Notification-To, synchronous or asynchronous) is
// an MDN all the same, never answered with one (RFC 3798 §2.1, RFC 8098:
// no receipt for a receipt, lest two servers answer each other without
// end): it settles the delivery and is answered 200 without a body;
// nothing is stored as a message and no MDN is queued.
func TestAsyncMDNAskingForAnMDN(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"sync", map[string]string{"Disposition-Notification-To": "as2@fabrikam.example",
			"Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha256"}},
		{"async", map[string]string{"Disposition-Notification-To": "as2@fabrikam.example",
			"Receipt-Delivery-Option": "http://127.0.0.1:1/as2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newAsyncRig(t, nil)
			resp, body := rg.post(t, rg.mdn(t, positive), func(h http.Header) {
				for k, v := range tc.header {
					h.Set(k, v)
				}
			})
			if resp.StatusCode != http.StatusOK || len(body) != 0 {
				t.Errorf("answered %d, %s, %q; want 200 without an MDN", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			// delivery fails the test when anything was stored besides
			// order.edi, the message the MDN answers.
			if _, d := rg.delivery(t); d.State != msgbox.DeliveryDelivered {
				t.Errorf("the delivery: %s (%s), want delivered", d.State, d.LastError)
			}
			if got := rg.receipts(t); got[metrics.ReceiptPositive] != 1 {
				t.Errorf("receipts counted %v, want one positive", got)
			}
		})
	}
}

// finishRacedBox is a SQLite box on which another server settles the
// delivery awaiting an MDN (Finish as msgbox.AwaitOwner) the instant
// before this one does, as two servers sharing a box that each got a copy
// of the MDN would.
type finishRacedBox struct {
	*sqlitebox.Box
	other func(id int64) error
	once  sync.Once
}

func (b *finishRacedBox) Finish(ctx context.Context, id int64, owner string, o msgbox.Outcome) error {
	if owner == msgbox.AwaitOwner {
		var err error
		b.once.Do(func() { err = b.other(id) })
		if err != nil {
			return err
		}
	}
	return b.Box.Finish(ctx, id, owner, o)
}

// TestAsyncMDNSettledMeanwhile: an asynchronous MDN whose delivery
// another server settles while this one judges it is not counted here
// (bizpipe_receipts_total, nor logged as a receipt): the box did not take
// it. It is answered as a copy of the MDN that settled it (200) when it
// is one, 409 when it is another.
func TestAsyncMDNSettledMeanwhile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		other    as2.Disposition // the MDN the other server settled with
		wantCode int
	}{
		{"by the same MDN", positive, http.StatusOK},
		{"by another MDN", negative, http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rg *asyncRig
			var box *finishRacedBox
			rg = newAsyncRig(t, func(o *runner.Options) {
				box = &finishRacedBox{Box: o.Box.(*sqlitebox.Box)}
				o.Box = box
			})
			state := msgbox.DeliveryDelivered
			if !tc.other.Positive() {
				state = msgbox.DeliverySuspended
			}
			box.other = func(id int64) error {
				b := rg.mdn(t, tc.other)
				return box.Box.Finish(context.Background(), id, msgbox.AwaitOwner, msgbox.Outcome{State: state, Error: "settled by the other server",
					Receipt: &msgbox.DeliveryReceipt{ContentType: b.Header.Get("Content-Type"), Summary: tc.other.String(), Data: as2.JoinEntity(b.Header, b.Body)}})
			}
			resp, body := rg.post(t, rg.mdn(t, positive), nil)
			if resp.StatusCode != tc.wantCode {
				t.Errorf("answered %d %s, want %d", resp.StatusCode, body, tc.wantCode)
			}
			if _, d := rg.delivery(t); d.State != state || d.Receipt == nil || d.Receipt.Summary != tc.other.String() {
				t.Errorf("the delivery: %s, receipt %v; want %s as the other server settled it", d.State, d.Receipt, state)
			}
			if got := rg.receipts(t); len(got) != 0 {
				t.Errorf("receipts counted %v, want none: the box did not take this one", got)
			}
			for line := range strings.Lines(rg.log.String()) {
				if strings.Contains(line, "msg=receipt ") {
					t.Errorf("logged as a receipt taken: %s", line)
				}
			}
		})
	}
}

// timedOutBox is a SQLite box on which the wait for an asynchronous MDN
// times out and the engine's claim takes it over between the instant an
// MDN found the delivery awaiting it and the instant that MDN is
// recorded (Finish as msgbox.AwaitOwner): from the moment the delivery
// awaits its MDN the engine's claims find nothing (held), so the MDN
// finds it awaiting whatever the clock says; the first Finish as
// msgbox.AwaitOwner waits for the deadline, lets the claims through and
// waits until one took the wait over (took).
type timedOutBox struct {
	*sqlitebox.Box
	held atomic.Bool
	once sync.Once
	took func(d msgbox.Delivery) bool
}

func (b *timedOutBox) AwaitMDN(ctx context.Context, owner string, a msgbox.AwaitedMDN) error {
	err := b.Box.AwaitMDN(ctx, owner, a)
	if err == nil {
		b.held.Store(true)
	}
	return err
}

func (b *timedOutBox) ClaimBatch(ctx context.Context, owner string, ports []string, lease time.Duration, max int, except []int64) ([]*msgbox.Delivery, error) {
	if b.held.Load() {
		return nil, nil
	}
	return b.Box.ClaimBatch(ctx, owner, ports, lease, max, except)
}

func (b *timedOutBox) Finish(ctx context.Context, id int64, owner string, o msgbox.Outcome) error {
	if owner == msgbox.AwaitOwner {
		var err error
		b.once.Do(func() { err = b.takeOver(ctx, id) })
		if err != nil {
			return err
		}
	}
	return b.Box.Finish(ctx, id, owner, o)
}

// takeOver waits until delivery id's wait for its MDN is past its
// deadline, and then until a claim of the engine took it over.
func (b *timedOutBox) takeOver(ctx context.Context, id int64) error {
	as, err := b.Box.AwaitingMDNs(ctx)
	if err != nil {
		return err
	}
	if len(as) != 1 || as[0].DeliveryID != id {
		return fmt.Errorf("awaiting %+v, want delivery %d only", as, id)
	}
	time.Sleep(time.Until(as[0].Deadline) + 10*time.Millisecond)
	b.held.Store(false)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		d, err := b.Box.Get(ctx, as[0].MessageID)
		if err != nil {
			return err
		}
		if b.took(d.Deliveries[0]) {
			return nil
		}
	}
	return fmt.Errorf("delivery %d's wait for its MDN was not taken over", id)
}

// TestAsyncMDNAtTheTimeout: a positive MDN for what was sent that the
// engine is judging when the mdn_timeout passes, and a claim takes the
// wait over before the MDN is recorded, settles the delivery all the
// same, as one coming a moment later does (a late MDN): delivered,
// keeping it, its retry not made (nothing sent again), counted once; a
// partner told the MDN was unusable would never send it again, and the
// message it reported processed would go again with the same Message-ID.
func TestAsyncMDNAtTheTimeout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts int                        // retry.attempts
		took     func(msgbox.Delivery) bool // the claim's takeover done
	}{
		{"retried later", 1, func(d msgbox.Delivery) bool { return d.State == msgbox.DeliveryRetrying }},
		{"suspended, no retry left", 0, func(d msgbox.Delivery) bool { return d.State == msgbox.DeliverySuspended }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var box *timedOutBox
			port := asyncPortWith("p", `message.receive_location == "in"`, "", "1s", retryBlock(tc.attempts, "1h"))
			rg := newAsyncRigPort(t, port, func(o *runner.Options) {
				box = &timedOutBox{Box: o.Box.(*sqlitebox.Box), took: tc.took}
				o.Box = box
			})
			mdn := rg.mdn(t, positive)
			if resp, body := rg.post(t, mdn, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("answered %d %s, want 200", resp.StatusCode, body)
			}
			if _, d := rg.delivery(t); d.State != msgbox.DeliveryDelivered || d.Receipt == nil || !bytes.Contains(d.Receipt.Data, mdn.Body) {
				t.Errorf("the delivery: %s after %d attempt(s), receipt %v; want delivered, keeping the MDN", d.State, d.Attempts, d.Receipt)
			}
			if _, due, err := rg.box.NextDue(context.Background(), []string{"p"}); err != nil || due {
				t.Errorf("a retry is still due (%v, %v) after the MDN delivered it", due, err)
			}
			if got := rg.receipts(t); len(got) != 1 || got[metrics.ReceiptPositive] != 1 {
				t.Errorf("receipts counted %v, want one positive", got)
			}
			if n := rg.sends(); n != 1 {
				t.Errorf("sent %d times, want once", n)
			}
		})
	}
}

// TestAsyncMDNOfAnEarlierAttempt: the Message-ID is the same for every
// attempt of a delivery (language §11), so a partner POSTing again the
// negative MDN of attempt 1 while attempt 2 (the delivery resumed) awaits
// its own names the same message. It is the receipt the delivery keeps
// from attempt 1: answered 200, and nothing changes (attempt 2 still
// awaits, no attempt counted, the receipt unchanged). Attempt 2's own
// MDN then settles it, even one built anew that says what attempt 1's
// said.
func TestAsyncMDNOfAnEarlierAttempt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		own   as2.Disposition // attempt 2's MDN
		state msgbox.DeliveryState
	}{
		{"then its own positive MDN", positive, msgbox.DeliveryDelivered},
		{"then its own negative MDN", negative, msgbox.DeliverySuspended},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newAsyncRig(t, nil)
			first := rg.mdn(t, negative)
			if resp, body := rg.post(t, first, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("attempt 1's MDN: %d %s", resp.StatusCode, body)
			}
			msg, d := rg.delivery(t)
			if d.State != msgbox.DeliverySuspended {
				t.Fatalf("after attempt 1's negative MDN: %s, want suspended", d.State)
			}
			if err := rg.box.Resume(context.Background(), msg.Message.ID); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
				if _, d = rg.delivery(t); d.AwaitsMDN() && rg.sends() == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("attempt 2 does not await its MDN: %s, sent %d times; log:\n%s", d.State, rg.sends(), rg.log)
				}
			}
			before := d
			counted := rg.receipts(t)

			if resp, body := rg.post(t, first, nil); resp.StatusCode != http.StatusOK || len(body) != 0 {
				t.Errorf("attempt 1's MDN again: %d %q, want 200 without a body", resp.StatusCode, body)
			}
			_, after := rg.delivery(t)
			if !after.AwaitsMDN() || after.Attempts != before.Attempts || after.LastError != before.LastError ||
				after.Receipt == nil || !bytes.Equal(after.Receipt.Data, before.Receipt.Data) {
				t.Fatalf("attempt 1's MDN again changed the delivery: %s (%s), %d attempts, %q; was %d attempts, %q",
					after.State, after.LeaseOwner, after.Attempts, after.LastError, before.Attempts, before.LastError)
			}
			if got := rg.receipts(t); got[metrics.ReceiptNegative] != counted[metrics.ReceiptNegative] {
				t.Errorf("receipts counted %v, want %v as before", got, counted)
			}

			m := &as2.MDN{OriginalMessageID: rg.id, FinalRecipient: "CONTOSO", Disposition: tc.own}
			if tc.own.Positive() {
				mic := rg.sentMIC(1)
				m.MIC = &mic
			}
			own, err := as2.BuildMDN(m, as2.BuildOptions{Signer: rg.partner, From: "FABRIKAM", To: "CONTOSO"})
			if err != nil {
				t.Fatal(err)
			}
			if resp, body := rg.post(t, own, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("attempt 2's MDN: %d %s", resp.StatusCode, body)
			}
			if _, d := rg.delivery(t); d.State != tc.state || d.Attempts != 1 || d.Receipt == nil || !bytes.Contains(d.Receipt.Data, own.Body) {
				t.Errorf("after attempt 2's MDN: %s after %d attempt(s), receipt %v; want %s after 1, keeping attempt 2's MDN",
					d.State, d.Attempts, d.Receipt, tc.state)
			}
		})
	}
}
