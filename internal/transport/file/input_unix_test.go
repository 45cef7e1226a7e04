//go:build unix

package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport"
	"github.com/bizpipe/bizpipe/internal/transport/transporttest"
)

// swapIn atomically replaces path (rename(2) over it) with a symbolic link
// to secret, a FIFO, or a fresh regular file still being written, as a
// hostile or careless writer of the directory could between the listing
// and the claim.
func swapIn(t *testing.T, path, kind, secret string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".swap-"+kind)
	var err error
	switch kind {
	case "symlink":
		err = os.Symlink(secret, tmp)
	case "fifo":
		err = unix.Mkfifo(tmp, 0o644)
	case "replaced":
		err = os.WriteFile(tmp, []byte("partial"), 0o644) // fresh mtime: not settled
	default:
		t.Fatalf("unknown swap %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// pollNoHang polls in a goroutine and fails the test if the pass does not
// end: before the fix a FIFO opened for reading waited for a writer
// forever. The bound only detects a hang; it is then released by opening
// every FIFO in dir for writing, so that the test ends.
func pollNoHang(t *testing.T, f *Poller, dir string) (int, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := f.Poll(context.Background())
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-time.After(20 * time.Second):
	}
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if e.Type()&fs.ModeNamedPipe != 0 {
			if w, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
	}
	<-done
	t.Fatal("Poll hung on an input that is a FIFO")
	return 0, nil
}

// TestFileRefusesInputSwappedAfterListing: whoever can write to a receive
// directory can replace a listed file between the listing and the claim (or
// a claim before it is opened) with a symbolic link to a secret, a FIFO, or
// a file still being written. On every path that opens an input - a new
// file, an own claim recovered after a crash, another owner's claim taken
// over - the receiver must refuse it: publish nothing of it, not hang, say
// so once, and leave it where it is (a new file is given back under its
// name; a claim stays claimed), not retried every pass.
func TestFileRefusesInputSwappedAfterListing(t *testing.T) {
	const listed = "listed content"
	for _, path := range []string{"new file", "recovered claim", "taken-over claim"} {
		for _, kind := range []string{"symlink", "fifo", "replaced"} {
			t.Run(path+"/"+kind, func(t *testing.T) {
				dir := t.TempDir()
				secret := writeFile(t, t.TempDir(), "shadow", "root:SECRET-HASH:19000")
				rec := transporttest.NewRecorder()
				o := fileOpts(dir)
				var f *Poller
				var lr *transporttest.LogRecorder
				var left string // where the swapped-in entry must stay
				switch path {
				case "new file":
					writeFile(t, dir, "a.xml", listed)
					f, lr = newTestFile(t, o, rec)
					left = filepath.Join(dir, "a.xml")
					swapped := false
					f.beforeClaim = func(p string) {
						if p == left && !swapped {
							swapped = true
							swapIn(t, p, kind, secret)
						}
					}
					pollNoHang(t, f, dir)
				case "recovered claim":
					// A claim this owner left when it was killed; the box is
					// down on the first pass, so it stays claimed, and is
					// swapped before the retry opens it.
					claim := claimName("srv1", "00000000000000aa", "a.xml")
					left = filepath.Join(dir, claim)
					writeFile(t, dir, claim, listed)
					f, lr = newTestFile(t, o, rec)
					rec.SetBefore(func(context.Context, msgbox.Incoming) error { return errors.New("box down") })
					if n, err := pollNoHang(t, f, dir); n != 0 || err == nil {
						t.Fatalf("first Poll = %d, %v; want the box's failure", n, err)
					}
					rec.SetBefore(nil)
					swapIn(t, left, kind, secret)
					pollNoHang(t, f, dir)
				case "taken-over claim":
					other := claimName("srv2", "00000000000000bb", "a.xml")
					writeFile(t, dir, other, listed)
					o.TakeoverAfter = time.Minute
					f, lr = newTestFile(t, o, rec)
					f.now = func() time.Time { return time.Now().Add(time.Hour) } // srv2's claim is stale
					swapped := false
					f.beforeClaim = func(p string) {
						if p == filepath.Join(dir, other) && !swapped {
							swapped = true
							swapIn(t, p, kind, secret)
						}
					}
					left = filepath.Join(dir, claimName("srv1", "00000000000000bb", "a.xml"))
					pollNoHang(t, f, dir)
				}
				if got := rec.All(); len(got) != 0 {
					t.Fatalf("published %d message(s) (first body %q); want the swapped input refused", len(got), got[0].Body)
				}
				attrs, ok := lr.Find("refused")
				if !ok || attrs["file"] != "a.xml" {
					t.Errorf("refusal log %v, %v; want one naming a.xml", attrs, ok)
				}
				wantReason := map[string]string{"symlink": "symbolic link", "fifo": "named pipe", "replaced": "replaced"}[kind]
				if !strings.Contains(attrs["reason"], wantReason) {
					t.Errorf("refusal reason %q, want it to say %q", attrs["reason"], wantReason)
				}
				// Left where it is, and nothing else: not deleted, no stray claim.
				if got := names(t, dir); !slices.Equal(got, []string{filepath.Base(left)}) {
					t.Errorf("directory holds %v, want only %s", got, filepath.Base(left))
				}
				fi, err := os.Lstat(left)
				if err != nil {
					t.Fatalf("the swapped-in entry is gone: %v", err)
				}
				wantType := map[string]fs.FileMode{"symlink": fs.ModeSymlink, "fifo": fs.ModeNamedPipe, "replaced": 0}[kind]
				if fi.Mode().Type() != wantType {
					t.Errorf("%s is %v, want type %v", left, fi.Mode().Type(), wantType)
				}
				if b, err := os.ReadFile(secret); err != nil || string(b) != "root:SECRET-HASH:19000" {
					t.Errorf("the link's target was touched: %q, %v", b, err)
				}
				// Not retried every pass, and logged once.
				for range 3 {
					pollNoHang(t, f, dir)
				}
				if n := lr.CountAny("refused"); n != 1 {
					t.Errorf("refusal logged %d times over 4 passes, want once", n)
				}
				if kind == "replaced" && path == "new file" {
					// Given back, the new file is an input like any other:
					// taken once its writer has finished.
					if got := rec.All(); len(got) != 0 {
						t.Fatalf("a file still being written was published: %q", got[0].Body)
					}
					if err := os.WriteFile(left, []byte("partial, now complete"), 0o644); err != nil {
						t.Fatal(err)
					}
					if err := os.Chtimes(left, oldTime(), oldTime()); err != nil {
						t.Fatal(err)
					}
					for range 2 {
						pollNoHang(t, f, dir)
					}
					if got := rec.All(); len(got) != 1 || string(got[0].Body) != "partial, now complete" {
						t.Fatalf("published %v, want the replacement once, complete", got)
					}
					return
				}
				for _, p := range rec.All() {
					t.Errorf("published %s: %q", p.In.FileName, p.Body)
				}
			})
		}
	}
}

// TestFileRecoveryRefusesNonRegularClaims: an own claim that is not a
// regular file when the server starts (a link put there under a claim name)
// is not opened, and the refusal is logged once.
func TestFileRecoveryRefusesNonRegularClaims(t *testing.T) {
	dir := t.TempDir()
	secret := writeFile(t, t.TempDir(), "shadow", "SECRET")
	claim := claimName("srv1", "00000000000000cc", "a.xml")
	if err := os.Symlink(secret, filepath.Join(dir, claim)); err != nil {
		t.Fatal(err)
	}
	rec := transporttest.NewRecorder()
	f, lr := newTestFile(t, fileOpts(dir), rec)
	for range 3 {
		if n, _ := pollNoHang(t, f, dir); n != 0 {
			t.Fatalf("Poll = %d, want nothing published", n)
		}
	}
	if len(rec.All()) != 0 {
		t.Fatal("a symbolic link under a claim name was published")
	}
	if attrs, ok := lr.Find("refused"); !ok || attrs["file"] != "a.xml" || !strings.Contains(attrs["reason"], "symbolic link") {
		t.Errorf("refusal log %v, %v", attrs, ok)
	}
	if n := lr.CountAny("refused"); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
	if got := names(t, dir); !slices.Equal(got, []string{claim}) {
		t.Errorf("left %v, want the link under its claim name", got)
	}
}

// TestFileBodyReadEndsWithContext: a Poll whose context is cancelled while
// the body is read ends the read with the context's error (a read must not
// outlive a caller that gave up); the file is given back, not published.
func TestFileBodyReadEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.xml", "payload")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := transporttest.NewRecorder()
	rec.SetBefore(func(context.Context, msgbox.Incoming) error {
		cancel() // e.g. SIGTERM during a --once run, as the sink starts reading
		return nil
	})
	f, _ := newTestFile(t, fileOpts(dir), rec)
	n, err := f.Poll(ctx)
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %d, %v; want 0 and context.Canceled", n, err)
	}
	if got := rec.All(); len(got) != 0 {
		t.Fatalf("published %q after the context was cancelled", got[0].Body)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"a.xml"}) {
		t.Errorf("left %v, want a.xml given back", got)
	}
}

