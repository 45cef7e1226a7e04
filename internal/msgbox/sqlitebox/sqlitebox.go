// Package sqlitebox is the embedded message box: one SQLite database file,
// opened by one run process at a time (Options.Lock), and read (or changed
// by operators) by `bizpipe messages` while that process runs.
//
// Durability: the database is in WAL mode, and no write returns before the
// log holding it is synced to disk, so a Receive that returned survives a
// power loss; the caller deletes the source right after. The sync is the
// box's own, not SQLite's (see syncer): SQLite would sync inside COMMIT,
// holding the write lock, so that no write could run while a sync waits
// for the disk.
//
// Concurrency: one *sql.DB holds a small pool of connections. Readers run in
// parallel (WAL lets them read while a write is in progress). Every write is
// a BEGIN IMMEDIATE transaction (the driver's _txlock=immediate), so it takes
// the database's single write lock before reading anything it will act on:
// a claim's select-then-update cannot interleave with another writer, in
// this process or any other. Inside the process, one writer goroutine runs
// all writes with group commit (see withWrite): the writes queued while a
// commit syncs share the next transaction, each in a savepoint of its own,
// so that one fsync makes many of them durable. Only a writer in another
// process waits in SQLite's busy handler (Options.BusyTimeout), and the
// engine's writer leaves it a turn (see turnSuffix).
package sqlitebox

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bizpipe/bizpipe/internal/dirsync"
	"github.com/bizpipe/bizpipe/internal/filelock"
	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/msgbox"

	// The pure-Go SQLite driver, registered as "sqlite".
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// applicationID marks a SQLite file as a bizpipe message box ("bizp"), so
// that Open refuses to add tables to some other application's database that
// a configuration points at by mistake.
const applicationID = 0x62697a70

// ChunkSize is the size of the row a small body is stored in: a body that
// fits in one is stored with its message in one transaction; a larger one
// is stored as a file (see bodyfile.go). A Receive holds one chunk in
// memory at a time and a Body reader one.
const ChunkSize = 1 << 20

// Defaults for the zero Options.
const (
	DefaultBusyTimeout      = 10 * time.Second
	DefaultMaxConns         = 4
	DefaultStaleUploadAfter = time.Hour
	DefaultTempSweepEvery   = time.Hour
)

// Options tune Open. The zero value is what the run engine uses.
type Options struct {
	// ReadOnly opens an existing box without the right to change it
	// (SQLite's mode=ro), for commands that only read: nothing is created,
	// migrated or swept, and every change fails with SQLite's
	// SQLITE_READONLY. Open fails if the file does not exist or its schema
	// is not the current one.
	ReadOnly bool

	// immutable is set by Open for a read-only box it can read only as
	// SQLite's immutable (see snapshotReason): not nil, it answers every
	// write.
	immutable error

	// now, when set, is the box's clock instead of time.Now (for tests
	// of what is due when).
	now func() time.Time

	// NoCreate opens only a box that exists, for commands that operate on
	// one (bizpipe messages): where there is none, Open fails with an
	// error wrapping ErrNoBox and creates nothing, not even a directory.
	// On a full disk, or for a user without write access to the box,
	// where opening it for writing fails, it is opened read-only instead
	// (ReadOnly; as an immutable file when nobody has it open, see
	// snapshotReason): the operator can still look, and every change fails
	// saying why (the disk is full, or the user may not write).
	NoCreate bool

	// Lock makes the Box hold the box's lock until Close: an exclusive
	// lock on the file beside the database named after it with ".lock"
	// (messagebox.db.lock), in the directory that really holds the
	// database, so that every path reaching the database (a symbolic link,
	// "..", a bind mount) meets the same lock. Open fails with an error
	// wrapping ErrInUse, naming the holder's process id, if another holder
	// has it. `bizpipe run` takes it: two engines on one box would each
	// take the other's deliveries in progress for interrupted ones and
	// deliver them again. The lock is taken before the box is created or
	// opened.
	Lock bool

	// BusyTimeout is how long a statement waits for a lock another process
	// holds (the `run` process, seen from `bizpipe messages resume`, or the
	// other way round) before failing with SQLITE_BUSY. 0 means
	// DefaultBusyTimeout.
	BusyTimeout time.Duration

	// MaxConns bounds the connection pool. 0 means DefaultMaxConns. One
	// connection at a time writes; the others read.
	MaxConns int

	// MaxSize, when positive, caps the database size in bytes (SQLite's
	// max_page_count, rounded down to whole pages). A write that would grow
	// the file beyond it fails with SQLITE_FULL, as it does on a full disk;
	// an operator can use it as a quota, and tests use it to produce a real
	// SQLITE_FULL.
	MaxSize int64

	// Reading opens the box for a command that only reads (bizpipe
	// messages list), which still migrates an older schema: Open then
	// writes nothing when the schema is current. It neither writes
	// the schema's version again nor removes what interrupted Receives
	// left (see StaleUploadAfter; no message names that, and the next
	// Open without Reading removes it: run's, at its start). Either would
	// wait for the write lock, which another process may hold longer than
	// BusyTimeout; a reader in WAL mode waits for no writer. Without
	// Reading those writes also tell a full disk, or a user who may not
	// write, at Open (see NoCreate).
	Reading bool

	// StaleUploadAfter is how long the body file of a large body whose
	// Receive never completed (the process was killed mid-body), and that
	// no message names, is kept before Open removes it (so are the staged
	// chunks of such a Receive in a box written before body files). It
	// must exceed the longest pause between two writes of a live Receive
	// in another process; a Receive whose file was removed under it fails
	// rather than storing a partial body. 0 means DefaultStaleUploadAfter.
	StaleUploadAfter time.Duration

	// TempSweepEvery is how often a box opened with Lock (the run engine)
	// removes the stale temporary body files, besides at Open (see
	// sweepTempLoop). 0 means DefaultTempSweepEvery.
	TempSweepEvery time.Duration

	// Log receives the problems of the box's own background work (the
	// periodic sweep of TempSweepEvery), which no caller waits for; nil
	// discards them.
	Log *slog.Logger

	// Abandoned, when not nil, hears of each attempt the box records as
	// failed on its own (see msgbox.AbandonedFunc).
	Abandoned msgbox.AbandonedFunc
}

