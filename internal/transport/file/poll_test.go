package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// fileOpts returns options for a test location on dir with a short settle
// time (test files are backdated, so they are settled anyway).
func fileOpts(dir string) PollOptions {
	return PollOptions{
		Location:     "orders_in",
		Dir:          dir,
		PollInterval: time.Millisecond,
		SettleTime:   time.Minute,
		ContentType:  "application/xml",
		Properties:   map[string]string{"partner": "fabrikam"},
		Owner:        "srv1",
	}
}

func newTestFile(t *testing.T, o PollOptions, sink transport.Sink) (*Poller, *transporttest.LogRecorder) {
	t.Helper()
	log, lr := transporttest.NewLog()
	f, err := NewPoller(o, sink, log)
	if err != nil {
		t.Fatal(err)
	}
	return f, lr
}

func poll(t *testing.T, f *Poller) (int, error) {
	t.Helper()
	return f.Poll(context.Background())
}

func TestFilePublishesExactBytesAndRemoves(t *testing.T) {
	dir := t.TempDir()
	bodies := map[string]string{
		"a.xml":     "<order id=\"1\"/>\n",
		"b.xml":     "binary\x00\xff\r\n\x1b end",
		"empty.xml": "",
	}
	for n, b := range bodies {
		writeFile(t, dir, n, b)
	}
	o := fileOpts(dir)
	// An owner with characters that are unsafe in file names: the claim
	// must still be a single file in dir.
	o.Owner = `CONTOSO\srv/1 -x`
	props := map[string]string{"partner": "fabrikam"}
	o.Properties = props
	rec := transporttest.NewRecorder()
	// The SourceKey is the owner-independent part of the claim name.
	claimRE := regexp.MustCompile(`^orders_in/([0-9a-f]{16}-(.+))$`)
	var hookErr []string
	rec.SetBefore(func(_ context.Context, in msgbox.Incoming) error {
		// The file must be claimed while it is published: gone from
		// its name, present under the claim name of the SourceKey.
		m := claimRE.FindStringSubmatch(in.SourceKey)
		if m == nil || m[2] != in.FileName {
			hookErr = append(hookErr, "bad SourceKey "+in.SourceKey)
			return nil
		}
		if _, err := os.Stat(filepath.Join(dir, `.bizpipe-claim-CONTOSO%5Csrv%2F1%20%2Dx-`+m[1])); err != nil {
			hookErr = append(hookErr, "claimed file missing during publish: "+err.Error())
		}
		if _, err := os.Stat(filepath.Join(dir, in.FileName)); !errors.Is(err, os.ErrNotExist) {
			hookErr = append(hookErr, "original name still present during publish")
		}
		return nil
	})
	f, _ := newTestFile(t, o, rec)
	props["partner"] = "changed after NewPoller"

	n, err := poll(t, f)
	if err != nil || n != 3 {
		t.Fatalf("Poll = %d, %v; want 3, nil", n, err)
	}
	if len(hookErr) > 0 {
		t.Fatal(strings.Join(hookErr, "\n"))
	}
	got := rec.All()
	if len(got) != 3 {
		t.Fatalf("published %d messages, want 3", len(got))
	}
	keys := map[string]bool{}
	for _, p := range got {
		want, ok := bodies[p.In.FileName]
		if !ok {
			t.Errorf("published unexpected file %q", p.In.FileName)
			continue
		}
		if string(p.Body) != want {
			t.Errorf("%s: body %q, want %q", p.In.FileName, p.Body, want)
		}
		if p.In.ReceiveLocation != "orders_in" || p.In.ContentType != "application/xml" {
			t.Errorf("%s: location %q content type %q", p.In.FileName, p.In.ReceiveLocation, p.In.ContentType)
		}
		if !maps.Equal(p.In.Properties, map[string]string{"partner": "fabrikam"}) {
			t.Errorf("%s: properties %v", p.In.FileName, p.In.Properties)
		}
		keys[p.In.SourceKey] = true
	}
	if len(keys) != 3 {
		t.Errorf("SourceKeys not unique: %v", keys)
	}
	if left := names(t, dir); len(left) != 0 {
		t.Errorf("directory not empty after publishing: %v", left)
	}
	if f.Pending() != 0 {
		t.Errorf("Pending = %d, want 0", f.Pending())
	}
}

func TestFilePropertiesAreCopiedPerMessage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "1")
	writeFile(t, dir, "b.xml", "2")
	rec := transporttest.NewRecorder()
	rec.SetBefore(func(_ context.Context, in msgbox.Incoming) error {
		in.Properties["partner"] = "tampered by " + in.FileName // a sink may change its copy
		return nil
	})
	f, _ := newTestFile(t, fileOpts(dir), rec)
	if n, err := poll(t, f); n != 2 || err != nil {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	// The second message must not see the first one's change.
	for _, p := range rec.All() {
		if want := "tampered by " + p.In.FileName; p.In.Properties["partner"] != want {
			t.Errorf("%s: partner %q, want %q (properties shared between messages)", p.In.FileName, p.In.Properties["partner"], want)
		}
	}
}

