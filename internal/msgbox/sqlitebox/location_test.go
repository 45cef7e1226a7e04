package sqlitebox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// fillBox creates a box at path holding delivered and suspended messages,
// closes it and returns its identity.
func fillBox(t *testing.T, path string) string {
	t.Helper()
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	receiveSome(t, b)
	return b.ID()
}

// receiveSome stores nine delivered messages and one suspended one.
func receiveSome(t *testing.T, b *Box) {
	t.Helper()
	ctx := context.Background()
	for i := range 10 {
		m, _, err := b.ReceiveRouted(ctx, in(fmt.Sprintf("m%d.xml", i)), strings.NewReader("<order/>"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Route(ctx, m.ID, []string{"p"}, ""); err != nil {
			t.Fatal(err)
		}
		d, err := msgboxtest.ClaimOne(ctx, b, "w", []string{"p"}, time.Minute)
		if err != nil || d == nil {
			t.Fatalf("Claim = %+v, %v", d, err)
		}
		state := msgbox.DeliveryDelivered
		if i == 9 {
			state = msgbox.DeliverySuspended
		}
		if err := b.Finish(ctx, d.ID, "w", msgbox.Outcome{State: state, Error: "test"}); err != nil {
			t.Fatal(err)
		}
	}
}

func markerID(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path + markerSuffix)
	if err != nil {
		t.Fatalf("reading the marker: %v", err)
	}
	return parseMarker(b)
}

// removeMarker removes the marker beside path, if there is one: what a box
// from before markers looks like.
func removeMarker(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path + markerSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// TestMarkerWritten: a new box gets a marker holding its identity; a box
// created before markers (none beside it) opens and gets one.
func TestMarkerWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "messagebox.db")
	id := fillBox(t, path)
	if got := markerID(t, path); got != id || id == "" {
		t.Fatalf("marker holds %q, want the box's identity %q", got, id)
	}
	if fi, err := os.Stat(path + markerSuffix); err != nil || fi.Mode().Perm()&0o022 != 0 {
		t.Errorf("marker: %v, mode %v", err, fi.Mode())
	}

	if err := os.Remove(path + markerSuffix); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a box without a marker: %v", err)
	}
	defer b.Close()
	if n := count(t, b, "messages"); n != 10 || b.ID() != id {
		t.Errorf("reopened box: %d messages, identity %q; want 10 and %q", n, b.ID(), id)
	}
	if got := markerID(t, path); got != id {
		t.Errorf("marker holds %q after reopening, want %q", got, id)
	}
}

// emptySQLite replaces the file at path by an SQLite database with no
// schema objects.
func emptySQLite(t *testing.T, path string) {
	t.Helper()
	os.Remove(path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (x INTEGER); DROP TABLE t"); err != nil {
		t.Fatal(err)
	}
}