// TestFileBodyCopyToFile: a sink that copies the body into a file (io.Copy,
// which a kernel copy serves for two regular files) gets the exact bytes
// across several copy chunks (1 MiB), and a cancelled context ends that
// copy too.
func TestFileBodyCopyToFile(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), (3<<20+12345)/16)
	for _, cancelled := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancelled=%v", cancelled), func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "big.dat", string(payload))
			out := filepath.Join(t.TempDir(), "stored")
			var copied int64
			var copyErr error
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sink := transport.SinkFunc(func(ctx context.Context, in msgbox.Incoming, body io.Reader) (msgbox.Message, bool, error) {
				if cancelled {
					cancel() // the caller gives up as the copy starts
				}
				dst, err := os.Create(out)
				if err != nil {
					return msgbox.Message{}, false, err
				}
				defer dst.Close()
				copied, copyErr = io.Copy(dst, body)
				if copyErr != nil {
					return msgbox.Message{}, false, copyErr
				}
				return msgbox.Message{ID: "m1", Size: copied}, false, nil
			})
			f, _ := newTestFile(t, fileOpts(dir), sink)
			n, err := f.Poll(ctx)
			if cancelled {
				if n != 0 || !errors.Is(copyErr, context.Canceled) {
					t.Fatalf("Poll = %d, %v, copy error %v; want the copy ended by the context", n, err, copyErr)
				}
				if got := names(t, dir); !slices.Equal(got, []string{"big.dat"}) {
					t.Errorf("left %v, want big.dat given back", got)
				}
				return
			}
			if n != 1 || err != nil {
				t.Fatalf("Poll = %d, %v", n, err)
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("copied %d bytes (%v), want the %d bytes of the input", len(got), err, len(payload))
			}
		})
	}
}

