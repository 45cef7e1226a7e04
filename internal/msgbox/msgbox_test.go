package msgbox

import (
	"bytes"
	"crypto/rand"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNewIDShape(t *testing.T) {
	seen := map[string]bool{}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for range 10000 {
		id := NewID(at, rand.Reader) // all in the same millisecond
		if !ValidID(id) {
			t.Fatalf("NewID = %q: not a valid id", id)
		}
		if seen[id] {
			t.Fatalf("NewID returned %q twice", id)
		}
		seen[id] = true
	}
}

func TestNewIDKnownValues(t *testing.T) {
	zero := bytes.NewReader(make([]byte, 10))
	if got := NewID(time.UnixMilli(0), zero); got != "00000000000000000000000000" {
		t.Errorf("NewID(epoch, zeros) = %q", got)
	}
	ones := bytes.NewReader(bytes.Repeat([]byte{0xff}, 10))
	// 1 ms after the epoch, all-ones entropy: the last 16 digits are all 'z'.
	if got := NewID(time.UnixMilli(1), ones); got != "0000000001zzzzzzzzzzzzzzzz" {
		t.Errorf("NewID(1ms, ones) = %q", got)
	}
	// Before the epoch clamps to 0 rather than wrapping around to the end
	// of time.
	if got := NewID(time.UnixMilli(-5), bytes.NewReader(make([]byte, 10))); got[:10] != "0000000000" {
		t.Errorf("NewID(before epoch) = %q, want a zero time part", got)
	}
	// 2026-05-01T10:00:00Z is 1777629600000 ms; base32 of it computed independently.
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	if got := NewID(at, bytes.NewReader(make([]byte, 10)))[:10]; got != "01kqhfp680" {
		t.Errorf("time part of %s = %q", at, got)
	}
}

func TestNewIDTimeOrdered(t *testing.T) {
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 2000 {
		// Steps of 1 ms up to whole days, so that every digit of the time
		// part carries at some point.
		step := time.Duration(i*i*i) * time.Millisecond
		ids = append(ids, NewID(base.Add(step), rand.Reader))
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("ids of increasing times do not sort in time order")
	}
}

func TestNewIDPanicsOnFailingRand(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "randomness") {
			t.Errorf("recover() = %v, want a panic about randomness", r)
		}
	}()
	NewID(time.Now(), bytes.NewReader(make([]byte, 3))) // short read
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"01kqh6n88g0000000000000000", true},
		{"01kqh6n88g000000000000000", false},   // 25
		{"01kqh6n88g00000000000000000", false}, // 27
		{"01KQH6N88G0000000000000000", false},  // upper case
		{"01kqh6n88g000000000000000i", false},  // not Crockford
		{"01kqh6n88g000000000000000u", false},
		{"01kqh6n88g00000000000000/0", false},
		{"", false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestDeriveStatus(t *testing.T) {
	const (
		pe = DeliveryPending
		ip = DeliveryInProgress
		rt = DeliveryRetrying
		dl = DeliveryDelivered
		su = DeliverySuspended
		te = DeliveryTerminated
	)
	tests := []struct {
		routed, terminated bool
		ds                 []DeliveryState
		want               Status
	}{
		{false, false, nil, StatusReceived},
		{false, true, nil, StatusTerminated},
		{true, false, nil, StatusSuspended}, // routing failure
		{true, true, nil, StatusTerminated},
		{true, false, []DeliveryState{pe}, StatusRouted},
		{true, false, []DeliveryState{ip}, StatusRouted},
		{true, false, []DeliveryState{dl, pe}, StatusRouted},
		{true, false, []DeliveryState{dl, ip}, StatusRouted},
		{true, false, []DeliveryState{dl, rt}, StatusRetrying},
		{true, false, []DeliveryState{rt, ip}, StatusRetrying},
		{true, false, []DeliveryState{dl}, StatusDelivered},
		{true, false, []DeliveryState{dl, dl, dl}, StatusDelivered},
		{true, false, []DeliveryState{dl, su}, StatusSuspended},
		{true, false, []DeliveryState{rt, su, pe}, StatusSuspended},
		{true, false, []DeliveryState{dl, te}, StatusTerminated},
		{true, true, []DeliveryState{dl, dl}, StatusTerminated},
		{true, false, []DeliveryState{su, te}, StatusTerminated},
	}
	for _, tc := range tests {
		if got := DeriveStatus(tc.routed, tc.terminated, tc.ds); got != tc.want {
			t.Errorf("DeriveStatus(routed=%v, terminated=%v, %v) = %q, want %q", tc.routed, tc.terminated, tc.ds, got, tc.want)
		}
		// Order does not matter.
		rev := make([]DeliveryState, len(tc.ds))
		for i, s := range tc.ds {
			rev[len(rev)-1-i] = s
		}
		if got := DeriveStatus(tc.routed, tc.terminated, rev); got != tc.want {
			t.Errorf("DeriveStatus(%v reversed) = %q, want %q", tc.ds, got, tc.want)
		}
	}
}

func TestValidStatus(t *testing.T) {
	for _, s := range []Status{StatusReceived, StatusRouted, StatusRetrying, StatusSuspended, StatusDelivered, StatusTerminated} {
		if !ValidStatus(s) {
			t.Errorf("ValidStatus(%q) = false", s)
		}
	}
	for _, s := range []Status{"", "pending", "Delivered"} {
		if ValidStatus(s) {
			t.Errorf("ValidStatus(%q) = true", s)
		}
	}
}

func TestValidateOutcome(t *testing.T) {
	at := time.Now()
	for _, tc := range []struct {
		o  Outcome
		ok bool
	}{
		{Outcome{State: DeliveryDelivered}, true},
		{Outcome{State: DeliverySuspended, Error: "x"}, true},
		{Outcome{State: DeliveryRetrying, RetryAt: at}, true},
		{Outcome{State: DeliveryRetrying}, false},
		{Outcome{State: DeliveryPending}, false},
		{Outcome{State: DeliveryInProgress}, false},
		{Outcome{State: DeliveryTerminated}, false},
		{Outcome{}, false},
		{Outcome{State: DeliveryDelivered, Receipt: &DeliveryReceipt{Data: make([]byte, MaxReceiptSize)}}, true},
		{Outcome{State: DeliveryDelivered, Receipt: &DeliveryReceipt{Data: make([]byte, MaxReceiptSize+1)}}, false},
	} {
		err := ValidateOutcome(tc.o)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalidOutcome) {
			t.Errorf("ValidateOutcome(%+v) = %v, want ok=%v", tc.o, err, tc.ok)
		}
	}
}

