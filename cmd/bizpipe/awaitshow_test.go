package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// TestAwaitingMDNShowsAttemptSQLite: see testAwaitingMDNShowsAttempt.
func TestAwaitingMDNShowsAttemptSQLite(t *testing.T) {
	testAwaitingMDNShowsAttempt(t, sqliteHandles(t))
}

// testAwaitingMDNShowsAttempt: messages show counts the attempt that sent
// a delivery now awaiting its asynchronous MDN (attempts 1, text and
// JSON), not 0 as for one never sent; the box counts it only once the
// MDN or mdn_timeout ends it.
func testAwaitingMDNShowsAttempt(t *testing.T, open func() msgbox.Box) {
	ctx := context.Background()
	box := open()
	defer box.Close()
	m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "o.edi"},
		strings.NewReader("order"), func(msgbox.Message) ([]string, string) { return []string{"as2_out"}, "" })
	if err != nil {
		t.Fatal(err)
	}
	d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"as2_out"}, time.Hour)
	if err != nil || d == nil {
		t.Fatalf("Claim = %v, %v", d, err)
	}
	aw, ok := box.(msgbox.MDNAwaiter)
	if !ok {
		t.Fatalf("%T keeps no awaited MDNs", box)
	}
	if err := aw.AwaitMDN(ctx, d.LeaseOwner, msgbox.AwaitedMDN{DeliveryID: d.ID, MessageID: m.ID, Port: "as2_out",
		AS2MessageID: "<a1@contoso>", MIC: "sha-256=abc", Deadline: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		detail, err := box.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		markAwaiting(detail)
		var out bytes.Buffer
		if err := showMessage(&out, detail, format); err != nil {
			t.Fatal(err)
		}
		if format == "text" {
			if !strings.Contains(out.String(), "awaiting_mdn attempts 1") {
				t.Errorf("messages show:\n%s\nwant the delivery awaiting_mdn with attempts 1", &out)
			}
			continue
		}
		var shown jsonMessageDetail
		if err := json.Unmarshal(out.Bytes(), &shown); err != nil {
			t.Fatal(err)
		}
		if len(shown.Deliveries) != 1 || shown.Deliveries[0].State != "awaiting_mdn" || shown.Deliveries[0].Attempts != 1 {
			t.Errorf("messages show --format json: deliveries %+v, want one awaiting_mdn with attempts 1", shown.Deliveries)
		}
	}
}
