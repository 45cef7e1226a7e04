//go:build linux

// Package pgtest runs a real PostgreSQL server for tests: no mocks, no
// external service to configure. It finds the server binaries installed on the
// machine (`.ci/run` installs the postgresql package when they are missing),
// creates a cluster in a temporary directory, starts it on 127.0.0.1 with a
// free port and password (SCRAM) authentication, and gives each test a fresh
// database of its own.
//
// One server serves a whole test binary: starting one takes about a second,
// creating a database a few milliseconds. A test package declares it and
// hands its TestMain to it, so that the server is stopped when the tests are
// over:
//
//	var pg = pgtest.New()
//
//	func TestMain(m *testing.M) { pg.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pg.NewDatabase(t) // postgres://postgres:...@127.0.0.1:port/db
//		...
//	}
//
// The server starts when a test first asks for it, so a run that selects no
// database test (go test -run Other) starts none. A test that needs a server
// of its own, to restart it for example, calls Start and gets one that stops
// when the test ends.
//
// No server outlives the test binary. Main stops it after the tests, and the
// server is started with the Linux parent-death signal set, from an OS thread
// that lives as long as the test binary's process: if the binary dies
// without running Main's cleanup (a panicking test, a test timeout, SIGKILL),
// the kernel sends the postmaster SIGQUIT, PostgreSQL's immediate shutdown,
// and it stops its backends and exits. Only the temporary directory then
// stays behind.
//
// It builds on Linux only, where the test suite runs (parent-death signal,
// credentials of child processes).
//
// PostgreSQL refuses to run as root. When the tests run as root the cluster
// is created and run as the unprivileged "postgres" system user (the
// postgresql package creates it), which owns the temporary directory.
//
// The cluster runs with fsync=off, synchronous_commit=off and
// full_page_writes=off: a test server's data need not survive a power loss,
// and the tests run several times faster without the syncs. Durability is
// PostgreSQL's business, not what these tests check.
//
// A failure to start is a test failure (t.Fatal), never a skip: tests that
// silently do not run prove nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// unprivilegedUser is the account the server runs as when the tests run as
// root.
const unprivilegedUser = "postgres"

// superuser is the cluster's superuser role, whose password is in the URLs.
const superuser = "postgres"

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 60 * time.Second

// Server is a PostgreSQL server for tests. The zero value is not usable:
// create one with New (shared by a test binary, stopped by Main) or Start
// (owned by one test). Its methods are safe for concurrent use by parallel
// tests.
type Server struct {
	// owned is true for a server Start made for one test; false for one
	// New made, which must be stopped by Main.
	owned bool
	// inMain is set while Main runs the tests: NewDatabase refuses to
	// start a shared server nobody would stop.
	inMain bool

	once     sync.Once
	startErr error

	mu       sync.Mutex // guards the fields below and serialises Restart
	dir      string     // temporary directory: data/, the socket, the log
	bin      string     // directory of initdb and postgres
	cred     *syscall.Credential
	port     int
	password string
	proc     *process
	nextDB   int
}

// process is a running postmaster.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait returned
	err    error         // cmd.Wait's result, once exited is closed
}

// New returns a shared server, started on first use. The test package must
// run its tests through Main, which stops the server when they are over.
func New() *Server { return &Server{} }

// Main runs the tests (m.Run), stops the server if one was started, and exits
// with the tests' status. Call it from TestMain and do nothing after it.
func (s *Server) Main(m *testing.M) {
	s.inMain = true
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stopping the PostgreSQL server: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Start starts a server owned by t, stopped (and its directory removed) when
// t ends. Use it for a test that restarts the server or otherwise disturbs it;
// tests that only need a database share one server through New and
// NewDatabase.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{owned: true}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("pgtest: stopping the PostgreSQL server: %v", err)
		}
	})
	s.ensure(t)
	return s
}

// URL returns the URL of the server's "postgres" database, as its
// superuser. Tests that create their own databases or roles start from it;
// most want NewDatabase instead.
func (s *Server) URL(t testing.TB) string {
	t.Helper()
	s.ensure(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urlLocked("postgres")
}

// NewDatabase creates a new, empty database for t and returns its URL (the
// superuser's, with its password). The database is dropped when t ends;
// connections still open then are terminated.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	s.ensure(t)
	s.mu.Lock()
	s.nextDB++
	name := dbName(s.nextDB, t.Name())
	admin := s.urlLocked("postgres")
	dbURL := s.urlLocked(name)
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" STRATEGY = FILE_COPY"); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a test that failed may have left connections open.
		err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		if err != nil {
			// Not the test's failure: the server and its directory go
			// away with the test binary anyway.
			t.Logf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return dbURL
}

