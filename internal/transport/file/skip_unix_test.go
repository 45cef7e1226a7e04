//go:build unix

package file

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/testfs"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// TestFileSkipsAndWarnsOnce: a matching entry that is not a regular file
// with one name (a hard link to a secret, a symbolic link, a FIFO, a
// directory) is never read nor moved, and a warning says why, once per
// name and file (not at every pass); an entry that goes away is forgotten,
// and warned about again when something comes back under its name.
func TestFileSkipsAndWarnsOnce(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir() // same file system: hard links work
	secret := writeFile(t, outside, "secret", "root:SECRET-HASH:19000")
	writeFile(t, dir, "ok.xml", "<ok/>")
	if err := os.Link(secret, filepath.Join(dir, "hl.xml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "link.xml")); err != nil {
		t.Fatal(err)
	}
	testfs.MakeFIFO(t, filepath.Join(dir, "fifo.xml"))
	if err := os.Mkdir(filepath.Join(dir, "sub.xml"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "notes.txt", "not matching: no warning")
	o := fileOpts(dir)
	o.Pattern = "*.xml"
	rec := transporttest.NewRecorder()
	f, lr := newTestFile(t, o, rec)
	for range 3 {
		pollNoHang(t, f, dir)
	}
	if got := rec.All(); len(got) != 1 || got[0].In.FileName != "ok.xml" {
		t.Fatalf("published %v, want ok.xml only", got)
	}
	if got, want := names(t, dir), []string{"fifo.xml", "hl.xml", "link.xml", "notes.txt", "sub.xml"}; !slices.Equal(got, want) {
		t.Fatalf("directory holds %v, want %v: skipped entries stay where they are", got, want)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "root:SECRET-HASH:19000" {
		t.Fatalf("the secret was touched: %q, %v", b, err)
	}
	reasons := map[string]string{
		"hl.xml":   "a hard link: the file has 2 names",
		"link.xml": "a symbolic link",
		"fifo.xml": "named pipe (FIFO)",
		"sub.xml":  "a directory",
	}
	for name, reason := range reasons {
		attrs, ok := lr.FindFile(name, slog.LevelWarn)
		if !ok || !strings.Contains(attrs["msg"], "not taking") || !strings.Contains(attrs["reason"], reason) {
			t.Errorf("%s: warning %v, want one saying %q", name, attrs, reason)
		}
		if n := lr.CountFile(name, slog.LevelWarn); n != 1 {
			t.Errorf("%s: warned %d times over 3 passes, want once", name, n)
		}
	}
	if n := lr.CountFile("notes.txt", slog.LevelDebug); n != 0 {
		t.Errorf("a file the pattern does not match was logged %d times", n)
	}

	// Another file under a name: warned again. A name gone: forgotten.
	// The new link is made before the old one goes, so that it cannot get
	// the old one's inode back (the test failed once that way).
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "link.new")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "link.new"), filepath.Join(dir, "link.xml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "fifo.xml")); err != nil {
		t.Fatal(err)
	}
	pollNoHang(t, f, dir)
	if n := lr.CountFile("link.xml", slog.LevelWarn); n != 2 {
		t.Errorf("link.xml replaced by another link: warned %d times in all, want 2", n)
	}
	if _, kept := f.skipped["fifo.xml"]; kept || len(f.skipped) != 3 {
		t.Errorf("remembered %d skipped entries (fifo.xml: %v), want the 3 still there", len(f.skipped), kept)
	}
	testfs.MakeFIFO(t, filepath.Join(dir, "fifo.xml"))
	pollNoHang(t, f, dir)
	if n := lr.CountFile("fifo.xml", slog.LevelWarn); n != 2 {
		t.Errorf("fifo.xml back after it was gone: warned %d times in all, want 2", n)
	}

	// The hard link's other name removed: one name left, it is an input
	// like any other (its content is now only this directory's).
	if err := os.Remove(secret); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first pass to take it sees it for the first time: not settled
		pollNoHang(t, f, dir)
	}
	if got := rec.All(); len(got) != 2 || got[1].In.FileName != "hl.xml" {
		t.Fatalf("published %v, want hl.xml once it has one name", got)
	}
	if _, kept := f.skipped["hl.xml"]; kept {
		t.Error("hl.xml, taken, is still remembered as skipped")
	}
}

