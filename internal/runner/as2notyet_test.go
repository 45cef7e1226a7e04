package runner_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// postMDNAnswer POSTs an asynchronous MDN to url as FABRIKAM and returns
// our answer's status and Retry-After.
func postMDNAnswer(t *testing.T, url string, b *as2.Built) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b.Body))
	if err != nil {
		t.Fatalf("async MDN request: %v", err)
	}
	for k, vs := range b.Header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("async MDN POST: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestAS2MDNWhileBeingSent: an asynchronous MDN that comes while its
// delivery is in flight, its wait not recorded yet, and still is once the
// early wait is over, is answered 503 with a Retry-After, which partners
// retry (most never retry a 4xx), not 400: sent again once the wait is
// recorded, it settles the delivery. Whether the delivery is sent again by
// another process sharing the box, or sent for the first time by this
// runner, whose partner POSTs the MDN before it answers the message.
func TestAS2MDNWhileBeingSent(t *testing.T) {
	p := newPKI(t)
	partnerSigner := &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}
	build := func(t *testing.T, id string, digest []byte) *as2.Built {
		t.Helper()
		mic := as2.MIC{Alg: as2.SHA256, Digest: digest}
		built, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: id, FinalRecipient: "CONTOSO", Disposition: as2.Processed(), MIC: &mic},
			as2.BuildOptions{Signer: partnerSigner, From: "FABRIKAM", To: "CONTOSO"})
		if err != nil {
			t.Fatal(err)
		}
		return built
	}
	checkNotYet := func(t *testing.T, status int, retryAfter string) {
		t.Helper()
		if status != http.StatusServiceUnavailable || retryAfter == "" {
			t.Errorf("our answer to the MDN while its delivery is sent: %d, Retry-After %q; want 503 with a Retry-After", status, retryAfter)
		}
	}

	t.Run("sent again by another process", func(t *testing.T) {
		ctx := context.Background()
		port := freePort(t)
		url := "http://127.0.0.1:" + port + "/as2"
		dir := setup(t, p, as2Common+as2AsyncLocation+asyncPort("p", `message.receive_location == "in"`, ""),
			map[string]string{"URL": "http://127.0.0.1:1/as2", "Port": port})
		r, box := startWith(t, dir, nil)
		runner.SetEarlyMDNWait(r, 100*time.Millisecond)
		const as2ID = "<again@contoso.example>"
		digest := sha256.Sum256([]byte("the entity sent"))
		mID, recordWait := sentAgainElsewhere(t, box, as2ID, digest[:])
		defer runInBackground(t, r)()
		waitListening(t, url)

		built := build(t, as2ID, digest[:])
		status, retryAfter := postMDNAnswer(t, url, built)
		checkNotYet(t, status, retryAfter)
		// The other process records the wait; the partner sends the MDN
		// again, which settles the delivery.
		recordWait()
		if status, _ := postMDNAnswer(t, url, built); status != http.StatusOK {
			t.Fatalf("our answer to the MDN sent again: %d, want 200", status)
		}
		got, err := box.Get(ctx, mID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Message.Status != msgbox.StatusDelivered {
			t.Errorf("settled: %s (%s)", got.Message.Status, got.Message.Reason)
		}
	})

	t.Run("first attempt, by this runner", func(t *testing.T) {
		port := freePort(t)
		nextMDN, partner := mdnFirstPartner(t, p)
		dir := setup(t, p, as2Common+as2AsyncLocation+strings.Replace(asyncHourPort, "{{.URL}}", partner, 1), map[string]string{"Port": port})
		put(t, dir, "order.edi", []byte("ISA*00*~first"))
		r, box := startWith(t, dir, nil)
		runner.SetEarlyMDNWait(r, 100*time.Millisecond)
		defer runInBackground(t, r)()
		got := nextMDN()
		checkNotYet(t, got.status, got.retryAfter)
		waitAwaiting(t, box)
		if status, _ := postMDNAnswer(t, "http://127.0.0.1:"+port+"/as2", got.built); status != http.StatusOK {
			t.Fatalf("our answer to the MDN sent again: %d, want 200", status)
		}
		if d := waitSettled(t, box, 1)["order.edi"]; d == nil || d.Message.Status != msgbox.StatusDelivered {
			t.Fatalf("order.edi: %+v", d)
		}
	})
}

// waitAwaiting waits until a delivery of box awaits its MDN.
func waitAwaiting(t *testing.T, box msgbox.Box) {
	t.Helper()
	for range 1000 {
		as, err := box.(msgbox.MDNAwaiter).AwaitingMDNs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(as) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no delivery awaits its MDN")
}

// TestSettleReceiptBoundsEarlyWaits: MDNs naming Message-IDs nobody sent
// (anyone who knows a partner's AS2 name can POST them) wait for their
// delivery polling the box, but only so many at once: past that number,
// each is answered at once, temporarily refused, after a single look in
// the box, rather than each polling it for the whole wait.
func TestSettleReceiptBoundsEarlyWaits(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, as2Common+asyncPort("p", `message.receive_location == "in"`, ""), map[string]string{"URL": "http://127.0.0.1:1/as2", "Port": "1"})
	var box *countingBox
	r, _ := startWith(t, dir, func(o *runner.Options) { box = countCalls(o.Box); o.Box = box })
	const polls, past = 3, 20
	runner.SetEarlyMDNWait(r, time.Hour)
	runner.SetEarlyMDNPolls(r, polls)
	runner.SetEarlyMDNPoll(r, time.Hour)
	forged := func(ctx context.Context, id string) error {
		return r.SettleReceipt(ctx, component.IncomingReceipt{Party: "fabrikam", Correlation: id, Raw: []byte("forged")})
	}
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan error, polls)
	for i := range polls {
		id := fmt.Sprintf("<waiting%d@forged.example>", i)
		go func() { waiting <- forged(ctx, id) }()
		// Holding its place: an MDN takes one after its first look in
		// the box, and one past the cap must not take it first.
		waitFor(t, fmt.Sprintf("%d early MDNs polling", i+1), func() bool { return runner.EarlyMDNPolling(r) == i+1 })
	}
	refused := make(chan error, past)
	for i := range past {
		go func() { refused <- forged(context.Background(), fmt.Sprintf("<past%d@forged.example>", i)) }()
	}
	for range past {
		select {
		case err := <-refused:
			if !errors.Is(err, component.ErrReceiptNotYet) {
				t.Errorf("an MDN past the cap: %v, want ErrReceiptNotYet", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("MDNs past the cap wait for their delivery")
		}
	}
	box.mu.Lock()
	for i := range past {
		if n := box.awaited[fmt.Sprintf("<past%d@forged.example>", i)]; n != 1 {
			t.Errorf("an MDN past the cap asked the box %d times, want 1", n)
		}
	}
	box.mu.Unlock()
	cancel()
	for range polls {
		if err := <-waiting; !errors.Is(err, context.Canceled) {
			t.Errorf("a waiting MDN, cancelled: %v", err)
		}
	}
	// The waits over, their places are free again.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- forged(ctx, "<again@forged.example>") }()
	box.waitAwaited(t, "<again@forged.example>", 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("an MDN once the waits are over: %v, want it waiting until cancelled", err)
	}
}
