package as2

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/as2"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// noPutMDN stands for a box that fails every PutMDN (gone just after a
// message's commit): what the receiver keeps of a new message must have
// been stored with it.
type noPutMDN struct{ msgbox.MDNOutbox }

func (noPutMDN) PutMDN(context.Context, msgbox.SentMDN) error {
	return errors.New("the message box is unreachable")
}

// The two contents sent under repeatID, and the header fields of a
// request asking for an asynchronous MDN (to a port nothing listens on).
const (
	order1 = "UNB+UNOC:3+CONTOSO+FABRIKAM'order 1'"
	order2 = "UNB+UNOC:3+CONTOSO+FABRIKAM'order 2'"
)

var asyncReceipt = map[string]string{"Receipt-Delivery-Option": "http://127.0.0.1:9/mdn"}

// TestReceiveMDNStoredWithMessage: the MDN of a new message, whatever its
// sender asked (none: the unsent record of its content; a synchronous
// one; an asynchronous one), is stored in the transaction that stores the
// message, not by a PutMDN after: with every PutMDN failing, the message
// is answered as it asked and its MDN is kept, in the state it asked for,
// with its MIC. Another content under its Message-ID is then refused by
// it; the same content is answered (a synchronous original with itself).
func TestReceiveMDNStoredWithMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		state  msgbox.MDNState
	}{
		{"no receipt", noReceipt, msgbox.MDNUnrequested},
		{"sync", nil, msgbox.MDNSent},
		{"async", asyncReceipt, msgbox.MDNPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box := transporttest.NewBox(t)
			g := newRepeatRigOn(t, rigOptions{box: box, mdns: noPutMDN{box}})
			code, first := g.post(t, order1, tc.header)
			if code != http.StatusOK {
				t.Fatalf("the first message: %d %q", code, first)
			}
			msgs := g.stored(t)
			if len(msgs) != 1 {
				t.Fatalf("%d messages stored, want 1", len(msgs))
			}
			kept, err := box.SentMDN(t.Context(), msgs[0].ID)
			if err != nil || kept.State != tc.state {
				t.Fatalf("the MDN kept: %s, %v; want one, %s", kept.State, err, tc.state)
			}
			m, err := as2.ParseMDN(kept.Data, as2.VerifyOptions{Unverified: true})
			if err != nil || !m.Disposition.Positive() || m.MIC == nil || !m.MIC.Equal(as2.ComputeMIC(as2.SHA256, entityOf(order1))) {
				t.Fatalf("the MDN kept: %v, %v; want processed, with the content's MIC", m, err)
			}
			if tc.header == nil && !bytes.Equal(splitOrFatal(t, kept.Data), splitOrFatal(t, first)) {
				t.Errorf("the MDN kept is not the one sent:\n%s", kept.Data)
			}

			_, refused := g.post(t, order2, nil)
			if m := g.mdnOf(t, refused); m.Disposition.Positive() || !strings.Contains(m.Text, repeatID) {
				t.Errorf("another content under the Message-ID: %q, MIC %v; want processed/error naming %s", m.Disposition, m.MIC, repeatID)
			}
			_, again := g.post(t, order1, nil)
			if m := g.mdnOf(t, again); !m.Disposition.Positive() || m.MIC == nil || !m.MIC.Equal(as2.ComputeMIC(as2.SHA256, entityOf(order1))) {
				t.Errorf("the same content again: %q, MIC %v; want processed, with its MIC", m.Disposition, m.MIC)
			}
			if tc.header == nil && !bytes.Equal(again, first) {
				t.Errorf("the same content again answered with another MDN:\n%s", again)
			}
			if n := len(g.stored(t)); n != 1 {
				t.Errorf("%d messages stored after the repeats, want 1", n)
			}
		})
	}
}

// TestReceiveMDNBuildFails: a message whose MDN cannot be built (it asks
// for a signed one, and the signing_rollover identity that signs from now
// on is missing) is not stored: answered 503, which the sender retries,
// rather than stored with no MDN to answer or judge a repeat by. Its
// Message-ID is not held: the message sent again asking for none is
// stored as new.
func TestReceiveMDNBuildFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"sync", nil},
		{"async", asyncReceipt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box := transporttest.NewBox(t)
			g := newRepeatRigOn(t, rigOptions{box: box, mdns: box, keys: component.Keys{
				Rollover: &component.Rollover{At: time.Now().Add(-time.Hour), Missing: errors.New("the rollover key is not in the store")}}})
			if code, text := g.post(t, order1, tc.header); code != http.StatusServiceUnavailable {
				t.Errorf("a message whose signed MDN cannot be built: %d %q; want 503", code, text)
			}
			if msgs := g.stored(t); len(msgs) != 0 {
				t.Fatalf("stored %+v; want nothing", msgs)
			}
			if code, text := g.post(t, order1, noReceipt); code != http.StatusOK {
				t.Fatalf("the message again, asking for no MDN: %d %q", code, text)
			}
			msgs := g.stored(t)
			if len(msgs) != 1 {
				t.Fatalf("%d messages stored, want 1", len(msgs))
			}
			if kept, err := box.SentMDN(t.Context(), msgs[0].ID); err != nil || kept.State != msgbox.MDNUnrequested {
				t.Errorf("kept for it: %s, %v; want its record, unrequested", kept.State, err)
			}
		})
	}
}