// Restart stops the server (fast shutdown: connections are closed) and starts
// it again on the same port with the same data, so that URLs stay valid. It is
// for tests of reconnection; only a server from Start should be restarted,
// as a shared one serves other tests at the same time.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.ensure(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stopLocked(); err != nil {
		t.Fatalf("pgtest: stopping for a restart: %v", err)
	}
	if err := s.launchLocked(); err != nil {
		t.Fatalf("pgtest: restarting: %v", err)
	}
}

// Close stops the server and removes its directory. It is safe to call more
// than once, and on a server that never started.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.stopLocked()
	if s.dir != "" {
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = rmErr
		}
		s.dir = ""
	}
	return err
}

// PID returns the process id of the postmaster, 0 when none runs. Tests use
// it to check that no server is left behind.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// ensure starts the server once, and fails t if it could not start (then and
// on every later call).
func (s *Server) ensure(t testing.TB) {
	t.Helper()
	if !s.owned && !s.inMain {
		t.Fatal("pgtest: a server from pgtest.New must be used through its Main: add " +
			"`func TestMain(m *testing.M) { pg.Main(m) }` to the test package, so that the server is stopped after the tests")
	}
	s.once.Do(func() { s.startErr = s.start() })
	if s.startErr != nil {
		t.Fatalf("pgtest: %v", s.startErr)
	}
}