// TestRefusesLostBox: where a box was (its marker, or a write-ahead log
// says so), a database that is missing, empty, not SQLite or another box's
// is refused, whatever the options, and nothing is changed. Before, Open
// made a new, empty box there: every message and its history gone.
func TestRefusesLostBox(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage damages the box at path (closed, with its marker).
		damage func(t *testing.T, path string)
		want   []string // in the error, besides the database's path
	}{
		{"empty database", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, []string{"is empty (0 bytes)", markerSuffix, "says it held box", "Restore", "remove"}},
		{"missing database", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, []string{"does not exist", markerSuffix, "Restore", "remove"}},
		{"not an SQLite file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("this is not a database, it is a text file long enough"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"is not an SQLite database", "restore it from a backup", markerSuffix}},
		{"database without a box", func(t *testing.T, path string) {
			emptySQLite(t, path)
		}, []string{"holds no message box", markerSuffix}},
		{"another box's database", func(t *testing.T, path string) {
			other := filepath.Join(t.TempDir(), "other.db")
			fillBox(t, other)
			b, err := os.ReadFile(other)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"holds box", "another box's database", markerSuffix}},
		{"missing database beside its WAL, no marker", func(t *testing.T, path string) {
			// A box from before markers, running (its log holds what it
			// committed since the last checkpoint) when its file is lost.
			removeMarker(t, path)
			b, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			receiveSome(t, b)
			removeMarker(t, path)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, []string{"does not exist", "write-ahead log " + "PATH-wal", "Restore"}},
		{"empty database beside its WAL, no marker", func(t *testing.T, path string) {
			removeMarker(t, path)
			b, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			receiveSome(t, b)
			removeMarker(t, path)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, []string{"is empty (0 bytes)", "write-ahead log " + "PATH-wal"}},
		{"only the body files left", func(t *testing.T, path string) {
			// The database, its log and its marker lost; the directory
			// of large bodies survives.
			if err := os.MkdirAll(path+bodiesSuffix, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm", path + markerSuffix} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
			}
		}, []string{"does not exist", "directory of message bodies PATH" + bodiesSuffix, "Restore"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "messagebox.db")
			fillBox(t, path)
			tc.damage(t, path)
			before := snapshot(t, path, "", false)
			for _, opts := range []Options{{}, {Lock: true}, {NoCreate: true}, {ReadOnly: true}} {
				b, err := Open(path, opts)
				if err == nil {
					b.Close()
					t.Fatalf("Open(%+v) opened the damaged box", opts)
				}
				if !errors.Is(err, ErrDamaged) {
					t.Errorf("Open(%+v) = %v, want ErrDamaged", opts, err)
				}
				msg := err.Error()
				for _, want := range append(tc.want, path) {
					want = strings.ReplaceAll(want, "PATH", path)
					if !strings.Contains(msg, want) {
						t.Errorf("Open(%+v) error does not say %q:\n%s", opts, want, msg)
					}
				}
				if after := snapshot(t, path, before, opts.ReadOnly); after != before {
					t.Errorf("Open(%+v) changed the files: %s, then %s", opts, before, after)
				}
			}
		})
	}
}

// snapshot describes the database file and the files beside it: present or
// not, and their sizes and modification times. A read-only opener (SQLite's
// mode=ro) may leave a -wal and -shm where there were none: it cannot remove
// them, and they change nothing in the database; ro drops them then.
func snapshot(t *testing.T, path string, before string, ro bool) string {
	t.Helper()
	var s []string
	for _, p := range []string{path, path + "-wal", path + "-shm", path + markerSuffix} {
		absent := filepath.Base(p) + " absent"
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			s = append(s, absent)
		case err != nil:
			t.Fatal(err)
		case ro && strings.Contains(before, absent) && p != path && p != path+markerSuffix:
			s = append(s, absent)
		default:
			s = append(s, fmt.Sprintf("%s %d %v", filepath.Base(p), fi.Size(), fi.ModTime().UnixNano()))
		}
	}
	return strings.Join(s, ", ")
}

// TestStartAgainDeliberately: doing what the refusal says (removing the
// files it names) starts a new, empty box.
func TestStartAgainDeliberately(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagebox.db")
	id := fillBox(t, path)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	_, named, ok := strings.Cut(fmt.Sprint(err), "start a new, empty box deliberately, remove ")
	if !ok {
		t.Fatalf("the refusal says nothing to remove: %v", err)
	}
	for _, f := range strings.FieldsFunc(named, func(r rune) bool { return r == ',' }) {
		for _, g := range strings.Split(f, " and ") {
			if err := os.Remove(strings.TrimSpace(g)); err != nil {
				t.Fatalf("removing what the refusal names: %v", err)
			}
		}
	}
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after removing what the refusal names: %v", err)
	}
	defer b.Close()
	if b.ID() == id || count(t, b, "messages") != 0 || markerID(t, path) != b.ID() {
		t.Errorf("new box: identity %q (old %q), %d messages, marker %q", b.ID(), id, count(t, b, "messages"), markerID(t, path))
	}
}