// Box is a msgbox.Box stored in one SQLite file. It is safe for concurrent
// use; several Boxes, in one process or several, may open the same file.
type Box struct {
	path     string
	db       *sql.DB
	readOnly bool
	id       string         // the box's identity (box_identity)
	lock     *filelock.Lock // held until Close (Options.Lock)
	turns    *turns         // nil for a box that cannot write, or when no engine gives turns
	owner    fileOwner      // what the files it creates beside the database are given (ownerOf)
	// busyTimeout is Options.BusyTimeout, for the error of a write that
	// waited it out.
	busyTimeout time.Duration
	// purgeBatch is how many messages one Purge write deletes (tests make
	// it small).
	purgeBatch int
	// listPage is how many messages List reads at a time (msgbox.ListPage;
	// tests make it small).
	listPage int
	// noWrites, when set, answers every write: the box was opened as a
	// snapshot (snapshotReason).
	noWrites error
	// immutable: opened so (see snapshotReason).
	immutable bool
	// tempSweepDone is closed when sweepTempLoop has returned; nil when
	// it does not run. tempSweepErr is its last error.
	tempSweepDone chan struct{}
	tempSweepErr  atomic.Pointer[error]
	log           *slog.Logger         // Options.Log, never nil
	abandoned     msgbox.AbandonedFunc // Options.Abandoned
	// purgeBudget is how long one Purge write goes on deleting (tests
	// make it small).
	purgeBudget time.Duration
	// stmts and q run statements prepared once (see stmtCache).
	stmts *stmtCache
	q     cachedDB

	// reqs hands write requests to the writer goroutine (runWriter). It is
	// unbuffered: a request is queued while its caller blocks sending it,
	// and a caller whose context ends leaves the queue with nothing to undo.
	reqs chan *writeReq
	// quit tells the writer to stop (Close); writerDone is closed when it
	// has answered or handed to the syncer every request it took and
	// returned.
	quit       chan struct{}
	writerDone chan struct{}
	// committed hands the requests of each committed batch from the writer
	// to the syncer (runSyncer), which answers them once the log is synced;
	// the writer closes it when it returns. syncerDone is closed when the
	// syncer has answered them all.
	committed  chan []*writeReq
	syncerDone chan struct{}
	// syncLog syncs the write-ahead log (syncWAL; tests replace it).
	syncLog func() error
	// syncFailed is set once a log's fsync failed: what was committed
	// since the last good sync may not be on disk, and SQLite may believe
	// it is, so the box takes no more writes (a new process recovers from
	// the log as it is on disk). A sync whose open of the log failed
	// (EMFILE) does not set it: nothing was dropped, the next sync covers it.
	syncFailed atomic.Pointer[error]

	// commits counts the write transactions committed, and writers the
	// callers inside withWrite: tests observe batching through them.
	commits atomic.Int64
	writers atomic.Int64

	now  func() time.Time
	rand io.Reader
	// sourceSeen, when not nil, runs when a Receive has found its
	// SourceKey stored, before it confirms that under the write lock
	// (tests purge the message there).
	sourceSeen func()
	// purgeFound, when not nil, runs when a Purge read past seq after
	// has found candidates (their seqs), before the write that deletes
	// them (tests touch one there).
	purgeFound func(after int64, seqs []int64)
	// resumeChecked, when not nil, runs in Resume's transaction once its
	// checks passed, before its changes (tests resubmit the message
	// there).
	resumeChecked func()

	// bufs recycles ChunkSize buffers between Receives: a Receive of a small
	// message then allocates nothing the size of a chunk.
	bufs sync.Pool
	// dirs shares syncs of the body directory among concurrent Receives.
	dirs dirsync.Group

	closeOnce sync.Once
	closeErr  error
}

var _ msgbox.Box = (*Box)(nil)