func TestFilePattern(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "x")
	writeFile(t, dir, "b.txt", "y")
	writeFile(t, dir, "c.xml.bak", "z")
	o := fileOpts(dir)
	o.Pattern = "*.xml"
	rec := transporttest.NewRecorder()
	f, _ := newTestFile(t, o, rec)
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v; want 1, nil", n, err)
	}
	if got := rec.All(); len(got) != 1 || got[0].In.FileName != "a.xml" {
		t.Fatalf("published %+v, want only a.xml", got)
	}
	if left := names(t, dir); !slices.Equal(left, []string{"b.txt", "c.xml.bak"}) {
		t.Errorf("left %v, want b.txt and c.xml.bak untouched", left)
	}
}

func TestFileSkipsDotTmpAndNonRegular(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, ".hidden", "h")
	writeFile(t, dir, "x.tmp", "t")
	writeFile(t, dir, "Y.TMP", "T")
	writeFile(t, dir, "ok.dat", "ok")
	if err := os.Mkdir(filepath.Join(dir, "sub.dat"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub.dat"), "inner.dat", "not recursive")
	target := writeFile(t, t.TempDir(), "target", "via link")
	if err := os.Symlink(target, filepath.Join(dir, "link.dat")); err != nil {
		t.Fatal(err)
	}
	rec := transporttest.NewRecorder()
	o := fileOpts(dir)
	o.SettleTime = time.Nanosecond // the link is fresh: only its type may keep it out
	f, _ := newTestFile(t, o, rec)
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v; want 1, nil", n, err)
	}
	if got := rec.All(); len(got) != 1 || got[0].In.FileName != "ok.dat" {
		t.Fatalf("published %+v, want only ok.dat", got)
	}
	want := []string{".hidden", "Y.TMP", "link.dat", "sub.dat", "x.tmp"}
	if left := names(t, dir); !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("symlink target touched: %v", err)
	}
}

func TestFileFreshMtimeWaitsUntilSettled(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.xml")
	if err := os.WriteFile(p, []byte("being written"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := fileOpts(dir)
	o.SettleTime = 10 * time.Minute // the fresh file cannot settle during the test
	rec := transporttest.NewRecorder()
	f, _ := newTestFile(t, o, rec)
	for range 3 {
		if n, err := poll(t, f); n != 0 || err != nil {
			t.Fatalf("Poll = %d, %v; want 0, nil for a fresh file", n, err)
		}
		if f.Pending() != 1 {
			t.Fatalf("Pending = %d, want 1", f.Pending())
		}
	}
	if len(rec.All()) != 0 {
		t.Fatal("a file still being written was published")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fresh file moved: %v", err)
	}
	// Settled now (as if the settle time had passed). The mtime changed
	// since the previous pass, so that pass waits; the next takes it.
	if err := os.Chtimes(p, oldTime(), oldTime()); err != nil {
		t.Fatal(err)
	}
	if n, _ := poll(t, f); n != 0 || f.Pending() != 1 {
		t.Fatalf("Poll = %d, Pending = %d right after the mtime changed; want 0, 1", n, f.Pending())
	}
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v; want 1, nil once settled", n, err)
	}
	if f.Pending() != 0 {
		t.Errorf("Pending = %d, want 0", f.Pending())
	}
}

func TestFileFutureMtimeIsNotSettled(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a.xml", "x")
	soon := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, soon, soon); err != nil {
		t.Fatal(err)
	}
	rec := transporttest.NewRecorder()
	f, _ := newTestFile(t, fileOpts(dir), rec) // settle time 1 minute
	if n, _ := poll(t, f); n != 0 || f.Pending() != 1 {
		t.Fatalf("Poll = %d, Pending = %d; want 0, 1 for an mtime within the settle time ahead", n, f.Pending())
	}
	// Far in the future (skewed clock): not held back forever.
	far := time.Now().Add(24 * time.Hour)
	if err := os.Chtimes(p, far, far); err != nil {
		t.Fatal(err)
	}
	poll(t, f) // sees the new mtime
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v; want 1, nil", n, err)
	}
}

