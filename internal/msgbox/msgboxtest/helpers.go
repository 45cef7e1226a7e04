package msgboxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// longLease is a lease no test outlives: while it holds, the delivery is
// certainly not claimable by anyone else, however slow the machine.
const longLease = 10 * time.Minute

// shortLease is a lease tests wait out. Tests never assert that something
// happened within it, only what the state is after it has certainly passed.
const shortLease = 100 * time.Millisecond

func now() time.Time { return msgbox.Timestamp(time.Now()) }

// sleepPast sleeps until the wall clock is past t, with a margin for the box
// and the test reading the clock at different instants.
func sleepPast(t time.Time) {
	if d := time.Until(t) + 20*time.Millisecond; d > 0 {
		time.Sleep(d)
	}
}

// inWindow fails unless lo <= got <= hi.
func inWindow(t *testing.T, what string, got, lo, hi time.Time) {
	t.Helper()
	if got.Before(lo) || got.After(hi) {
		t.Errorf("%s = %s, want within [%s, %s]", what, got.Format(time.RFC3339Nano), lo.Format(time.RFC3339Nano),
			hi.Format(time.RFC3339Nano))
	}
}

func receive(t *testing.T, b msgbox.Box, in msgbox.Incoming, body string) msgbox.Message {
	t.Helper()
	m, dup, err := b.ReceiveRouted(t.Context(), in, strings.NewReader(body), nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if dup {
		t.Fatalf("Receive: dup = true for a new message %+v", in)
	}
	return m
}

// inc is a typical Incoming for tests that do not care about its fields.
func inc(name string) msgbox.Incoming {
	return msgbox.Incoming{ReceiveLocation: "orders_in", FileName: name, ContentType: "application/xml",
		Properties: map[string]string{"partner": "fabrikam"}}
}

// routed receives a message and routes it to ports.
func routed(t *testing.T, b msgbox.Box, name string, ports ...string) msgbox.Message {
	t.Helper()
	m := receive(t, b, inc(name), "<order>"+name+"</order>")
	if err := b.Route(t.Context(), m.ID, ports, ""); err != nil {
		t.Fatalf("Route(%s, %v): %v", m.ID, ports, err)
	}
	return m
}

func get(t *testing.T, b msgbox.Box, id string) *msgbox.Detail {
	t.Helper()
	d, err := b.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	if d.Message.ID != id {
		t.Fatalf("Get(%s) returned message %s", id, d.Message.ID)
	}
	return d
}

func status(t *testing.T, b msgbox.Box, id string) msgbox.Status {
	t.Helper()
	return get(t, b, id).Message.Status
}

func wantStatus(t *testing.T, b msgbox.Box, id string, want msgbox.Status) {
	t.Helper()
	if got := status(t, b, id); got != want {
		t.Errorf("status of %s = %q, want %q", id, got, want)
	}
}

// deliveryTo returns the message's delivery to port.
func deliveryTo(t *testing.T, b msgbox.Box, id, port string) msgbox.Delivery {
	t.Helper()
	for _, d := range get(t, b, id).Deliveries {
		if d.Port == port {
			return d
		}
	}
	t.Fatalf("message %s has no delivery to %s", id, port)
	return msgbox.Delivery{}
}

func claim(t *testing.T, b msgbox.Box, owner string, lease time.Duration, ports ...string) *msgbox.Delivery {
	t.Helper()
	d, err := ClaimOne(t.Context(), b, owner, ports, lease)
	if err != nil {
		t.Fatalf("Claim(%s, %v): %v", owner, ports, err)
	}
	if d == nil {
		t.Fatalf("Claim(%s, %v) = nil, want a due delivery", owner, ports)
	}
	return d
}

func claimNone(t *testing.T, b msgbox.Box, owner string, ports ...string) {
	t.Helper()
	d, err := ClaimOne(t.Context(), b, owner, ports, longLease)
	if err != nil {
		t.Fatalf("Claim(%s, %v): %v", owner, ports, err)
	}
	if d != nil {
		t.Fatalf("Claim(%s, %v) = delivery %d to %s of %s, want nil: nothing should be due",
			owner, ports, d.ID, d.Port, d.MessageID)
	}
}

func finish(t *testing.T, b msgbox.Box, d *msgbox.Delivery, o msgbox.Outcome) {
	t.Helper()
	if err := b.Finish(t.Context(), d.ID, d.LeaseOwner, o); err != nil {
		t.Fatalf("Finish(%d, %s, %+v): %v", d.ID, d.LeaseOwner, o, err)
	}
}

var delivered = msgbox.Outcome{State: msgbox.DeliveryDelivered}

func retrying(at time.Time, err string) msgbox.Outcome {
	return msgbox.Outcome{State: msgbox.DeliveryRetrying, RetryAt: at, Error: err}
}

func suspended(err string) msgbox.Outcome {
	return msgbox.Outcome{State: msgbox.DeliverySuspended, Error: err}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error = %v, want %v", what, err, want)
	}
}