// Open opens the message box in the SQLite file at path, creating the file
// (mode 0600: message bodies are business data) and its directory (0700)
// unless opts.ReadOnly or opts.NoCreate, and creating or migrating the
// schema. Stale chunks of interrupted Receives are removed (unless
// opts.Reading).
//
// A box is created only where none has been: Open refuses (ErrDamaged) a
// path whose marker, write-ahead log or shared-memory file shows that it
// held a box while the database there is missing, empty, not an SQLite
// file, or another box (see markerSuffix). Symbolic links in path are
// resolved: the Box works on the file they lead to (Path).
func Open(path string, opts Options) (*Box, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("message box %s: %w", path, err)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.StaleUploadAfter <= 0 {
		opts.StaleUploadAfter = DefaultStaleUploadAfter
	}
	if opts.TempSweepEvery <= 0 {
		opts.TempSweepEvery = DefaultTempSweepEvery
	}
	fail := func(err error) (*Box, error) {
		// SQLite says "disk I/O error" when a full disk stops it growing
		// its shared-memory file: say what the operator must fix.
		if noSpaceError(err) && fsop.NoSpace(filepath.Dir(abs)) {
			return nil, fmt.Errorf("message box %s: %w (the file system holding it has no space left)", abs, err)
		}
		return nil, fmt.Errorf("message box %s: %w", abs, err)
	}
	mayCreate := !opts.ReadOnly && !opts.NoCreate

	if mayCreate {
		if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
			return fail(err)
		}
	}
	real, err := realPath(abs)
	if err != nil {
		return fail(err)
	}
	var lock *filelock.Lock
	if opts.Lock {
		lock, err = filelock.Acquire(real + lockSuffix)
		var held *filelock.HeldError
		if errors.As(err, &held) {
			pid := "pid unknown"
			if held.PID > 0 {
				pid = "pid " + strconv.Itoa(held.PID)
			}
			return nil, fmt.Errorf("message box %s is %w (%s, lock file %s): one bizpipe run at a time may use a message box",
				real, ErrInUse, pid, held.Path)
		}
		if err != nil {
			return fail(err)
		}
	}
	b, err := open(abs, real, lock, opts)
	if err != nil && lock == nil && opts.NoCreate && !opts.ReadOnly {
		// bizpipe messages on a full disk, or as a user who may not
		// write to the box: opening for writing failed (a NoCreate open
		// may migrate and sweep, and a connection may have to create the
		// -shm file), but the operator must still be able to look.
		// Read-only, every change refused saying why.
		var why error
		switch dir := filepath.Dir(real); {
		case noSpaceError(err) && fsop.NoSpace(dir):
			why = errFullDisk
		case fsop.NoWriteAccess(dir) || fsop.NoWriteAccess(real):
			why = errNoWriteAccess(dir)
		}
		ro := opts
		ro.ReadOnly, ro.NoCreate = true, false
		if why != nil {
			if rb, rerr := open(abs, real, nil, ro); rerr == nil {
				rb.noWrites = why
				return rb, nil
			}
		}
	}
	if err != nil {
		lock.Release()
		if errors.Is(err, ErrNoBox) || errors.Is(err, ErrDamaged) {
			return nil, err // names the files already
		}
		return fail(err)
	}
	return b, nil
}

// errFullDisk answers the writes of a box Open could open only read-only
// because the disk holding it is full.
var errFullDisk = errors.New("the message box was opened read-only: the file system holding it has no space left; free space there to change it (bizpipe run cannot store messages either)")

// snapshotReason reports why the box at path, which a connection could not
// read with err, should be opened as SQLite's immutable instead, the error
// then answering its writes; nil when it should not. It should when opts
// opens an existing box without creating one (bizpipe messages), the
// write-ahead log is absent or empty, and either err may come from a full
// disk and the disk is full, or this process may not write to the box's
// directory (an operator reading a box, or a copy of it, that is not his).
//
// A box nobody has open has no -shm file (the last connection to close
// checkpoints and removes it with the log), and even a read-only
// connection must create one, which a full disk, or a directory it may
// not write to, refuses: an operator could not even list the messages. An
// immutable connection creates nothing and takes no lock, and reads the
// database file alone; with an empty log that file holds every committed
// write. It never writes, so it cannot damage the box. A writer that
// starts meanwhile could checkpoint into the file under it: a read could
// then fail or see a mix of two states, which is why this is only a
// fallback. With a non-empty log (a writer is running, or one was killed)
// the file alone is not the box: the open fails, saying why (see
// noWriteAccess). (With a writer running the -shm file exists and the
// plain read-only open works.)
func snapshotReason(path string, opts Options, err error) error {
	if !opts.ReadOnly && !opts.NoCreate {
		return nil
	}
	fi, serr := os.Stat(path + "-wal")
	if !errors.Is(serr, fs.ErrNotExist) && (serr != nil || fi.Size() != 0) {
		return nil
	}
	dir := filepath.Dir(path)
	switch {
	case noSpaceError(err) && fsop.NoSpace(dir):
		return errFullDisk
	case fsop.NoWriteAccess(dir):
		return errNoWriteAccess(dir)
	}
	return nil
}

// errNoWriteAccess answers the writes of a box in dir that Open could open
// only read-only because this process may not write to it.
func errNoWriteAccess(dir string) error {
	if fsop.ReadOnlyFS(dir) {
		// No user can change it there: another user would not help.
		return fmt.Errorf("the message box was opened read-only: the file system holding it (its directory %s) is mounted read-only; remount it read-write to change it (bizpipe run cannot store messages either)", dir)
	}
	return fmt.Errorf("the message box was opened read-only: this user has no write access to it (its database file, or its directory %s); change it as a user who has (the one bizpipe run runs as)", dir)
}

// noWriteAccess is err, which a connection met reading the box at path,
// saying that the directory needs write access when this process has none
// there: SQLite's errors ("attempt to write a readonly database", "unable
// to open database file") do not say so.
func noWriteAccess(path string, err error) error {
	dir := filepath.Dir(path)
	if fsop.ReadOnlyFS(dir) {
		return fmt.Errorf("%w: reading the box needs to write in its directory %s, where SQLite keeps the shared memory of its write-ahead log, and the file system holding it is mounted read-only (copy the box's files, the -wal file with them, to a writable directory and read the copy)", err, dir)
	}
	if fsop.NoWriteAccess(dir) {
		return fmt.Errorf("%w: reading the box needs write access to its directory %s, where SQLite keeps the shared memory of its write-ahead log (read it as a user who has, such as the one bizpipe run runs as, or once no bizpipe has it open)", err, dir)
	}
	return err
}

