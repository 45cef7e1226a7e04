//go:build linux

package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var pg = New()

func TestMain(m *testing.M) { pg.Main(m) }

func TestNewDatabase(t *testing.T) {
	t.Parallel()
	a, b := pg.NewDatabase(t), pg.NewDatabase(t)
	if a == b {
		t.Fatalf("two NewDatabase calls returned the same URL %s", redact(a))
	}
	for _, u := range []string{a, b} {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if host := p.Hostname(); host != "127.0.0.1" {
			t.Errorf("URL host = %q, want 127.0.0.1", host)
		}
	}
	ca, cb := Connect(t, a), Connect(t, b)
	if _, err := ca.Exec(t.Context(), "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := cb.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a table created in one database is visible in the other: the databases are not separate")
	}
	var fsync string
	if err := ca.QueryRow(t.Context(), "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if fsync != "off" {
		t.Errorf("fsync = %s, want off for a test server", fsync)
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	t.Parallel()
	var name string
	parent := t
	t.Run("user", func(t *testing.T) {
		u := pg.NewDatabase(t)
		p, _ := url.Parse(u)
		name = strings.TrimPrefix(p.Path, "/")
		// Still open when the subtest ends: the drop must force it.
		Connect(parent, u)
	})
	admin := Connect(t, pg.URL(t))
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestPasswordRequired(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(superuser, "wrong")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err == nil {
		conn.Close(ctx)
		t.Fatal("connected with a wrong password: the server does not authenticate TCP connections")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Errorf("error = %v, want invalid_password (28P01)", err)
	}
}

func TestRunsUnprivileged(t *testing.T) {
	t.Parallel()
	pg.URL(t) // started
	pid := pg.PID()
	if pid == 0 {
		t.Fatal("no postmaster pid for a started server")
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var uid string
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid = strings.Fields(v)[0]
		}
	}
	if uid == "" {
		t.Fatalf("no Uid line in /proc/%d/status", pid)
	}
	if uid == "0" {
		t.Errorf("the postmaster runs as root")
	}
	if os.Geteuid() != 0 && uid != strconv.Itoa(os.Geteuid()) {
		t.Errorf("the postmaster runs as uid %s, want the test's uid %d", uid, os.Geteuid())
	}
}

func TestStartRestartClose(t *testing.T) {
	t.Parallel()
	s := Start(t)
	u := s.NewDatabase(t)
	conn := Connect(t, u)
	if _, err := conn.Exec(t.Context(), "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	before := s.PID()
	s.Restart(t)
	if after := s.PID(); after == before || after == 0 {
		t.Errorf("pid after Restart = %d, before %d: want a new postmaster", after, before)
	}
	if err := conn.Ping(t.Context()); err == nil {
		t.Errorf("a connection from before the restart still works: the server was not restarted")
	}
	var x int
	if err := Connect(t, u).QueryRow(t.Context(), "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Errorf("after Restart: x = %d, %v; want the data kept, under the same URL", x, err)
	}

	pid, dir := s.PID(), s.dir
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The postmaster is our child: once reaped it is gone, not a zombie.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d still exists after Close (kill 0: %v)", pid, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s still exists after Close (%v)", dir, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestMissingBinaries(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	_, err := findBinaries([]string{empty})
	if err == nil {
		t.Fatal("findBinaries found binaries in an empty directory")
	}
	if !strings.Contains(err.Error(), ".ci/run") || !strings.Contains(err.Error(), "postgresql") {
		t.Errorf("error %q does not say that .ci/run installs postgresql", err)
	}
	bin, err := findBinaries(append([]string{empty}, defaultCandidates()...))
	if err != nil {
		t.Fatalf("findBinaries with the default candidates: %v", err)
	}
	if !isExecutable(bin+"/initdb") || !isExecutable(bin+"/postgres") {
		t.Errorf("findBinaries returned %s, which lacks initdb or postgres", bin)
	}
}

func TestSharedServerNeedsMain(t *testing.T) {
	t.Parallel()
	s := New() // not run through Main
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.NewDatabase(rec)
	}()
	<-done
	if !strings.Contains(rec.msg, "TestMain") {
		t.Errorf("NewDatabase on a server without Main: fatal message %q, want one naming TestMain", rec.msg)
	}
	if s.PID() != 0 {
		t.Errorf("a server nobody would stop was started")
		s.Close()
	}
}

func TestTraversable(t *testing.T) {
	t.Parallel()
	if err := traversable(os.TempDir(), 0, 0); err != nil {
		t.Errorf("root cannot traverse %s: %v", os.TempDir(), err)
	}
	// Not t.TempDir: its parent is private to the test's user.
	dir, err := os.MkdirTemp("", "traversable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A uid that is neither the owner nor in the group, and not root.
	if err := traversable(dir, 54321, 54321); err == nil {
		t.Errorf("a 0700 directory is reported traversable by another user")
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := traversable(dir, 54321, 54321); err != nil {
		t.Errorf("a 0711 directory under %s: %v", os.TempDir(), err)
	}
}

// fatalRecorder is a testing.TB whose Fatal records the message and ends the
// goroutine, as testing's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestSweepStale(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	old := time.Now().Add(-2 * staleAge)
	mk := func(name, pid string, mtime time.Time) string {
		d := parent + "/bizpipe-pgtest-" + name
		if err := os.MkdirAll(d+"/data", 0o700); err != nil {
			t.Fatal(err)
		}
		if pid != "" {
			if err := os.WriteFile(d+"/data/postmaster.pid", []byte(pid+"\n/some/dir\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// A pid that is certainly not running: a child we started and reaped.
	dead := deadPID(t)
	stale := mk("stale", strconv.Itoa(dead), old)
	noPid := mk("nopid", "", old)
	live := mk("live", strconv.Itoa(os.Getpid()), old)
	young := mk("young", strconv.Itoa(dead), time.Now())
	keep := mk("mine", strconv.Itoa(dead), old)
	other := parent + "/unrelated"
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(other, old, old)

	sweepStale(parent, keep)
	for d, want := range map[string]bool{stale: false, noPid: false, live: true, young: true, keep: true, other: true} {
		_, err := os.Stat(d)
		if exists := err == nil; exists != want {
			t.Errorf("%s: exists = %v after sweepStale, want %v", d, exists, want)
		}
	}
}

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestNoServerOutlivesKilledBinary kills (SIGKILL: no cleanup runs) a test
// binary that started a server, and checks the server stops on its own.
func TestNoServerOutlivesKilledBinary(t *testing.T) {
	if os.Getenv("PGTEST_HELPER") == "1" {
		s := Start(t)
		fmt.Printf("postmaster %d %s\n", s.PID(), s.dir)
		time.Sleep(time.Hour) // until killed
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoServerOutlivesKilledBinary$")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir string
	if _, err := fmt.Fscanf(out, "postmaster %d %s\n", &pid, &dir); err != nil || pid == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("reading the helper's postmaster pid: %v", err)
	}
	if !running(pid) {
		t.Fatalf("postmaster %d is not running while its test binary is", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The directory is left behind, as documented; not in this test.
	t.Cleanup(func() { os.RemoveAll(dir) })
	for end := time.Now().Add(30 * time.Second); running(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d still runs 30s after its test binary was killed", pid)
		}
	}
}

// running reports whether pid is a live process (not a zombie).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may contain spaces, so look after ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
