package msgboxtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// mdnEntity is a receipt as an AS2 partner sends it: a whole MIME entity,
// CRLF line ends, binary bytes (a NUL, invalid UTF-8) that the box keeps
// as they are, unlike text.
func mdnEntity(disposition string) []byte {
	return []byte("Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: automatic-action/MDN-sent-automatically; " +
		disposition + "\r\n--b--\r\n\x00\xff\xfe")
}

// testReceipts: an outcome's receipt is stored with it, by Finish and by
// FinishBatch, in the same transaction (a refused outcome stores none), and
// Get returns it with its delivery: data byte for byte, text cleaned; a
// later attempt's receipt replaces an earlier one's; Purge deletes it with
// the message.
func testReceipts(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	receipt := func(summary, disposition string) *msgbox.DeliveryReceipt {
		return &msgbox.DeliveryReceipt{ContentType: "multipart/signed; protocol=\"application/pkcs7-signature\"",
			Summary: summary, Data: mdnEntity(disposition)}
	}
	withReceipt := func(o msgbox.Outcome, r *msgbox.DeliveryReceipt) msgbox.Outcome {
		o.Receipt = r
		return o
	}
	tooBig := &msgbox.DeliveryReceipt{ContentType: "multipart/report", Summary: "huge",
		Data: bytes.Repeat([]byte("x"), msgbox.MaxReceiptSize+1)}
	laterDelivered := withReceipt(delivered, receipt("second", "processed/warning: late"))
	laterSuspended := suspended("partner gone")
	retryAt := now() // due again at once: the case's second attempt claims it

	// Each case finishes one attempt of a delivery to port of its own
	// message, then another if then is set, in one FinishBatch with a
	// delivery without receipt when batch (a box may have a path of its
	// own for batches).
	tests := []struct {
		name    string
		batch   bool
		first   msgbox.Outcome
		then    *msgbox.Outcome
		owner   string // "" is the lease owner
		wantErr error
		want    *msgbox.DeliveryReceipt // nil: none stored
	}{
		{name: "delivered", first: withReceipt(delivered, receipt("processed", "processed")),
			want: receipt("processed", "processed")},
		{name: "delivered in a batch", batch: true, first: withReceipt(delivered, receipt("processed", "processed")),
			want: receipt("processed", "processed")},
		{name: "no receipt", first: delivered},
		{name: "empty data", first: withReceipt(delivered, &msgbox.DeliveryReceipt{ContentType: "multipart/report", Summary: "processed"}),
			want: &msgbox.DeliveryReceipt{ContentType: "multipart/report", Summary: "processed", Data: []byte{}}},
		{name: "text cleaned", first: withReceipt(delivered, &msgbox.DeliveryReceipt{ContentType: "multipart/report\x00",
			Summary: "processed\x00\xff", Data: []byte("\x00\xff")}),
			want: &msgbox.DeliveryReceipt{ContentType: msgbox.CleanText("multipart/report\x00"),
				Summary: msgbox.CleanText("processed\x00\xff"), Data: []byte("\x00\xff")}},
		{name: "replaced by a later attempt's", first: withReceipt(retrying(retryAt, "MIC mismatch"), receipt("first", "processed")),
			then: &laterDelivered,
			want: receipt("second", "processed/warning: late")},
		{name: "kept by a later attempt without", first: withReceipt(retrying(retryAt, "busy"), receipt("first", "processed")),
			then: &laterSuspended, want: receipt("first", "processed")},
		{name: "larger than MaxReceiptSize", first: withReceipt(delivered, tooBig), wantErr: msgbox.ErrInvalidOutcome},
		{name: "larger than MaxReceiptSize in a batch", batch: true, first: withReceipt(delivered, tooBig),
			wantErr: msgbox.ErrInvalidOutcome},
		{name: "lease lost", owner: "w9", first: withReceipt(delivered, receipt("processed", "processed")),
			wantErr: msgbox.ErrLeaseLost},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := "as2_" + strings.Repeat("x", i)
			m := routed(t, b, "r.xml", port, "other_"+port)
			d := claim(t, b, "w1", longLease, port)
			owner := tc.owner
			if owner == "" {
				owner = d.LeaseOwner
			}
			var err error
			if tc.batch {
				other := claim(t, b, "w1", longLease, "other_"+port)
				errs := b.FinishBatch(ctx, []msgbox.Finishing{
					{DeliveryID: other.ID, Owner: other.LeaseOwner, Outcome: delivered},
					{DeliveryID: d.ID, Owner: owner, Outcome: tc.first},
				})
				if errs[0] != nil {
					t.Fatalf("FinishBatch of the delivery without receipt: %v", errs[0])
				}
				err = errs[1]
			} else {
				err = b.Finish(ctx, d.ID, owner, tc.first)
			}
			if tc.wantErr != nil {
				wantErr(t, "Finish", err, tc.wantErr)
				if got := deliveryTo(t, b, m.ID, port); got.State != msgbox.DeliveryInProgress || got.Receipt != nil {
					t.Errorf("after a refused Finish: state %s, receipt %+v; want in_progress and none", got.State, got.Receipt)
				}
				return
			}
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if tc.then != nil {
				d2 := claim(t, b, "w1", longLease, port)
				finish(t, b, d2, *tc.then)
			}
			detail := get(t, b, m.ID)
			for _, dl := range detail.Deliveries {
				if dl.Port != port {
					if dl.Receipt != nil {
						t.Errorf("delivery to %s has receipt %+v, want none", dl.Port, dl.Receipt)
					}
					continue
				}
				sameReceipt(t, dl.Receipt, tc.want)
			}
		})
	}

	// Purge deletes a receipt with its message (a box whose foreign keys
	// are enforced fails it otherwise).
	m := routed(t, b, "purged.xml", "as2_purged")
	finish(t, b, claim(t, b, "w1", longLease, "as2_purged"), withReceipt(delivered, receipt("processed", "processed")))
	sleepPast(now().Add(time.Millisecond))
	if _, err := b.Purge(ctx, now()); err != nil {
		t.Fatalf("Purge of a message with a receipt: %v", err)
	}
	if _, err := b.Get(ctx, m.ID); !errors.Is(err, msgbox.ErrNotFound) {
		t.Errorf("Get of purged %s: %v, want ErrNotFound", m.ID, err)
	}
}

func sameReceipt(t *testing.T, got, want *msgbox.DeliveryReceipt) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("receipt = %+v, want %+v", got, want)
	case got.ContentType != want.ContentType || got.Summary != want.Summary || !bytes.Equal(got.Data, want.Data):
		t.Errorf("receipt = {%q, %q, %q}, want {%q, %q, %q}", got.ContentType, got.Summary, got.Data,
			want.ContentType, want.Summary, want.Data)
	}
}