// noSpaceError reports whether err may come from a full disk: ENOSPC, or
// SQLite's I/O and "full" errors, which do not say it. (A read-only file
// system also has no space available; its errors are not these.)
func noSpaceError(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "disk I/O error") || strings.Contains(s, "database or disk is full")
}

// open is Open once the path is resolved and the lock, if any, taken.
func open(abs, real string, lock *filelock.Lock, opts Options) (*Box, error) {
	loc, err := inspect(real)
	if err != nil {
		return nil, err
	}
	fresh, err := loc.check()
	if err != nil {
		return nil, err
	}
	if fresh {
		if opts.ReadOnly || opts.NoCreate {
			if loc.dbSize < 0 {
				return nil, fmt.Errorf("%w at %s: %w", ErrNoBox, abs, fs.ErrNotExist)
			}
			return nil, fmt.Errorf("%w at %s: the file is empty (0 bytes)", ErrNoBox, abs)
		}
		if err := createFile(real); err != nil {
			return nil, err
		}
	} else if loc.hasMarker || opts.NoCreate || opts.ReadOnly {
		// Where no box may be created, a database without one is refused
		// before the box's own connections open it: they would switch
		// it to WAL mode.
		appID, err := peekAppID(real, opts.BusyTimeout, false)
		if err != nil {
			if why := snapshotReason(real, opts, err); why != nil {
				appID, err = peekAppID(real, opts.BusyTimeout, true)
				if err == nil {
					opts.ReadOnly, opts.immutable = true, why
				}
			}
		}
		if err != nil {
			return nil, noWriteAccess(real, err)
		}
		switch appID {
		case applicationID:
		case 0:
			if err := loc.checkContent(false, "", true); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("not a bizpipe message box (application id %#x)", appID)
		}
	}

	db, err := sql.Open("sqlite", dsn(real, opts))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)

	b := &Box{
		path:       real,
		db:         db,
		readOnly:   opts.ReadOnly,
		lock:       lock,
		reqs:       make(chan *writeReq),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		committed:  make(chan []*writeReq, maxBatch),
		syncerDone: make(chan struct{}),
		now:        time.Now,
		rand:       rand.Reader,
		log:        cmp.Or(opts.Log, slog.New(slog.DiscardHandler)),
		abandoned:  opts.Abandoned,
		owner:      loc.owner,

		busyTimeout: opts.BusyTimeout,
	}
	if opts.immutable != nil {
		b.noWrites, b.immutable = opts.immutable, true
	}
	if opts.now != nil {
		b.now = opts.now
	}
	b.syncLog = func() error { return syncWAL(real + "-wal") }
	b.purgeBatch, b.purgeBudget = purgeBatch, purgeBudget
	b.listPage = msgbox.ListPage
	b.stmts = &stmtCache{db: db}
	b.q = cachedDB{DB: db, c: b.stmts}
	b.bufs.New = func() any { buf := make([]byte, ChunkSize); return &buf }
	if !opts.ReadOnly && b.noWrites == nil {
		b.turns = openTurns(real, lock != nil)
	}
	// Started before init: the migration and the sweep are writes too.
	go b.runWriter()
	go b.runSyncer()

	ctx, cancel := context.WithTimeout(context.Background(), opts.BusyTimeout+time.Minute)
	defer cancel()
	// The lock is the caller's to release if open fails.
	closeOnErr := func() { b.lock = nil; b.Close() }
	if err := b.init(ctx, opts, loc); err != nil {
		closeOnErr() // stops the writer and closes db; the init error is the one to report
		return nil, err
	}
	if err := b.db.QueryRowContext(ctx, "SELECT id FROM box_identity").Scan(&b.id); err != nil {
		closeOnErr()
		return nil, fmt.Errorf("reading the box identity: %w", err)
	}
	if opts.ReadOnly {
		if err := loc.checkContent(true, b.id, true); err != nil {
			closeOnErr()
			return nil, err
		}
	} else if loc.markerID != b.id {
		// A new box (its schema is committed and synced by now), or one
		// created before markers existed.
		if err := writeMarker(loc, b.id); err != nil {
			closeOnErr()
			return nil, err
		}
	}
	if lock != nil && !opts.ReadOnly {
		// The run engine's box: its workers' first claims all probe at
		// once.
		b.stmts.warm(ctx, claimProbe)
		// Open for days: see sweepTempLoop.
		b.tempSweepDone = make(chan struct{})
		go b.sweepTempLoop(opts.TempSweepEvery, opts.StaleUploadAfter)
	}
	return b, nil
}

// ID returns the box's identity (see msgbox.Box).
func (b *Box) ID() string { return b.id }

// createFile creates path with mode 0600 if it does not exist. SQLite would
// create it 0644; it gives the -wal and -shm files the database file's mode,
// so creating the file first keeps all three private.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn builds the driver's data source name. The file: URI form is used so
// that SQLite honours mode=ro and so that a path containing '?' or '#' is
// escaped rather than cut short. Every pool connection runs the pragmas, as
// most of them are per connection.
func dsn(path string, opts Options) string {
	q := url.Values{}
	q.Add("_pragma", busyTimeout(opts.BusyTimeout))
	q.Add("_pragma", "foreign_keys(1)")
	// NORMAL: a commit does not sync the log; the box syncs it itself,
	// after the commit and before answering (see syncer). SQLite still
	// syncs the log before a checkpoint copies it into the database file,
	// and the database file after.
	q.Add("_pragma", "synchronous(NORMAL)")
	// Group commit runs every write in a savepoint; a savepoint's journal
	// (the pages it changes, for a rollback to it) would otherwise spill
	// to a temporary file, at a write(2) per page. A batch's worth of
	// pages is small.
	q.Add("_pragma", "temp_store(MEMORY)")
	if opts.ReadOnly {
		q.Set("mode", "ro")
		if opts.immutable != nil {
			q.Set("immutable", "1") // see snapshotReason
		}
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// A large Receive grows the WAL; truncate it back after a
		// checkpoint rather than keep the high-water mark on disk.
		q.Add("_pragma", "journal_size_limit(67108864)")
	}
	if opts.MaxSize > 0 {
		// The default page size is 4096; a box created by Open keeps it.
		pages := opts.MaxSize / 4096
		if pages < 1 {
			pages = 1
		}
		q.Add("_pragma", "max_page_count("+strconv.FormatInt(pages, 10)+")")
	}
	q.Set("_txlock", "immediate")
	return fileURI(path, q)
}