// TestNoCreate: NoCreate (bizpipe messages) never makes a box: not in a
// directory that does not exist, not in an empty file, not in an empty
// SQLite database. Before, `bizpipe messages list` made one and listed it.
func TestNoCreate(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "data", "messagebox.db")
	_, err := Open(missing, Options{NoCreate: true})
	if !errors.Is(err, ErrNoBox) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open(NoCreate) of %s: %v, want ErrNoBox naming it", missing, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(NoCreate) created the directory: %v", err)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty, Options{NoCreate: true}); !errors.Is(err, ErrNoBox) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Open(NoCreate) of an empty file: %v, want ErrNoBox", err)
	}

	blank := filepath.Join(dir, "blank.db")
	emptySQLite(t, blank)
	if _, err := Open(blank, Options{NoCreate: true}); !errors.Is(err, ErrNoBox) {
		t.Errorf("Open(NoCreate) of an empty SQLite database: %v, want ErrNoBox", err)
	}
	db, err := sql.Open("sqlite", blank)
	if err != nil {
		t.Fatal(err)
	}
	var tables int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("Open(NoCreate) made %d schema objects (%v)", tables, err)
	}
	db.Close()
	for _, f := range []string{missing, empty + markerSuffix, blank + markerSuffix} {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want nothing created", f, err)
		}
	}

	// A box opens as always.
	fillBox(t, missing)
	b, err := Open(missing, Options{NoCreate: true})
	if err != nil {
		t.Fatalf("Open(NoCreate) of a box: %v", err)
	}
	defer b.Close()
	if n := count(t, b, "messages"); n != 10 {
		t.Errorf("%d messages, want 10", n)
	}
}

// TestLockOnePerDatabase: Lock lets one Box at a time hold a database,
// whatever path reaches it: the same path, "..", a symbolic link to its
// directory or to the file itself. The error names the database and the
// holder. Before, the lock was on --data-dir: another data directory with
// a message_box path to the same file ran a second engine on it. Boxes
// without Lock (bizpipe messages) open beside the holder.
func TestLockOnePerDatabase(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "data")
	path := filepath.Join(real, "messagebox.db")
	holder, err := Open(path, Options{Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, filepath.Join(dir, "box.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "other"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		path,
		filepath.Join(dir, "other", "..", "data", "messagebox.db"),
		filepath.Join(dir, "link", "messagebox.db"),
		filepath.Join(dir, "link", "..", "data", "messagebox.db"),
		filepath.Join(dir, "box.db"),
	} {
		b, err := Open(p, Options{Lock: true})
		if err == nil {
			b.Close()
			t.Errorf("Open(%s, Lock) while another Box holds the lock: opened", p)
			continue
		}
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path) ||
			!strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
			t.Errorf("Open(%s, Lock) = %v, want ErrInUse naming %s and pid %d", p, err, path, os.Getpid())
		}
		reader, err := Open(p, Options{NoCreate: true})
		if err != nil {
			t.Errorf("Open(%s) without Lock beside the holder: %v", p, err)
		} else {
			reader.Close()
		}
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(filepath.Join(dir, "link", "messagebox.db"), Options{Lock: true})
	if err != nil {
		t.Fatalf("Open(Lock) after the holder closed: %v", err)
	}
	b.Close()
}

// TestLockAcrossProcesses: the lock keeps out another process, and the
// error names that process; its death (SIGKILL) releases the lock.
func TestLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagebox.db")
	cmd, lines := startHelper(t, "lock", path)
	if l := nextLine(t, lines); l != "locked" {
		t.Fatalf("helper said %q, want locked", l)
	}
	_, err := Open(path, Options{Lock: true})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("Open(Lock) while another process holds the box: %v, want ErrInUse naming pid %d", err, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	b, err := Open(path, Options{Lock: true})
	if err != nil {
		t.Fatalf("Open(Lock) after the holder was killed: %v", err)
	}
	b.Close()
}
