package sqlitebox

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLinkedInputSwept: the link of an input a Receive kept
// (msgbox.FileBody) and never committed, which a crash leaves beside the
// input's claim, is removed as soon as the engine's box (opened with Lock)
// opens, however recent: the receive location reads a claim with two names
// only once it has one. A box opened without Lock keeps it while it is
// recent, and a link's age is that of the link, not of the input: an input
// its producer wrote long ago, linked just now, is no stale upload.
func TestLinkedInputSwept(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "data", "messagebox.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stored := mustRead(t, pattern(50, 2*ChunkSize))
	m, _, err := b.ReceiveRouted(ctx, in("stored"), bytes.NewReader(stored), nil)
	if err != nil {
		t.Fatal(err)
	}
	storedFile := filepath.Base(fileOf(t, b, m.ID))
	b.Close()

	dir := path + bodiesSuffix
	claims := t.TempDir() // the same file system: the links work
	data := mustRead(t, pattern(51, 2*ChunkSize))
	link := func(name string, written time.Time) string {
		claim := filepath.Join(claims, name+".claim")
		if err := os.WriteFile(claim, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(claim, written, written); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(claim, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		return claim
	}
	linked := []string{
		link("body-42.tmp", time.Now().Add(-2*time.Hour)),                      // an old input, linked
		link("0123456789abcdef0123456789abcdef", time.Now().Add(-time.Minute)), // renamed, not committed
	}

	b, err = Open(path, Options{StaleUploadAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.sweepTemp(time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := []string{"0123456789abcdef0123456789abcdef", "body-42.tmp", storedFile}
	slices.Sort(want)
	if got := bodyFiles(t, b); !slices.Equal(got, want) {
		t.Errorf("a box without Lock left %v, want the recent links kept: %v", got, want)
	}
	b.Close()

	b, err = Open(path, Options{StaleUploadAfter: time.Hour, Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := bodyFiles(t, b); !slices.Equal(got, []string{storedFile}) {
		t.Errorf("the engine's box left %v, want only the stored message's file", got)
	}
	for _, claim := range linked {
		fi, err := os.Stat(claim)
		if err != nil || linkedInput(fi) {
			t.Errorf("claim %s: %v, or still two names", claim, err)
		}
		if got, err := os.ReadFile(claim); err != nil || !bytes.Equal(got, data) {
			t.Errorf("claim %s damaged: %d bytes, %v", claim, len(got), err)
		}
	}
	if got := readAll(t, b, m.ID); !bytes.Equal(got, stored) {
		t.Error("the sweep damaged a stored body")
	}
}