// fileURI is the SQLite URI of the database file at path, an absolute
// path, with query q. A Windows path (C:\data\box.db) becomes
// file:///C:/data/box.db: SQLite reads what follows file:// up to the next
// slash as the URI's authority and refuses any but "" and "localhost", so
// file://C:/data/box.db fails ("invalid uri authority: C:"). A UNC path
// (\\server\share\box.db) already starts with slashes, a Unix path with one.
func fileURI(path string, q url.Values) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

// busyTimeout is the pragma that makes a connection wait up to d for a lock
// another process holds.
func busyTimeout(d time.Duration) string {
	return "busy_timeout(" + strconv.FormatInt(d.Milliseconds(), 10) + ")"
}

// peekAppID reads the application id of the database at path through a
// read-only connection of its own, which changes nothing in the file. It
// waits up to busy for a lock another process holds, as the box's own
// connections do: another process opening or checkpointing the box (a
// `bizpipe messages` next to a starting `run`) must not make the open
// fail.
//
// immutable opens the file as SQLite's immutable: no lock taken, no -shm
// or -wal opened or created (see snapshotReason).
func peekAppID(path string, busy time.Duration, immutable bool) (int64, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	if immutable {
		q.Set("immutable", "1")
	}
	q.Add("_pragma", busyTimeout(busy))
	db, err := sql.Open("sqlite", fileURI(path, q))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var appID int64
	if err := db.QueryRow("PRAGMA application_id").Scan(&appID); err != nil {
		return 0, fmt.Errorf("reading the application id: %w", err)
	}
	return appID, nil
}

// init checks the connection settings, brings the schema up to date and,
// unless opts.Reading, sweeps stale uploads.
func (b *Box) init(ctx context.Context, opts Options, loc *location) error {
	var mode string
	if err := b.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	// An immutable connection reads the file without its log, as a
	// database in rollback mode.
	if mode != "wal" && opts.immutable == nil {
		// Without WAL a reader would block the writer and the other way
		// round; that is a misconfigured file system, not a box to run on.
		return fmt.Errorf("journal mode is %q, not wal (is the file on a file system without shared memory?)", mode)
	}
	if b.readOnly {
		return b.checkSchema(ctx)
	}
	if err := b.migrate(ctx, loc, opts.NoCreate, opts.Reading); err != nil {
		return err
	}
	if opts.Reading {
		return nil
	}
	return b.sweep(ctx, b.now().Add(-opts.StaleUploadAfter), opts.Lock)
}

// migrations returns the embedded schema scripts in order; script i brings
// the schema from version i to i+1 (PRAGMA user_version).
func migrations() ([]string, error) { return msgbox.Migrations(schemaFS, "schema") }

// SchemaVersion is the schema version this package creates and expects.
func SchemaVersion() int {
	scripts, err := migrations()
	if err != nil {
		// The scripts are compiled in; failing to list them is a build
		// defect that every test would show.
		panic(err)
	}
	return len(scripts)
}

// identity reads the file's application id and schema version.
func identity(ctx context.Context, q querier) (appID, version int64, err error) {
	if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return 0, 0, err
	}
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, 0, err
	}
	return appID, version, nil
}

// migrate applies the missing schema scripts in one immediate transaction,
// so that two processes opening a new file at once do not both create it.
// It creates a box only where loc allows it (see location.checkContent).
// With reading, a schema already current is only read (Options.Reading).
func (b *Box) migrate(ctx context.Context, loc *location, noCreate, reading bool) error {
	scripts, err := migrations()
	if err != nil {
		return err
	}
	if reading {
		current, err := b.schemaCurrent(ctx, loc, noCreate, int64(len(scripts)))
		if err != nil || current {
			return err
		}
	}
	return b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		appID, version, err := identity(ctx, tx)
		if err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		switch {
		case appID != 0 && appID != applicationID:
			return fmt.Errorf("not a bizpipe message box (application id %#x)", appID)
		case appID == 0:
			var tables int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
				return err
			}
			if tables > 0 {
				return fmt.Errorf("not a bizpipe message box (the database has %d schema objects of another application)", tables)
			}
		case version > int64(len(scripts)):
			return fmt.Errorf("schema version %d is newer than this bizpipe supports (%d): upgrade bizpipe", version, len(scripts))
		}
		hasSchema := appID == applicationID
		if hasSchema && version < int64(len(scripts)) && b.lock == nil {
			// A bizpipe messages command of a newer bizpipe beside the run
			// of an older one, which holds the box's lock: that run could
			// not use the migrated box (it failed every receive after the
			// rename of schema 4) and could not start again. The lock is
			// held while the scripts run: a run that starts before their
			// commit waits for the write lock, then finds the new version
			// and refuses it. A lock that cannot be taken for another
			// reason (a user who may not write the lock file) is no run's.
			l, err := filelock.Acquire(loc.db + lockSuffix)
			var held *filelock.HeldError
			if errors.As(err, &held) {
				pid := "pid unknown"
				if held.PID > 0 {
					pid = "pid " + strconv.Itoa(held.PID)
				}
				return fmt.Errorf("schema version %d is older than this bizpipe's (%d) and the box is %w (%s, lock file %s), which cannot use a migrated box: stop that bizpipe run, then run this again to migrate the box",
					version, len(scripts), ErrInUse, pid, held.Path)
			}
			if err == nil {
				defer l.Release()
				if err := loc.owner.give(loc.db + lockSuffix); err != nil {
					return err
				}
			}
		}
		if !hasSchema {
			if err := loc.checkContent(false, "", noCreate); err != nil {
				return err
			}
		}
		for v := version; v < int64(len(scripts)); v++ {
			// Scripts and PRAGMAs run once: not worth a prepared statement.
			if _, err := tx.Tx.ExecContext(ctx, scripts[v]); err != nil {
				return fmt.Errorf("migrating schema to version %d: %w", v+1, err)
			}
		}
		// PRAGMA takes no parameters; both values are integers we control.
		if _, err := tx.Tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return err
		}
		if _, err := tx.Tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(scripts))); err != nil {
			return err
		}
		if hasSchema {
			// Checked after the scripts, which give a box from before
			// identities one; an error undoes them.
			var id string
			if err := tx.QueryRowContext(ctx, "SELECT id FROM box_identity").Scan(&id); err != nil {
				return fmt.Errorf("reading the box identity: %w", err)
			}
			return loc.checkContent(true, id, noCreate)
		}
		return nil
	})
}

