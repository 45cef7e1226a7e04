package sqlitebox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// bodyFiles lists the names in b's body directory, sorted; none when it
// does not exist.
func bodyFiles(t testing.TB, b *Box) []string {
	t.Helper()
	entries, err := os.ReadDir(b.bodiesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// fileOf returns the path of message id's body file, "" when its body is
// in chunk rows.
func fileOf(t testing.TB, b *Box, id string) string {
	t.Helper()
	var name *string
	if err := b.db.QueryRow("SELECT b.file FROM messages m JOIN bodies b ON b.id = m.body_id WHERE m.id = ?", id).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name == nil {
		return ""
	}
	return b.bodyFile(*name)
}

// toChunks moves message id's body from its file into chunk rows, as a box
// written before body files stored a large body.
func toChunks(t testing.TB, b *Box, id string) {
	t.Helper()
	path := fileOf(t, b, id)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bodyID int64
	if err := b.db.QueryRow("SELECT body_id FROM messages WHERE id = ?", id).Scan(&bodyID); err != nil {
		t.Fatal(err)
	}
	for seq := 0; len(data) > 0; seq++ {
		n := min(len(data), ChunkSize)
		if _, err := b.db.Exec("INSERT INTO body_chunks (body_id, seq, data) VALUES (?, ?, ?)", bodyID, seq, data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if _, err := b.db.Exec("UPDATE bodies SET file = NULL WHERE id = ?", bodyID); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// plainReader hides every method but Read: a network stream.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// TestLargeBodyInFile: a body larger than one chunk is stored in a file of
// the body directory (private), not in chunk rows, and comes back exactly,
// whatever kind of reader brought it; one of a chunk or less stays in a
// row.
func TestLargeBodyInFile(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	src := filepath.Join(t.TempDir(), "input")
	for _, tc := range []struct {
		name   string
		size   int64
		inFile bool
		open   func(t *testing.T, data []byte) io.Reader
	}{
		{"one chunk, stream", ChunkSize, false, func(_ *testing.T, d []byte) io.Reader { return plainReader{bytes.NewReader(d)} }},
		{"one chunk and a byte, stream", ChunkSize + 1, true, func(_ *testing.T, d []byte) io.Reader { return plainReader{bytes.NewReader(d)} }},
		{"5 MiB, stream", 5<<20 + 3, true, func(_ *testing.T, d []byte) io.Reader { return plainReader{bytes.NewReader(d)} }},
		{"5 MiB, bytes.Reader", 5<<20 + 3, true, func(_ *testing.T, d []byte) io.Reader { return bytes.NewReader(d) }},
		{"5 MiB, *os.File", 5<<20 + 3, true, func(t *testing.T, d []byte) io.Reader {
			if err := os.WriteFile(src, d, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}},
		{"5 MiB, multi-reader of a file", 5<<20 + 3, true, func(t *testing.T, d []byte) io.Reader {
			if err := os.WriteFile(src, d[10:], 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return io.MultiReader(bytes.NewReader(d[:10]), f)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := mustRead(t, pattern(30, tc.size))
			m, _, err := b.ReceiveRouted(ctx, in(tc.name), tc.open(t, data), nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Size != tc.size {
				t.Errorf("Size = %d, want %d", m.Size, tc.size)
			}
			if got := readAll(t, b, m.ID); !bytes.Equal(got, data) {
				t.Errorf("body differs (%d bytes back, want %d)", len(got), len(data))
			}
			path := fileOf(t, b, m.ID)
			var chunks int
			if err := b.db.QueryRow("SELECT count(*) FROM body_chunks c JOIN messages m ON m.body_id = c.body_id WHERE m.id = ?", m.ID).Scan(&chunks); err != nil {
				t.Fatal(err)
			}
			if !tc.inFile {
				if path != "" || chunks != 1 {
					t.Errorf("file %q, %d chunks; want the body in one chunk row", path, chunks)
				}
				return
			}
			if path == "" || chunks != 0 {
				t.Fatalf("file %q, %d chunks; want the body in a file alone", path, chunks)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != tc.size || fi.Mode().Perm() != 0o600 {
				t.Errorf("body file: %d bytes, mode %v; want %d bytes, 0600", fi.Size(), fi.Mode().Perm(), tc.size)
			}
			if di, err := os.Stat(b.bodiesDir()); err != nil || di.Mode().Perm() != 0o700 {
				t.Errorf("body directory: %v, %v; want mode 0700", di.Mode(), err)
			}
		})
	}
	for _, name := range bodyFiles(t, b) {
		if isTempName(name) {
			t.Errorf("temporary file %s left behind", name)
		}
	}
}

// TestBodyFileSweep: what a crash leaves (a temporary file, a final file
// whose row never committed) is removed by Open once stale, and only that:
// the files of stored messages and files of other names stay.
func TestBodyFileSweep(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "box.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, pattern(31, 3<<20))
	kept, _, err := b.ReceiveRouted(ctx, in("kept"), bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	keptFile := fileOf(t, b, kept.ID)
	b.Close()

	dir := path + bodiesSuffix
	crashed := map[string]bool{ // name: swept once stale
		"body-123456.tmp":                  true, // killed while writing
		"0123456789abcdef0123456789abcdef": true, // killed between rename and commit
		"notes.txt":                        false,
		filepath.Base(keptFile):            false,
	}
	for name := range crashed {
		if name == filepath.Base(keptFile) {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reopen := func(age time.Duration) *Box {
		t.Helper()
		old := time.Now().Add(-age)
		for name := range crashed {
			if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
				t.Fatal(err)
			}
		}
		b, err := Open(path, Options{StaleUploadAfter: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}

	// Recent: they may be another process's Receive in progress.
	b = reopen(time.Minute)
	if got := bodyFiles(t, b); len(got) != len(crashed) {
		t.Errorf("after reopening with recent leftovers: %v, want all %d kept", got, len(crashed))
	}
	b.Close()

	b = reopen(2 * time.Hour)
	var want []string
	for name, swept := range crashed {
		if !swept {
			want = append(want, name)
		}
	}
	sort.Strings(want)
	if got := bodyFiles(t, b); !slicesEqual(got, want) {
		t.Errorf("after reopening with stale leftovers: %v, want %v", got, want)
	}
	if got := readAll(t, b, kept.ID); !bytes.Equal(got, data) {
		t.Errorf("the sweep damaged a stored body")
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestBodyFileDamaged: a body file changed, cut short, lengthened or lost
// is never delivered as the body: the reader fails at the end (a changed
// file can only be told at the end), or Body fails at once for a missing
// file, naming the message and the file. A body that reads back otherwise
// than stored is msgbox.ErrCorrupt (the runner suspends its deliveries at
// once); one whose file cannot be opened or read is not (see ErrCorrupt).
func TestBodyFileDamaged(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	for _, tc := range []struct {
		name     string
		damage   func(t *testing.T, path string)
		atOpen   bool   // Body itself fails
		want     string // in the error
		fullRead bool   // every byte is read before the error
		corrupt  bool   // the error is msgbox.ErrCorrupt
	}{
		{"flipped byte", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{0xff, 0x00, 0xff}, ChunkSize+7); err != nil {
				t.Fatal(err)
			}
		}, false, "checksum mismatch", true, true},
		{"truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, ChunkSize+100); err != nil {
				t.Fatal(err)
			}
		}, false, "ends after", false, true},
		{"lengthened", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("more")); err != nil {
				t.Fatal(err)
			}
		}, false, "longer than", false, true},
		{"missing", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, true, "opening the body file", false, false},
		{"not a regular file (a directory)", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, true, "not a regular file", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 2*ChunkSize + 5
			m, _, err := b.ReceiveRouted(ctx, in(tc.name), pattern(32, size), nil)
			if err != nil {
				t.Fatal(err)
			}
			path := fileOf(t, b, m.ID)
			tc.damage(t, path)
			rc, err := b.Body(ctx, m.ID)
			if err == nil {
				var n int64
				n, err = io.Copy(io.Discard, rc)
				rc.Close()
				if tc.atOpen {
					t.Errorf("Body succeeded (%d bytes read)", n)
				}
				if tc.fullRead && n != size {
					t.Errorf("%d bytes read before the error, want all %d: the mismatch shows at the end", n, size)
				}
			} else if !tc.atOpen {
				t.Errorf("Body: %v, want the error from the reader", err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("reading the damaged body: %v, want an error mentioning %q", err, tc.want)
			}
			if errors.Is(err, msgbox.ErrNotFound) {
				t.Errorf("reading the damaged body: %v; want it corrupt, not purged", err)
			}
			if errors.Is(err, msgbox.ErrCorrupt) != tc.corrupt {
				t.Errorf("reading the damaged body: %v; ErrCorrupt %v, want %v", err, !tc.corrupt, tc.corrupt)
			}
			if !strings.Contains(err.Error(), m.ID) {
				t.Errorf("error %q does not name the message", err)
			}
			if (tc.atOpen || strings.HasPrefix(tc.want, "reading")) && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
		})
	}
}

// TestBodyDirectoryLost: a body directory that vanished while messages
// have their bodies there is not silently recreated: their Body fails
// naming the file, and a large Receive fails rather than make a new one.
func TestBodyDirectoryLost(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	m, _, err := b.ReceiveRouted(ctx, in("big"), pattern(33, 2<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(b.bodiesDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Body(ctx, m.ID); err == nil || !strings.Contains(err.Error(), m.ID) || !strings.Contains(err.Error(), b.bodiesDir()) {
		t.Errorf("Body with the directory gone: %v, want an error naming the message and its file", err)
	}
	_, _, err = b.ReceiveRouted(ctx, in("next"), pattern(34, 2<<20), nil)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("large Receive with the directory gone: %v, want it refused", err)
	}
	if _, err := os.Stat(b.bodiesDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the body directory was recreated: %v", err)
	}
	if n := count(t, b, "messages"); n != 1 {
		t.Errorf("%d messages, want the first alone", n)
	}
}

// TestPurgeRemovesBodyFiles: Purge removes the files of the messages it
// deletes, and those alone.
func TestPurgeRemovesBodyFiles(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	var live string
	for i, terminate := range []bool{true, false, true} {
		m, _, err := b.ReceiveRouted(ctx, in(fmt.Sprint(i)), pattern(byte(35+i), 2<<20), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !terminate {
			live = fileOf(t, b, m.ID)
			continue
		}
		if err := b.Terminate(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.Purge(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	if got := bodyFiles(t, b); len(got) != 1 || filepath.Join(b.bodiesDir(), got[0]) != live {
		t.Errorf("body files after the purge: %v, want the live message's %s alone", got, live)
	}
}

// TestOperatorOpenCreatesNoBodyDirectory: `bizpipe messages` opens the box
// NoCreate or ReadOnly; neither creates the body directory.
func TestOperatorOpenCreatesNoBodyDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.ReceiveRouted(t.Context(), in("small"), strings.NewReader("small"), nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	for _, opts := range []Options{{ReadOnly: true}, {NoCreate: true}, {NoCreate: true, StaleUploadAfter: time.Nanosecond}} {
		b, err := Open(path, opts)
		if err != nil {
			t.Fatalf("Open(%+v): %v", opts, err)
		}
		if _, err := b.Purge(t.Context(), time.Now()); err != nil && !opts.ReadOnly {
			t.Errorf("Purge: %v", err)
		}
		b.Close()
		if _, err := os.Stat(path + bodiesSuffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%+v) created the body directory: %v", opts, err)
		}
	}
}

// TestBodyFileSweptUnderReceive: a Receive paused longer than another
// opener's StaleUploadAfter has its temporary file removed; it must then
// fail, not commit a partial body.
func TestBodyFileSweptUnderReceive(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows cannot remove a file a Receive holds open: the sweep leaves it (TestSweepSkipsFileInUse)")
	}
	ctx := t.Context()
	b := openTemp(t, Options{})
	sweepNow := readerFunc(func(p []byte) (int, error) {
		if err := b.sweep(ctx, time.Now().Add(time.Hour), false); err != nil {
			return 0, err
		}
		return 0, io.EOF
	})
	_, _, err := b.ReceiveRouted(ctx, in("paused"), io.MultiReader(pattern(6, 2*ChunkSize+10), sweepNow, pattern(7, 10)), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Receive whose file was swept: %v, want not-exist", err)
	}
	if n := count(t, b, "messages") + count(t, b, "bodies") + count(t, b, "body_chunks"); n != 0 {
		t.Errorf("%d rows left", n)
	}
	if got := bodyFiles(t, b); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
}

// TestCopyBodyKernelPath: a file input (as the file receiver hands it, or
// a plain *os.File) goes to the body file's own ReadFrom, where Linux
// copies it with copy_file_range, not through this process's buffer; a
// stream goes through the buffer; either way, and mixed, the checksum is
// that of the bytes in order.
func TestCopyBodyKernelPath(t *testing.T) {
	dir := t.TempDir()
	data := mustRead(t, pattern(50, 3<<20+17))
	src := filepath.Join(dir, "input")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	openSrc := func(t *testing.T) *os.File {
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	half := int64(len(data) / 2)
	for _, tc := range []struct {
		name   string
		body   func(t *testing.T) io.Reader
		byFile int64
	}{
		{"*os.File", func(t *testing.T) io.Reader { return openSrc(t) }, int64(len(data))},
		{"a reader with WriteTo copying 1 MiB at a time (the file receiver's input)", func(t *testing.T) io.Reader {
			return chunkedWriterTo{openSrc(t)}
		}, int64(len(data))},
		{"stream", func(*testing.T) io.Reader { return plainReader{bytes.NewReader(data)} }, 0},
		{"file, then stream", func(t *testing.T) io.Reader {
			return io.MultiReader(io.LimitReader(openSrc(t), half), plainReader{bytes.NewReader(data[half:])})
		}, half},
		{"bytes, then file", func(t *testing.T) io.Reader {
			f := openSrc(t)
			if _, err := f.Seek(half, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			return io.MultiReader(bytes.NewReader(data[:half]), f)
		}, int64(len(data)) - half},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := os.Create(filepath.Join(t.TempDir(), "body"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			sum := sha256.New()
			n, byFile, err := copyBody(out, tc.body(t), sum, 0, make([]byte, ChunkSize))
			if err != nil || n != int64(len(data)) {
				t.Fatalf("copyBody = %d, %v; want %d bytes", n, err, len(data))
			}
			if byFile != tc.byFile {
				t.Errorf("%d bytes through the file's ReadFrom, want %d", byFile, tc.byFile)
			}
			if want := sha256.Sum256(data); !bytes.Equal(sum.Sum(nil), want[:]) {
				t.Errorf("checksum differs from the body's")
			}
			if got, err := os.ReadFile(out.Name()); err != nil || !bytes.Equal(got, data) {
				t.Errorf("the file differs from the body (%v)", err)
			}
		})
	}
}

// chunkedWriterTo copies its file by io.CopyN of 1 MiB, as the file
// receiver's input does (receive.inputReader).
type chunkedWriterTo struct{ f *os.File }

func (c chunkedWriterTo) Read(p []byte) (int, error) { return c.f.Read(p) }

func (c chunkedWriterTo) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		n, err := io.CopyN(w, c.f, 1<<20)
		total += n
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// fileBody is a msgbox.FileBody over the file at path, as the file
// receiver gives one: link says whether it lets the box keep the file;
// size is the size it reports as listed.
type fileBody struct {
	*os.File
	size int64
	link bool
}

func (f *fileBody) Size() int64 { return f.size }
func (f *fileBody) LinkTo(path string) bool {
	return f.link && os.Link(f.Name(), path) == nil
}

// TestBodyFileLinked: a large file input that may be kept becomes the body
// file itself (the same inode, made private), reads back whole and is
// batched like any other; one that may not is copied; one whose size
// differs from its listing (still being written) is refused, leaving no
// file behind.
func TestBodyFileLinked(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	dir := t.TempDir()
	source := func(t *testing.T, name string, data []byte, link bool, size int64) (*fileBody, fs.FileInfo) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return &fileBody{File: f, size: size, link: link}, fi
	}
	data := mustRead(t, pattern(40, 3<<20+5))
	for _, tc := range []struct {
		name   string
		link   bool
		batch  bool
		linked bool
	}{
		{"kept", true, false, true},
		{"kept, batched", true, true, true},
		{"copied", false, false, false},
		{"copied, batched", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, srcInfo := source(t, strings.ReplaceAll(tc.name, " ", "_"), data, tc.link, int64(len(data)))
			var m msgbox.Message
			if tc.batch {
				res := b.ReceiveBatch(ctx, []msgbox.Receipt{{In: in(tc.name), Body: body}}, nil)
				if res[0].Err != nil {
					t.Fatal(res[0].Err)
				}
				m = res[0].Message
			} else {
				var err error
				if m, _, err = b.ReceiveRouted(ctx, in(tc.name), body, nil); err != nil {
					t.Fatal(err)
				}
			}
			if got := readAll(t, b, m.ID); !bytes.Equal(got, data) {
				t.Fatalf("body differs (%d bytes back, want %d)", len(got), len(data))
			}
			fi, err := os.Stat(fileOf(t, b, m.ID))
			if err != nil {
				t.Fatal(err)
			}
			if os.SameFile(fi, srcInfo) != tc.linked {
				t.Errorf("body file is the input's own: %v, want %v", os.SameFile(fi, srcInfo), tc.linked)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("body file mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
	before := bodyFiles(t, b)
	body, _ := source(t, "growing", data, true, int64(len(data))-1)
	if _, _, err := b.ReceiveRouted(ctx, in("growing"), body, nil); err == nil || !strings.Contains(err.Error(), "changed while it was stored") {
		t.Errorf("a file larger than listed: %v, want it refused as changed", err)
	}
	if after := bodyFiles(t, b); !slices.Equal(after, before) {
		t.Errorf("body files %v after the refusal, want %v", after, before)
	}
}

// TestSHA256BodiesStillVerify: bodies recorded with a SHA-256 checksum (by
// a box before schema 4) read back, and are still checked with it.
func TestSHA256BodiesStillVerify(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	for _, size := range []int64{100, 3 << 20} {
		data := mustRead(t, pattern(41, size))
		m, _, err := b.ReceiveRouted(ctx, in(fmt.Sprint(size)), bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if _, err := b.db.Exec("UPDATE messages SET checksum = ? WHERE id = ?", sum[:], m.ID); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, b, m.ID); !bytes.Equal(got, data) {
			t.Errorf("%d bytes: body differs with a SHA-256 checksum", size)
		}
		sum[0] ^= 1
		if _, err := b.db.Exec("UPDATE messages SET checksum = ? WHERE id = ?", sum[:], m.ID); err != nil {
			t.Fatal(err)
		}
		rc, err := b.Body(ctx, m.ID)
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
			t.Errorf("%d bytes: a wrong SHA-256 checksum read as %v, want a mismatch", size, err)
		}
	}
}

// TestBodyFileLinkedStoreFails: when the store fails after the input's file
// was linked (here the routing is invalid), the box drops its link and
// leaves the input as it was - same content, same mode - for the receiver
// to give back.
func TestBodyFileLinkedStoreFails(t *testing.T) {
	ctx := t.Context()
	b := openTemp(t, Options{})
	data := mustRead(t, pattern(42, 3<<20))
	path := filepath.Join(t.TempDir(), "in.xml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := bodyFiles(t, b)
	badRoute := func(msgbox.Message) ([]string, string) { return []string{""}, "" }
	if _, _, err := b.ReceiveRouted(ctx, in("bad route"), &fileBody{File: f, size: int64(len(data)), link: true}, badRoute); err == nil {
		t.Fatal("stored with an invalid routing")
	}
	if after := bodyFiles(t, b); !slices.Equal(after, before) {
		t.Errorf("body files %v after the failed store, want %v", after, before)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("input after the failed store: %v, %v; want it there with mode 0644", fi, err)
	}
	if n, ok := linkCount(fi); ok && n != 1 {
		t.Errorf("input has %d links after the failed store, want 1", n)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Errorf("input content changed (%v)", err)
	}
}

// TestTempSweepWhileOpen: the run engine's box (Options.Lock), open for
// days, removes the temporary body file of an upload killed mid-body once
// it is StaleUploadAfter old, not only at the next Open; a recent one (a
// live upload) and the final files are left alone.
func TestTempSweepWhileOpen(t *testing.T) {
	b := openTemp(t, Options{Lock: true, StaleUploadAfter: time.Hour, TempSweepEvery: 10 * time.Millisecond})
	m, _, err := b.ReceiveRouted(t.Context(), in("big"), bytes.NewReader(make([]byte, 3*ChunkSize)), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := b.bodiesDir()
	stale := filepath.Join(dir, tempPrefix+"killed"+tempSuffix)
	live := filepath.Join(dir, tempPrefix+"live"+tempSuffix)
	for _, p := range []string{stale, live} {
		if err := os.WriteFile(p, []byte("part"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(stale, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(stale); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stale temporary body file is still there 5 s later")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the recent temporary file: %v; want it kept", err)
	}
	if got := readAll(t, b, m.ID); len(got) != 3*ChunkSize {
		t.Errorf("the stored body is %d bytes, want %d", len(got), 3*ChunkSize)
	}
	if e := b.tempSweepErr.Load(); e != nil {
		t.Errorf("sweep: %v", *e)
	}
}

// TestTempSweepFailureLogged: the run engine's periodic sweep of stale
// temporary body files says when it fails (here its directory is not a
// directory), through Options.Log, instead of failing unheard while
// interrupted uploads pile up.
func TestTempSweepFailureLogged(t *testing.T) {
	records := make(chan slog.Record, 16)
	b := openTemp(t, Options{Lock: true, TempSweepEvery: 10 * time.Millisecond, Log: slog.New(recordHandler(records))})
	if err := os.WriteFile(b.bodiesDir(), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-records:
		if r.Level != slog.LevelWarn || !strings.Contains(r.Message, "temporary body files") {
			t.Errorf("logged %s %q; want a warning about the temporary body files", r.Level, r.Message)
		}
		var errText string
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				errText = a.Value.String()
			}
			return true
		})
		if !strings.Contains(errText, b.bodiesDir()) {
			t.Errorf("error %q; want it to name %s", errText, b.bodiesDir())
		}
	case <-time.After(time.Minute): // a safety net, not a timing
		t.Fatal("no warning a minute after the sweep's directory broke")
	}
}

// recordHandler is a slog.Handler that sends each record to c, dropping
// it when c is full.
type recordHandler chan<- slog.Record

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h <- r.Clone():
	default:
	}
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// TestBodyFileGoneBeforeCommit: a Receive whose body file is no longer
// there, as a regular file, when its message is to be stored (another
// process's sweep removed it: this one paused longer than the stale-upload
// limit) fails, and stores nothing: a row naming a file that is gone would
// be a message whose body can never be read. The file is taken away once
// the body was read whole and written, where the message's MDN is made
// (msgbox.Incoming.MDN), just before the write that stores the message.
func TestBodyFileGoneBeforeCommit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		take  func(t *testing.T, path string)
		wants string
	}{
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "the body file was removed before its message was stored"},
		{"replaced by a directory", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			b := openTemp(t, Options{})
			incoming := in("big.xml")
			taken := false
			incoming.MDN = func() (*msgbox.SentMDN, error) {
				files := bodyFiles(t, b)
				if len(files) != 1 {
					t.Errorf("body files %v when the MDN is made, want the message's own", files)
					return nil, nil
				}
				tc.take(t, filepath.Join(b.bodiesDir(), files[0]))
				taken = true
				return nil, nil
			}
			m, _, err := b.ReceiveRouted(ctx, incoming, pattern(34, 2<<20), nil)
			if !taken {
				t.Fatal("the MDN was not made")
			}
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("ReceiveRouted = %s, %v; want it failed: %q", m.ID, err, tc.wants)
			}
			msgs, err := msgbox.Collect(ctx, b, msgbox.Filter{})
			if err != nil || len(msgs) != 0 {
				t.Errorf("the box holds %d messages (%v), want none", len(msgs), err)
			}
		})
	}
}
