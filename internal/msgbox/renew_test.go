package msgbox

import (
	"context"
	"strings"
	"testing"
	"time"
)

// shortBox answers every Renew with no errors at all, breaking Renew's
// contract of one error per item.
type shortBox struct{ Box }

func (shortBox) Renew(context.Context, time.Duration, ...Renewal) []error { return nil }

// TestRenewAllShortAnswer: a box that answers fewer renewals than it was
// asked for is taken to have renewed none, each item failing with an error
// that says so, rather than an index out of range in the caller.
func TestRenewAllShortAnswer(t *testing.T) {
	items := []Renewal{{DeliveryID: 1, Owner: "w"}, {DeliveryID: 2, Owner: "w"}}
	errs := RenewAll(t.Context(), shortBox{}, time.Minute, items)
	if len(errs) != len(items) {
		t.Fatalf("RenewAll returned %d errors for %d items", len(errs), len(items))
	}
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "answered 0 of 2") {
			t.Errorf("item %d: %v, want an error saying the box answered 0 of 2", i, err)
		}
	}
	if err := RenewOne(t.Context(), shortBox{}, 1, "w", time.Minute); err == nil {
		t.Error("RenewOne with no answer succeeded")
	}
}
