//go:build unix

package file

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestFileBatch: with a BatchSink a pass claims its files, syncs the
// directory once for all the claims, stores them in one batch and removes
// them; a file refused (swapped for a link between the listing and the
// claim) is given back and nothing of it stored, and when the box fails
// every file is given back under its name, nothing lost.
func TestFileBatch(t *testing.T) {
	files := map[string]string{"a.xml": "<a/>", "b.xml": "<b/>", "c.xml": "<c/>", "d.xml": "", "e.xml": "<e/>"}
	tests := []struct {
		name      string
		swap      string // a file replaced by a symbolic link before its claim
		closeBox  bool
		wantAcked []string
		wantLeft  []string // names left in the directory
		wantErr   bool     // a refused input is not an error of the pass
		wantSyncs int
	}{
		{name: "all", wantAcked: []string{"a.xml", "b.xml", "c.xml", "d.xml", "e.xml"}, wantSyncs: 1},
		{name: "one swapped", swap: "c.xml", wantAcked: []string{"a.xml", "b.xml", "d.xml", "e.xml"},
			wantLeft: []string{"c.xml"}, wantSyncs: 2},
		{name: "box closed", closeBox: true, wantLeft: []string{"a.xml", "b.xml", "c.xml", "d.xml", "e.xml"},
			wantErr: true, wantSyncs: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, b := range files {
				writeFile(t, dir, n, b)
			}
			secret := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(secret, []byte("key material"), 0o600); err != nil {
				t.Fatal(err)
			}
			box := transporttest.NewBox(t)
			o := fileOpts(dir)
			o.Concurrency = 64
			f, _ := newTestFile(t, o, transporttest.BoxSink{Box: box})
			var syncs atomic.Int32
			f.dirs.SyncFunc = func(string) error { syncs.Add(1); return nil }
			if tc.swap != "" {
				f.beforeClaim = func(path string) {
					if filepath.Base(path) == tc.swap {
						swapIn(t, path, "symlink", secret)
					}
				}
			}
			if tc.closeBox {
				box.Close()
			}
			n, err := f.Poll(context.Background())
			if n != len(tc.wantAcked) || (err != nil) != tc.wantErr {
				t.Errorf("Poll = %d, %v; want %d acknowledged, an error: %v", n, err, len(tc.wantAcked), tc.wantErr)
			}
			if got := int(syncs.Load()); got != tc.wantSyncs {
				t.Errorf("directory synced %d times, want %d", got, tc.wantSyncs)
			}
			if left := names(t, dir); !slices.Equal(left, tc.wantLeft) {
				t.Errorf("left in the directory: %v, want %v", left, tc.wantLeft)
			}
			if tc.closeBox {
				return
			}
			msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var stored []string
			for _, m := range msgs {
				stored = append(stored, m.FileName)
				rc, err := box.Body(context.Background(), m.ID)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(body) != files[m.FileName] {
					t.Errorf("%s: body %q, %v; want %q", m.FileName, body, err, files[m.FileName])
				}
			}
			slices.Sort(stored)
			if !slices.Equal(stored, tc.wantAcked) {
				t.Errorf("stored %v, want %v", stored, tc.wantAcked)
			}
			if tc.swap != "" {
				if fi, err := os.Lstat(filepath.Join(dir, tc.swap)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("%s not given back as the link it was: %v", tc.swap, err)
				}
			}
			// A second pass finds nothing new: each file once.
			if n, _ := f.Poll(context.Background()); n != 0 {
				t.Errorf("second Poll acknowledged %d", n)
			}
			if msgs2, _ := msgbox.Collect(context.Background(), box, msgbox.Filter{}); len(msgs2) != len(msgs) {
				t.Errorf("second pass stored %d more", len(msgs2)-len(msgs))
			}
		})
	}
}

// sizedSink is a BatchSink that records the number of files and bytes of
// each batch it is given, and stores them in a real box.
type sizedSink struct {
	transporttest.BoxSink
	mu      sync.Mutex
	batches [][2]int64 // files, bytes
}

func (s *sizedSink) PublishBatch(ctx context.Context, items []msgbox.Receipt) []msgbox.ReceiveResult {
	var bytes int64
	for _, it := range items {
		if sz, ok := it.Body.(interface{ Size() int64 }); ok {
			bytes += sz.Size()
		}
	}
	s.mu.Lock()
	s.batches = append(s.batches, [2]int64{int64(len(items)), bytes})
	s.mu.Unlock()
	return s.BoxSink.PublishBatch(ctx, items)
}

