package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/dirsync"
	"github.com/bizpipe/bizpipe/internal/transport"
)

const testPort = "fabrikam"

func newFileTransport(t *testing.T, overwrite bool) (*Writer, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := NewWriter(WriterOptions{Dir: dir, Overwrite: overwrite})
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	return f, dir
}

func fileDelivery(id int64, name string) transport.Delivery {
	return transport.Delivery{ID: id, MessageID: fmt.Sprintf("msg-%d", id), Port: testPort, FileName: name}
}

// listDir returns the sorted names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func writeBytes(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func assertContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %q, want %q", path, got, want)
	}
}

func assertSameFile(t *testing.T, a, b string, want bool) {
	t.Helper()
	ai, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	bi, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := os.SameFile(ai, bi); got != want {
		t.Fatalf("SameFile(%s, %s) = %v, want %v", a, b, got, want)
	}
}

// entity looks like what an smime pipeline produces: CRLF, binary-ish body.
var entity = []byte("MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\n\x00\x01\xfe\xffMIAGCSqGSIb3\r\n")

func TestFileCreateNewWritesExactBytesAndCleansUp(t *testing.T) {
	f, dir := newFileTransport(t, false)
	d := fileDelivery(7, "order-1.eml")
	if err := f.Send(context.Background(), d, transport.Payload{Data: entity}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	final := filepath.Join(dir, "order-1.eml")
	assertContent(t, final, entity)
	// Until Cleanup the staged copy must remain, as another name of the
	// delivered file: that is what lets Redo recognise the placement.
	if got, want := listDir(t, dir), []string{".bizpipe-7.staged", "order-1.eml"}; !slices.Equal(got, want) {
		t.Fatalf("after Send dir holds %q, want %q", got, want)
	}
	assertSameFile(t, final, filepath.Join(dir, ".bizpipe-7.staged"), true)

	if err := f.Cleanup(d); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got, want := listDir(t, dir), []string{"order-1.eml"}; !slices.Equal(got, want) {
		t.Fatalf("after Cleanup dir holds %q, want %q", got, want)
	}
	assertContent(t, final, entity)
	// Cleanup of something already clean is not an error.
	if err := f.Cleanup(d); err != nil {
		t.Fatalf("second Cleanup: %v", err)
	}
}

func TestFileCreateNewDifferentContentFails(t *testing.T) {
	f, dir := newFileTransport(t, false)
	ctx := context.Background()
	first, second := fileDelivery(1, "same.xml"), fileDelivery(2, "same.xml")
	if err := f.Send(ctx, first, transport.Payload{Data: []byte("<a/>")}); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	err := f.Send(ctx, second, transport.Payload{Data: []byte("<b/>")})
	if err == nil {
		t.Fatal("second Send of different content to the same name succeeded")
	}
	final := filepath.Join(dir, "same.xml")
	if !errors.Is(err, ErrFileExists) {
		t.Errorf("error %v does not wrap ErrFileExists", err)
	}
	for _, want := range []string{testPort, final, "already exists with different content", "create_new"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	assertContent(t, final, []byte("<a/>"))
	// Retrying does not help while the file is there, and does not
	// change it either.
	if err := f.Send(ctx, second, transport.Payload{Data: []byte("<b/>")}); !errors.Is(err, ErrFileExists) {
		t.Errorf("retry: %v, want ErrFileExists", err)
	}
	assertContent(t, final, []byte("<a/>"))
	// Once the operator moves the old file away, a retry delivers.
	if err := os.Rename(final, filepath.Join(dir, "..", "archived.xml")); err != nil {
		t.Fatal(err)
	}
	if err := f.Send(ctx, second, transport.Payload{Data: []byte("<b/>")}); err != nil {
		t.Fatalf("retry after removing the conflict: %v", err)
	}
	assertContent(t, final, []byte("<b/>"))
}

func TestFileCreateNewIdenticalExistingFileCountsAsDelivered(t *testing.T) {
	f, dir := newFileTransport(t, false)
	final := filepath.Join(dir, "dup.eml")
	writeBytes(t, final, entity) // e.g. delivered by hand, or by a previous run
	d := fileDelivery(3, "dup.eml")
	if err := f.Send(context.Background(), d, transport.Payload{Data: entity}); err != nil {
		t.Fatalf("Send onto an identical file: %v", err)
	}
	assertContent(t, final, entity)
	// The existing file was accepted, not replaced.
	assertSameFile(t, final, filepath.Join(dir, ".bizpipe-3.staged"), false)
	if err := f.Cleanup(d); err != nil {
		t.Fatal(err)
	}
	if got, want := listDir(t, dir), []string{"dup.eml"}; !slices.Equal(got, want) {
		t.Fatalf("dir holds %q, want %q", got, want)
	}
}

func TestFileCreateNewSameSizeDifferentContentFails(t *testing.T) {
	f, dir := newFileTransport(t, false)
	big := bytes.Repeat([]byte("0123456789abcdef"), 10000) // spans several compare chunks
	other := slices.Clone(big)
	other[len(other)-1] ^= 1
	writeBytes(t, filepath.Join(dir, "big.bin"), other)
	err := f.Send(context.Background(), fileDelivery(4, "big.bin"), transport.Payload{Data: big})
	if !errors.Is(err, ErrFileExists) {
		t.Fatalf("Send over a same-size different file: %v, want ErrFileExists", err)
	}
}

func TestFileCreateNewExistingDirectoryFails(t *testing.T) {
	f, dir := newFileTransport(t, false)
	if err := os.Mkdir(filepath.Join(dir, "x.eml"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := f.Send(context.Background(), fileDelivery(5, "x.eml"), transport.Payload{Data: entity})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Send onto a directory: %v, want a not-a-regular-file error", err)
	}
}

func TestFileOverwriteReplacesAtomically(t *testing.T) {
	f, dir := newFileTransport(t, true)
	final := filepath.Join(dir, "report.csv")
	writeBytes(t, final, []byte("old,content\n"))
	// A reader that opened the old file keeps reading the old content:
	// the new file replaced the name, the old one was never rewritten in
	// place (a truncate-and-write would show the reader new or torn data).
	reader, err := os.Open(final)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	d := fileDelivery(9, "report.csv")
	if err := f.Send(context.Background(), d, transport.Payload{Data: []byte("new\n")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	assertContent(t, final, []byte("new\n"))
	old, err := io.ReadAll(reader)
	if err != nil {
		t.Fatal(err)
	}
	if string(old) != "old,content\n" {
		t.Fatalf("reader of the old file saw %q", old)
	}
	assertSameFile(t, final, filepath.Join(dir, ".bizpipe-9.staged"), true)

	// A repeat (a retry after an error past placement) changes nothing and
	// leaves no .placing name behind.
	if err := f.Send(context.Background(), d, transport.Payload{Data: []byte("re-encrypted\n")}); err != nil {
		t.Fatalf("repeat Send: %v", err)
	}
	assertContent(t, final, []byte("new\n"))
	if got, want := listDir(t, dir), []string{".bizpipe-9.staged", "report.csv"}; !slices.Equal(got, want) {
		t.Fatalf("after the repeat dir holds %q, want %q", got, want)
	}
	if err := f.Cleanup(d); err != nil {
		t.Fatal(err)
	}
	if got, want := listDir(t, dir), []string{"report.csv"}; !slices.Equal(got, want) {
		t.Fatalf("dir holds %q, want %q", got, want)
	}
}

func TestFileOverwriteDeliversDifferentMessagesInTurn(t *testing.T) {
	f, dir := newFileTransport(t, true)
	ctx := context.Background()
	for i, body := range []string{"one", "two", "three"} {
		d := fileDelivery(int64(i+1), "latest.txt")
		if err := f.Send(ctx, d, transport.Payload{Data: []byte(body)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		assertContent(t, filepath.Join(dir, "latest.txt"), []byte(body))
		if err := f.Cleanup(d); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := listDir(t, dir), []string{"latest.txt"}; !slices.Equal(got, want) {
		t.Fatalf("dir holds %q, want %q", got, want)
	}
}

// TestFileSendReusesStagedCopy covers a retry after a failure past staging:
// the pipeline ran again and produced different bytes (encryption is
// randomised), but the staged copy may already be in place, so it is the
// one delivered.
func TestFileSendReusesStagedCopy(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwrite=%v", overwrite), func(t *testing.T) {
			f, dir := newFileTransport(t, overwrite)
			staged := filepath.Join(dir, ".bizpipe-11.staged")
			final := filepath.Join(dir, "m.eml")
			writeBytes(t, staged, []byte("first rendering"))
			if err := os.Link(staged, final); err != nil {
				t.Fatal(err)
			}
			if err := f.Send(context.Background(), fileDelivery(11, "m.eml"), transport.Payload{Data: []byte("second rendering")}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			assertContent(t, final, []byte("first rendering"))
			if got, want := listDir(t, dir), []string{".bizpipe-11.staged", "m.eml"}; !slices.Equal(got, want) {
				t.Fatalf("dir holds %q, want %q", got, want)
			}
		})
	}
}

// TestFileRedoAfterCrash builds by hand every state a SIGKILL can leave
// behind, then runs what the runner runs after a restart: Redo, and Send
// when Redo reports nothing staged.
func TestFileRedoAfterCrash(t *testing.T) {
	const id = 42
	payload := entity
	rerun := []byte("pipeline output of the rerun") // what Send gets when Redo says not done
	tests := []struct {
		name      string
		overwrite bool
		setup     func(t *testing.T, dir string)
		wantDone  bool
		want      []byte // final content once Redo (and Send if needed) ran
	}{
		{
			name:  "nothing written",
			setup: func(*testing.T, string) {},
			want:  rerun,
		},
		{
			name: "killed while writing partial",
			setup: func(t *testing.T, dir string) {
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.partial"), payload[:10])
			},
			want: rerun,
		},
		{
			name: "killed while writing partials of two attempts",
			setup: func(t *testing.T, dir string) {
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.00000000deadbeef.partial"), payload[:10])
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.0123456789abcdef.partial"), payload[:20])
			},
			want: rerun,
		},
		{
			name: "killed after staging",
			setup: func(t *testing.T, dir string) {
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.staged"), payload)
			},
			wantDone: true,
			want:     payload,
		},
		{
			name: "killed after link, before the box recorded it",
			setup: func(t *testing.T, dir string) {
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.staged"), payload)
				if err := os.Link(filepath.Join(dir, ".bizpipe-42.staged"), filepath.Join(dir, "final.eml")); err != nil {
					t.Fatal(err)
				}
			},
			wantDone: true,
			want:     payload,
		},
		{
			name:      "overwrite: killed after staging, old file present",
			overwrite: true,
			setup: func(t *testing.T, dir string) {
				writeBytes(t, filepath.Join(dir, "final.eml"), []byte("previous message"))
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.staged"), payload)
			},
			wantDone: true,
			want:     payload,
		},
		{
			name:      "overwrite: killed between link to placing and rename",
			overwrite: true,
			setup: func(t *testing.T, dir string) {
				writeBytes(t, filepath.Join(dir, "final.eml"), []byte("previous message"))
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.staged"), payload)
				if err := os.Link(filepath.Join(dir, ".bizpipe-42.staged"), filepath.Join(dir, ".bizpipe-42.placing")); err != nil {
					t.Fatal(err)
				}
			},
			wantDone: true,
			want:     payload,
		},
		{
			name:      "overwrite: killed after rename",
			overwrite: true,
			setup: func(t *testing.T, dir string) {
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.staged"), payload)
				if err := os.Link(filepath.Join(dir, ".bizpipe-42.staged"), filepath.Join(dir, "final.eml")); err != nil {
					t.Fatal(err)
				}
			},
			wantDone: true,
			want:     payload,
		},
		{
			name:      "overwrite: killed while writing partial, old file present",
			overwrite: true,
			setup: func(t *testing.T, dir string) {
				writeBytes(t, filepath.Join(dir, "final.eml"), []byte("previous message"))
				writeBytes(t, filepath.Join(dir, ".bizpipe-42.partial"), payload[:3])
			},
			want: rerun,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, dir := newFileTransport(t, tt.overwrite)
			ctx := context.Background()
			d := fileDelivery(id, "final.eml")
			tt.setup(t, dir)

			done, err := f.Redo(ctx, d)
			if err != nil {
				t.Fatalf("Redo: %v", err)
			}
			if done != tt.wantDone {
				t.Fatalf("Redo done = %v, want %v", done, tt.wantDone)
			}
			if !done {
				if names := listDir(t, dir); slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ".bizpipe-") }) {
					t.Fatalf("Redo left reserved files behind: %q", names)
				}
				if err := f.Send(ctx, d, transport.Payload{Data: rerun}); err != nil {
					t.Fatalf("Send after Redo: %v", err)
				}
			} else {
				// A second Redo (killed again before the box recorded
				// it) is harmless.
				if done, err := f.Redo(ctx, d); err != nil || !done {
					t.Fatalf("second Redo = %v, %v", done, err)
				}
			}
			assertContent(t, filepath.Join(dir, "final.eml"), tt.want)
			if err := f.Cleanup(d); err != nil {
				t.Fatalf("Cleanup: %v", err)
			}
			if got, want := listDir(t, dir), []string{"final.eml"}; !slices.Equal(got, want) {
				t.Fatalf("dir holds %q, want exactly %q", got, want)
			}
			assertContent(t, filepath.Join(dir, "final.eml"), tt.want)
		})
	}
}

func TestFileRedoCreateNewConflict(t *testing.T) {
	// Staged, but meanwhile someone else put a different file under the
	// name: the conflict must be reported, not papered over as done.
	f, dir := newFileTransport(t, false)
	writeBytes(t, filepath.Join(dir, ".bizpipe-8.staged"), []byte("ours"))
	writeBytes(t, filepath.Join(dir, "x.eml"), []byte("theirs"))
	done, err := f.Redo(context.Background(), fileDelivery(8, "x.eml"))
	if done || !errors.Is(err, ErrFileExists) {
		t.Fatalf("Redo = %v, %v; want false and ErrFileExists", done, err)
	}
	assertContent(t, filepath.Join(dir, "x.eml"), []byte("theirs"))
}

func TestFileCleanupRemovesOnlyItsStagedCopy(t *testing.T) {
	f, dir := newFileTransport(t, false)
	for _, name := range []string{".bizpipe-5.partial", ".bizpipe-5.staged", ".bizpipe-5.placing", ".bizpipe-6.staged", ".bizpipe-55.staged", "other.txt"} {
		writeBytes(t, filepath.Join(dir, name), []byte(name))
	}
	if err := f.Cleanup(fileDelivery(5, "ignored")); err != nil {
		t.Fatal(err)
	}
	// Only the staged copy: a .partial or .placing is never left by a
	// successful Send, and Redo or SweepStale removes a crash's.
	if got, want := listDir(t, dir), []string{".bizpipe-5.partial", ".bizpipe-5.placing", ".bizpipe-55.staged", ".bizpipe-6.staged", "other.txt"}; !slices.Equal(got, want) {
		t.Fatalf("dir holds %q, want %q", got, want)
	}
}

func TestFileStaged(t *testing.T) {
	f, dir := newFileTransport(t, false)
	for _, name := range []string{".bizpipe-30.staged", ".bizpipe-4.staged", ".bizpipe-7.partial", ".bizpipe-8.0123456789abcdef.partial",
		".bizpipe-x.staged", "a.staged"} {
		writeBytes(t, filepath.Join(dir, name), nil)
	}
	ids, err := f.Staged()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{4, 30}; !slices.Equal(ids, want) {
		t.Fatalf("Staged() = %v, want %v", ids, want)
	}
}

func TestFileSweepStale(t *testing.T) {
	f, dir := newFileTransport(t, false)
	old := time.Now().Add(-2 * time.Hour)
	files := map[string]bool{ // name -> old
		".bizpipe-1.partial":                  true,
		".bizpipe-1.0123456789abcdef.partial": true,
		".bizpipe-2.placing":                  true,
		".bizpipe-3.partial":                  false, // an attempt in flight
		".bizpipe-3.fedcba9876543210.partial": false,
		".bizpipe-4.staged":                   true, // needed by Redo: never swept
		".bizpipe-5.not-hex.partial":          true, // not a name of ours
		"old-delivery.eml":                    true,
	}
	for name, isOld := range files {
		path := filepath.Join(dir, name)
		writeBytes(t, path, []byte("x"))
		if isOld {
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	removed, err := f.SweepStale(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 3 {
		t.Errorf("SweepStale removed %d files, want 3", removed)
	}
	if got, want := listDir(t, dir), []string{".bizpipe-3.fedcba9876543210.partial", ".bizpipe-3.partial",
		".bizpipe-4.staged", ".bizpipe-5.not-hex.partial", "old-delivery.eml"}; !slices.Equal(got, want) {
		t.Fatalf("dir holds %q, want %q", got, want)
	}
}

func TestFileRejectsUnsafeNames(t *testing.T) {
	bad := []string{
		"",
		".",
		"..",
		"../x",
		"../../etc/passwd",
		"a/b",
		"/abs",
		`..\x`,
		`a\b`,
		"a\x00b",
		"a\nb",
		"\x1b[31mred",
		"\u009b2Jred", // CSI: ESC [ as one C1 character
		"a\u0085b",    // NEL: a newline to Unicode line splitting
		".bizpipe-1.staged",
		".bizpipe-99.partial",
		".BIZPIPE-1.staged",
		strings.Repeat("a", 256),
	}
	for _, name := range bad {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			f, dir := newFileTransport(t, true)
			parent := filepath.Dir(dir)
			writeBytes(t, filepath.Join(dir, ".bizpipe-1.staged"), []byte("staged by another delivery"))
			d := fileDelivery(1, name)

			err := f.Send(context.Background(), d, transport.Payload{Data: entity})
			if !errors.Is(err, transport.ErrInvalidFileName) {
				t.Fatalf("Send: %v, want ErrInvalidFileName", err)
			}
			shown := name
			if len(shown) > 100 {
				shown = shown[:100]
			}
			for _, want := range []string{testPort, strings.Trim(fmt.Sprintf("%q", shown), `"`)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if err := CheckFileName(name); !errors.Is(err, transport.ErrInvalidFileName) {
				t.Errorf("CheckFileName: %v", err)
			}
			// Redo of a staged delivery whose name is now unsafe
			// must not place it either.
			if done, err := f.Redo(context.Background(), d); done || !errors.Is(err, transport.ErrInvalidFileName) {
				t.Errorf("Redo = %v, %v; want false and ErrInvalidFileName", done, err)
			}
			if got, want := listDir(t, parent), []string{"out"}; !slices.Equal(got, want) {
				t.Errorf("parent holds %q, want %q", got, want)
			}
			if got, want := listDir(t, dir), []string{".bizpipe-1.staged"}; !slices.Equal(got, want) {
				t.Errorf("dir holds %q, want %q", got, want)
			}
			assertContent(t, filepath.Join(dir, ".bizpipe-1.staged"), []byte("staged by another delivery"))
		})
	}
}

func TestFileAcceptsOrdinaryNames(t *testing.T) {
	good := []string{
		"a",
		"..x",
		"x..",
		"...",
		".hidden",
		".bizpipe", // only the dash-terminated prefix is reserved
		"order 1 (copy).eml",
		"commande-été.xml",
		"2024-01-02T03:04:05Z.edi",
		strings.Repeat("a", 255),
	}
	if windowsNames {
		// Names Windows would change or map to a device or stream
		// (TestWindowsNameRules): refused there.
		good = slices.DeleteFunc(good, func(n string) bool { return nameProblem(n, true) != "" })
	}
	f, dir := newFileTransport(t, false)
	for i, name := range good {
		d := fileDelivery(int64(i+1), name)
		if err := f.Send(context.Background(), d, transport.Payload{Data: []byte(name)}); err != nil {
			t.Errorf("Send %q: %v", name, err)
			continue
		}
		assertContent(t, filepath.Join(dir, name), []byte(name))
		if err := f.Cleanup(d); err != nil {
			t.Error(err)
		}
	}
	got := listDir(t, dir)
	want := slices.Sorted(slices.Values(good))
	if !slices.Equal(got, want) {
		t.Fatalf("dir holds %q, want %q", got, want)
	}
}

func TestFileDirectoryErrors(t *testing.T) {
	base := t.TempDir()
	notDir := filepath.Join(base, "plain-file")
	writeBytes(t, notDir, []byte("I am a file"))
	tests := []struct {
		name, dir, want string
	}{
		// Root ignores permission bits, so unwritability is produced
		// honestly: the configured directory is a regular file, or under one.
		{"dir is a regular file", notDir, "is not a directory"},
		{"parent is a regular file", filepath.Join(notDir, "out"), "not a directory"},
		{"missing", filepath.Join(base, "typo"), "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewWriter(WriterOptions{Dir: tt.dir})
			if err != nil {
				t.Fatal(err)
			}
			d := fileDelivery(1, "x.eml")
			err = f.Send(context.Background(), d, transport.Payload{Data: entity})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			for _, want := range []string{testPort, tt.dir, tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Send error %q does not mention %q", err, want)
				}
			}
			// Redo must not report "nothing staged" when it cannot look.
			if done, err := f.Redo(context.Background(), d); done || err == nil {
				t.Errorf("Redo = %v, %v; want an error", done, err)
			}
			if _, err := f.SweepStale(time.Hour); err == nil {
				t.Error("SweepStale succeeded")
			}
		})
	}
	// The transport does not create a missing directory.
	if _, err := os.Stat(filepath.Join(base, "typo")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing output directory was created (stat: %v)", err)
	}
	assertContent(t, notDir, []byte("I am a file"))
}

func TestFileCancelledContextWritesNothing(t *testing.T) {
	f, dir := newFileTransport(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Send(ctx, fileDelivery(1, "x"), transport.Payload{Data: entity}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v, want context.Canceled", err)
	}
	if _, err := f.Redo(ctx, fileDelivery(1, "x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Redo: %v, want context.Canceled", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Fatalf("dir holds %q", got)
	}
}

func TestNewFileRequiresDir(t *testing.T) {
	if _, err := NewWriter(WriterOptions{}); err == nil {
		t.Fatal("NewWriter without a directory succeeded")
	}
}

// TestFileConcurrentDeliveries: concurrent deliveries all land, whichever
// way they sync. The commits of a batch (Flush, then Commit) share rounds
// of syncfs(2) where it stands in for the fsyncs: each delivery passes
// three sync points (its data, its staged name, its final name), and 32
// of them at once take far fewer rounds than that. Elsewhere, and for a
// delivery sent alone or told Alone after its Flush, each file is fsynced
// and the directory syncs are shared.
func TestFileConcurrentDeliveries(t *testing.T) {
	for _, tt := range []struct {
		name     string
		syncFSOK bool // syncfs stands in for fsyncs on the file system
		batched  bool
		alone    bool // Alone after Flush
		syncfs   bool // want syncfs rounds, not directory syncs
	}{
		{"batched, syncfs rounds", true, true, false, true},
		{"batched, fsync each file", false, true, false, false},
		{"sent alone, where syncfs works", true, false, false, false},
		{"batched then told alone, where syncfs works", true, true, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, dir := newFileTransport(t, false)
			playSyncFS(t, f, tt.syncFSOK)
			var whole, dirs atomic.Int32
			f.syncs.whole.SyncFunc = func(dir string) error {
				whole.Add(1)
				time.Sleep(2 * time.Millisecond) // as a journal commit takes: others gather
				return dirsync.SyncFS(dir)
			}
			f.syncs.dirs.SyncFunc = func(dir string) error { dirs.Add(1); return dirsync.Sync(dir) }
			send := func(d transport.Delivery) error {
				if !tt.batched {
					return f.Send(context.Background(), d, transport.Payload{Data: []byte(d.FileName)})
				}
				w, err := f.Begin(context.Background(), d)
				if err != nil {
					return err
				}
				if _, err := w.Write([]byte(d.FileName)); err != nil {
					return err
				}
				if share, err := w.Flush(); err != nil || !share {
					return fmt.Errorf("Flush = %v, %v; want share", share, err)
				}
				if tt.alone {
					w.Alone()
				}
				return w.Commit(context.Background())
			}
			const n = 32
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					d := fileDelivery(int64(i), fmt.Sprintf("m%02d", i))
					if err := send(d); err != nil {
						errs[i] = err
						return
					}
					errs[i] = f.Cleanup(d)
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			names := listDir(t, dir)
			if len(names) != n {
				t.Fatalf("dir holds %d files, want %d: %q", len(names), n, names)
			}
			for _, name := range names {
				assertContent(t, filepath.Join(dir, name), []byte(name))
			}
			if tt.syncfs {
				if got := whole.Load(); got == 0 || got >= n || dirs.Load() != 0 {
					t.Errorf("%d syncfs rounds and %d directory syncs for %d deliveries; want fewer rounds than deliveries and no directory sync",
						got, dirs.Load(), n)
				}
			} else if whole.Load() != 0 || dirs.Load() == 0 {
				t.Errorf("%d syncfs rounds and %d directory syncs; want directory syncs only", whole.Load(), dirs.Load())
			}
		})
	}
}

// TestFileFlushShares: Flush answers share by the bytes the attempt wrote,
// headers and all: up to sharedCommitMax its commit joins a syncfs round,
// above it the commit fsyncs its own file and shares only directory
// syncs. Whatever the answer, the file lands whole.
func TestFileFlushShares(t *testing.T) {
	for _, tt := range []struct {
		name  string
		size  int
		share bool
	}{
		{"small", 100, true},
		{"at the limit", sharedCommitMax, true},
		{"one byte over", sharedCommitMax + 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, dir := newFileTransport(t, false)
			playSyncFS(t, f, true)
			var whole, dirs atomic.Int32
			f.syncs.whole.SyncFunc = func(dir string) error { whole.Add(1); return dirsync.SyncFS(dir) }
			f.syncs.dirs.SyncFunc = func(dir string) error { dirs.Add(1); return dirsync.Sync(dir) }
			payload := bytes.Repeat([]byte("0123456789abcdef"), tt.size/16+1)[:tt.size]
			w, err := f.Begin(context.Background(), fileDelivery(1, "a.bin"))
			if err != nil {
				t.Fatal(err)
			}
			// In pieces, as stages write: the header first.
			for p := payload; len(p) > 0; {
				n := min(len(p), 1000)
				if _, err := w.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			share, err := w.Flush()
			if err != nil || share != tt.share {
				t.Fatalf("Flush after %d bytes = %v, %v; want %v", tt.size, share, err, tt.share)
			}
			if err := w.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			assertContent(t, filepath.Join(dir, "a.bin"), payload)
			if rounds := whole.Load(); (rounds > 0) != tt.share || (dirs.Load() > 0) == tt.share {
				t.Errorf("%d syncfs rounds and %d directory syncs; want %s", rounds, dirs.Load(),
					map[bool]string{true: "rounds only", false: "directory syncs only"}[tt.share])
			}
		})
	}
}

// TestFileFlushStagedCopyAlone: an attempt that finds its staged copy
// there already (a redo after a placing failure) has no file of its own to
// tie its names to a round's file system, so it never shares a round: it
// syncs its directory itself, and places the staged copy.
func TestFileFlushStagedCopyAlone(t *testing.T) {
	f, dir := newFileTransport(t, false)
	playSyncFS(t, f, true)
	var whole, dirs atomic.Int32
	f.syncs.whole.SyncFunc = func(dir string) error { whole.Add(1); return dirsync.SyncFS(dir) }
	f.syncs.dirs.SyncFunc = func(dir string) error { dirs.Add(1); return dirsync.Sync(dir) }
	staged := []byte("staged by an earlier attempt")
	if err := os.WriteFile(f.reserved(7, suffixStaged), staged, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := f.Begin(context.Background(), fileDelivery(7, "a.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("this attempt's bytes, discarded")); err != nil {
		t.Fatal(err)
	}
	if share, err := w.Flush(); err != nil || share {
		t.Fatalf("Flush with the staged copy there = %v, %v; want no share", share, err)
	}
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertContent(t, filepath.Join(dir, "a.bin"), staged)
	if whole.Load() != 0 || dirs.Load() == 0 {
		t.Errorf("%d syncfs rounds and %d directory syncs; want directory syncs only", whole.Load(), dirs.Load())
	}
}

// playSyncFS makes f see its directory's file system as one syncfs(2)
// stands in for fsyncs on (or not), whichever it is: the rounds the tests
// count then run (their SyncFunc calls dirsync.SyncFS, which falls back
// where the file system does not take it, as a round that finds it
// changed does).
func playSyncFS(t *testing.T, f *Writer, ok bool) {
	t.Helper()
	fs, err := dirsync.FileSystemOf(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	fs.SyncFS = ok
	f.fileSystem = func(string) (dirsync.FS, error) { return fs, nil }
}

// TestFileSyncModeFollowsTheFileSystem: a Writer looks once at its
// directory's file system, as dirsync tells it. A round that finds a
// directory moved to another file system (the Writer's own, or another's
// sharing the round) refuses: the commits that joined it still land,
// synced file by file, and the Writer looks again, going on with syncfs
// rounds if its own directory is still where it was, file by file if not.
// A file found on another file system than the round synced is synced on
// its own, and the Writer looks again too.
func TestFileSyncModeFollowsTheFileSystem(t *testing.T) {
	f, dir := newFileTransport(t, false)
	want, err := dirsync.FileSystemOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := f.fileSystemSyncs(); got != want || ok != want.SyncFS || f.fs.Load() == nil {
		t.Errorf("fileSystemSyncs = %+v, %v (cached %v), want %+v, cached", got, ok, f.fs.Load(), want)
	}

	for _, tt := range []struct {
		name string
		// refuse: the first round refuses (a directory moved); moved:
		// this Writer's (not another's in the round), as the looks after
		// the first say.
		refuse, moved bool
		// elsewhere: the files are not on the file system looked at
		// (opened after a mount over the directory, before a look).
		elsewhere bool
		// want: rounds (each delivery has 3 sync points), looks at the
		// directory, and the file system's last word.
		rounds, looks int32
		syncFS        bool
	}{
		{"this directory moved", true, true, false, 1, 2, false},
		{"another directory moved", true, false, false, 6, 2, true},
		{"the files are elsewhere", false, false, true, 6, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.elsewhere && runtime.GOOS != "linux" {
				t.Skip("only syncfs(2) rounds check the file's device")
			}
			f, dir := newFileTransport(t, false)
			seen, err := dirsync.FileSystemOf(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tt.elsewhere {
				seen.Dev++
			}
			var rounds, looks, dirs atomic.Int32
			f.fileSystem = func(string) (dirsync.FS, error) {
				n := looks.Add(1)
				return dirsync.FS{Dev: seen.Dev, SyncFS: n == 1 || !tt.moved}, nil
			}
			f.syncs.whole.SyncFunc = func(dir string) error {
				if rounds.Add(1) == 1 && tt.refuse {
					return fmt.Errorf("syncing the file system of %s: %w", dir, dirsync.ErrNotSyncFS)
				}
				return nil
			}
			f.syncs.dirs.SyncFunc = func(dir string) error { dirs.Add(1); return dirsync.Sync(dir) }
			for i, name := range []string{"a.txt", "b.txt"} {
				w, err := f.Begin(context.Background(), fileDelivery(int64(i), name))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write([]byte(name)); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if err := w.Commit(context.Background()); err != nil {
					t.Fatalf("Commit %s: %v", name, err)
				}
				assertContent(t, filepath.Join(dir, name), []byte(name))
			}
			fs := f.fs.Load()
			if rounds.Load() != tt.rounds || looks.Load() != tt.looks || fs == nil || fs.SyncFS != tt.syncFS || (dirs.Load() > 0) == tt.syncFS {
				t.Errorf("%d syncfs rounds, %d looks, %d directory syncs, last seen %+v; want %d rounds, %d looks, syncfs %v",
					rounds.Load(), looks.Load(), dirs.Load(), fs, tt.rounds, tt.looks, tt.syncFS)
			}
		})
	}
}

// TestFileWritersShareSyncs: Writers given one Syncs share their rounds
// (the file transport's senders of one run get one, through
// SendEnv.Shared); Writers without get rounds of their own.
func TestFileWritersShareSyncs(t *testing.T) {
	base := t.TempDir()
	shared := map[string]any{}
	env := &component.SendEnv{Port: "p", Shared: func(key string, make func() any) any {
		if _, ok := shared[key]; !ok {
			shared[key] = make()
		}
		return shared[key]
	}}
	var writers []*Writer
	for _, name := range []string{"a", "b"} {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := &SendConfig{}
		cfg.Path.V, cfg.CopyMode.V = dir, "create_new"
		s, err := cfg.NewSender(env)
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, s.(*sender).f)
	}
	a, b := writers[0], writers[1]
	if &a.syncs.whole != &b.syncs.whole || &a.syncs.dirs != &b.syncs.dirs {
		t.Error("two file senders of one run do not share their rounds of syncs")
	}
	// One file system: one key for their rounds (dirsync.FSGroup shares
	// rounds by it).
	fa, _ := a.fileSystemSyncs()
	fb, _ := b.fileSystemSyncs()
	if fa != fb {
		t.Errorf("directories a and b of one file system seen as %+v and %+v", fa, fb)
	}
	own, err := NewWriter(WriterOptions{Dir: a.dir})
	if err != nil {
		t.Fatal(err)
	}
	if &own.syncs.whole == &a.syncs.whole || &own.syncs.dirs == &a.syncs.dirs {
		t.Error("a Writer without Syncs shares rounds with others")
	}
}

// TestFileFlushThenCommit: Flush ends the writing (the runner commits a
// batch later): a later Write fails, and Commit delivers what was written
// before it; a Flush then Abort leaves nothing behind.
func TestFileFlushThenCommit(t *testing.T) {
	f, dir := newFileTransport(t, false)
	d := fileDelivery(1, "a.txt")
	w, err := f.Begin(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Error("Write after Flush succeeded")
	}
	if err := w.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	assertContent(t, filepath.Join(dir, "a.txt"), []byte("hello"))

	// A named partial file, which an Abort that did nothing would leave
	// (an unnamed one vanishes by itself).
	f.unnamed = false
	w, err = f.Begin(context.Background(), fileDelivery(2, "b.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("dropped")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := f.Cleanup(d); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"a.txt"}) {
		t.Errorf("left in the directory: %q, want only a.txt", names)
	}
}

// TestFileNamespaces: two boxes (namespaces) delivering into one directory
// with the same delivery id never see each other's reserved files: a Redo
// in one does not complete with the other's staged copy, Staged lists only
// its own, and Cleanup removes only its own.
func TestFileNamespaces(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	open := func(ns string) *Writer {
		f, err := NewWriter(WriterOptions{Dir: dir, Namespace: ns})
		if err != nil {
			t.Fatalf("NewWriter(%q): %v", ns, err)
		}
		return f
	}
	a, b := open("0a1b2c3d4e5f6071"), open("ffee0011ddcc2233")
	ctx := context.Background()
	if err := a.Send(ctx, fileDelivery(5, "from-a.eml"), transport.Payload{Data: []byte("a's payload")}); err != nil {
		t.Fatal(err)
	}
	done, err := b.Redo(ctx, fileDelivery(5, "from-b.eml"))
	if err != nil || done {
		t.Fatalf("b.Redo of its delivery 5 = %v, %v; want not done: the staged copy is a's", done, err)
	}
	if ids, err := b.Staged(); err != nil || len(ids) != 0 {
		t.Errorf("b.Staged = %v, %v; want none", ids, err)
	}
	if ids, err := a.Staged(); err != nil || !slices.Equal(ids, []int64{5}) {
		t.Errorf("a.Staged = %v, %v; want [5]", ids, err)
	}
	if err := b.Send(ctx, fileDelivery(5, "from-b.eml"), transport.Payload{Data: []byte("b's payload")}); err != nil {
		t.Fatal(err)
	}
	assertContent(t, filepath.Join(dir, "from-a.eml"), []byte("a's payload"))
	assertContent(t, filepath.Join(dir, "from-b.eml"), []byte("b's payload"))
	if err := b.Cleanup(fileDelivery(5, "from-b.eml")); err != nil {
		t.Fatal(err)
	}
	want := []string{".bizpipe-0a1b2c3d4e5f6071-5.staged", "from-a.eml", "from-b.eml"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("after b's cleanup: %q, want %q (a's staged copy kept)", got, want)
	}
	// A transport without a namespace takes neither for its own.
	plain := open("")
	if ids, err := plain.Staged(); err != nil || len(ids) != 0 {
		t.Errorf("Staged without a namespace = %v, %v; want none", ids, err)
	}
	for _, bad := range []string{"UPPER", "with-dash", "dot.ted", strings.Repeat("a", 33)} {
		if _, err := NewWriter(WriterOptions{Dir: dir, Namespace: bad}); err == nil {
			t.Errorf("NewWriter with namespace %q: no error", bad)
		}
	}
}

// TestFileRacingAttempts: two attempts of one delivery at once (the one
// whose lease was lost, still running after a pause, and the one that took
// it over; finding 5 of issue 9) with different renderings, as S/MIME
// output always differs. Whichever stages first is the delivery: the other
// recognises that staged copy, in place or not, as its delivery's own, and
// neither fails with a conflict against itself, replaces the delivered file
// with a second rendering, or stages the other's half-written file.
func TestFileRacingAttempts(t *testing.T) {
	first, second := []byte("first rendering"), []byte("second rendering, longer")
	tests := []struct {
		name string
		// late is the attempt held up at step while early runs whole.
		step string
		want []byte // the content delivered: the early attempt's
	}{
		// The late attempt found nothing staged, then the early one
		// staged and placed its copy before the late one staged.
		{"staged after the other placed", "checked", second},
		// The late attempt had written its partial file when the early
		// one, finding none staged, wrote, staged and placed its own.
		{"partial written before the other placed", "written", second},
	}
	for _, tt := range tests {
		// first: the late attempt is the delivery's first, which does
		// not look for a staged copy at Begin (the early one took its
		// lease over, so it is not).
		// unnamed: the late attempt stages an unnamed file, or a named
		// partial file, each by a link that never replaces the early
		// one's staged copy.
		for _, c := range []struct{ overwrite, first, unnamed bool }{
			{false, false, false}, {true, false, false}, {false, true, false}, {true, true, false},
			{false, false, true}, {true, false, true}, {false, true, true}, {true, true, true},
		} {
			if c.unnamed && !slices.Contains(unnamedModes(t), true) {
				continue
			}
			t.Run(fmt.Sprintf("%s/overwrite=%v/first=%v/unnamed=%v", tt.name, c.overwrite, c.first, c.unnamed), func(t *testing.T) {
				late, dir := newFileTransport(t, c.overwrite)
				late.unnamed = c.unnamed
				early, err := NewWriter(WriterOptions{Dir: dir, Overwrite: c.overwrite})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				d := fileDelivery(9, "order.eml")
				lateD := d
				lateD.First = c.first
				var earlyErr error
				ran := false
				late.hook = func(step string) {
					if step == tt.step && !ran {
						ran = true
						earlyErr = early.Send(ctx, d, transport.Payload{Data: second})
					}
				}
				lateErr := late.Send(ctx, lateD, transport.Payload{Data: first})
				if !ran {
					t.Fatalf("the late attempt never reached step %q", tt.step)
				}
				if earlyErr != nil || lateErr != nil {
					t.Fatalf("early Send: %v; late Send: %v; want both delivered", earlyErr, lateErr)
				}
				final := filepath.Join(dir, "order.eml")
				assertContent(t, final, tt.want)
				staged := filepath.Join(dir, ".bizpipe-9.staged")
				assertSameFile(t, final, staged, true)
				if got, want := listDir(t, dir), []string{".bizpipe-9.staged", "order.eml"}; !slices.Equal(got, want) {
					t.Fatalf("dir holds %q, want %q", got, want)
				}
				// A retry or `messages resume` of the delivery completes
				// with the copy in place, whatever it renders now.
				if done, err := late.Redo(ctx, d); err != nil || !done {
					t.Fatalf("Redo = %v, %v; want done", done, err)
				}
				if err := late.Send(ctx, d, transport.Payload{Data: []byte("a third rendering")}); err != nil {
					t.Fatalf("Send again: %v", err)
				}
				assertContent(t, final, tt.want)
			})
		}
	}
}

// TestFileFirstAttemptDoesNotLook: a delivery's first attempt
// (transport.Delivery.First) does not look for a staged copy at Begin, so
// it writes a file of its own (Flush offers to share); a staged copy left
// there all the same (before `messages resume`) is still the delivery:
// staging finds it, drops the attempt's rendering, and places it with
// directory syncs, its name tied to no file of the attempt. A staged name
// that is not a regular file fails the attempt, as at Begin.
func TestFileFirstAttemptDoesNotLook(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("overwrite=%v", overwrite), func(t *testing.T) {
			f, dir := newFileTransport(t, overwrite)
			playSyncFS(t, f, true)
			var dirs atomic.Int32
			f.syncs.dirs.SyncFunc = func(dir string) error { dirs.Add(1); return dirsync.Sync(dir) }
			staged := []byte("staged before a resume")
			writeBytes(t, f.reserved(7, suffixStaged), staged)
			d := fileDelivery(7, "a.bin")
			d.First = true
			w, err := f.Begin(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("this attempt's bytes, dropped")); err != nil {
				t.Fatal(err)
			}
			if share, err := w.Flush(); err != nil || !share {
				t.Fatalf("Flush of a first attempt = %v, %v; want share: a file of its own", share, err)
			}
			if err := w.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			assertContent(t, filepath.Join(dir, "a.bin"), staged)
			assertSameFile(t, filepath.Join(dir, "a.bin"), f.reserved(7, suffixStaged), true)
			if got, want := listDir(t, dir), []string{".bizpipe-7.staged", "a.bin"}; !slices.Equal(got, want) {
				t.Errorf("dir holds %q, want %q", got, want)
			}
			if dirs.Load() < 2 {
				t.Errorf("%d directory syncs; want the staging and the placing each to sync the directory", dirs.Load())
			}

			// Not a regular file under the staged name.
			if err := os.Mkdir(f.reserved(8, suffixStaged), 0o755); err != nil {
				t.Fatal(err)
			}
			d = fileDelivery(8, "b.bin")
			d.First = true
			err = f.Send(context.Background(), d, transport.Payload{Data: []byte("b")})
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("Send with a directory as staged copy = %v; want refused", err)
			}
			if _, err := os.Lstat(filepath.Join(dir, "b.bin")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("b.bin placed (%v)", err)
			}
		})
	}
}

// TestFileCommitBatch: a batch's attempts, those of two Writers sharing
// their syncs, commit in one CommitBatch call, each step for all of them
// and then one syncfs round: three rounds for the batch, whatever its
// size. An attempt that fails (a create_new conflict) fails alone; one
// that found its staged copy at Begin places that copy and syncs its
// directory itself; an attempt of another transport is refused; the rest
// land.
func TestFileCommitBatch(t *testing.T) {
	base := t.TempDir()
	syncs := &Syncs{}
	var writers []*Writer
	for _, name := range []string{"a", "b"} {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := NewWriter(WriterOptions{Dir: dir, Syncs: syncs})
		if err != nil {
			t.Fatal(err)
		}
		playSyncFS(t, f, true)
		writers = append(writers, f)
	}
	a, b := writers[0], writers[1]
	var rounds, dirs atomic.Int32
	syncs.whole.SyncFunc = func(dir string) error { rounds.Add(1); return dirsync.SyncFS(dir) }
	syncs.dirs.SyncFunc = func(dir string) error { dirs.Add(1); return dirsync.Sync(dir) }

	if err := os.WriteFile(filepath.Join(a.dir, "taken.txt"), []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	staged := []byte("staged by an earlier attempt")
	if err := os.WriteFile(a.reserved(9, suffixStaged), staged, 0o644); err != nil {
		t.Fatal(err)
	}
	type send struct {
		f    *Writer
		id   int64
		name string
		fail bool
	}
	sends := []send{{a, 1, "a1.txt", false}, {b, 2, "b2.txt", false}, {a, 3, "a3.txt", false}, {a, 8, "taken.txt", true},
		{b, 5, "b5.txt", false}, {a, 9, "a9.txt", false}}
	var atts []component.Attempt
	for _, s := range sends {
		d := fileDelivery(s.id, s.name)
		d.First = s.id != 9
		w, err := s.f.Begin(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(s.name)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		atts = append(atts, sharedSync{transport.Attempt(w), w})
	}
	atts = append(atts, transport.Attempt(&bytesWriting{}))
	c := atts[0].(component.BatchCommit).Batch()
	if other := atts[1].(component.BatchCommit).Batch(); other != c {
		t.Fatal("attempts of Writers sharing their syncs have different committers")
	}
	res, errs := c.CommitBatch(context.Background(), atts)
	if len(res) != len(atts) || len(errs) != len(atts) {
		t.Fatalf("CommitBatch answered %d results and %d errors for %d attempts", len(res), len(errs), len(atts))
	}
	for i, s := range sends {
		if s.fail {
			if !errors.Is(errs[i], ErrFileExists) {
				t.Errorf("%s: %v, want ErrFileExists", s.name, errs[i])
			}
			assertContent(t, filepath.Join(s.f.dir, s.name), []byte("someone else's"))
			continue
		}
		if errs[i] != nil {
			t.Errorf("%s: %v", s.name, errs[i])
			continue
		}
		want := []byte(s.name)
		if s.id == 9 {
			want = staged
		}
		assertContent(t, filepath.Join(s.f.dir, s.name), want)
	}
	if errs[len(atts)-1] == nil {
		t.Error("an attempt of another transport was committed")
	}
	if rounds.Load() != 3 || dirs.Load() != 1 {
		t.Errorf("%d syncfs rounds and %d directory syncs; want 3 rounds (one a step) and 1 directory sync (the staged copy's)",
			rounds.Load(), dirs.Load())
	}

	// One attempt given twice commits once; the second is refused.
	w, err := a.Begin(context.Background(), fileDelivery(20, "twice.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("once")); err != nil {
		t.Fatal(err)
	}
	twice := sharedSync{transport.Attempt(w), w}
	if _, errs := c.CommitBatch(context.Background(), []component.Attempt{twice, twice}); errs[0] != nil || errs[1] == nil {
		t.Errorf("one attempt committed twice in a batch: %v; want the first committed, the second refused", errs)
	}
	assertContent(t, filepath.Join(a.dir, "twice.txt"), []byte("once"))
}

// bytesWriting is a transport.Writing of no transport: what a batch of
// the file transport must refuse.
type bytesWriting struct{ bytes.Buffer }

func (*bytesWriting) Commit(context.Context) error { return nil }
func (*bytesWriting) Abort()                       {}

// TestFileFence: a file is placed only when the delivery's fence passes,
// asked after the staged copy is durable and before placing: one that
// fails places nothing and fails the attempt with its error, leaving the
// staged copy, which Redo places once a fence passes (whoever holds the
// delivery then places that copy), and not before.
func TestFileFence(t *testing.T) {
	f, dir := newFileTransport(t, false)
	lapsed := errors.New("lease lapsed")
	fence := lapsed
	asked := 0
	d := fileDelivery(9, "order.eml")
	d.Fence = func(context.Context) error { asked++; return fence }
	if err := f.Send(context.Background(), d, transport.Payload{Data: entity}); !errors.Is(err, lapsed) || asked != 1 {
		t.Fatalf("Send = %v after asking the fence %d times, want its error after asking once", err, asked)
	}
	if got, want := listDir(t, dir), []string{".bizpipe-9.staged"}; !slices.Equal(got, want) {
		t.Fatalf("after a failed fence dir holds %q, want %q", got, want)
	}
	if done, err := f.Redo(context.Background(), d); done || !errors.Is(err, lapsed) {
		t.Fatalf("Redo with the fence failing = %v, %v; want not done, its error", done, err)
	}
	fence = nil
	if done, err := f.Redo(context.Background(), d); !done || err != nil {
		t.Fatalf("Redo = %v, %v; want done", done, err)
	}
	assertContent(t, filepath.Join(dir, "order.eml"), entity)
}