// TestFileBodyLinkTo: a message box may keep an input's own file
// (msgbox.FileBody), on Linux, only while nothing of it was read, it has no
// other name, it is as listed and its name still names it; otherwise
// nothing is linked and the input reads as it would have.
func TestFileBodyLinkTo(t *testing.T) {
	dir := t.TempDir()
	open := func(t *testing.T, name string) (*inputReader, string) {
		path := writeFile(t, dir, name, "payload")
		f, seen := openSeen(t, path)
		t.Cleanup(func() { f.Close() })
		return &inputReader{ctx: context.Background(), file: f, seen: seen}, path
	}
	for _, tc := range []struct {
		name   string
		before func(t *testing.T, r *inputReader, path string)
		kept   bool
		rest   string // what reads after a refusal
	}{
		{"kept", func(*testing.T, *inputReader, string) {}, true, ""},
		{"another name", func(t *testing.T, _ *inputReader, path string) {
			if err := os.Link(path, path+".other"); err != nil {
				t.Fatal(err)
			}
		}, false, "payload"},
		{"partly read", func(t *testing.T, r *inputReader, _ string) {
			if _, err := r.Read(make([]byte, 3)); err != nil {
				t.Fatal(err)
			}
		}, false, "load"},
		// The input moved away (it keeps its one name) and another file
		// put under the name it was opened by, once the lease is held:
		// the link made by that name is of the other file, and is undone.
		{"name swapped", func(t *testing.T, r *inputReader, path string) {
			r.linking = func() {
				if err := os.Rename(path, path+".moved"); err != nil {
					t.Error(err)
				}
				if err := os.WriteFile(path, []byte("not the input"), 0o644); err != nil {
					t.Error(err)
				}
			}
		}, false, "payload"},
		{"cancelled", func(_ *testing.T, r *inputReader, _ string) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r.ctx = ctx
		}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, path := open(t, strings.ReplaceAll(tc.name, " ", "_"))
			tc.before(t, r, path)
			target := filepath.Join(t.TempDir(), "kept")
			kept := tc.kept && runtime.GOOS == "linux" // only Linux tells a file nobody writes (holdUnwritten)
			if got := r.LinkTo(target); got != kept {
				t.Fatalf("LinkTo = %v, want %v", got, kept)
			}
			linked, err := os.Stat(target)
			if !kept {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("refused, yet %s exists (%v)", target, err)
				}
				if tc.rest != "" {
					if got, err := io.ReadAll(r); err != nil || string(got) != tc.rest {
						t.Errorf("then read %q, %v; want %q", got, err, tc.rest)
					}
				}
				return
			}
			orig, err2 := r.file.Stat()
			if err != nil || err2 != nil || !sameFile(linked, orig) {
				t.Errorf("%s is not the input's file (%v, %v)", target, err, err2)
			}
		})
	}
	// Changed since it was listed: a producer still writing.
	r, path := open(t, "growing")
	if err := os.WriteFile(path, []byte("payload, and more"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r.LinkTo(filepath.Join(t.TempDir(), "kept")) {
		t.Error("LinkTo kept a file that changed since it was listed")
	}
}

// TestKeepable: only a file of this user with no other link may be kept.
func TestKeepable(t *testing.T) {
	uid := uint32(os.Getuid())
	for _, tc := range []struct {
		st   any
		want bool
	}{
		{&syscall.Stat_t{Nlink: 1, Uid: uid}, true},
		{&syscall.Stat_t{Nlink: 2, Uid: uid}, false},
		{&syscall.Stat_t{Nlink: 1, Uid: uid + 1}, false},
		{nil, false},
	} {
		if got := keepable(sysInfo{tc.st}); got != tc.want {
			t.Errorf("keepable(%+v) = %v, want %v", tc.st, got, tc.want)
		}
	}
}

// sysInfo is a FileInfo with only Sys.
type sysInfo struct{ sys any }

func (sysInfo) Name() string       { return "f" }
func (sysInfo) Size() int64        { return 0 }
func (sysInfo) Mode() fs.FileMode  { return 0 }
func (sysInfo) ModTime() time.Time { return time.Time{} }
func (sysInfo) IsDir() bool        { return false }
func (s sysInfo) Sys() any         { return s.sys }