func TestFileChangedSincePreviousPassWaits(t *testing.T) {
	dir := t.TempDir()
	rec := transporttest.NewRecorder()
	f, _ := newTestFile(t, fileOpts(dir), rec)
	if n, err := poll(t, f); n != 0 || err != nil { // first pass: empty
		t.Fatalf("Poll = %d, %v", n, err)
	}
	p := writeFile(t, dir, "a.xml", "part 1")
	// Not seen by the previous pass: counts as changed.
	if n, _ := poll(t, f); n != 0 || f.Pending() != 1 {
		t.Fatalf("new file: Poll = %d, Pending = %d; want 0, 1", n, f.Pending())
	}
	// Grows (its writer is slow, and backdates nothing: we do, to isolate
	// the size rule from the mtime rule).
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(", part 2"); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if err := os.Chtimes(p, oldTime(), oldTime()); err != nil {
		t.Fatal(err)
	}
	if n, _ := poll(t, f); n != 0 || f.Pending() != 1 {
		t.Fatalf("grown file: Poll = %d, Pending = %d; want 0, 1", n, f.Pending())
	}
	// Unchanged since the previous pass: taken, whole.
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v; want 1, nil", n, err)
	}
	if got := rec.All(); len(got) != 1 || string(got[0].Body) != "part 1, part 2" {
		t.Fatalf("published %+v", got)
	}
}

func TestFilePublishFailureGivesFileBack(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "payload")
	rec := transporttest.NewRecorder()
	errBox := errors.New("box unavailable")
	rec.SetBefore(func(context.Context, msgbox.Incoming) error { return errBox })
	f, lr := newTestFile(t, fileOpts(dir), rec)

	n, err := poll(t, f)
	if n != 0 || !errors.Is(err, errBox) {
		t.Fatalf("Poll = %d, %v; want 0 and the sink's error", n, err)
	}
	if left := names(t, dir); !slices.Equal(left, []string{"a.xml"}) {
		t.Fatalf("left %v, want a.xml back under its name and no claim", left)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.xml")); string(b) != "payload" {
		t.Fatalf("content after give-back %q", b)
	}
	attrs, ok := lr.Find("publishing a file failed")
	if !ok || attrs["file"] != "a.xml" || attrs["receive_location"] != "orders_in" || !strings.Contains(attrs["error"], "box unavailable") {
		t.Errorf("failure log %v, %v", attrs, ok)
	}
	// Still failing: still given back, and the receiver goes on.
	if n, err := poll(t, f); n != 0 || err == nil {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	rec.SetBefore(nil)
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("after recovery Poll = %d, %v; want 1, nil", n, err)
	}
	if got := rec.All(); len(got) != 1 || string(got[0].Body) != "payload" {
		t.Fatalf("published %+v", got)
	}
}

func TestFileFailureContinuesWithNextFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.xml", "b")
	writeFile(t, dir, "good.xml", "g")
	rec := transporttest.NewRecorder()
	rec.SetBefore(func(_ context.Context, in msgbox.Incoming) error {
		if in.FileName == "bad.xml" {
			return errors.New("rejected")
		}
		return nil
	})
	f, _ := newTestFile(t, fileOpts(dir), rec)
	n, err := poll(t, f)
	if n != 1 || err == nil {
		t.Fatalf("Poll = %d, %v; want 1 and an error", n, err)
	}
	if left := names(t, dir); !slices.Equal(left, []string{"bad.xml"}) {
		t.Errorf("left %v", left)
	}
}

func TestFileGiveBackNeverReplacesANewFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "first")
	rec := transporttest.NewRecorder()
	calls := 0
	rec.SetBefore(func(_ context.Context, in msgbox.Incoming) error {
		calls++
		if calls == 1 {
			// A producer drops a new a.xml while the first is claimed.
			writeFile(t, dir, "a.xml", "second")
			return errors.New("box unavailable")
		}
		return nil
	})
	f, _ := newTestFile(t, fileOpts(dir), rec)
	if n, err := poll(t, f); n != 0 || err == nil {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.xml")); string(b) != "second" {
		t.Fatalf("a.xml = %q: the new file was replaced", b)
	}
	// Both get published, each once.
	transporttest.WaitFor(t, "both files published", func() bool {
		_, _ = poll(t, f)
		return len(rec.All()) == 2
	})
	var bodies []string
	for _, p := range rec.All() {
		if p.In.FileName != "a.xml" {
			t.Errorf("FileName %q", p.In.FileName)
		}
		bodies = append(bodies, string(p.Body))
	}
	slices.Sort(bodies)
	if !slices.Equal(bodies, []string{"first", "second"}) {
		t.Errorf("bodies %q", bodies)
	}
	if left := names(t, dir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

// claimName makes a claim file name as a crashed owner would have left it.
func claimName(owner, rnd, name string) string {
	return ownerClaimPrefix(owner) + rnd + "-" + name
}

func TestFileRecoversOwnClaimsOnly(t *testing.T) {
	dir := t.TempDir()
	mine := claimName("srv", "0123456789abcdef", "a.xml")
	otherOwner := claimName("srv-1", "0123456789abcdef", "b.xml") // "srv-" must not match "srv"
	otherLiteral := ".bizpipe-claim-srv-1-0123456789abcdef-c.xml" // as an unescaping version would name it
	notMyPattern := claimName("srv", "fedcba9876543210", "d.txt")
	malformed := ownerClaimPrefix("srv") + "nothex-e.xml"
	for _, n := range []string{mine, otherOwner, otherLiteral, notMyPattern, malformed} {
		writeFile(t, dir, n, "content of "+n)
	}
	o := fileOpts(dir)
	o.Owner = "srv"
	o.Pattern = "*.xml"
	rec := transporttest.NewRecorder()
	f, _ := newTestFile(t, o, rec)
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v; want 1, nil", n, err)
	}
	got := rec.All()
	if len(got) != 1 {
		t.Fatalf("published %d, want 1", len(got))
	}
	p := got[0]
	if p.In.FileName != "a.xml" || p.In.SourceKey != "orders_in/"+claimKey(mine) || string(p.Body) != "content of "+mine {
		t.Errorf("recovered %+v (body %q)", p.In, p.Body)
	}
	want := []string{otherOwner, otherLiteral, notMyPattern, malformed}
	slices.Sort(want)
	if left := names(t, dir); !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	// Recovery happens once: later passes leave the others alone too.
	if n, err := poll(t, f); n != 0 || err != nil {
		t.Fatalf("second Poll = %d, %v", n, err)
	}
}

