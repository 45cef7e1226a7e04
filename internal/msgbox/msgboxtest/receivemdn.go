package msgboxtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// testReceiveMDN: an Incoming's MDN (what an AS2 receive location keeps
// for the message) is stored in the transaction that stores the message.
// A Receive that returns has stored both: the MDN as made, its MessageID
// the message's whatever it said, a pending one claimable; whatever the
// body's size (one chunk, exactly one, several), with its bytes as
// received apart or not, routed or not, and through ReceiveBatch. It is
// made once, once the body has been read to its end, and not for a
// duplicate found before the body is read, whose stored MDN stays as it
// is. A nil MDN stores the message alone.
func testReceiveMDN(t *testing.T, b msgbox.Box) {
	ob, ok := b.(msgbox.MDNOutbox)
	if !ok {
		t.Fatalf("%T does not keep sent MDNs (msgbox.MDNOutbox)", b)
	}
	ctx := t.Context()
	toOrders := func(msgbox.Message) ([]string, string) { return []string{"orders"}, "" }
	const chunk = 1 << 20 // both boxes' ChunkSize
	for i, tc := range []struct {
		name       string
		size       int64
		asReceived bool
		route      msgbox.Router
		batch      bool
		state      msgbox.MDNState
	}{
		{name: "small", size: 10, state: msgbox.MDNUnrequested},
		{name: "small routed", size: 10, route: toOrders, state: msgbox.MDNSent},
		{name: "empty", size: 0, state: msgbox.MDNPending},
		{name: "one chunk", size: chunk, route: toOrders, state: msgbox.MDNSent},
		{name: "large", size: 3*chunk + 5, state: msgbox.MDNPending},
		{name: "large routed", size: 2*chunk + 1, route: toOrders, state: msgbox.MDNUnrequested},
		{name: "as received", size: 10, asReceived: true, route: toOrders, state: msgbox.MDNSent},
		{name: "as received large", size: 2*chunk + 3, asReceived: true, state: msgbox.MDNPending},
		{name: "batch", size: 10, route: toOrders, batch: true, state: msgbox.MDNPending},
		{name: "batch unrouted", size: 7, batch: true, state: msgbox.MDNUnrequested},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := fmt.Sprintf("as2_%d", i)
			data := mdnEntity("processed " + tc.name)
			body := &countingReader{r: pattern(uint64(i), tc.size)}
			made, readWhenMade := 0, int64(-1)
			in := keyed(tc.name, "as2:"+tc.name)
			if tc.asReceived {
				in.AsReceived, in.Decoding = pattern(uint64(100+i), 9), msgbox.Decoded
			}
			want := msgbox.SentMDN{Location: loc, Data: data, State: tc.state, NextAttemptAt: now(), Authenticated: i%2 == 1}
			if tc.state == msgbox.MDNPending {
				want.URL = "http://127.0.0.1:1/mdn"
			}
			in.MDN = func() (*msgbox.SentMDN, error) {
				made++
				readWhenMade = body.n
				m := want
				m.MessageID = "not the message's" // the box sets it
				return &m, nil
			}
			var m msgbox.Message
			var dup bool
			var err error
			if tc.batch {
				res := b.ReceiveBatch(ctx, []msgbox.Receipt{
					{In: keyed(tc.name+" before", "as2:before "+tc.name), Body: pattern(7, 5)},
					{In: in, Body: body},
				}, tc.route)
				m, dup, err = res[1].Message, res[1].Dup, res[1].Err
			} else {
				m, dup, err = b.ReceiveRouted(ctx, in, body, tc.route)
			}
			if err != nil || dup {
				t.Fatalf("Receive: dup %v, %v", dup, err)
			}
			if made != 1 || readWhenMade != tc.size {
				t.Errorf("the MDN was made %d times, after %d bytes of the body; want once, after all %d", made, readWhenMade, tc.size)
			}
			got, err := ob.SentMDN(ctx, m.ID)
			if err != nil {
				t.Fatalf("SentMDN of the message received with one: %v", err)
			}
			if got.MessageID != m.ID || got.Location != loc || !bytes.Equal(got.Data, data) || got.State != tc.state ||
				got.URL != want.URL || got.Attempts != 0 || !got.NextAttemptAt.Equal(want.NextAttemptAt) || got.Authenticated != want.Authenticated {
				t.Errorf("SentMDN = %+v; want %+v for %s", got, want, m.ID)
			}
			if err := sameStream(bytes.NewReader(readBody(t, b, m.ID)), pattern(uint64(i), tc.size)); err != nil {
				t.Errorf("the body: %v", err)
			}
			if tc.route != nil {
				wantStatus(t, b, m.ID, msgbox.StatusRouted)
			}
			if tc.state == msgbox.MDNPending {
				claimed, err := ob.ClaimMDNs(ctx, loc, longLease, 10, 10)
				if err != nil || len(claimed) != 1 || claimed[0].MessageID != m.ID {
					t.Errorf("ClaimMDNs = %+v, %v; want the pending MDN of %s", claimed, err, m.ID)
				}
			}

			// A duplicate: neither its body read nor an MDN made; the
			// stored one stays.
			again := keyed(tc.name+" again", in.SourceKey)
			again.MDN = func() (*msgbox.SentMDN, error) {
				made++
				return &msgbox.SentMDN{Location: loc, Data: mdnEntity("another"), State: msgbox.MDNSent}, nil
			}
			d, dup, err := b.ReceiveRouted(ctx, again, failingReader(0, errors.New("read")), tc.route)
			if err != nil || !dup || d.ID != m.ID || made != 1 {
				t.Errorf("Receive again: %s, dup %v, %v, MDN made %d times; want %s, a duplicate, no MDN made", d.ID, dup, err, made, m.ID)
			}
			if got, err := ob.SentMDN(ctx, m.ID); err != nil || !bytes.Equal(got.Data, data) {
				t.Errorf("SentMDN after a duplicate: %+v, %v; want the first one's", got, err)
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		in := keyed("none.edi", "as2:none")
		in.MDN = func() (*msgbox.SentMDN, error) { return nil, nil }
		m := receive(t, b, in, "x")
		if got, err := ob.SentMDN(ctx, m.ID); !errors.Is(err, msgbox.ErrNotFound) {
			t.Errorf("SentMDN of a message whose MDN made none: %+v, %v; want ErrNotFound", got, err)
		}
	})
}

