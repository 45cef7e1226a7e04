package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// failure is how a flakySink answers the next publishes of one file.
type failure struct {
	err    error
	stored bool // the message is stored before err is returned
	times  int  // publishes answered with err
}

// flakySink stores in a Recorder, but answers the first publishes of the
// files named in fail with their error, having stored them or not: a box
// whose commit was cut off, or one that failed before committing.
type flakySink struct {
	rec  *transporttest.Recorder
	mu   sync.Mutex
	fail map[string]*failure
}

func (s *flakySink) Publish(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
	s.mu.Lock()
	f := s.fail[in.FileName]
	if f != nil && f.times > 0 {
		f.times--
	} else {
		f = nil
	}
	s.mu.Unlock()
	if f == nil || f.stored {
		m, dup, err := s.rec.Publish(ctx, in, body)
		if f == nil || err != nil {
			return m, dup, err
		}
	}
	return msgbox.Message{}, false, f.err
}

// flakyBatchSink is flakySink with PublishBatch, whose results fail per
// item: the file poller's batch path.
type flakyBatchSink struct{ *flakySink }

func (s flakyBatchSink) PublishBatch(ctx context.Context, items []msgbox.Receipt) []msgbox.ReceiveResult {
	out := make([]msgbox.ReceiveResult, len(items))
	for i, it := range items {
		m, dup, err := s.Publish(ctx, it.In, it.Body)
		out[i] = msgbox.ReceiveResult{Message: m, Dup: dup, Err: err}
	}
	return out
}

// TestUncertainCommitKeepsClaim: a file whose publish failed with an error
// wrapping msgbox.ErrCommitUncertain (the box may have stored it) is not
// given back under its name, which would have it claimed again under a new
// SourceKey and stored twice: it stays claimed and is published again
// under the same key, which the box finds stored. A file the box failed to
// store without doubt is given back and stored on a later pass. Both with
// a plain Sink and per item of a BatchSink's batch.
func TestUncertainCommitKeepsClaim(t *testing.T) {
	eio := errors.New("input/output error")
	errs := []struct {
		kind string
		err  error
	}{
		{"pgbox", fmt.Errorf("message box pg: receive from orders_in: %w", pgbox.ErrCommitUncertain)},
		{"log sync", fmt.Errorf("message box box.db: receive from orders_in: syncing the write-ahead log: %w: %w",
			eio, msgbox.ErrCommitUncertain)},
		// Not stored, for sure: given back.
		{"certain", fmt.Errorf("message box: receive from orders_in: %w", eio)},
	}
	cases := []struct {
		name   string
		stored bool // the uncertain commit did happen
		times  int
	}{
		{name: "committed", stored: true, times: 1},
		{name: "not committed", stored: false, times: 1},
		{name: "committed, then in doubt again", stored: true, times: 2},
	}
	for _, batch := range []bool{false, true} {
		for _, e := range errs {
			err := e.err
			for _, tc := range cases {
				name := fmt.Sprintf("batch=%v/%s/%s", batch, e.kind, tc.name)
				t.Run(name, func(t *testing.T) {
					if tc.stored && !errors.Is(err, msgbox.ErrCommitUncertain) {
						t.Skip("a certain failure stores nothing")
					}
					dir := t.TempDir()
					writeFile(t, dir, "a.xml", "payload a")
					writeFile(t, dir, "b.xml", "payload b") // stored at once, beside a's
					s := &flakySink{rec: transporttest.NewRecorder(), fail: map[string]*failure{
						"a.xml": {err: err, stored: tc.stored, times: tc.times},
					}}
					var f *Poller
					if batch {
						f, _ = newTestFile(t, fileOpts(dir), flakyBatchSink{s})
					} else {
						f, _ = newTestFile(t, fileOpts(dir), s)
					}
					for range tc.times + 2 {
						poll(t, f)
					}
					if left := names(t, dir); len(left) != 0 {
						t.Errorf("left in the directory: %v, want nothing", left)
					}
					keys := map[string][]string{} // file → SourceKeys it was stored under
					for _, p := range s.rec.All() {
						if !p.Dup {
							keys[p.In.FileName] = append(keys[p.In.FileName], p.In.SourceKey)
						}
					}
					for _, n := range []string{"a.xml", "b.xml"} {
						if len(keys[n]) != 1 {
							t.Errorf("%s stored %d times, under keys %v; want once", n, len(keys[n]), keys[n])
						}
					}
					if !tc.stored || !errors.Is(err, msgbox.ErrCommitUncertain) {
						return
					}
					// Published again under the key it was stored under:
					// found a duplicate.
					var again []string
					for _, p := range s.rec.All() {
						if p.Dup && p.In.FileName == "a.xml" {
							again = append(again, p.In.SourceKey)
						}
					}
					if len(again) != tc.times || !slices.Equal(slices.Compact(again), keys["a.xml"]) {
						t.Errorf("a.xml published again under %v, want %d times under %v", again, tc.times, keys["a.xml"])
					}
				})
			}
		}
	}
}
