package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
)

// conflictingFiles is a create_new port named after the input file, with
// no retry: a file of that name already there suspends the delivery with
// its copy staged.
const conflictingFiles = `
send_port "files" {
  host   = host.h
  filter = true
  transport "file" {
    path      = "out"
    file_name = message.file_name
  }
  retry { attempts = 0 }
}
`

// TestTerminatedStagedCopyRemovedWhileRunning: a delivery suspended after
// staging its copy (a create_new conflict) and then terminated leaves no
// copy in the output directory while run goes on. Before, only a delivery
// made was cleaned up, and the terminated message's whole output stayed in
// the partner's directory (.bizpipe-ID-N.staged) until run restarted.
func TestTerminatedStagedCopyRemovedWhileRunning(t *testing.T) {
	dir := setup(t, newPKI(t), common+conflictingFiles, nil)
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(filepath.Join(out, "a.edi"), []byte("another file"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, box := startWith(t, dir, func(o *runner.Options) { o.PurgeEvery = 10 * time.Millisecond })
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := r.Run(ctx); done <- err }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	put(t, dir, "a.edi", []byte("ISA*00*order~"))

	staged := func() []string {
		var names []string
		for _, n := range dirNames(t, out) {
			if strings.HasSuffix(n, ".staged") {
				names = append(names, n)
			}
		}
		return names
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("still not %s after 20s: output directory %q", what, dirNames(t, out))
			}
		}
	}
	var id string
	waitFor("suspended with its copy staged", func() bool {
		msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || msgs[0].Status != msgbox.StatusSuspended {
			return false
		}
		id = msgs[0].ID
		return len(staged()) == 1
	})
	if err := box.Terminate(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	waitFor("the staged copy removed", func() bool { return len(staged()) == 0 })
	if got, err := os.ReadFile(filepath.Join(out, "a.edi")); err != nil || string(got) != "another file" {
		t.Errorf("a.edi holds %q, %v; want the other file untouched", got, err)
	}
}