// TestCleanOutcome: the text a box stores is cleaned, the receipt's data
// kept byte for byte (nil as empty: stored NOT NULL), and the caller's
// receipt is not changed.
func TestCleanOutcome(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		name string
		in   Outcome
		want Outcome
	}{
		{"no receipt", Outcome{State: DeliveryRetrying, RetryAt: at, Error: "a\x00b"},
			Outcome{State: DeliveryRetrying, RetryAt: Timestamp(at), Error: CleanText("a\x00b")}},
		{"receipt", Outcome{State: DeliveryDelivered, Receipt: &DeliveryReceipt{ContentType: "t\x00", Summary: "s\xff", Data: []byte("\x00\xff")}},
			Outcome{State: DeliveryDelivered, Receipt: &DeliveryReceipt{ContentType: CleanText("t\x00"), Summary: CleanText("s\xff"), Data: []byte("\x00\xff")}}},
		{"receipt without data", Outcome{State: DeliveryDelivered, Receipt: &DeliveryReceipt{Summary: "s"}},
			Outcome{State: DeliveryDelivered, Receipt: &DeliveryReceipt{Summary: "s", Data: []byte{}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before DeliveryReceipt
			if tc.in.Receipt != nil {
				before = *tc.in.Receipt
			}
			got := CleanOutcome(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CleanOutcome = %+v (receipt %+v), want %+v (receipt %+v)", got, got.Receipt, tc.want, tc.want.Receipt)
			}
			if tc.in.Receipt != nil && !reflect.DeepEqual(*tc.in.Receipt, before) {
				t.Errorf("the caller's receipt changed: %+v, was %+v", *tc.in.Receipt, before)
			}
		})
	}
}

func TestTimestamp(t *testing.T) {
	loc := time.FixedZone("CEST", 2*3600)
	in := time.Date(2026, 5, 1, 12, 0, 0, 123456789, loc)
	got := Timestamp(in)
	if got.Location() != time.UTC || got.Nanosecond() != 123456000 || !got.Equal(in.Truncate(time.Microsecond)) ||
		got.Hour() != 10 {
		t.Errorf("Timestamp(%s) = %s", in, got)
	}
}

func TestReasons(t *testing.T) {
	if got := SuspendedReason("fabrikam", "certificate expired"); got != `send port "fabrikam": certificate expired` {
		t.Errorf("SuspendedReason = %q", got)
	}
	// A transport's error names the port already: once is enough.
	if got := SuspendedReason("fabrikam", `send port "fabrikam": output directory out does not exist`); got != `send port "fabrikam": output directory out does not exist` {
		t.Errorf("SuspendedReason of an error naming the port = %q", got)
	}
	if got := SuspendedReason("fabrikam", ""); !strings.Contains(got, "fabrikam") {
		t.Errorf("SuspendedReason without error = %q", got)
	}
	if got := TerminatedReason(""); got != "terminated by an operator" {
		t.Errorf("TerminatedReason() = %q", got)
	}
	if got := TerminatedReason("send port x: boom"); !strings.HasSuffix(got, "send port x: boom") {
		t.Errorf("TerminatedReason keeps no cause: %q", got)
	}
	if got := LeaseExpiredError("srv1"); !strings.Contains(got, "srv1") {
		t.Errorf("LeaseExpiredError = %q", got)
	}
}