// testReceiveMDNFails: an MDN that cannot be made (its function fails), or
// that PutMDN would refuse, fails the whole receive: ReceiveRouted (and
// ReceiveBatch, for that item) returns the error and nothing of the
// message is stored: not listed, its source key not held (the message
// sent again is new), whatever the body's size, routed or not.
func testReceiveMDNFails(t *testing.T, b msgbox.Box) {
	ctx := t.Context()
	boom := errors.New("no signing key")
	mdns := []struct {
		name string
		mdn  func() (*msgbox.SentMDN, error)
		want error
	}{
		{"failed", func() (*msgbox.SentMDN, error) { return nil, boom }, boom},
		{"bad state", func() (*msgbox.SentMDN, error) {
			return &msgbox.SentMDN{Location: "as2_in", Data: mdnEntity("processed"), State: "lost"}, nil
		}, msgbox.ErrInvalidOutcome},
		{"too large", func() (*msgbox.SentMDN, error) {
			return &msgbox.SentMDN{Location: "as2_in", Data: bytes.Repeat([]byte("x"), msgbox.MaxReceiptSize+1), State: msgbox.MDNSent}, nil
		}, msgbox.ErrInvalidOutcome},
	}
	toOrders := func(msgbox.Message) ([]string, string) { return []string{"orders"}, "" }
	for _, mdn := range mdns {
		for _, shape := range []struct {
			name       string
			size       int64
			route      msgbox.Router
			asReceived bool
			batch      bool
		}{
			{name: "small", size: 10},
			{name: "small routed", size: 10, route: toOrders},
			{name: "large", size: 3<<20 + 1},
			{name: "large routed", size: 2<<20 + 7, route: toOrders},
			{name: "as received", size: 10, asReceived: true, route: toOrders},
			{name: "batch", size: 10, route: toOrders, batch: true},
		} {
			name := mdn.name + " " + shape.name
			t.Run(name, func(t *testing.T) {
				in := keyed(name, "as2:"+name)
				if shape.asReceived {
					in.AsReceived, in.Decoding = pattern(5, 9), msgbox.Decoded
				}
				in.MDN = mdn.mdn
				var err error
				if shape.batch {
					res := b.ReceiveBatch(ctx, []msgbox.Receipt{{In: in, Body: pattern(1, shape.size)}}, shape.route)
					err = res[0].Err
				} else {
					_, _, err = b.ReceiveRouted(ctx, in, pattern(1, shape.size), shape.route)
				}
				if !errors.Is(err, mdn.want) {
					t.Fatalf("Receive with an MDN %s: %v; want %v", mdn.name, err, mdn.want)
				}
				msgs, err := msgbox.Collect(ctx, b, msgbox.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					if m.FileName == name {
						t.Fatalf("the message whose MDN failed is stored: %+v", m)
					}
				}
				in.MDN, in.AsReceived = nil, nil
				if _, dup, err := b.ReceiveRouted(ctx, in, pattern(1, shape.size), shape.route); err != nil || dup {
					t.Errorf("the message sent again: dup %v, %v; want it new (its key was not held)", dup, err)
				}
			})
		}
	}
}
