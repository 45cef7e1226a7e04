//go:build linux

package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// twoServersWith starts two runners, srv1 and srv2, of one configuration
// whose host runs on both, sharing one PostgreSQL database, each with a box
// of its own, as wrap makes it from the opened one; box is srv1's unwrapped.
func twoServersWith(t *testing.T, p *pki, cfg string, wrap func(server string, b *pgbox.Box) msgbox.Box) (a, b *runner.Runner, box msgbox.Box) {
	t.Helper()
	cfg = strings.Replace(cfg, `server "srv1" { other_people_store = certificate_store.others }`,
		`server "srv1" { other_people_store = certificate_store.others }
server "srv2" { other_people_store = certificate_store.others }`, 1)
	cfg = strings.Replace(cfg, `  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
`, `  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc
  }
`, 1)
	dir := setup(t, p, cfg, map[string]string{"URL": "http://127.0.0.1:1/as2", "Port": "1"})
	url := pg.NewDatabase(t)
	open := func(server string) *runner.Runner {
		r, _ := startWith(t, dir, func(o *runner.Options) {
			bx, err := pgbox.Open(t.Context(), url, pgbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { bx.Close() })
			o.Box, o.Server = wrap(server, bx), server
			if box == nil {
				box = bx
			}
		})
		return r
	}
	return open("srv1"), open("srv2"), box
}

// awaitingUntil stores a message for port "p" whose delivery srv1/w1 sent
// as as2ID, the MIC digest (SHA-256), and awaits the MDN of until deadline,
// to be sent again at retryAt should it not come: its id.
func awaitingUntil(t *testing.T, box msgbox.Box, as2ID string, digest []byte, deadline, retryAt time.Time) string {
	t.Helper()
	ctx := context.Background()
	m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", ContentType: "application/edi-x12"},
		strings.NewReader("ISA*00*~"), func(msgbox.Message) ([]string, string) { return []string{"p"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	ds, err := box.ClaimBatch(ctx, "srv1/w1", []string{"p"}, time.Hour, 1, nil)
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim: %v", err)
	}
	if err := box.(msgbox.MDNAwaiter).AwaitMDN(ctx, "srv1/w1", msgbox.AwaitedMDN{DeliveryID: ds[0].ID, MessageID: m.ID, Port: "p", AS2MessageID: as2ID,
		MIC: "sha-256=" + base64.StdEncoding.EncodeToString(digest), Deadline: deadline, RetryAt: retryAt}); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// heldLate is a PostgreSQL box whose SettleLate, once reached, waits for
// release: a late MDN judged by its runner is recorded only once another
// copy was.
type heldLate struct {
	*pgbox.Box
	reached, release chan struct{}
}

func (b *heldLate) SettleLate(ctx context.Context, id int64, attempts int, o msgbox.Outcome) error {
	close(b.reached)
	<-b.release
	return b.Box.SettleLate(ctx, id, attempts, o)
}

// TestLateMDNTwiceOnTwoServers: the same late MDN (its mdn_timeout passed,
// the delivery retrying) reaches srv1 and srv2 at once, through one
// async_mdn_url. srv1 records it (delivered); the copy srv2 judged
// meanwhile is the one the delivery now keeps: it is acknowledged as
// received again, as a copy racing an MDN in time is, rather than
// answered "not settled yet" (503), which has the partner send again an
// MDN that settled its delivery, and logs a warning about nothing wrong.
func TestLateMDNTwiceOnTwoServers(t *testing.T) {
	p := newPKI(t)
	ctx := context.Background()
	held := &heldLate{reached: make(chan struct{}), release: make(chan struct{})}
	ra, rb, box := twoServersWith(t, p, as2Common+asyncPort("p", `message.receive_location == "in"`, ""),
		func(server string, b *pgbox.Box) msgbox.Box {
			if server == "srv2" {
				held.Box = b
				return held
			}
			return b
		})
	const as2ID = "<late-twice@contoso.example>"
	digest := sha256.Sum256([]byte("the entity sent"))
	id := awaitingUntil(t, box, as2ID, digest[:], time.Now().Add(100*time.Millisecond), time.Now().Add(time.Hour))
	time.Sleep(200 * time.Millisecond)
	// A claim after the deadline times the wait out: retrying, due in
	// an hour.
	if ds, err := box.ClaimBatch(ctx, "srv2/w1", []string{"p"}, time.Hour, 1, nil); err != nil || len(ds) != 0 {
		t.Fatalf("claim after the deadline: %d deliveries, %v; want the wait timed out", len(ds), err)
	}
	in := mdnFor(t, as2ID, digest[:], p)
	atB := make(chan error, 1)
	go func() { atB <- rb.SettleReceipt(ctx, in) }()
	<-held.reached
	if err := ra.SettleReceipt(ctx, in); err != nil {
		t.Fatalf("srv1: %v", err)
	}
	close(held.release)
	if err := <-atB; !errors.Is(err, component.ErrReceiptRepeated) {
		t.Errorf("srv2: %v, want %v", err, component.ErrReceiptRepeated)
	}
	got, err := box.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	late := 0
	for _, h := range got.History {
		if h.Status == string(msgbox.DeliveryDelivered) {
			late++
		}
	}
	if got.Message.Status != msgbox.StatusDelivered || late != 1 {
		t.Errorf("message %s with %d delivered entries, want delivered once: %+v", got.Message.Status, late, got.History)
	}
}
