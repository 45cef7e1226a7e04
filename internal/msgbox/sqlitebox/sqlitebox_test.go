package sqlitebox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bizpipe/bizpipe/internal/filelock"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// pattern is a reproducible pseudo-random body of n bytes.
func pattern(seed byte, n int64) io.Reader {
	var s [32]byte
	s[0] = seed
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func readAll(t testing.TB, b *Box, id string) []byte {
	t.Helper()
	rc, err := b.Body(context.Background(), id)
	if err != nil {
		t.Fatalf("Body(%s): %v", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading body of %s: %v", id, err)
	}
	return data
}

func mustRead(t testing.TB, r io.Reader) []byte {
	t.Helper()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// count returns the number of rows of table, read through the box's own
// connection pool.
func count(t testing.TB, b *Box, table string) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

// sqliteCode returns the primary SQLite result code in err's chain, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

func in(name string) msgbox.Incoming {
	return msgbox.Incoming{ReceiveLocation: "orders_in", FileName: name, ContentType: "application/xml",
		Properties: map[string]string{"partner": "fabrikam"}}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "box.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	small, _, err := b.ReceiveRouted(ctx, in("small.xml"), strings.NewReader("<order/>"), nil)
	if err != nil {
		t.Fatal(err)
	}
	big, _, err := b.ReceiveRouted(ctx, in("big.bin"), pattern(1, 3<<20+11), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Route(ctx, small.ID, []string{"a", "b"}, ""); err != nil {
		t.Fatal(err)
	}
	d, err := msgboxtest.ClaimOne(ctx, b, "srv1", []string{"a"}, time.Minute)
	if err != nil || d == nil {
		t.Fatalf("Claim: %v, %v", d, err)
	}
	if err := b.Finish(ctx, d.ID, "srv1", msgbox.Outcome{State: msgbox.DeliveryRetrying,
		RetryAt: time.Now().Add(time.Hour), Error: "refused"}); err != nil {
		t.Fatal(err)
	}
	wantSmall, err := b.Get(ctx, small.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantList, err := msgbox.Collect(ctx, b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer b2.Close()
	gotSmall, err := b2.Get(ctx, small.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotSmall, wantSmall) {
		t.Errorf("after reopen:\n got  %+v\n want %+v", gotSmall, wantSmall)
	}
	gotList, err := msgbox.Collect(ctx, b2, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotList, wantList) {
		t.Errorf("List after reopen:\n got  %+v\n want %+v", gotList, wantList)
	}
	if got := string(readAll(t, b2, small.ID)); got != "<order/>" {
		t.Errorf("small body after reopen = %q", got)
	}
	if got, want := readAll(t, b2, big.ID), mustRead(t, pattern(1, 3<<20+11)); !reflect.DeepEqual(got, want) {
		t.Errorf("big body differs after reopen (%d bytes, want %d)", len(got), len(want))
	}
	// The box goes on where it stopped: b is still due, a is not.
	d2, err := msgboxtest.ClaimOne(ctx, b2, "srv1", []string{"a", "b"}, time.Minute)
	if err != nil || d2 == nil || d2.Port != "b" {
		t.Errorf("Claim after reopen = %+v, %v; want the pending delivery to b", d2, err)
	}
	if sum := count(t, b2, "messages"); sum != 2 {
		t.Errorf("%d messages after reopen, want 2", sum)
	}
}

func TestSecondBoxOnSameFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "box.db")
	b1, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b1.Close()
	b2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("second Open of the same file: %v", err)
	}
	defer b2.Close()

	m, _, err := b1.ReceiveRouted(ctx, in("x"), strings.NewReader("committed by b1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b2.Get(ctx, m.ID)
	if err != nil {
		t.Fatalf("b2 does not see b1's committed message: %v", err)
	}
	if got.Message.Status != msgbox.StatusReceived || string(readAll(t, b2, m.ID)) != "committed by b1" {
		t.Errorf("b2 sees %+v", got.Message)
	}

	// Both boxes claim from one pool concurrently: each delivery once.
	const messages = 30
	for i := range messages {
		m, _, err := b1.ReceiveRouted(ctx, in(fmt.Sprint(i)), strings.NewReader("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b2.Route(ctx, m.ID, []string{"p"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		box := []*Box{b1, b2}[w%2]
		owner := fmt.Sprintf("w%d", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := msgboxtest.ClaimOne(ctx, box, owner, []string{"p"}, time.Minute)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if d == nil {
					return
				}
				mu.Lock()
				claimed[d.ID]++
				mu.Unlock()
				if err := box.Finish(ctx, d.ID, owner, msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
					t.Errorf("Finish: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(claimed) != messages {
		t.Errorf("%d deliveries claimed, want %d", len(claimed), messages)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("delivery %d claimed %d times", id, n)
		}
	}
	for _, b := range []*Box{b1, b2} {
		l, err := msgbox.Collect(ctx, b, msgbox.Filter{Status: msgbox.StatusDelivered})
		if err != nil || len(l) != messages {
			t.Errorf("List(delivered) = %d, %v; want %d from either box", len(l), err, messages)
		}
	}
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "box.db")
	rw, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	m, _, err := rw.ReceiveRouted(ctx, in("x"), strings.NewReader("body"), nil)
	if err != nil {
		t.Fatal(err)
	}

	// `bizpipe messages list` while `run` runs.
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	defer ro.Close()
	l, err := msgbox.Collect(ctx, ro, msgbox.Filter{})
	if err != nil || len(l) != 1 || l[0].ID != m.ID {
		t.Fatalf("read-only List = %v, %v", l, err)
	}
	if got := string(readAll(t, ro, m.ID)); got != "body" {
		t.Errorf("read-only Body = %q", got)
	}

	// Every change fails with SQLite's own read-only error, naming the file;
	// nothing is stored. This is SQLite refusing to write through a
	// read-only file handle (mode=ro), which holds for root too, unlike a
	// chmod of the file.
	for _, size := range []int64{10, 3 << 20} {
		_, _, err = ro.ReceiveRouted(ctx, in("y"), pattern(2, size), nil)
		if err == nil {
			t.Fatalf("Receive(%d bytes) on a read-only box succeeded", size)
		}
		// A large body is refused before its file is written.
		if sqliteCode(err) != sqlite3.SQLITE_READONLY && !(size > ChunkSize && errors.Is(err, errReadOnly)) {
			t.Errorf("Receive on a read-only box: %v, want SQLITE_READONLY", err)
		}
		if _, err := os.Stat(path + bodiesSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a Receive on a read-only box created the body directory: %v", err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the database file %s", err, path)
		}
	}
	if err := ro.Route(ctx, m.ID, []string{"a"}, ""); sqliteCode(err) != sqlite3.SQLITE_READONLY {
		t.Errorf("Route on a read-only box: %v, want SQLITE_READONLY", err)
	}
	if n := count(t, rw, "messages"); n != 1 {
		t.Errorf("%d messages after refused writes, want 1", n)
	}
	// The read-write box is unaffected, and the reader sees its new work.
	m2, _, err := rw.ReceiveRouted(ctx, in("z"), strings.NewReader("z"), nil)
	if err != nil {
		t.Fatalf("read-write Receive beside a read-only box: %v", err)
	}
	if _, err := ro.Get(ctx, m2.ID); err != nil {
		t.Errorf("read-only box does not see a later commit: %v", err)
	}

	// Alone: after the writer closed (which removes the -wal and -shm
	// files), a read-only box still opens and reads.
	ro.Close()
	rw.Close()
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Logf("the -wal file outlived the last close: %v", err)
	}
	ro2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of a closed box: %v", err)
	}
	defer ro2.Close()
	if l, err := msgbox.Collect(ctx, ro2, msgbox.Filter{}); err != nil || len(l) != 2 {
		t.Errorf("read-only List of a closed box = %d messages, %v; want 2", len(l), err)
	}

	// A read-only Open creates nothing.
	missing := filepath.Join(t.TempDir(), "missing.db")
	if _, err := Open(missing, Options{ReadOnly: true}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only Open of a missing file: %v, want not-exist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only Open created %s", missing)
	}
}

func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	// max_page_count makes SQLite fail exactly as on a full disk
	// (SQLITE_FULL), at a size a test can reach.
	for _, tc := range []struct {
		name    string
		maxSize int64
		body    int64
	}{
		// The single-transaction path. (A larger body goes to a file,
		// which max_page_count does not cap: see TestBodyFileDiskFull.)
		{"one chunk", 512 << 10, 900 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openTemp(t, Options{MaxSize: tc.maxSize})
			_, _, err := b.ReceiveRouted(ctx, in("big"), pattern(3, tc.body), nil)
			if err == nil {
				t.Fatalf("Receive of %d bytes into a %d-byte box succeeded", tc.body, tc.maxSize)
			}
			if sqliteCode(err) != sqlite3.SQLITE_FULL {
				t.Errorf("Receive on a full box: %v, want SQLITE_FULL", err)
			}
			if !strings.Contains(err.Error(), b.Path()) {
				t.Errorf("error %q does not name the database file", err)
			}
			for _, table := range []string{"messages", "bodies", "body_chunks", "events"} {
				if n := count(t, b, table); n != 0 {
					t.Errorf("%d rows left in %s after a failed Receive", n, table)
				}
			}
			// The space of the discarded chunks is reused: the box goes on.
			m, _, err := b.ReceiveRouted(ctx, in("small"), strings.NewReader("fits"), nil)
			if err != nil {
				t.Fatalf("small Receive after a full one: %v", err)
			}
			if got := string(readAll(t, b, m.ID)); got != "fits" {
				t.Errorf("body = %q", got)
			}
		})
	}
}

func TestInterruptedReceiveLeavesNothing(t *testing.T) {
	ctx := context.Background()
	b := openTemp(t, Options{})
	keep, _, err := b.ReceiveRouted(ctx, in("keep"), pattern(4, 2<<20+1), nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk of the receive location failed")
	for _, after := range []int64{5, ChunkSize - 1, ChunkSize, 2*ChunkSize + ChunkSize/2} {
		_, _, err := b.ReceiveRouted(ctx, in("broken"), io.MultiReader(pattern(5, after), errReader{boom}), nil)
		if !errors.Is(err, boom) {
			t.Fatalf("Receive failing after %d bytes: %v, want %v", after, err, boom)
		}
	}
	if n := count(t, b, "messages"); n != 1 {
		t.Errorf("%d messages, want only the complete one", n)
	}
	if n := count(t, b, "bodies"); n != 1 {
		t.Errorf("%d bodies, want 1: the failed Receives' chunks were not removed", n)
	}
	if n := count(t, b, "body_chunks"); n != 0 {
		t.Errorf("%d body chunks, want none: the complete body is in a file", n)
	}
	if names := bodyFiles(t, b); len(names) != 1 {
		t.Errorf("body files %v, want the complete body's alone", names)
	}
	if got, want := readAll(t, b, keep.ID), mustRead(t, pattern(4, 2<<20+1)); !reflect.DeepEqual(got, want) {
		t.Errorf("complete body damaged")
	}
}

func TestNilBodyIsEmpty(t *testing.T) {
	b := openTemp(t, Options{})
	m, _, err := b.ReceiveRouted(context.Background(), in("none"), nil, nil)
	if err != nil || m.Size != 0 {
		t.Fatalf("Receive(nil body) = %+v, %v; want an empty message", m, err)
	}
	if got := readAll(t, b, m.ID); len(got) != 0 {
		t.Errorf("body = %q, want empty", got)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestDuplicateWhileStagingLeavesNoChunks(t *testing.T) {
	ctx := context.Background()
	b := openTemp(t, Options{})
	key := msgbox.Incoming{ReceiveLocation: "files", SourceKey: "/in/a.bin|42"}
	var first msgbox.Message
	// While the large Receive stages its body, a second Receive of the same
	// source commits: the large one must return the committed message and
	// drop its own chunks.
	interleave := readerFunc(func([]byte) (int, error) {
		m, dup, err := b.ReceiveRouted(ctx, key, strings.NewReader("first"), nil)
		if err != nil || dup {
			return 0, fmt.Errorf("inner Receive: dup=%v err=%v", dup, err)
		}
		first = m
		return 0, io.EOF
	})
	m, dup, err := b.ReceiveRouted(ctx, key, io.MultiReader(pattern(8, 2*ChunkSize), interleave, pattern(9, 100)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !dup || m.ID != first.ID {
		t.Errorf("Receive = %s dup=%v, want the message committed meanwhile (%s) and dup", m.ID, dup, first.ID)
	}
	if n := count(t, b, "bodies"); n != 1 {
		t.Errorf("%d bodies, want 1", n)
	}
	if n := count(t, b, "body_chunks"); n != 1 {
		t.Errorf("%d chunks, want the first message's 1", n)
	}
}

func TestConnectionSettings(t *testing.T) {
	b := openTemp(t, Options{MaxConns: 3})
	ctx := context.Background()
	// Hold every pool connection at once, so each one is checked.
	var conns []*sql.Conn
	for range 3 {
		c, err := b.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		for _, p := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "1"}, // NORMAL: the box syncs the log itself (TestWritesWaitForLogSync)
			{"foreign_keys", "1"},
			{"busy_timeout", fmt.Sprint(DefaultBusyTimeout.Milliseconds())},
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, p.pragma, got, p.want)
			}
		}
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b, err := Open(filepath.Join(dir, "box.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, _, err := b.ReceiveRouted(context.Background(), in("x"), strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {b.Path(), 0o600}, {b.Path() + "-wal", 0o600}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, got, f.mode)
		}
	}
}

func TestSchemaVersioning(t *testing.T) {
	ctx := context.Background()
	b := openTemp(t, Options{})
	var version, appID int64
	b.db.QueryRow("PRAGMA user_version").Scan(&version)
	b.db.QueryRow("PRAGMA application_id").Scan(&appID)
	if version != int64(SchemaVersion()) || version < 1 || appID != applicationID {
		t.Errorf("user_version %d application_id %#x, want %d and %#x", version, appID, SchemaVersion(), applicationID)
	}
	path := b.Path()
	b.Close()

	// Opening again does not re-run the scripts (they would fail: the
	// tables exist).
	b2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := b2.db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	b2.Close()
	// Every way of opening it says the same: a newer bizpipe is needed.
	// Only a migration could help an older box; advising one (bizpipe run)
	// for a newer box sends the operator to a command that refuses it too.
	for _, opts := range []Options{{}, {ReadOnly: true}, {NoCreate: true}, {NoCreate: true, Reading: true}} {
		_, err := Open(path, opts)
		want := fmt.Sprintf("schema version %d is newer than this bizpipe supports (%d): upgrade bizpipe", SchemaVersion()+1, SchemaVersion())
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "migrate") {
			t.Errorf("Open(%+v) of a newer schema: %v, want %q", opts, err, want)
		}
	}

	// Another application's database is left alone.
	foreign := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE customers (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(foreign, Options{}); err == nil || !strings.Contains(err.Error(), "not a bizpipe message box") {
		t.Errorf("Open of another application's database: %v", err)
	}
}

// TestReadOnlyOlderSchema: a read-only open of an older box, which cannot
// migrate it, says that a read-write open (bizpipe run) migrates it, and
// not that an upgrade would help.
func TestReadOnlyOlderSchema(t *testing.T) {
	b := openTemp(t, Options{})
	backToVersion10(t, b)
	path := b.Path()
	b.Close()
	_, err := Open(path, Options{ReadOnly: true})
	want := fmt.Sprintf("schema version 10, this bizpipe reads %d: open it read-write once (bizpipe run) to migrate", SchemaVersion())
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "upgrade") {
		t.Errorf("read-only Open of an older schema: %v, want %q", err, want)
	}
}

func TestCorruptBodyIsDetected(t *testing.T) {
	ctx := context.Background()
	b := openTemp(t, Options{})
	for _, tc := range []struct {
		name   string
		damage string
		want   string
	}{
		{"flipped byte", "UPDATE body_chunks SET data = zeroblob(length(data)) WHERE seq = 1 AND body_id = ?", "checksum"},
		{"missing chunk", "DELETE FROM body_chunks WHERE seq = 1 AND body_id = ?", "missing"},
		{"truncated chunk", "UPDATE body_chunks SET data = substr(data, 1, 100) WHERE seq = 1 AND body_id = ?", "missing"},
	} {
		m, _, err := b.ReceiveRouted(ctx, in(tc.name), pattern(10, 2*ChunkSize+5), nil)
		if err != nil {
			t.Fatal(err)
		}
		toChunks(t, b, m.ID) // as a box written before body files stored it
		var bodyID int64
		if err := b.db.QueryRow("SELECT body_id FROM messages WHERE id = ?", m.ID).Scan(&bodyID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.db.Exec(tc.damage, bodyID); err != nil {
			t.Fatal(err)
		}
		rc, err := b.Body(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: reading the damaged body: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestErrorsNameTheFile(t *testing.T) {
	b := openTemp(t, Options{})
	_, err := b.Get(context.Background(), "01kqhfp6800000000000000000")
	if !errors.Is(err, msgbox.ErrNotFound) || !strings.Contains(err.Error(), b.Path()) ||
		!strings.Contains(err.Error(), "01kqhfp6800000000000000000") {
		t.Errorf("Get of a missing message: %v", err)
	}
	if _, err := Open(filepath.Join(b.Path(), "under-a-file.db"), Options{}); err == nil ||
		!strings.Contains(err.Error(), "under-a-file.db") {
		t.Errorf("Open under a regular file: %v", err)
	}
}

// TestIDSurvivesReopen: the identity is the file's, not the process's:
// every Box opened on the file (run, messages, a restart) has the same one.
func TestIDSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	b1, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := b1.ID()
	b1.Close()
	b2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if id == "" || b2.ID() != id || ro.ID() != id {
		t.Errorf("IDs %q, %q (reopened), %q (read-only); want one non-empty identity", id, b2.ID(), ro.ID())
	}
}

// TestPurgeBatches: a purge larger than one write's batch goes on until
// nothing is left, and each write is its own commit.
func TestPurgeBatches(t *testing.T) {
	b := openTemp(t, Options{})
	b.purgeBatch = 3
	ctx := context.Background()
	for i := range 8 {
		m, _, err := b.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: fmt.Sprint(i), ContentType: "text/plain"},
			strings.NewReader("x"), func(msgbox.Message) ([]string, string) { return []string{"p"}, "" })
		if err != nil {
			t.Fatal(err)
		}
		d, err := msgboxtest.ClaimOne(ctx, b, "w", []string{"p"}, time.Minute)
		if err != nil || d == nil || d.MessageID != m.ID {
			t.Fatalf("Claim = %+v, %v", d, err)
		}
		if err := b.Finish(ctx, d.ID, "w", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Millisecond)
	commits := b.commits.Load()
	n, err := b.Purge(ctx, time.Now())
	if err != nil || n != 8 {
		t.Fatalf("Purge = %d, %v; want 8", n, err)
	}
	if got := b.commits.Load() - commits; got != 3 {
		t.Errorf("%d commits for 8 messages in batches of 3, want 3", got)
	}
	for _, table := range []string{"messages", "deliveries", "attempts", "events", "bodies", "body_chunks"} {
		if c := count(t, b, table); c != 0 {
			t.Errorf("%s: %d rows left", table, c)
		}
	}
}

// TestSourcePurgedWhileReceiving: a Receive that found its SourceKey stored,
// and whose message is purged before it confirms that under the write lock,
// stores the message as a new one (a purged message's key is forgotten, see
// msgbox.Box.Purge) instead of failing.
func TestSourcePurgedWhileReceiving(t *testing.T) {
	b := openTemp(t, Options{})
	ctx := t.Context()
	src := in("a.xml")
	src.SourceKey = "/in/a.xml|1"
	first, _, err := b.ReceiveRouted(ctx, src, strings.NewReader("first"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Terminate(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	purged := 0
	b.sourceSeen = func() {
		b.sourceSeen = nil
		n, err := b.Purge(ctx, time.Now().Add(time.Hour))
		if err != nil {
			t.Errorf("Purge: %v", err)
		}
		purged += n
	}
	m, dup, err := b.ReceiveRouted(ctx, src, strings.NewReader("second"), nil)
	if purged != 1 {
		t.Fatalf("purged %d messages while receiving, want the first", purged)
	}
	if err != nil || dup || m.ID == first.ID {
		t.Fatalf("Receive of a source whose message was purged meanwhile: %+v, dup=%v, %v; want a new message", m, dup, err)
	}
	if got := readAll(t, b, m.ID); string(got) != "second" {
		t.Errorf("body = %q, want the second", got)
	}
}

// TestPeekAppIDWaitsForLocks: the check of a database's application id
// before the box opens it waits for a lock another connection holds, as
// the box's own connections do, rather than failing at once with
// SQLITE_BUSY (a `run` starting while `messages list` ran failed so).
func TestPeekAppIDWaitsForLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(fmt.Sprintf("PRAGMA application_id = %d; CREATE TABLE t (x)", applicationID)); err != nil {
		t.Fatal(err)
	}
	// A rollback-journal database locked exclusively: readers wait.
	if _, err := db.Exec("BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	if _, err := peekAppID(path, 0, false); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("peekAppID without waiting under an exclusive lock: %v; want SQLITE_BUSY (the test's lock does not hold)", err)
	}
	done := make(chan error, 1)
	go func() {
		id, err := peekAppID(path, time.Minute, false)
		if err == nil && id != applicationID {
			err = fmt.Errorf("application id %#x", id)
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := db.Exec("COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("peekAppID waiting for the lock: %v", err)
	}
}

// TestListPages: List reads page by page, each after the last message
// handed on, and lists every message once (msgboxtest.ListPages).
func TestListPages(t *testing.T) {
	b, err := Open(filepath.Join(t.TempDir(), "box.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgboxtest.ListPages(t, b, func(n int) { b.listPage = n })
}

// TestListHoldsNoRead: while List's caller works on a message (writes it
// to a terminal's pager, which may wait for hours), the box holds no read
// open: another connection's checkpoint completes, instead of being kept
// from the write-ahead log's end while the log grows.
func TestListHoldsNoRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 3 {
		if _, _, err := b.ReceiveRouted(t.Context(), in(fmt.Sprint(i)), strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	n := 0
	err = b.List(t.Context(), msgbox.Filter{}, func(msgbox.Message) error {
		if n++; n > 1 {
			return nil
		}
		var busy, logged, done int
		if err := other.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &done); err != nil {
			return err
		}
		if busy != 0 {
			t.Errorf("checkpoint while the caller has the first message: busy; want it complete")
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Errorf("List handed on %d messages, %v; want 3", n, err)
	}
}

// backToVersion10 gives b's schema back the shape and the version it had
// at version 10, before sent_mdns.authenticated.
func backToVersion10(t *testing.T, b *Box) {
	t.Helper()
	for _, stmt := range []string{
		"DROP INDEX sent_mdns_due",
		"ALTER TABLE sent_mdns DROP COLUMN authenticated",
		"CREATE INDEX sent_mdns_due ON sent_mdns (location, next_attempt_at) WHERE state = 'pending'",
		"PRAGMA user_version = 10",
	} {
		if _, err := b.db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// TestNoMigrationBesideARun: a box of an older schema that a run holds (an
// older bizpipe's, whose lock is the box's lock file) is not migrated by
// another process opening it (a newer bizpipe's messages command): that run
// could not use the migrated box, and fails every receive once a script
// renames what it writes (schema 4). The open fails naming the holder and
// changes nothing; without the run, or by the run itself, the box is
// migrated, and a box already current opens beside a run as before.
func TestNoMigrationBesideARun(t *testing.T) {
	for _, tc := range []struct {
		name      string
		older     bool // the box is at version 10
		runHolds  bool // another holder has the box's lock
		opts      Options
		wantInUse bool
	}{
		{name: "older box beside a run", older: true, runHolds: true, opts: Options{NoCreate: true}, wantInUse: true},
		{name: "older box, no run", older: true, opts: Options{NoCreate: true}},
		{name: "older box opened by its run", older: true, opts: Options{Lock: true}},
		{name: "current box beside a run", runHolds: true, opts: Options{NoCreate: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "box.db")
			b, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.older {
				backToVersion10(t, b)
			}
			b.Close()
			if tc.runHolds {
				l, err := filelock.Acquire(path + lockSuffix)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release()
			}
			b, err = Open(path, tc.opts)
			if err == nil {
				defer b.Close()
			}
			if got := errors.Is(err, ErrInUse); got != tc.wantInUse || (err != nil && !tc.wantInUse) {
				t.Fatalf("Open: %v; want in use: %v", err, tc.wantInUse)
			}
			want := int64(SchemaVersion())
			if tc.wantInUse {
				for _, s := range []string{"schema version 10 is older", "pid ", path + lockSuffix, "stop that bizpipe run"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Open: %v; want it to say %q", err, s)
					}
				}
				want = 10
			}
			db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var version int64
			if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != want {
				t.Errorf("user_version after Open = %d, %v; want %d", version, err, want)
			}
		})
	}
}

// TestSentMDNsAuthenticatedMigrated: a box from before MDNs were kept as
// authenticated or not (schema version 10) keeps its pending MDNs through
// the upgrade, as unauthenticated ones, still claimed and POSTed.
func TestSentMDNsAuthenticatedMigrated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "box.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := b.ReceiveRouted(ctx, in("old.edi"), strings.NewReader("ISA*00~"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Back to version 10's sent_mdns, with an MDN pending in it.
	backToVersion10(t, b)
	if _, err := b.db.ExecContext(ctx, `INSERT INTO sent_mdns (message_id, location, data, url, state, attempts, next_attempt_at, last_error)
		VALUES (?, 'as2_in', X'00', 'http://127.0.0.1:1/mdn', 'pending', 0, 0, '')`, m.ID); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("opening the version 10 box: %v", err)
	}
	defer b.Close()
	if _, ok, err := b.NextMDNDue(ctx, "as2_in", false); err != nil || ok {
		t.Errorf("NextMDNDue of the authenticated after the upgrade: %v, %v; want none", ok, err)
	}
	claimed, err := b.ClaimMDNs(ctx, "as2_in", time.Minute, 10, 10)
	if err != nil || len(claimed) != 1 || claimed[0].MessageID != m.ID || claimed[0].Authenticated {
		t.Errorf("ClaimMDNs after the upgrade = %+v, %v; want %s, unauthenticated", claimed, err, m.ID)
	}
}