func TestFileRecoveredDupIsJustRemoved(t *testing.T) {
	dir := t.TempDir()
	claim := claimName("srv1", "00000000000000aa", "a.xml")
	writeFile(t, dir, claim, "committed before the crash")
	rec := transporttest.NewRecorder()
	rec.Stored("orders_in/"+claimKey(claim), "msg-before-crash")
	f, lr := newTestFile(t, fileOpts(dir), rec)
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v; want 1, nil", n, err)
	}
	got := rec.All()
	if len(got) != 1 || !got[0].Dup || got[0].ID != "msg-before-crash" {
		t.Fatalf("published %+v, want one dup of msg-before-crash", got)
	}
	if left := names(t, dir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
	if attrs, ok := lr.Find("already stored"); !ok || attrs["message_id"] != "msg-before-crash" || attrs["file"] != "a.xml" {
		t.Errorf("dup log %v, %v", attrs, ok)
	}
}

func TestFileRecoveredClaimStaysClaimedOnFailure(t *testing.T) {
	dir := t.TempDir()
	claim := claimName("srv1", "00000000000000bb", "a.xml")
	writeFile(t, dir, claim, "maybe committed")
	rec := transporttest.NewRecorder()
	rec.SetBefore(func(context.Context, msgbox.Incoming) error { return errors.New("box down") })
	f, _ := newTestFile(t, fileOpts(dir), rec)
	for range 2 {
		if n, err := poll(t, f); n != 0 || err == nil {
			t.Fatalf("Poll = %d, %v", n, err)
		}
		// Not given back: a new claim would get a new SourceKey, and
		// publish it twice if the lost attempt had committed.
		if left := names(t, dir); !slices.Equal(left, []string{claim}) {
			t.Fatalf("left %v, want the claim kept", left)
		}
	}
	rec.SetBefore(nil)
	if n, err := poll(t, f); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	if got := rec.All(); len(got) != 1 || got[0].In.SourceKey != "orders_in/"+claimKey(claim) {
		t.Fatalf("published %+v, want the original SourceKey", got)
	}
}

func TestFilePollCancelGivesFileBack(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "x")
	writeFile(t, dir, "b.xml", "y")
	ctx, cancel := context.WithCancel(context.Background())
	rec := transporttest.NewRecorder()
	rec.SetBefore(func(ctx context.Context, _ msgbox.Incoming) error {
		cancel() // the caller gives up while this file is being published
		<-ctx.Done()
		return ctx.Err()
	})
	f, _ := newTestFile(t, fileOpts(dir), rec)
	n, err := f.Poll(ctx)
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %d, %v; want 0, context.Canceled", n, err)
	}
	if left := names(t, dir); !slices.Equal(left, []string{"a.xml", "b.xml"}) {
		t.Errorf("left %v, want both files under their names", left)
	}
}

func TestFileRunFinishesInFlightOnStop(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "first")
	p := writeFile(t, dir, "b.xml", "second")
	// b is newer: files go oldest first, so a is the one in flight.
	newer := oldTime().Add(time.Minute)
	if err := os.Chtimes(p, newer, newer); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	var publishCtxErr error
	calls := 0
	rec := transporttest.NewRecorder()
	rec.SetBefore(func(ctx context.Context, _ msgbox.Incoming) error {
		calls++
		if calls == 1 {
			close(entered)
			<-release
			publishCtxErr = ctx.Err()
		}
		return nil
	})
	// One file at a time, so that "in flight" is exactly a.xml.
	o := fileOpts(dir)
	o.Concurrency = 1
	f, _ := newTestFile(t, o, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	<-entered
	cancel() // SIGTERM while a.xml is being published
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if publishCtxErr != nil {
		t.Errorf("in-flight publish saw %v; it should be allowed to finish", publishCtxErr)
	}
	got := rec.All()
	if len(got) != 1 || got[0].In.FileName != "a.xml" || string(got[0].Body) != "first" {
		t.Fatalf("published %+v, want only the in-flight a.xml", got)
	}
	if left := names(t, dir); !slices.Equal(left, []string{"b.xml"}) {
		t.Errorf("left %v, want a.xml acknowledged and b.xml not started", left)
	}
}