// start creates the cluster and starts the server.
func (s *Server) start() error {
	bin, err := findBinaries(defaultCandidates())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bin = bin

	var uid, gid = os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		u, err := user.Lookup(unprivilegedUser)
		if err != nil {
			return fmt.Errorf("PostgreSQL refuses to run as root, and there is no %q user to run it as "+
				"(the postgresql package creates it; .ci/run installs it): %w", unprivilegedUser, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}

	dir, err := makeDir(uid, gid)
	if err != nil {
		return err
	}
	s.dir = dir
	sweepStale(filepath.Dir(dir), dir)

	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	s.password = hex.EncodeToString(pw)
	pwFile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(s.password+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Chown(pwFile, uid, gid); err != nil {
		return err
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", filepath.Join(dir, "data"),
		"-U", superuser, "--pwfile", pwFile,
		// Password authentication over TCP, so that tests see what a real
		// deployment does (and a wrong password fails); trust only on the
		// socket in the private directory.
		"--auth-host=scram-sha-256", "--auth-local=trust",
		"--no-locale", "-E", "UTF8",
		"--no-sync", // a test cluster need not be on disk before it starts
	)
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	initdb.Env = serverEnv()
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	os.Remove(pwFile)

	// The port is free when probed, but another process may take it
	// before postgres binds it: try a few.
	for try := 0; ; try++ {
		s.port, err = freePort()
		if err != nil {
			return err
		}
		err = s.launchLocked()
		if err == nil || try == 4 || !errors.Is(err, errPortTaken) {
			return err
		}
	}
}

// errPortTaken: postgres could not bind its port.
var errPortTaken = errors.New("port in use")

// launchLocked starts the postmaster on s.port and waits until it accepts
// connections.
func (s *Server) launchLocked() error {
	logPath := filepath.Join(s.dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	logStart, _ := logFile.Seek(0, 2)

	cmd := exec.Command(filepath.Join(s.bin, "postgres"),
		"-D", filepath.Join(s.dir, "data"),
		"-k", s.dir, // the Unix socket, in the private directory
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		// Parallel tests each open a pool and a listener connection.
		"-c", "max_connections=300",
		// Bounds the WAL kept between checkpoints (default 1GB), which
		// matters when the cluster is in memory.
		"-c", "max_wal_size=256MB",
		"-c", "log_min_messages=warning",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cred,
		// Its own process group: a Ctrl-C at the terminal reaches the test
		// binary, which stops the server in order, rather than both.
		Setpgid: true,
		// If the thread that started it dies (with the process: see
		// below), the kernel asks the postmaster for an immediate
		// shutdown. Go sets it after switching user, which would clear it.
		Pdeathsig: syscall.SIGQUIT,
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal follows the thread that forked, not the
		// process: keep this goroutine, and so its thread, alive for as
		// long as the postmaster runs. The thread is never unlocked, so it
		// exits with this goroutine, after the postmaster has.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.proc = p

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	url := s.urlLocked("postgres")
	for {
		select {
		case <-p.exited:
			s.proc = nil
			log := readFrom(logPath, logStart)
			err := fmt.Errorf("postgres exited during start (%v); its log:\n%s", p.err, log)
			if strings.Contains(log, "could not bind") || strings.Contains(log, "Address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-ctx.Done():
			s.stopLocked()
			return fmt.Errorf("postgres did not accept connections within %v; its log:\n%s", startTimeout,
				readFrom(logPath, logStart))
		case <-time.After(20 * time.Millisecond):
		}
		pingCtx, cancelPing := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(pingCtx, url)
		if err == nil {
			conn.Close(pingCtx)
			cancelPing()
			return nil
		}
		cancelPing()
	}
}

// stopLocked stops the postmaster, if one runs: a fast shutdown (SIGINT:
// sessions are ended, the cluster is left consistent), then SIGKILL to the
// whole process group if that takes too long.
func (s *Server) stopLocked() error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("postgres (pid %d) ignored a fast shutdown for 30s and was killed", pid)
	}
	// The postmaster waits for its children in a fast shutdown; kill any
	// straggler of the group all the same, so none outlives the tests.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return nil
}

func (s *Server) urlLocked(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, s.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Connect opens a connection to url for a test, closed when the test
// ends; failing to connect within 30 seconds fails the test, whose message
// shows the URL without its password.
func Connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", redact(url), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// redact is u without its password, for messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable url)"
	}
	return p.Redacted()
}

// adminExec runs one statement on its own connection.
func adminExec(ctx context.Context, url, stmt string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// dbName makes a database name from a counter (unique) and the test's name
// (for whoever looks at the server while a test hangs), within PostgreSQL's
// 63-byte limit.
func dbName(n int, test string) string {
	name := fmt.Sprintf("t%d_%s", n, notIdent.ReplaceAllString(strings.ToLower(test), "_"))
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// serverEnv is the environment of initdb and postgres: the locale is C, and
// nothing of the test's environment (PGDATA, PGPORT...) leaks in.
func serverEnv() []string {
	return []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C"}
}

// defaultCandidates lists where the server binaries may be: pg_config's
// bindir, the Debian/Ubuntu layout (newest version first), and PATH.
func defaultCandidates() []string {
	var dirs []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versions, func(i, j int) bool { return pgVersion(versions[i]) > pgVersion(versions[j]) })
	dirs = append(dirs, versions...)
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	return dirs
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// findBinaries returns the first of dirs that holds both initdb and
// postgres.
func findBinaries(dirs []string) (string, error) {
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found in %v or PATH: "+
		"install the postgresql package (.ci/run installs it when missing)", dirs)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// minShm is the free space /dev/shm must have to hold the cluster: the
// tests store bodies of tens of MiB in several databases at once. (Docker
// gives containers a 64 MiB /dev/shm by default.)
const minShm = 2 << 30

// makeDir creates the private temporary directory, owned by uid:gid, 0700.
//
// /dev/shm comes first when it has room: a cluster in memory creates a
// database in a few milliseconds instead of hundreds, and with fsync off a
// disk gives a test server nothing memory does not. Then the default
// temporary directory, then /tmp (TMPDIR may point into root's home, which
// the server's user cannot enter): every parent directory must let the
// server's user through.
func makeDir(uid, gid int) (string, error) {
	var tried []string
	for _, parent := range []string{"/dev/shm", os.TempDir(), "/tmp"} {
		if parent == "/dev/shm" {
			var fs syscall.Statfs_t
			if err := syscall.Statfs(parent, &fs); err != nil || fs.Bavail*uint64(fs.Bsize) < minShm {
				continue
			}
		}
		if err := traversable(parent, uid, gid); err != nil {
			tried = append(tried, err.Error())
			continue
		}
		dir, err := os.MkdirTemp(parent, "bizpipe-pgtest-")
		if err != nil {
			return "", err
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		return dir, nil
	}
	return "", fmt.Errorf("no temporary directory the server's user (uid %d) can reach: %s", uid, strings.Join(tried, "; "))
}

// staleAge is how old the directory of a server that no longer runs must be
// before sweepStale removes it: older than any server being set up.
const staleAge = time.Hour

// sweepStale removes what test binaries that died without cleaning up
// (killed, timed out) left in parent: directories of servers that no longer
// run. In /dev/shm they hold memory. A directory is kept while its
// postmaster.pid names a live process, and while it is younger than
// staleAge (initdb may be running in it). Best effort: errors are ignored.
func sweepStale(parent, keep string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "bizpipe-pgtest-*"))
	for _, d := range dirs {
		if d == keep {
			continue
		}
		fi, err := os.Stat(d)
		if err != nil || time.Since(fi.ModTime()) < staleAge {
			continue
		}
		if pidFile, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
			if pid > 0 && syscall.Kill(pid, 0) != syscall.ESRCH {
				continue // alive (or not ours to signal): in use
			}
		}
		os.RemoveAll(d)
	}
}

// traversable checks that uid:gid may search every directory from / to dir.
func traversable(dir string, uid, gid int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no ownership information", p)
		}
		mode := fi.Mode().Perm()
		ok = uid == 0 || mode&0o001 != 0 ||
			int(st.Uid) == uid && mode&0o100 != 0 ||
			int(st.Gid) == gid && mode&0o010 != 0
		if !ok {
			return fmt.Errorf("%s (mode %v, owner %d:%d) is not searchable by uid %d", p, mode, st.Uid, st.Gid, uid)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readFrom returns the log from offset on, for error messages.
func readFrom(path string, offset int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	if offset > int64(len(data)) {
		offset = 0
	}
	return string(data[offset:])
}