// TestLeaseExpiredErrorOfAnMDNWait: an attempt whose asynchronous MDN did
// not come in time is recorded, and shown by messages show, as that, not
// as the expiry of the box's internal lease "as2:awaiting-mdn"; earlier
// boxes' records of it are still recognised.
func TestLeaseExpiredErrorOfAnMDNWait(t *testing.T) {
	for _, tc := range []struct {
		owner      string
		want       string
		mdnTimeout bool
	}{
		{"srv1/w3", "lease of srv1/w3 expired before the attempt finished", false},
		{"srv1@send_host/receive", "lease of srv1@send_host/receive expired before the attempt finished", false},
		{AwaitOwner, "no asynchronous MDN arrived within mdn_timeout", true},
	} {
		got := LeaseExpiredError(tc.owner)
		if got != tc.want {
			t.Errorf("LeaseExpiredError(%q) = %q, want %q", tc.owner, got, tc.want)
		}
		if IsMDNTimedOut(got) != tc.mdnTimeout {
			t.Errorf("IsMDNTimedOut(%q) = %v, want %v", got, !tc.mdnTimeout, tc.mdnTimeout)
		}
	}
	if legacy := "lease of as2:awaiting-mdn expired before the attempt finished"; !IsMDNTimedOut(legacy) {
		t.Errorf("IsMDNTimedOut(%q) = false: an earlier box's record of a wait that ended is not recognised", legacy)
	}
}

func TestShownStatus(t *testing.T) {
	awaiting := Delivery{State: DeliveryInProgress, LeaseOwner: AwaitOwner}
	working := Delivery{State: DeliveryInProgress, LeaseOwner: "srv1/w1"}
	pending := Delivery{State: DeliveryPending}
	done := Delivery{State: DeliveryDelivered}
	tests := []struct {
		stored Status
		ds     []Delivery
		want   Status
	}{
		{StatusRouted, []Delivery{awaiting}, StatusAwaitingMDN},
		{StatusRouted, []Delivery{awaiting, done}, StatusAwaitingMDN},
		{StatusRouted, []Delivery{awaiting, awaiting}, StatusAwaitingMDN},
		{StatusRouted, []Delivery{awaiting, pending}, StatusRouted},
		{StatusRouted, []Delivery{awaiting, working}, StatusRouted},
		{StatusRouted, []Delivery{working}, StatusRouted},
		{StatusRouted, nil, StatusRouted},
		// Only a routed message awaits: a retrying or suspended sibling
		// wins (DeriveStatus's precedence).
		{StatusRetrying, []Delivery{awaiting, {State: DeliveryRetrying}}, StatusRetrying},
		{StatusTerminated, []Delivery{awaiting}, StatusTerminated},
	}
	for _, tc := range tests {
		if got := ShownStatus(tc.stored, tc.ds); got != tc.want {
			t.Errorf("ShownStatus(%s, %+v) = %s, want %s", tc.stored, tc.ds, got, tc.want)
		}
	}
}

func TestReplaced(t *testing.T) {
	if got, want := Replaced("id, status, reason", "status", "x(status)"), "id, x(status) AS status, reason"; got != want {
		t.Errorf("Replaced = %q, want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("Replaced of a missing column did not panic")
		}
	}()
	Replaced("id, reason", "status", "x")
}

func TestTypedID(t *testing.T) {
	const id = "01kqh6n88g0000000000000001"
	for _, tc := range []struct{ typed, want string }{
		{id, id},
		{"01KQH6N88G0000000000000001", id},
		{"OIKQH6N88GOOOOOOOOOOOOOOOL", id},
		{"0lkqh6n88g000000000000000i", id},
		{"01KQH6N88G000000000000000U", "01KQH6N88G000000000000000U"}, // no u: left for ValidID to refuse
		{"01kqh6n88g", "01kqh6n88g"},
		{"", ""},
	} {
		if got := TypedID(tc.typed); got != tc.want {
			t.Errorf("TypedID(%q) = %q, want %q", tc.typed, got, tc.want)
		}
	}
}

func TestResubmittedAs(t *testing.T) {
	const id = "01j0000000000000000000000z"
	for _, tc := range []struct {
		name string
		e    Event
		want string
		ok   bool
	}{
		{"the entry", Event{Status: ResubmittedStatus, Detail: ResubmittedAsDetail(id)}, id, true},
		{"a delivery's entry", Event{Port: "p", Status: ResubmittedStatus, Detail: ResubmittedAsDetail(id)}, "", false},
		{"another status", Event{Status: "received", Detail: ResubmittedAsDetail(id)}, "", false},
		{"the copy's own entry", Event{Status: ResubmittedStatus, Detail: ResubmittedFromDetail(id)}, "", false},
		{"not an id", Event{Status: ResubmittedStatus, Detail: ResubmittedAsDetail("X; terminate all")}, "", false},
		{"an id and more", Event{Status: ResubmittedStatus, Detail: ResubmittedAsDetail(id) + " "}, "", false},
	} {
		got, ok := ResubmittedAs(tc.e)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: ResubmittedAs(%+v) = %q, %v; want %q, %v", tc.name, tc.e, got, ok, tc.want, tc.ok)
		}
	}
}