func TestFileTwoOwnersPublishEachFileOnce(t *testing.T) {
	dir := t.TempDir()
	const before, during = 300, 100
	for i := range before {
		writeFile(t, dir, fmt.Sprintf("f%04d.xml", i), fmt.Sprintf("body %d", i))
	}
	rec := transporttest.NewRecorder()
	rec.SetBefore(func(context.Context, msgbox.Incoming) error {
		runtime.Gosched() // let the other receiver interleave
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, owner := range []string{"srv1", "srv2"} {
		o := fileOpts(dir)
		o.Owner = owner
		o.SettleTime = time.Millisecond
		f, _ := newTestFile(t, o, rec)
		wg.Go(func() {
			if err := f.Run(ctx); err != nil {
				t.Errorf("%s: Run = %v", owner, err)
			}
		})
	}
	// More files arrive while both run, written the safe way: as *.tmp,
	// then renamed into place.
	for i := before; i < before+during; i++ {
		tmp := writeFile(t, dir, fmt.Sprintf("f%04d.tmp", i), fmt.Sprintf("body %d", i))
		if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("f%04d.xml", i))); err != nil {
			t.Fatal(err)
		}
	}
	transporttest.WaitFor(t, "every file published", func() bool {
		return len(rec.All()) >= before+during && len(names(t, dir)) == 0
	})
	cancel()
	wg.Wait()

	count := map[string]int{}
	for _, p := range rec.All() {
		count[p.In.FileName]++
		var i int
		fmt.Sscanf(p.In.FileName, "f%04d.xml", &i)
		if want := fmt.Sprintf("body %d", i); string(p.Body) != want {
			t.Errorf("%s: body %q, want %q", p.In.FileName, p.Body, want)
		}
	}
	if len(count) != before+during {
		t.Errorf("%d distinct files published, want %d", len(count), before+during)
	}
	for n, c := range count {
		if c != 1 {
			t.Errorf("%s published %d times", n, c)
		}
	}
}

