//go:build linux

package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/fdtest"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// TestFileGiveBackSyncFailuresLoggedPerLocation: with the process's
// descriptors used up (EMFILE), every file a pass claims is given back and
// the directory sync after each give-back fails. That warning is logged
// once for the location, then reminded every problemRepeat with the count
// not logged, not once per file and pass: before, 5 files over 3 passes
// logged it up to 15 times (a run with 300 inputs under ulimit -n 40
// wrote 7,085 such lines in 36 s). Every file is still in the directory,
// and is received once descriptors are back.
func TestFileGiveBackSyncFailuresLoggedPerLocation(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		writeFile(t, dir, fmt.Sprintf("f%d.xml", i), "payload")
	}
	errBox := errors.New("message box: too many open files")
	exhaust := true
	var mu sync.Mutex // the pass may publish files concurrently
	var release func()
	var stored []string
	sink := transport.SinkFunc(func(_ context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if exhaust {
			// Used up once the first claim is open: the give-backs
			// and the other claims of the pass find no descriptor.
			if release == nil {
				release = fdtest.UseUp(t)
			}
			return msgbox.Message{}, false, errBox
		}
		if _, err := io.ReadAll(body); err != nil {
			return msgbox.Message{}, false, err
		}
		stored = append(stored, in.FileName)
		return msgbox.Message{ID: in.FileName}, false, nil
	})
	f, lr := newTestFile(t, fileOpts(dir), sink)
	clock := time.Now()
	f.now = func() time.Time { return clock }
	exhausted := func() {
		t.Helper()
		_, err := poll(t, f)
		mu.Lock()
		if release != nil {
			release()
			release = nil
		}
		mu.Unlock()
		if err == nil {
			t.Fatal("Poll with the descriptors used up succeeded")
		}
	}
	for range 3 {
		exhausted()
	}
	const warning = "giving back a file may not survive a power failure"
	if n := lr.Count(slog.LevelWarn, warning); n != 1 {
		t.Errorf("the failed directory syncs of 3 passes over 5 files logged %d times, want once for the location", n)
	}
	if attrs, ok := lr.Find(warning); !ok || attrs["repeats_every"] == "" || attrs["file"] == "" ||
		!strings.Contains(attrs["error"], "too many open files") || !strings.Contains(attrs["error"], dir) {
		t.Errorf("give-back sync warning %v, %v; want the file, the directory and EMFILE, repeats_every", attrs, ok)
	}
	clock = clock.Add(problemRepeat)
	exhausted()
	if n := lr.Count(slog.LevelWarn, warning); n != 2 {
		t.Errorf("logged %d times after problemRepeat, want a reminder", n)
	}
	var notLogged string
	for _, r := range lr.Records() {
		if r.Message == warning {
			notLogged = ""
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "failures_not_logged" {
					notLogged = a.Value.String()
				}
				return true
			})
		}
	}
	if n, err := strconv.Atoi(notLogged); err != nil || n < 1 {
		t.Errorf("reminder says failures_not_logged=%q, want the failures since the first line", notLogged)
	}

	mu.Lock()
	exhaust = false
	mu.Unlock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 5 {
		t.Fatalf("%d entries in the directory after the failed passes, want the 5 files back under their names", len(entries))
	}
	if n, err := poll(t, f); n != 5 || err != nil {
		t.Fatalf("Poll once descriptors are back = %d, %v; want 5, nil", n, err)
	}
	if len(stored) != 5 {
		t.Errorf("stored %v, want the 5 files", stored)
	}
}