// schemaCurrent reports whether the box's schema is at version want, and
// checks then what migrate checks of it, in a read transaction: one that
// waits for no writer (WAL). A version only grows, and this package knows
// none above want: once current, it stays so.
func (b *Box) schemaCurrent(ctx context.Context, loc *location, noCreate bool, want int64) (bool, error) {
	current := false
	err := b.withRead(ctx, func(tx *cachedTx) error {
		appID, version, err := identity(ctx, tx)
		if err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		switch {
		case appID == applicationID && version > want:
			return fmt.Errorf("schema version %d is newer than this bizpipe supports (%d): upgrade bizpipe", version, want)
		case appID != applicationID || version < want:
			return nil
		}
		var id string
		if err := tx.QueryRowContext(ctx, "SELECT id FROM box_identity").Scan(&id); err != nil {
			return fmt.Errorf("reading the box identity: %w", err)
		}
		current = true
		return loc.checkContent(true, id, noCreate)
	})
	return current, err
}

// checkSchema verifies, for a read-only box, that the file is a box of the
// schema version this package reads; it cannot migrate.
func (b *Box) checkSchema(ctx context.Context) error {
	appID, version, err := identity(ctx, b.db)
	if err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	want := int64(SchemaVersion())
	switch {
	case appID != applicationID:
		return fmt.Errorf("not a bizpipe message box (application id %#x)", appID)
	case version > want:
		// What migrate says: no run of this bizpipe can migrate it.
		return fmt.Errorf("schema version %d is newer than this bizpipe supports (%d): upgrade bizpipe", version, want)
	case version != want:
		return fmt.Errorf("schema version %d, this bizpipe reads %d: open it read-write once (bizpipe run) to migrate", version, want)
	}
	return nil
}

// sweep removes the staged bodies of Receives interrupted before they
// committed (no message references them) untouched since before: chunk
// rows (of a box written before body files) and body files; with linked,
// the body files that are kept inputs at once (see sweepFiles).
func (b *Box) sweep(ctx context.Context, before time.Time, linked bool) error {
	return b.withWrite(ctx, func(ctx context.Context, tx *cachedTx) error {
		if err := b.sweepFiles(ctx, tx, before, linked); err != nil {
			return err
		}
		// NOT EXISTS is a guard: a body a message references has no
		// touched_at, and the foreign key would refuse its deletion anyway.
		_, err := tx.ExecContext(ctx, `DELETE FROM bodies WHERE touched_at IS NOT NULL AND touched_at < ?
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = bodies.id)`, toDB(before))
		if err != nil {
			return fmt.Errorf("removing interrupted uploads: %w", err)
		}
		return nil
	})
}

// Path returns the absolute path of the database file.
func (b *Box) Path() string { return b.path }

// Close closes the database. A second Close returns nil. Writes in progress
// complete first; writes that have not started fail with errClosed.
func (b *Box) Close() error {
	b.closeOnce.Do(func() {
		close(b.quit)
		<-b.writerDone
		<-b.syncerDone
		if b.tempSweepDone != nil {
			<-b.tempSweepDone
		}
		b.stmts.close()
		if err := b.db.Close(); err != nil {
			b.closeErr = fmt.Errorf("message box %s: close: %w", b.path, err)
		}
		if err := b.turns.close(); err != nil && b.closeErr == nil {
			b.closeErr = fmt.Errorf("message box %s: closing the turn file: %w", b.path, err)
		}
		// After the database is closed: the next holder finds it quiet.
		if err := b.lock.Release(); err != nil && b.closeErr == nil {
			b.closeErr = fmt.Errorf("message box %s: releasing the lock: %w", b.path, err)
		}
	})
	return b.closeErr
}

// querier is what *sql.DB and *sql.Tx share, for helpers that run either in
// a transaction or on the pool.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// errClosed answers writes attempted after Close.
var errClosed = errors.New("message box closed")