func readBody(t *testing.T, b msgbox.Box, id string) []byte {
	t.Helper()
	data, err := bodyOf(t.Context(), b, id)
	if err != nil {
		t.Fatalf("reading body of %s: %v", id, err)
	}
	return data
}

// bodyOf reads the body of message id; for goroutines, which must not call
// t.Fatal.
func bodyOf(ctx context.Context, b msgbox.Box, id string) ([]byte, error) {
	rc, err := b.Body(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("Body(%s): %w", id, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// sameMessage fails unless got and want are the same message metadata.
func sameMessage(t *testing.T, what string, got, want msgbox.Message) {
	t.Helper()
	if !got.ReceivedAt.Equal(want.ReceivedAt) {
		t.Errorf("%s: ReceivedAt = %s, want %s", what, got.ReceivedAt, want.ReceivedAt)
	}
	if got.ReceivedAt.Location() != time.UTC {
		t.Errorf("%s: ReceivedAt location = %s, want UTC", what, got.ReceivedAt.Location())
	}
	got.ReceivedAt, want.ReceivedAt = time.Time{}, time.Time{}
	if len(got.Properties) == 0 && len(want.Properties) == 0 {
		got.Properties, want.Properties = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		// %#v: strings quoted, so that control characters in them are
		// shown, not sent to the terminal.
		t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}

// pattern is a reproducible stream of pseudo-random bytes: a large body the
// test never holds in memory, and can generate again to compare with.
func pattern(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// sameStream compares two streams block by block and reports the first
// difference; it holds two small blocks in memory at a time.
func sameStream(got, want io.Reader) error {
	const block = 64 << 10
	g, w := make([]byte, block), make([]byte, block)
	var off int64
	for {
		ng, errG := io.ReadFull(got, g)
		nw, errW := io.ReadFull(want, w)
		doneG := errG == io.EOF || errG == io.ErrUnexpectedEOF
		doneW := errW == io.EOF || errW == io.ErrUnexpectedEOF
		if errG != nil && !doneG {
			return fmt.Errorf("reading at byte %d: %w", off+int64(ng), errG)
		}
		if ng != nw || !bytes.Equal(g[:ng], w[:nw]) {
			for i := 0; i < min(ng, nw); i++ {
				if g[i] != w[i] {
					return fmt.Errorf("first difference at byte %d", off+int64(i))
				}
			}
			return fmt.Errorf("length differs: got %d bytes, want %d, at block starting at %d", ng, nw, off)
		}
		off += int64(ng)
		if doneG || doneW {
			if doneG != doneW {
				return fmt.Errorf("length differs after %d bytes", off)
			}
			return nil
		}
	}
}

// failingReader returns n bytes of pattern, then err.
func failingReader(n int64, err error) io.Reader {
	return io.MultiReader(pattern(7, n), errReader{err})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func historyStatuses(d *msgbox.Detail) []string {
	var s []string
	for _, e := range d.History {
		if e.Port != "" {
			s = append(s, e.Port+":"+e.Status)
		} else {
			s = append(s, e.Status)
		}
	}
	return s
}

func ctxCanceled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// ClaimOne leases the next due delivery for one of ports to owner, as
// ClaimBatch with max 1 and nothing excepted: nil and no error when none is
// due. For tests that claim one delivery at a time.
func ClaimOne(ctx context.Context, b msgbox.Box, owner string, ports []string, lease time.Duration) (*msgbox.Delivery, error) {
	ds, err := b.ClaimBatch(ctx, owner, ports, lease, 1, nil)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return ds[0], nil
}