// TestFileRefusesHardLinkMadeAfterListing: a second name given to a listed
// file before it is opened is refused at the open (never read), and the
// file is given back. (Claims with two names: TestFileHardLinkedClaims.)
func TestFileRefusesHardLinkMadeAfterListing(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	path := writeFile(t, dir, "a.xml", "<a/>")
	rec := transporttest.NewRecorder()
	f, lr := newTestFile(t, fileOpts(dir), rec)
	f.beforeClaim = func(p string) {
		if p == path {
			if err := os.Link(p, filepath.Join(outside, "second")); err != nil {
				t.Error(err)
			}
		}
	}
	pollNoHang(t, f, dir)
	if got := rec.All(); len(got) != 0 {
		t.Fatalf("published %v, want the hard-linked input refused", got)
	}
	if attrs, ok := lr.Find("refused"); !ok || attrs["file"] != "a.xml" || !strings.Contains(attrs["reason"], "hard link") {
		t.Errorf("refusal log %v, %v; want one naming a.xml as a hard link", attrs, ok)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"a.xml"}) {
		t.Errorf("directory holds %v, want a.xml given back", got)
	}

}

// TestFileHardLinkedClaims: a claim name is no way around the refusal of
// hard links. A claim of this owner found at start (a crash's) with two
// names is completed only when the box has its message already (a
// duplicate is found before the body is read: the box's own link of a
// file it kept); otherwise it is not read, and stays claimed, retried
// every pass (with one error in the log), until it has one name again (the
// box's link of an interrupted store swept): then it is received. Another
// owner's stale claim with two names is not taken over: its owner recovers
// it. The secret is never read.
func TestFileHardLinkedClaims(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir() // same file system: hard links work
	secret := writeFile(t, outside, "secret", "root:SECRET-HASH:19000")
	kept := writeFile(t, outside, "kept", "stored before the crash")
	linked := claimName("srv1", "00000000000000aa", "a.xml") // a link to the secret
	stored := claimName("srv1", "00000000000000bb", "b.xml") // the box kept it (linked) and committed
	other := claimName("srv9", "00000000000000cc", "c.xml")  // a dead server's, a link to the secret
	boxLink := writeFile(t, outside, "box-link", "an interrupted store")
	interrupted := claimName("srv1", "00000000000000dd", "d.xml") // the box linked it, and did not commit
	for name, target := range map[string]string{linked: secret, stored: kept, other: secret, interrupted: boxLink} {
		if err := os.Link(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	box := transporttest.NewBox(t)
	before, _, err := box.ReceiveRouted(context.Background(),
		msgbox.Incoming{ReceiveLocation: "orders_in", FileName: "b.xml", SourceKey: "orders_in/" + claimKey(stored)},
		strings.NewReader("stored before the crash"), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := fileOpts(dir)
	o.TakeoverAfter = time.Nanosecond
	f, lr := newTestFile(t, o, transporttest.BoxSink{Box: box})
	for range 2 {
		pollNoHang(t, f, dir)
	}
	msgs, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 1 || msgs[0].ID != before.ID {
		t.Fatalf("the box holds %+v, %v; want only the message stored before the crash", msgs, err)
	}
	if got, want := names(t, dir), []string{linked, interrupted, other}; !slices.Equal(got, want) {
		t.Errorf("directory holds %v, want the two links to the secret and the interrupted store's claim left as they were", got)
	}
	if n := lr.Count(slog.LevelError, "cannot read a claimed file"); n != 2 {
		t.Errorf("%d errors about this owner's claims with two names over two passes, want one for each", n)
	}
	if _, ok := lr.Find("refused a claimed file"); ok {
		t.Error("a claim with two names was refused for good, not kept to retry")
	}

	// The box sweeps its link: the claim has one name, and is received.
	if err := os.Remove(boxLink); err != nil {
		t.Fatal(err)
	}
	pollNoHang(t, f, dir)
	msgs, err = msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("the box holds %d messages (%v); want the interrupted store's received too", len(msgs), err)
	}
	if got, want := names(t, dir), []string{linked, other}; !slices.Equal(got, want) {
		t.Errorf("directory holds %v, want only the two links to the secret left", got)
	}
	if _, ok := lr.Find("not taking a matching entry"); !ok {
		t.Error("no warning about the other owner's hard-linked claim")
	}
	if n := lr.Count(slog.LevelWarn, "not taking a matching entry"); n != 1 {
		t.Errorf("%d warnings about the other owner's claim over two passes, want 1", n)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "root:SECRET-HASH:19000" {
		t.Fatalf("the secret was touched: %q, %v", b, err)
	}
}
