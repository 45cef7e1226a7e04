package runner

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/fsop"
)

// copyStage is a decoder stage that passes the message on unchanged and
// then runs after (when not nil).
type copyStage struct{ after func() }

func (c copyStage) Decode(_ context.Context, _ component.Header, src io.Reader, dst io.Writer, _ time.Time) (component.Decoded, error) {
	if _, err := io.Copy(dst, src); err != nil {
		return component.Decoded{}, err
	}
	if c.after != nil {
		c.after()
	}
	return component.Decoded{Header: component.Header{Fields: []component.Field{{Name: "Content-Type", Value: "text/plain"}}, MIME: true}}, nil
}

// openUnder counts this process's open files under dir (unlinked ones
// included, which /proc shows with " (deleted)").
func openUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(p, dir+"/") {
			n++
		}
	}
	return n
}

// TestDecodeSpoolFailureClosesEarlierOutput: when the spool file of a
// later stage cannot be created (the spool directory has gone), the
// output of the stage before it is closed, not left open (its descriptor
// and its disk space held until the garbage collector runs).
func TestDecodeSpoolFailureClosesEarlierOutput(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	received, err := fsop.CreateUnlinked(spool, "received-*")
	if err != nil {
		t.Fatal(err)
	}
	defer received.Close()
	if _, err := received.WriteString("hello"); err != nil {
		t.Fatal(err)
	}
	removeSpool := func() {
		if err := os.Remove(spool); err != nil {
			t.Error(err)
		}
	}
	s := &decodingSink{r: &Runner{opts: Options{SpoolDir: spool}}, loc: "in",
		stages: []component.DecodeStage{copyStage{after: removeSpool}, copyStage{}}}
	out, _, err := s.decode(t.Context(), received, "text/plain", time.Now())
	if err == nil || !isLocal(err) {
		out.Close()
		t.Fatalf("decode: %v, want a local (spool) failure", err)
	}
	if n := openUnder(t, spool); n != 1 {
		t.Errorf("%d files open in the spool directory, want 1 (the message as received)", n)
	}
}
