package sqlitebox

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestReadWithoutWriteAccess: an operator who may read the box's files
// but not write to its directory (su nobody -c 'bizpipe messages list
// --data-dir /copy' on a 0755 directory of 0644 files) can list the
// messages of a box nobody has open and read their bodies, instead of
// failing with "reading the application id: attempt to write a readonly
// database (1544)": SQLite cannot create the shared-memory file of the
// write-ahead log there. A change fails saying that the directory is not
// writable. A box whose log holds commits not yet in the database file
// cannot be read so: the open fails, naming the directory. All this holds
// for a box opened with Reading (list, show), which writes nothing at
// Open, as for one opened to change it (NoCreate) and a read-only one.
//
// The second process runs as a user the permission bits bind: the test's
// own, or nobody when the test runs as root.
func TestReadWithoutWriteAccess(t *testing.T) {
	dir := reachableDir(t)
	path := filepath.Join(dir, "idle", "messagebox.db")
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"small", strings.Repeat("L", ChunkSize+1)} { // in the database, and a body file
		if _, _, err := w.ReceiveRouted(t.Context(), in(strconv.Itoa(len(body))), strings.NewReader(body), nil); err != nil {
			t.Fatal(err)
		}
	}
	// A copy of the box as it is while w has it open: its log holds the
	// commits, the database file not yet.
	live := filepath.Join(dir, "live")
	copyTree(t, filepath.Dir(path), live, "messagebox.db-shm")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path + "-wal", path + "-shm", filepath.Join(live, "messagebox.db-shm")} {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: %v; want none", f, err)
		}
	}
	for _, d := range []string{filepath.Dir(path), live} {
		readableTree(t, d)
	}

	bin := helperBinary(t, dir)
	dirName := filepath.Dir(path)
	for _, mode := range []string{"read", "readonly", "reading"} {
		out := runHelperAs(t, bin, mode, path)
		want := "message 1048577 1048577 bytes\nmessage 5 5 bytes\nterminate: "
		if !strings.HasPrefix(out, want) {
			t.Errorf("%s: reported:\n%s\nwant it to start:\n%s", mode, out, want)
			continue
		}
		if !strings.Contains(out, dirName) || !strings.Contains(out, "write access") {
			t.Errorf("%s: the change failed with %q; want an error naming the directory %s and the write access", mode, out, dirName)
		}
	}
	// A box a writer has open: its -shm file exists, and a read-only
	// connection reads through it.
	openPath := filepath.Join(dir, "open", "messagebox.db")
	ow, err := Open(openPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ow.Close()
	if _, _, err := ow.ReceiveRouted(t.Context(), in("open"), strings.NewReader("small"), nil); err != nil {
		t.Fatal(err)
	}
	readableTree(t, filepath.Dir(openPath))
	for _, mode := range []string{"read", "readonly", "reading"} {
		out := runHelperAs(t, bin, mode, openPath)
		// ReadOnly refuses changes with SQLite's own error, as documented;
		// NoCreate, which asked for write access, says why it has none.
		want := "message open 5 bytes\nterminate: "
		if !strings.HasPrefix(out, want) || strings.Contains(out, "terminate: <nil>") || (mode == "read" && !strings.Contains(out, "write access")) {
			t.Errorf("%s, beside a writer: reported:\n%s\nwant it to start %q and the change to fail for want of write access", mode, out, want)
		}
	}

	livePath := filepath.Join(live, "messagebox.db")
	for _, mode := range []string{"read", "reading"} {
		out := runHelperAs(t, bin, mode, livePath)
		if !strings.HasPrefix(out, "open: ") || !strings.Contains(out, live) || !strings.Contains(out, "write access") {
			t.Errorf("%s, box with a non-empty log: reported %q; want the open to fail naming the directory %s and the write access", mode, out, live)
		}
	}
}

// reachableDir is a new directory that another user can reach.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sqlitebox-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s (mode %s) cannot be searched by other users: set TMPDIR to a directory such as /tmp", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// copyTree copies the files of directory src, but skip, into dst.
func copyTree(t *testing.T, src, dst, skip string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if d.Name() == skip || d.Name() == "messagebox.db.lock" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readableTree makes dir and what it holds readable by everyone, and
// writable by nobody else than the owner, then takes the write permission
// from its directories, which binds the owner too unless it is root.
func readableTree(t *testing.T, dir string) {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		return os.Chmod(p, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.Chmod(d, 0o555); err != nil {
			t.Fatal(err)
		}
	}
}

// helperBinary is a copy of the test binary in dir, which another user
// can reach: the test binary's own directory may be private.
func helperBinary(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sqlitebox.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runHelperAs runs bin, the test binary, as readHelper in mode on the box
// at path, as the test's user, or nobody when it is root, and returns
// what it reported.
func runHelperAs(t *testing.T, bin, mode, path string) string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), helperEnv + "=" + mode, "SQLITEBOX_TEST_DB=" + path}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("running as root, the test reads the box as user nobody (from /etc/passwd): %v", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s helper: %v\n%s", mode, err, &stderr)
	}
	return stdout.String()
}