// TestDefaultBatchBounds: by default a batch takes up to defaultBatchFiles
// small files, and large ones only up to defaultBatchBytes (but always
// one), so that two batches in flight hold a bounded amount of bodies;
// an explicit Concurrency is the number of files, whatever their size.
func TestDefaultBatchBounds(t *testing.T) {
	for _, tc := range []struct {
		name        string
		concurrency int
		sizes       []int64
		want        [][2]int64
	}{
		{"small", 0, slices.Repeat([]int64{10}, defaultBatchFiles+6),
			[][2]int64{{defaultBatchFiles, 10 * defaultBatchFiles}, {6, 60}}},
		{"large", 0, []int64{defaultBatchBytes / 2, defaultBatchBytes / 2, 1, defaultBatchBytes/2 + 1},
			[][2]int64{{2, defaultBatchBytes}, {2, defaultBatchBytes/2 + 2}}},
		{"explicit", 2, []int64{20 << 20, 20 << 20, 5},
			[][2]int64{{2, 40 << 20}, {1, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, n := range tc.sizes {
				// Sparse: listed at their size, without the disk space.
				p := writeFile(t, dir, fmt.Sprintf("m%03d.xml", i), "")
				if err := os.Truncate(p, n); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, oldTime().Add(time.Duration(i)*time.Second), oldTime().Add(time.Duration(i)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			box := transporttest.NewBox(t)
			o := fileOpts(dir)
			o.Concurrency = tc.concurrency
			sink := &sizedSink{BoxSink: transporttest.BoxSink{Box: box}}
			f, _ := newTestFile(t, o, sink)
			if n, err := f.Poll(t.Context()); n != len(tc.sizes) || err != nil {
				t.Fatalf("Poll = %d, %v; want %d", n, err, len(tc.sizes))
			}
			got := slices.Clone(sink.batches)
			// Two run at once: in any order.
			slices.SortFunc(got, func(a, b [2]int64) int { return cmp.Or(cmp.Compare(b[0], a[0]), cmp.Compare(b[1], a[1])) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("batches (files, bytes) %v, want %v", got, tc.want)
			}
		})
	}
}

// TestClaimSyncFailuresLoggedPerLocation: a directory sync that fails after
// the claims (descriptors used up, an I/O error) is warned about once for
// the location, then reminded every problemRepeat with the count not
// logged, as for give-backs; not once per pass (every pass of every
// location, each 1 s by default, would log it). The files are still
// received.
func TestClaimSyncFailuresLoggedPerLocation(t *testing.T) {
	dir := t.TempDir()
	box := transporttest.NewBox(t)
	f, lr := newTestFile(t, fileOpts(dir), transporttest.BoxSink{Box: box})
	clock := time.Now()
	f.now = func() time.Time { return clock }
	f.dirs.SyncFunc = func(string) error { return errors.New("syncing directory: input/output error") }
	const warning = "claims may not survive a power failure"
	for i := range 4 {
		for j := range 3 {
			writeFile(t, dir, fmt.Sprintf("p%d-%d.xml", i, j), "payload")
		}
		if n := settleAndPoll(t, f, &clock); n != 3 {
			t.Fatalf("round %d: %d received, want 3", i, n)
		}
	}
	if n := lr.Count(slog.LevelWarn, warning); n != 1 {
		t.Errorf("the failed syncs of 4 passes logged %d times, want once for the location", n)
	}
	clock = clock.Add(problemRepeat)
	writeFile(t, dir, "late.xml", "payload")
	if n := settleAndPoll(t, f, &clock); n != 1 {
		t.Fatalf("%d received, want 1", n)
	}
	if n := lr.Count(slog.LevelWarn, warning); n != 2 {
		t.Errorf("logged %d times after problemRepeat, want a reminder", n)
	}
	var last map[string]string
	for _, r := range lr.Records() {
		if r.Message == warning {
			last = map[string]string{}
			r.Attrs(func(a slog.Attr) bool {
				last[a.Key] = a.Value.String()
				return true
			})
		}
	}
	if last["failures_not_logged"] != "3" || !strings.Contains(last["error"], "input/output error") {
		t.Errorf("reminder %v; want the error and failures_not_logged=3", last)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 13 {
		t.Errorf("%d messages stored (%v), want 13", len(msgs), err)
	}
}

// settleAndPoll polls f twice, a minute apart by *clock: a file new to
// the listing is taken once it was seen unchanged. It returns how many
// files the two passes received.
func settleAndPoll(t *testing.T, f *Poller, clock *time.Time) int {
	t.Helper()
	total := 0
	for range 2 {
		*clock = clock.Add(time.Minute)
		n, err := f.Poll(context.Background())
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		total += n
	}
	return total
}

// TestFileBatchStoppedMidClaim: a stop that comes while a pass claims its
// batch (run --once interrupted) claims nothing more, and the file whose
// store the stop cut short is given back with a warning that says so, not
// an ERROR saying that publishing failed: a stop is not a fault. Every
// file is back under its name, nothing stored.
func TestFileBatchStoppedMidClaim(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.xml", "b.xml", "c.xml", "d.xml"} {
		writeFile(t, dir, n, "<"+n+"/>")
	}
	box := transporttest.NewBox(t)
	o := fileOpts(dir)
	o.Concurrency = 64
	f, lr := newTestFile(t, o, transporttest.BoxSink{Box: box})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var claims atomic.Int32
	f.beforeClaim = func(string) {
		claims.Add(1)
		cancel()
	}
	n, err := f.Poll(ctx)
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Poll = %d, %v; want nothing acknowledged and the stop's error", n, err)
	}
	if got := claims.Load(); got != 1 {
		t.Errorf("%d files claimed after the stop came at the first claim, want 1", got)
	}
	if left := names(t, dir); !slices.Equal(left, []string{"a.xml", "b.xml", "c.xml", "d.xml"}) {
		t.Errorf("left in the directory: %v, want every file under its name", left)
	}
	if got := lr.Count(slog.LevelError, ""); got != 0 {
		t.Errorf("%d ERROR lines for a stop: %v", got, lr.Records())
	}
	if got := lr.Count(slog.LevelWarn, "stopping"); got != 1 {
		t.Errorf("%d warnings saying the stop cut a store short, want 1: %v", got, lr.Records())
	}
	if msgs, _ := msgbox.Collect(context.Background(), box, msgbox.Filter{}); len(msgs) != 0 {
		t.Errorf("%d messages stored after the stop", len(msgs))
	}
}