// maxBatch bounds how many writes share one transaction: enough to absorb
// every writer of a busy engine into one fsync, few enough that a batch
// holds the write lock (which `bizpipe messages` in another process waits
// for) only briefly.
const maxBatch = 64

// writeFunc is one caller's write. It runs in the writer goroutine, inside
// a savepoint of a transaction it may share with other callers' writes, and
// must therefore:
//   - run its statements with the ctx it is given, never its caller's: a
//     cancelled statement interrupts SQLite, and an interrupted write rolls
//     back the whole transaction, the other callers' writes included;
//   - neither commit nor roll back (withWrite does, by savepoint);
//   - set its results (variables it captures) afresh on every run: it runs
//     again when a fault in a later write of its batch lost the transaction
//     (SQLite rolls back the whole transaction on SQLITE_FULL or an I/O
//     error in some statements), and only the last run counts.
type writeFunc func(ctx context.Context, tx *cachedTx) error

// writeReq is one withWrite call queued for the writer.
type writeReq struct {
	ctx  context.Context // the caller's: checked before fn runs
	fn   writeFunc
	done chan error // buffered: the writer never waits for the caller

	// state decides, once, who gives up on the request: the writer taking
	// it (then the caller waits for its result, whatever its context) or
	// the caller leaving before that (then it never runs).
	state atomic.Int32
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// take claims r for the writer; false if its caller has left. A request
// carried over from a lost transaction is already taken.
func (r *writeReq) take() bool {
	return r.state.CompareAndSwap(reqQueued, reqTaken) || r.state.Load() == reqTaken
}

// withWrite runs fn in a write (BEGIN IMMEDIATE) transaction and returns
// nil only once that transaction is committed and synced to disk.
//
// Group commit: the transaction is shared. The writer goroutine begins a
// transaction for the first queued write, takes every other write already
// queued (up to maxBatch), runs each in its own savepoint, and commits
// once: with synchronous=FULL a commit costs an fsync, and concurrent
// writers now share it instead of queueing for one each. A write whose fn
// fails is rolled back to its savepoint and gets fn's error; the others in
// its batch are unaffected. A failed commit fails every write of the batch
// whose fn succeeded.
//
// Pipelined sync: the writer commits without syncing and goes on with the
// next batch while the syncer syncs the log and answers the committed
// batches, all those committed before the sync started at once. Another
// connection may read a write before it is synced; that is safe because
// every effect outside the box (deleting a source, delivering) waits for
// the answer to a write, and the log is synced in order: the sync that
// answers a later write covers every earlier commit. If a sync fails,
// the writes it was to cover get its error although committed, wrapping
// msgbox.ErrCommitUncertain, and, when its fsync failed (not its open of
// the log), the box takes no more writes (see syncFailed).
//
// Cancellation: a caller whose ctx ends before the writer takes its write
// returns ctx.Err() and the write never runs. Once taken, the write may be
// running or committed already, so the caller waits for its result (at
// most the rest of one batch; the write lock is held by then) rather than
// return an error for a write that may have been stored: every error from
// withWrite therefore means nothing of fn was committed (but for a failed
// log sync's: msgbox.ErrCommitUncertain), as the callers
// rely on (a Receive without a SourceKey that failed would otherwise be
// stored, and repeated by the retry, and a chunk write would read its
// buffer after the caller reused it).
func (b *Box) withWrite(ctx context.Context, fn writeFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.noWrites != nil {
		return b.noWrites
	}
	b.writers.Add(1)
	defer b.writers.Add(-1)
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return errClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
	case <-b.writerDone:
	}
	if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return errClosed
	}
	return <-r.done // taken: the writer answers every request it took
}

// runWriter is the writer goroutine: it runs batches until Close, and
// answers every request it took before returning.
func (b *Box) runWriter() {
	defer close(b.writerDone)
	defer close(b.committed)
	var carry []*writeReq // taken or received, not yet answered
	for {
		if len(carry) == 0 {
			select {
			case r := <-b.reqs:
				carry = append(carry, r)
			case <-b.quit:
				return
			}
		}
		carry = b.runBatch(carry)
		// Between batches the writer holds no connection: the time to
		// prepare the statements the batch ran unprepared.
		b.stmts.preparePending(context.Background())
	}
}

// runBatch runs batch, plus the requests queued meanwhile, in one
// transaction. It returns the requests to run again in the next one: those
// of a transaction lost to a fault (see writeFunc).
func (b *Box) runBatch(batch []*writeReq) []*writeReq {
	// The writer's statements run with a context nothing cancels: see
	// writeFunc. BeginTx's context would also roll back the transaction
	// when cancelled.
	ctx := context.Background()
	if failed := b.syncFailed.Load(); failed != nil {
		err := fmt.Errorf("refusing writes: an earlier sync of the write-ahead log failed (%w); restart to recover from what is on disk", *failed)
		for _, r := range batch {
			if r.take() {
				r.done <- err
			}
		}
		return nil
	}
	defer b.turns.before()()
	sqlTx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		err = beginError(err, b.busyTimeout)
		for _, r := range batch {
			if r.take() {
				r.done <- err
			}
		}
		return nil
	}
	tx := &cachedTx{Tx: sqlTx, c: b.stmts}
	// Taken after BEGIN: the writes queued while it waited for the lock
	// (another process's commit) or while the previous batch synced join
	// this one.
