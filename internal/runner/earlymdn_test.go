package runner_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/stage/smime"
)

// countingBox counts the calls an early MDN's wait makes: Get (the whole
// message), and AwaitedMDN by AS2 Message-ID.
type countingBox struct {
	*sqlitebox.Box
	gets atomic.Int64
	// sendings counts SendingDeliveries.
	sendings atomic.Int64
	mu       sync.Mutex
	awaited  map[string]int
}

func countCalls(b msgbox.Box) *countingBox {
	return &countingBox{Box: b.(*sqlitebox.Box), awaited: map[string]int{}}
}

func (b *countingBox) Get(ctx context.Context, id string) (*msgbox.Detail, error) {
	b.gets.Add(1)
	return b.Box.Get(ctx, id)
}

func (b *countingBox) AwaitedMDN(ctx context.Context, as2MessageID string) (msgbox.AwaitedMDN, error) {
	b.mu.Lock()
	b.awaited[as2MessageID]++
	b.mu.Unlock()
	return b.Box.AwaitedMDN(ctx, as2MessageID)
}

func (b *countingBox) SendingDeliveries(ctx context.Context, ports []string) ([]int64, error) {
	b.sendings.Add(1)
	return b.Box.SendingDeliveries(ctx, ports)
}

// waitAwaited waits until the box was asked n times for what as2ID's
// delivery awaits: an MDN for it is then waiting in SettleReceipt.
func (b *countingBox) waitAwaited(t *testing.T, as2ID string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b.mu.Lock()
		got := b.awaited[as2ID]
		b.mu.Unlock()
		if got >= n {
			return
		}
	}
	t.Fatalf("the box was not asked %d times for the delivery that sent %s", n, as2ID)
}

// asyncPort is an as2 send port named name, taking the messages filter
// selects, that posts to {{.URL}}+path and asks for asynchronous MDNs,
// sent again once after an mdn_timeout of a second.
func asyncPort(name, filter, path string) string {
	return asyncPortWith(name, filter, path, "1s", retryBlock(1, "1ms"))
}

// asyncPortWith is asyncPort with an mdn_timeout of mdnTimeout and more (a
// retry block, or nothing) in its body.
func asyncPortWith(name, filter, path, mdnTimeout, more string) string {
	return `
send_port "` + name + `" {
  host   = host.h
  filter = ` + filter + `
  transport "as2" {
    url           = "{{.URL}}` + path + `"
    partner       = party.fabrikam
    mdn           = "async"
    async_mdn_url = "http://127.0.0.1:{{.Port}}/as2"
    mdn_timeout   = "` + mdnTimeout + `"
  }
` + more + `}
`
}

// retryBlock is a send port's retry block: attempts retries, interval
// apart.
func retryBlock(attempts int, interval string) string {
	return "  retry {\n    attempts = " + strconv.Itoa(attempts) + "\n    interval = \"" + interval + "\"\n  }\n"
}

// TestAS2EarlyAsyncMDN: an asynchronous MDN that comes before its
// delivery is recorded as awaiting it (the partner POSTs it before it
// answers the message) waits, and this runner's recording of the wait
// wakes it: with the box's poll pushed past the wait's end, the MDN still
// settles the delivery. While it waits for a delivery being sent again
// (the first attempt's MDN never came), it does not read the whole
// message (Get) to know that.
func TestAS2EarlyAsyncMDN(t *testing.T) {
	p := newPKI(t)
	partnerSigner := &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}
	for _, tc := range []struct {
		name  string
		early int // the request whose MDN comes early; those before get none
	}{
		{"first attempt", 1},
		{"sent again", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var box *countingBox
			var requests atomic.Int32
			mdnAnswer := make(chan int, 1)
			getsWaiting := make(chan int64, 1)
			partner := startPartner(t, func(w http.ResponseWriter, r *http.Request) {
				body := mustReadBody(t, r)
				if int(requests.Add(1)) != tc.early {
					w.WriteHeader(http.StatusOK)
					return
				}
				id := r.Header.Get("Message-Id")
				mic := as2.ComputeMIC(as2.SHA256, body)
				built, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: id, FinalRecipient: "FABRIKAM", Disposition: as2.Processed(), MIC: &mic},
					as2.BuildOptions{Signer: partnerSigner, From: "FABRIKAM", To: "CONTOSO"})
				if err != nil {
					t.Errorf("building the MDN: %v", err)
					w.WriteHeader(http.StatusOK)
					return
				}
				go func() { mdnAnswer <- postMDN(t, r.Header.Get("Receipt-Delivery-Option"), built) }()
				box.waitAwaited(t, id, 1)
				// The MDN waits; the message is not answered yet.
				time.Sleep(100 * time.Millisecond)
				getsWaiting <- box.gets.Load()
				w.WriteHeader(http.StatusOK)
			})
			dir := setup(t, p, as2Common+as2AsyncLocation+asyncPort("p", `message.receive_location == "in"`, ""), map[string]string{"URL": partner, "Port": freePort(t)})
			put(t, dir, "order.edi", []byte("ISA*00*~early"))
			r, inner := startWith(t, dir, func(o *runner.Options) { box = countCalls(o.Box); o.Box = box })
			runner.SetEarlyMDNPoll(r, time.Hour)
			defer runInBackground(t, r)()
			d := waitSettled(t, inner, 1)["order.edi"]
			if d == nil {
				t.Fatal("order.edi did not settle")
			}
			if d.Message.Status != msgbox.StatusDelivered || len(d.Deliveries) != 1 || d.Deliveries[0].Receipt == nil {
				t.Fatalf("settled: %s (%s)", d.Message.Status, d.Message.Reason)
			}
			if got := <-mdnAnswer; got != http.StatusOK {
				t.Errorf("our answer to the early MDN: %d, want 200", got)
			}
			if n := <-getsWaiting; n != 0 {
				t.Errorf("the early MDN's wait read the whole message %d times", n)
			}
			if n := int(requests.Load()); n != tc.early {
				t.Errorf("sent %d times, want %d", n, tc.early)
			}
		})
	}
}