func TestFileMissingDirectoryKeepsPolling(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "in")
	rec := transporttest.NewRecorder()
	f, lr := newTestFile(t, fileOpts(dir), rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	transporttest.WaitFor(t, "several failing passes", func() bool { return f.passes.Load() >= 5 })
	if n := lr.Count(slog.LevelError, "cannot read receive directory"); n != 1 {
		t.Errorf("directory error logged %d times over %d passes, want once", n, f.passes.Load())
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "late.xml", "late")
	transporttest.WaitFor(t, "file in the created directory published", func() bool { return len(rec.All()) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if n := lr.Count(slog.LevelInfo, "readable again"); n != 1 {
		t.Errorf("recovery logged %d times, want 1", n)
	}
	if n := lr.Count(slog.LevelError, "cannot read receive directory"); n != 1 {
		t.Errorf("directory error logged %d times, want once", n)
	}
	if attrs, ok := lr.Find("cannot read receive directory"); !ok || attrs["receive_location"] != "orders_in" {
		t.Errorf("directory error attrs %v", attrs)
	}
	// Poll reports the failure to its caller as well.
	g, _ := newTestFile(t, fileOpts(filepath.Join(dir, "missing")), rec)
	if _, err := g.Poll(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Poll on a missing directory = %v", err)
	}
}

func TestFileTooLongNameIsLeftAndWarnedOnce(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("n", 240) + ".xml" // fits alone, not with a claim prefix
	writeFile(t, dir, long, "x")
	rec := transporttest.NewRecorder()
	f, lr := newTestFile(t, fileOpts(dir), rec)
	for range 3 {
		if n, err := poll(t, f); n != 0 || err != nil {
			t.Fatalf("Poll = %d, %v", n, err)
		}
	}
	if left := names(t, dir); !slices.Equal(left, []string{long}) {
		t.Errorf("left %v", left)
	}
	if n := lr.Count(slog.LevelWarn, "too long"); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
}

func TestNewFileValidates(t *testing.T) {
	ok := fileOpts("in")
	rec := transporttest.NewRecorder()
	for _, tc := range []struct {
		name string
		mod  func(*PollOptions)
		want string
	}{
		{"no owner", func(o *PollOptions) { o.Owner = "" }, "Owner"},
		{"no dir", func(o *PollOptions) { o.Dir = "" }, "Dir"},
		{"bad pattern", func(o *PollOptions) { o.Pattern = "[" }, "pattern"},
		{"path in pattern", func(o *PollOptions) { o.Pattern = "sub/*.xml" }, "separator"},
		{"negative interval", func(o *PollOptions) { o.PollInterval = -time.Second }, "poll interval"},
		{"negative settle", func(o *PollOptions) { o.SettleTime = -time.Second }, "settle"},
		{"huge owner", func(o *PollOptions) { o.Owner = strings.Repeat("/", 80) }, "too long"},
	} {
		o := ok
		tc.mod(&o)
		_, err := NewPoller(o, rec, nil)
		// The runner names the location around this error: it would say
		// receive location "orders_in" twice if the error named it too.
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), `"orders_in"`) {
			t.Errorf("%s: err = %v, want one saying %q and leaving the location's name to the caller", tc.name, err, tc.want)
		}
	}
	if _, err := NewPoller(ok, nil, nil); err == nil {
		t.Error("nil sink accepted")
	}
	f, err := NewPoller(PollOptions{Location: "l", Dir: "d", Owner: "o"}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.o.Pattern != "*" || f.o.PollInterval != time.Second || f.SettleTime() != 500*time.Millisecond || f.o.ContentType != transport.DefaultContentType {
		t.Errorf("defaults %+v", f.o)
	}
	f, _ = NewPoller(PollOptions{Location: "l", Dir: "d", Owner: "o", PollInterval: 100 * time.Millisecond}, rec, nil)
	if f.SettleTime() != 100*time.Millisecond {
		t.Errorf("default settle with a short interval = %v", f.SettleTime())
	}
}

func TestClaimNames(t *testing.T) {
	for _, owner := range []string{"srv1", "a-b", `DOM\srv`, "x/y z", "ünï", "%41", "A"} {
		p := ownerClaimPrefix(owner)
		esc := strings.TrimSuffix(strings.TrimPrefix(p, claimPrefix), "-")
		if strings.ContainsAny(esc, `-/\ `) || strings.ContainsFunc(esc, func(r rune) bool { return r > 0x7e }) {
			t.Errorf("owner %q escaped to unsafe %q", owner, esc)
		}
		c := newClaimName(p, "a-b.xml", time.Now())
		if name, ok := parseClaim(p, c); !ok || name != "a-b.xml" {
			t.Errorf("parseClaim(%q) = %q, %v", c, name, ok)
		}
	}
	// Injective: distinct owners never share a prefix, nor is one's prefix
	// a prefix of another's.
	owners := []string{"a", "a-b", "a%2Db", "a b", "a_b", "A"}
	for _, x := range owners {
		for _, y := range owners {
			if x != y && strings.HasPrefix(ownerClaimPrefix(y), ownerClaimPrefix(x)) {
				t.Errorf("owner %q would take %q's claims", x, y)
			}
		}
	}
	now := time.Unix(1_800_000_000, 0)
	if a, b := newClaimName("p-", "n", now), newClaimName("p-", "n", now); a == b {
		t.Error("claim names not random")
	}
	// Ordered by the second they were made in, so that the box's index of
	// their keys grows at its end.
	var names []string
	for s := range int64(5) {
		names = append(names, newClaimName("p-", "n", now.Add(time.Duration(s)*time.Second)))
	}
	if !slices.IsSorted(names) {
		t.Errorf("claim names of successive seconds not in order: %q", names)
	}
}

// TestFileTakesOverStaleClaims: a claim another server left behind (it died)
// is taken over once it is older than TakeoverAfter, under the same
// SourceKey, so that a message the dead server had committed is reported as
// a duplicate instead of published twice; a fresh claim is left alone.
func TestFileTakesOverStaleClaims(t *testing.T) {
	dir := t.TempDir()
	committed := claimName("srv1", "00000000000000aa", "a.xml")
	lost := claimName("srv1", "00000000000000bb", "b.xml")
	fresh := claimName("srv1", "00000000000000cc", "c.xml")
	writeFile(t, dir, committed, "committed by srv1")
	writeFile(t, dir, lost, "claimed by srv1, never stored")
	writeFile(t, dir, fresh, "srv1 is working on it")
	rec := transporttest.NewRecorder()
	rec.Stored("orders_in/"+claimKey(committed), "msg-by-srv1")
	o := fileOpts(dir)
	o.Owner = "srv2"
	// Claims are aged by their inode change time (the rename), which a test
	// cannot back-date: make the fresh one fresh by waiting, then claiming.
	o.TakeoverAfter = 300 * time.Millisecond
	time.Sleep(o.TakeoverAfter + 50*time.Millisecond)
	if err := os.Rename(filepath.Join(dir, fresh), filepath.Join(dir, fresh+".x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, fresh+".x"), filepath.Join(dir, fresh)); err != nil {
		t.Fatal(err)
	}
	f, _ := newTestFile(t, o, rec)
	if n, err := poll(t, f); n != 2 || err != nil {
		t.Fatalf("Poll = %d, %v; want the 2 stale claims", n, err)
	}
	byName := map[string]transporttest.Published{}
	for _, p := range rec.All() {
		byName[p.In.FileName] = p
	}
	if p := byName["a.xml"]; !p.Dup || p.ID != "msg-by-srv1" {
		t.Errorf("committed claim: %+v, want a dup of srv1's message", p)
	}
	if p := byName["b.xml"]; p.Dup || string(p.Body) != "claimed by srv1, never stored" || p.In.SourceKey != "orders_in/00000000000000bb-b.xml" {
		t.Errorf("lost claim: %+v, want it published under its original key", p)
	}
	if _, ok := byName["c.xml"]; ok {
		t.Error("a fresh claim of a live server was taken over")
	}
	if left := names(t, dir); !slices.Equal(left, []string{fresh}) {
		t.Errorf("left %v, want only the fresh claim", left)
	}
}

// TestFileTakeoverTooLongIsReported: a stale claim whose name under this
// server's (longer) owner name would be too long cannot be taken over; that
// is said once, as a warning naming the file and the claim, not passed
// over in silence on every pass, and the claim is left as it is.
func TestFileTakeoverTooLongIsReported(t *testing.T) {
	dir := t.TempDir()
	name := strings.Repeat("n", 210) + ".xml"
	claim := claimName("srv1", "00000000000000aa", name)
	writeFile(t, dir, claim, "claimed by srv1, never stored")
	rec := transporttest.NewRecorder()
	o := fileOpts(dir)
	o.Owner = "node-b.example.com" // escaped longer than "srv1"
	o.TakeoverAfter = 50 * time.Millisecond
	time.Sleep(o.TakeoverAfter + 50*time.Millisecond) // claims are aged by their inode change time
	f, lr := newTestFile(t, o, rec)
	for range 3 {
		if n, err := poll(t, f); n != 0 || err != nil {
			t.Fatalf("Poll = %d, %v; want nothing taken", n, err)
		}
	}
	if n := lr.Count(slog.LevelWarn, "cannot take over a file another server claimed"); n != 1 {
		t.Errorf("%d warnings that the claim cannot be taken over in 3 passes, want 1", n)
	}
	if got, ok := lr.FindFile(name, slog.LevelWarn); !ok || got["claim"] != claim {
		t.Errorf("the warning's attributes: %v; want file %s and claim %s", got, name, claim)
	}
	if left := names(t, dir); !slices.Equal(left, []string{claim}) {
		t.Errorf("left %v, want the claim as it was", left)
	}
}

// TestFileGrowsWhileRead: a producer that appends to a settled file while
// it is being stored (it did not follow the write-then-rename protocol)
// has its file refused, not stored cut short or with half of the new
// write: the file goes back under its name with all its content, and is
// taken whole once it is quiet.
func TestFileGrowsWhileRead(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "part 1")
	rec := transporttest.NewRecorder()
	appended := false
	rec.SetBefore(func(context.Context, msgbox.Incoming) error {
		if appended {
			return nil
		}
		appended = true
		// The claim is the one file in the directory.
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("finding the claim: %d entries, %v", len(entries), err)
		}
		fh, err := os.OpenFile(filepath.Join(dir, entries[0].Name()), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer fh.Close()
		_, err = fh.WriteString(", part 2")
		return err
	})
	f, _ := newTestFile(t, fileOpts(dir), rec)
	n, err := poll(t, f)
	if n != 0 || !errors.Is(err, errChanged) {
		t.Fatalf("Poll = %d, %v; want 0 and the file refused as changed", n, err)
	}
	if got := rec.All(); len(got) != 0 {
		t.Fatalf("published %+v, want nothing", got)
	}
	if left := names(t, dir); !slices.Equal(left, []string{"a.xml"}) {
		t.Fatalf("left %v, want a.xml back under its name", left)
	}
	p := filepath.Join(dir, "a.xml")
	if err := os.Chtimes(p, oldTime(), oldTime()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3 && len(rec.All()) == 0; i++ {
		if _, err := poll(t, f); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	if got := rec.All(); len(got) != 1 || string(got[0].Body) != "part 1, part 2" {
		t.Fatalf("published %+v, want the whole file once", got)
	}
}

// TestFileClaimGoneDuringPublish: when publishing fails and the claim has
// gone meanwhile (an operator moved it away), the location says so, not
// that the file stays claimed and is retried, and it retries nothing.
func TestFileClaimGoneDuringPublish(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "payload")
	rec := transporttest.NewRecorder()
	moved := filepath.Join(t.TempDir(), "a.xml")
	rec.SetBefore(func(context.Context, msgbox.Incoming) error {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("finding the claim: %d entries, %v", len(entries), err)
		}
		if err := os.Rename(filepath.Join(dir, entries[0].Name()), moved); err != nil {
			return err
		}
		return errors.New("the box is busy")
	})
	f, lr := newTestFile(t, fileOpts(dir), rec)
	if _, err := poll(t, f); err == nil {
		t.Fatal("Poll: nil error, want the failed publish")
	}
	rec.SetBefore(nil)
	if _, err := poll(t, f); err != nil {
		t.Fatalf("the next Poll: %v, want nothing to do", err)
	}
	if n := lr.Count(slog.LevelError, "its claim is gone"); n != 1 {
		t.Errorf("%d errors saying the claim is gone, want 1", n)
	}
	if n := lr.CountAny("retried next pass"); n != 0 {
		t.Errorf("%d lines saying the file is retried, want none", n)
	}
	if got := rec.All(); len(got) != 0 {
		t.Errorf("published %+v, want nothing", got)
	}
	if left := names(t, dir); len(left) != 0 {
		t.Errorf("left %v in the directory, want nothing", left)
	}
}

// TestFilePublishFailuresLoggedPerLocation: while the box fails every
// publish (its disk full), the location logs the failure at once, then not
// on every pass for every file but once every problemRepeat with how many
// failures went unlogged, and says when publishing works again. A full
// disk once logged 1,453 lines in 10 s for 31 files.
func TestFilePublishFailuresLoggedPerLocation(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		writeFile(t, dir, fmt.Sprintf("f%d.xml", i), "payload")
	}
	rec := transporttest.NewRecorder()
	errBox := errors.New("disk I/O error: no space left on device")
	rec.SetBefore(func(context.Context, msgbox.Incoming) error { return errBox })
	f, lr := newTestFile(t, fileOpts(dir), rec)
	clock := time.Now()
	f.now = func() time.Time { return clock }
	failures := func() int { return lr.Count(slog.LevelError, "publishing a file failed") }

	for range 4 {
		if _, err := poll(t, f); !errors.Is(err, errBox) {
			t.Fatalf("Poll = %v, want the box's error", err)
		}
	}
	if n := failures(); n != 1 {
		t.Fatalf("20 failed publishes logged %d times, want once", n)
	}
	if attrs, ok := lr.Find("publishing a file failed"); !ok || attrs["repeats_every"] == "" || !strings.Contains(attrs["error"], "no space left") {
		t.Errorf("first failure log %v, %v; want the error and repeats_every", attrs, ok)
	}
	clock = clock.Add(problemRepeat)
	poll(t, f)
	if n := failures(); n != 2 {
		t.Fatalf("logged %d times after problemRepeat, want a reminder", n)
	}
	var reminder slog.Record
	for _, r := range lr.Records() {
		if strings.Contains(r.Message, "publishing a file failed") {
			reminder = r
		}
	}
	var notLogged string
	reminder.Attrs(func(a slog.Attr) bool {
		if a.Key == "failures_not_logged" {
			notLogged = a.Value.String()
		}
		return true
	})
	if notLogged != "19" {
		t.Errorf("reminder says failures_not_logged=%q, want the 19 failures since the first log", notLogged)
	}
	rec.SetBefore(nil) // the disk has room again
	if n, err := poll(t, f); n != 5 || err != nil {
		t.Fatalf("after recovery Poll = %d, %v; want 5, nil", n, err)
	}
	if n := lr.Count(slog.LevelInfo, "publishing files works again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
	if n := failures(); n != 2 {
		t.Errorf("failures logged %d times in all, want 2", n)
	}
}

// TestFileSettlesAtSettleTime: a file is settled once its modification
// time is SettleTime away from now, not before: a nanosecond short it
// waits, pass after pass; at SettleTime exactly it is taken. The same
// holds for a modification time in the future (a producer's clock ahead).
func TestFileSettlesAtSettleTime(t *testing.T) {
	const settle = 10 * time.Minute
	for _, tc := range []struct {
		name string
		sign time.Duration // +1: the clock is after the mtime, -1: before
	}{{"past", 1}, {"future", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "a.xml")
			if err := os.WriteFile(p, []byte("<a/>"), 0o644); err != nil {
				t.Fatal(err)
			}
			mtime := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			o := fileOpts(dir)
			o.SettleTime = settle
			rec := transporttest.NewRecorder()
			f, _ := newTestFile(t, o, rec)
			f.now = func() time.Time { return mtime.Add(tc.sign * (settle - time.Nanosecond)) }
			for range 2 {
				if n, err := poll(t, f); n != 0 || err != nil || f.Pending() != 1 {
					t.Fatalf("a nanosecond short of the settle time: Poll = %d, %v, Pending %d; want it waiting", n, err, f.Pending())
				}
			}
			f.now = func() time.Time { return mtime.Add(tc.sign * settle) }
			if n, err := poll(t, f); n != 1 || err != nil || len(rec.All()) != 1 {
				t.Fatalf("at the settle time: Poll = %d, %v, %d published; want it taken", n, err, len(rec.All()))
			}
		})
	}
}
