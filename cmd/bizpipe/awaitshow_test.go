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
// MDN, mdn_timeout or messages terminate ends it, and terminate lists it
// (msgbox.TerminatedAwaitingMDNError), still counted.
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
	// Terminated while awaited: the attempt stays counted, and is listed
	// with an error that does not say its MDN timed out.
	stages := []struct {
		name, state, err string
		terminate        bool
	}{
		{"awaiting", "awaiting_mdn", "", false},
		{"terminated", "terminated", msgbox.TerminatedAwaitingMDNError, true},
	}
	for _, st := range stages {
		if st.terminate {
			if err := box.Terminate(ctx, m.ID); err != nil {
				t.Fatalf("Terminate: %v", err)
			}
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
				if want := pad(st.state, 12) + " attempts 1"; !strings.Contains(out.String(), want) {
					t.Errorf("%s: messages show:\n%s\nwant the delivery %s with attempts 1", st.name, &out, st.state)
				}
				if st.err != "" && !strings.Contains(out.String(), "last error: "+st.err) {
					t.Errorf("%s: messages show:\n%s\nwant last error %q", st.name, &out, st.err)
				}
				continue
			}
			var shown jsonMessageDetail
			if err := json.Unmarshal(out.Bytes(), &shown); err != nil {
				t.Fatal(err)
			}
			if len(shown.Deliveries) != 1 || shown.Deliveries[0].State != st.state || shown.Deliveries[0].Attempts != 1 {
				t.Errorf("%s: messages show --format json: deliveries %+v, want one %s with attempts 1", st.name, shown.Deliveries, st.state)
			}
			// Listed once ended: the box records an attempt when it ends.
			if n := len(shown.Attempts); st.terminate && (n != 1 || shown.Attempts[0].Number != 1 ||
				shown.Attempts[0].Owner != msgbox.AwaitOwner || shown.Attempts[0].Error != st.err) {
				t.Errorf("%s: messages show --format json: attempts %+v, want attempt 1 by %s, %q", st.name, shown.Attempts,
					msgbox.AwaitOwner, st.err)
			}
		}
	}
}