// TestSettleReceiptPollsForAnotherProcess: a wait another process records
// (a box shared by several servers) signals nothing here; the early MDN
// finds it by polling the box, asking only what the delivery awaits
// (AwaitedMDN), not for the whole message, while the delivery is being
// sent again.
func TestSettleReceiptPollsForAnotherProcess(t *testing.T) {
	p := newPKI(t)
	ctx := context.Background()
	dir := setup(t, p, as2Common+asyncPort("p", `message.receive_location == "in"`, ""), map[string]string{"URL": "http://127.0.0.1:1/as2", "Port": "1"})
	var box *countingBox
	r, _ := startWith(t, dir, func(o *runner.Options) { box = countCalls(o.Box); o.Box = box })
	const as2ID = "<early@contoso.example>"
	digest := sha256.Sum256([]byte("the entity sent"))
	mID, recordWait := sentAgainElsewhere(t, box, as2ID, digest[:])

	in := mdnFor(t, as2ID, digest[:], p)
	settled := make(chan error, 1)
	go func() {
		settled <- r.SettleReceipt(ctx, in)
	}()
	box.waitAwaited(t, as2ID, 5) // polled a few times
	if n := box.gets.Load(); n != 0 {
		t.Errorf("polling read the whole message %d times", n)
	}
	recordWait()
	select {
	case err := <-settled:
		if err != nil {
			t.Fatalf("SettleReceipt: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SettleReceipt did not return")
	}
	got, err := box.Box.Get(ctx, mID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Message.Status != msgbox.StatusDelivered || got.Deliveries[0].Receipt == nil || !strings.Contains(got.Deliveries[0].Receipt.Summary, "signed") {
		t.Errorf("settled: %s, receipt %+v", got.Message.Status, got.Deliveries[0].Receipt)
	}
}

// sentAgainElsewhere stores a message routed to port "p" whose delivery
// another process sharing box sent, with Message-ID as2ID and the MIC
// digest (SHA-256), awaited an MDN for that never came, and now sends
// again: it returns the message's id, and recordWait, which records the
// second attempt's wait.
func sentAgainElsewhere(t *testing.T, box msgbox.Box, as2ID string, digest []byte) (id string, recordWait func()) {
	t.Helper()
	ctx := context.Background()
	m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", ContentType: "application/edi-x12"},
		strings.NewReader("ISA*00*~"), func(msgbox.Message) ([]string, string) { return []string{"p"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	const other = "srv2/w1"
	aw := box.(msgbox.MDNAwaiter)
	wait := func(id int64) {
		t.Helper()
		err := aw.AwaitMDN(ctx, other, msgbox.AwaitedMDN{DeliveryID: id, MessageID: m.ID, Port: "p", AS2MessageID: as2ID,
			MIC: "sha-256=" + base64.StdEncoding.EncodeToString(digest), Deadline: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	claim := func() *msgbox.Delivery {
		t.Helper()
		ds, err := box.ClaimBatch(ctx, other, []string{"p"}, time.Hour, 1, nil)
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim: %d deliveries, %v", len(ds), err)
		}
		return ds[0]
	}
	d := claim()
	wait(d.ID)
	if err := box.Finish(ctx, d.ID, msgbox.AwaitOwner, msgbox.Outcome{State: msgbox.DeliveryRetrying, RetryAt: time.Now(), Error: "no MDN"}); err != nil {
		t.Fatal(err)
	}
	d = claim()
	return m.ID, func() { wait(d.ID) }
}

// startPartner serves handler on 127.0.0.1 and returns its URL.
func startPartner(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: handler}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/as2"
}

// postMDN POSTs an asynchronous MDN to url as FABRIKAM and returns our
// answer's status (0 when the POST failed).
func postMDN(t *testing.T, url string, b *as2.Built) int {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b.Body))
	if err != nil {
		t.Errorf("async MDN request: %v", err)
		return 0
	}
	for k, vs := range b.Header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("async MDN POST: %v", err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor waits until cond holds, failing t, naming what, after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("waited 10 s for %s", what)
}

// TestSettleReceiptLooksForSendsElsewhere: once its early wait is over, an
// MDN that no delivery's wait names yet is looked for, once, among the
// deliveries other processes sharing the box are sending: the MDN of one
// of them is answered not yet (503 with a Retry-After, which partners
// honour), that of a Message-ID nobody sent is refused (400) still. MDNs
// past the cap of early waits are answered not yet without that look,
// which costs the box more than the poll.
func TestSettleReceiptLooksForSendsElsewhere(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, as2Common+asyncPort("p", `message.receive_location == "in"`, ""), map[string]string{"URL": "http://127.0.0.1:1/as2", "Port": "1"})
	var box *countingBox
	r, _ := startWith(t, dir, func(o *runner.Options) { box = countCalls(o.Box); o.Box = box })
	runner.SetEarlyMDNWait(r, time.Millisecond)
	ctx := context.Background()
	if _, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", ContentType: "application/edi-x12"},
		strings.NewReader("ISA*00*~"), func(msgbox.Message) ([]string, string) { return []string{"p"}, "" }); err != nil {
		t.Fatal(err)
	}
	// Claimed by another process: being sent, its wait not recorded.
	ds, err := box.ClaimBatch(ctx, "srv2/w1", []string{"p"}, time.Hour, 1, nil)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %d deliveries, %v", len(ds), err)
	}
	sent := as2.MessageID(box.ID()+"/"+strconv.FormatInt(ds[0].ID, 10), "CONTOSO")
	settle := func(id string) error {
		return r.SettleReceipt(ctx, component.IncomingReceipt{Party: "fabrikam", Correlation: id, Raw: []byte("forged")})
	}
	for _, tc := range []struct {
		name, id  string
		want, not error
	}{
		{"being sent by another process", sent, component.ErrReceiptNotYet, nil},
		{"sent by nobody", "<nobody@forged.example>", component.ErrReceiptUnusable, component.ErrReceiptNotYet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := box.sendings.Load()
			if err := settle(tc.id); !errors.Is(err, tc.want) || (tc.not != nil && errors.Is(err, tc.not)) {
				t.Errorf("SettleReceipt: %v, want %v", err, tc.want)
			}
			if n := box.sendings.Load() - before; n != 1 {
				t.Errorf("looked %d times among the deliveries being sent, want once", n)
			}
		})
	}
	t.Run("past the cap", func(t *testing.T) {
		runner.SetEarlyMDNPolls(r, 0)
		before := box.sendings.Load()
		if err := settle(sent); !errors.Is(err, component.ErrReceiptNotYet) {
			t.Errorf("SettleReceipt: %v, want ErrReceiptNotYet", err)
		}
		if n := box.sendings.Load() - before; n != 0 {
			t.Errorf("an MDN past the cap looked %d times among the deliveries being sent, want never", n)
		}
	})
}

// mdnFor is fabrikam's positive MDN, signed, for as2ID with the MIC
// digest (SHA-256), as an as2 receive location hands it over.
func mdnFor(t *testing.T, as2ID string, digest []byte, p *pki) component.IncomingReceipt {
	t.Helper()
	mic := as2.MIC{Alg: as2.SHA256, Digest: digest}
	built, err := as2.BuildMDN(&as2.MDN{OriginalMessageID: as2ID, FinalRecipient: "CONTOSO", Disposition: as2.Processed(), MIC: &mic},
		as2.BuildOptions{Signer: &smime.Signer{Cert: p.partner.Cert, Key: p.partner.Key}, From: "FABRIKAM", To: "CONTOSO"})
	if err != nil {
		t.Fatal(err)
	}
	raw := as2.JoinEntity(built.Header, built.Body)
	parsed, err := as2.ParseMDN(raw, as2.VerifyOptions{Unverified: true})
	if err != nil {
		t.Fatal(err)
	}
	return component.IncomingReceipt{Party: "fabrikam", Correlation: as2ID, Raw: raw, ContentType: built.Header.Get("Content-Type"), Parsed: parsed}
}