drain:
	for len(batch) < maxBatch {
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		default:
			break drain
		}
	}

	var ok []*writeReq // fn succeeded: answered after the commit
	for i, r := range batch {
		if !r.take() {
			continue // the caller left before it ran
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		fnErr, lost := runSavepoint(ctx, tx, r.fn)
		if lost != nil {
			// The transaction is gone or in an unknown state: drop it.
			// This request is answered (so every lost transaction
			// answers one and the writer makes progress); the writes
			// that succeeded before it were lost with the transaction
			// and run again, with those not yet run, in the next one.
			_ = tx.Rollback() // fails if SQLite already rolled back
			if fnErr == nil {
				fnErr = lost
			}
			r.done <- fnErr
			return append(ok, batch[i+1:]...)
		}
		if fnErr != nil {
			r.done <- fnErr
			continue
		}
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		_ = tx.Rollback() // nothing to keep: spare the sync
		return nil
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", err)
		for _, r := range ok {
			r.done <- err
		}
		return nil
	}
	b.commits.Add(1)
	b.committed <- ok // answered by the syncer
	return nil
}

// beginError is the error of a write whose BEGIN failed: when another
// process held the write lock for all of busyTimeout, it says so and where
// to look, as SQLite's "database is locked" does not.
func beginError(err error, busyTimeout time.Duration) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("begin write transaction: another process held the box's write lock for all of the %v this one waits for it; "+
			"bizpipe run leaves it to other processes between its own writes, so look for a program that keeps the database open in a transaction (the sqlite3 shell, a backup tool): %w",
			busyTimeout, err)
	}
	return fmt.Errorf("begin write transaction: %w", err)
}

// runSyncer is the syncer goroutine: it syncs the log for the batches the
// writer committed and answers their requests, every batch committed
// before a sync starts answered by that one sync. It returns when the
// writer has returned and every batch is answered.
func (b *Box) runSyncer() {
	defer close(b.syncerDone)
	for reqs := range b.committed {
	more:
		for {
			select {
			case next, ok := <-b.committed:
				if !ok {
					break more
				}
				reqs = append(reqs, next...)
			default:
				break more
			}
		}
		var err error
		if failed := b.syncFailed.Load(); failed != nil {
			err = *failed
		} else if err = b.syncLogRetrying(); err != nil {
			err = fmt.Errorf("syncing the write-ahead log: %w", err)
			// A log that could not be opened (too many open files,
			// no memory) was not synced, and no failed fsync has
			// dropped its pages: the next sync covers these commits,
			// so the box goes on taking writes. A failed fsync may
			// have dropped them while a later one succeeds: that one
			// stops the writes.
			if !syncNotStarted(err) {
				b.syncFailed.Store(&err)
			}
		}
		answer := err
		if err != nil {
			// Committed, but maybe not on disk: whether a restart finds
			// them is unknown. (Writes refused later did not commit:
			// their error, made of syncFailed, does not say this.)
			answer = fmt.Errorf("%w: %w", err, msgbox.ErrCommitUncertain)
		}
		for _, r := range reqs {
			r.done <- answer
		}
	}
}

// syncOpenWaits are the waits before the syncer tries again to open a log
// it could not open (see syncNotStarted), about 0.9 s in all: descriptors
// used up by a burst of connections or files are soon given back, and a
// write answered as a commit in doubt costs its caller more (a claim in
// doubt holds its deliveries until their lease runs out).
var syncOpenWaits = []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond}

// syncLogRetrying is syncLog, tried again after each of syncOpenWaits
// while it fails before its fsync.
func (b *Box) syncLogRetrying() error {
	err := b.syncLog()
	for _, wait := range syncOpenWaits {
		if err == nil || !syncNotStarted(err) {
			break
		}
		time.Sleep(wait)
		err = b.syncLog()
	}
	return err
}

// syncNotStarted reports whether err is a log sync that failed before its
// fsync: opening the log failed.
func syncNotStarted(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op == "open"
}

// syncWAL syncs the write-ahead log file at path: what is appended to it is
// on disk once it returns. A log that does not exist has nothing unsynced:
// SQLite removes it only after checkpointing it into the database file,
// which it syncs.
func syncWAL(path string) error {
	if runtime.GOOS == "linux" {
		return syncWALRaw(path)
	}
	// Windows' FlushFileBuffers needs a handle opened for writing; fsync
	// does not, and read-only is the least a sync needs.
	flag := os.O_RDONLY
	if runtime.GOOS == "windows" {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// runSavepoint runs fn in savepoint w of tx. fnErr is fn's error, its
// changes undone; lost reports that tx can no longer be trusted to hold
// the batch's earlier writes (a savepoint statement failed, typically
// because an error in fn made SQLite roll back the whole transaction).
func runSavepoint(ctx context.Context, tx *cachedTx, fn writeFunc) (fnErr, lost error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	if fnErr = fn(ctx, tx); fnErr != nil {
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
			return fnErr, fmt.Errorf("rollback to savepoint: %w", err)
		}
	}
	// RELEASE after ROLLBACK TO too: ROLLBACK TO keeps the savepoint open.
	if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
		return fnErr, fmt.Errorf("release savepoint: %w", err)
	}
	return fnErr, nil
}

// withRead runs fn in a read transaction: one snapshot for several queries.
// It never takes the write lock.
func (b *Box) withRead(ctx context.Context, fn func(tx *cachedTx) error) error {
	tx, err := b.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer tx.Rollback()
	return fn(&cachedTx{Tx: tx, c: b.stmts})
}

// wrap names the database file and the operation in err.
func (b *Box) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("message box %s: %s: %w", b.path, fmt.Sprintf(format, args...), err)
}

// clock returns the current time at the precision the box stores.
func (b *Box) clock() time.Time { return msgbox.Timestamp(b.now()) }

func toDB(t time.Time) int64 { return t.UnixMicro() }

func fromDB(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromDB(v.Int64)
}
