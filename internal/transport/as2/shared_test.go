//go:build linux

package as2

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// pg is the PostgreSQL server of this test binary, started by the first
// test that asks for a database.
var pg = pgtest.New()

func TestMain(m *testing.M) { pg.Main(m) }

// TestReceiveRepeatOnAnotherServer: two servers share a PostgreSQL box.
// A message under a Message-ID that reaches the second while the first
// server holds the first message under it, stored but its request not yet
// answered, is judged by the MDN stored with it, whatever the first one
// asked for: another content is refused, not acknowledged with its own
// MIC. No wait within one process could cover this.
func TestReceiveRepeatOnAnotherServer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"no receipt", noReceipt},
		{"sync", nil},
		{"async", asyncReceipt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := pg.NewDatabase(t)
			open := func() *pgbox.Box {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				b, err := pgbox.Open(ctx, url, pgbox.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			}
			boxA, boxB := open(), open()
			stored, gate := make(chan struct{}), make(chan struct{})
			a := newRepeatRigOn(t, rigOptions{box: boxA, mdns: boxA, wrap: func(s component.OutcomeSink) component.OutcomeSink {
				return gatedSink{OutcomeSink: s, stored: stored, gate: gate, taken: &atomic.Bool{}, max: time.Minute}
			}})
			b := newRepeatRigOn(t, rigOptions{box: boxB, mdns: boxB})

			firstDone := make(chan int, 1)
			go func() {
				code, _ := a.post(t, order1, tc.header)
				firstDone <- code
			}()
			<-stored
			_, mdn := b.post(t, order2, nil)
			close(gate)
			if code := <-firstDone; code != http.StatusOK {
				t.Fatalf("the first message, on the first server: %d", code)
			}
			if m := b.mdnOf(t, mdn); m.Disposition.Positive() || !strings.Contains(m.Text, repeatID) {
				t.Errorf("another content on the other server while the first was held: %q, MIC %v; want processed/error naming %s",
					m.Disposition, m.MIC, repeatID)
			}
			if n := len(a.stored(t)); n != 1 {
				t.Errorf("%d messages stored, want 1", n)
			}
		})
	}
}
