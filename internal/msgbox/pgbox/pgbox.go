// Package pgbox is the shared message box: a PostgreSQL database that every
// server of a group uses at once (scale-out), through pgx/v5.
//
// # Clock
//
// The times the box records and decides by come from the database's clock
// (clock_timestamp()), never from the calling server's: received_at, history
// times, lease expiry and what is due. Several servers whose clocks disagree
// then still agree on whether a lease has expired, so a server whose clock
// runs ahead cannot take over a live lease. The one time a caller gives,
// Outcome.RetryAt, is stored as given (msgbox.Timestamp), as the conformance
// suite requires: a retry is then early or late by the caller's clock skew,
// which is harmless next to retry intervals of minutes. NextDue returns
// database times; a runner sleeping until one of them is off by the same
// skew, and Subscribe (LISTEN/NOTIFY) wakes it for new work regardless.
//
// # Transactions and locks
//
// Transactions run at READ COMMITTED. ClaimBatch selects the next
// due deliveries with FOR UPDATE SKIP LOCKED, so concurrent claimers, in
// this process or on other servers, never wait for each other nor take the
// same delivery.
// A message's status is derived (msgbox.DeriveStatus) from all its
// deliveries and stored with it; to compute it from states nobody is
// changing, every transaction that changes a delivery's state holds its
// message's row lock (FOR NO KEY UPDATE), taken after the delivery rows
// it changes and before reading the clock and the deliveries' states. The
// order (delivery rows in id order, then message rows in id order; nobody
// waits for a delivery while holding a message) rules out deadlocks.
//
// Round trips are what a remote database costs, so statements travel in
// pipelines (pgx batches): a transaction's BEGIN goes with its first batch
// of reads and its COMMIT with its batch of writes. Finish, Route, Get and
// a ReceiveRouted of a body of one chunk take two round trips or fewer, and
// so does ClaimBatch (whatever its max), plus a probe of one round
// trip when the box's last claim found nothing (all a claim costs when
// nothing is due).
//
// # Bodies
//
// A body is stored in bytea rows of ChunkSize bytes. ReceiveRouted holds one chunk
// in memory, Body's reader one. A body of one chunk is stored with its
// message in a single statement (one round trip; a route adds the
// routing, in the same transaction). A larger one is stored in one
// transaction that inserts the message row first, then the chunks as they
// are read, then the size and checksum (and the routing, with a
// route): PostgreSQL has no database-wide write lock, so a long
// transaction blocks nobody, and a Receive that fails (or a server killed
// mid-body) leaves nothing behind, with no staging area to sweep. The price
// is a pool connection held while the body is read.
//
// # Lost connections
//
// pgxpool replaces broken connections. An operation that fails because the
// connection was lost is retried with exponential backoff (50ms to 2s) for up
// to Options.ReconnectTimeout when that is safe: reads, and transactions that
// failed before their commit was sent (PostgreSQL rolled them back). When the
// connection is lost during a commit, the outcome is unknown; the box then
// looks for the effect (ReceiveRouted: the message id it inserted, stored
// with its routing or not at all; ClaimBatch: the leases it took; Finish: the attempt it recorded; Route: the message
// routed) and answers accordingly. Renew and Recover run again: renewing
// twice is renewing, and a Recover that did commit left nothing in progress
// for the second run to count again. Resume and Terminate report
// ErrCommitUncertain. The rows a transaction cut off this way had locked
// stay locked until the server notices the connection is gone, usually at
// once: a claim meanwhile passes such a delivery over, as it does one
// another claimer is taking. A Receive whose body is larger than a chunk
// cannot be retried once the body has been read; it fails, the source is
// not acknowledged and is received again later, and SourceKey
// de-duplication makes that safe for file sources.
//
// # Notifications
//
// Route, ReceiveRouted, Resume, Recover and a Finish that schedules a retry
// send pg_notify('bizpipe_deliveries', port) with the transaction; a
// ReceiveHandoff only for the ports whose deliveries it leaves pending.
// Subscribe listens on a dedicated connection, opened when first needed
// and re-established with backoff (100ms to 5s) when lost, so that
// idle servers wake for new work instead of polling tightly.
//
// # Secrets
//
// Errors name the database as user@host:port/database and never contain the
// URL's password: every error the box returns has it masked.
package pgbox

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ChunkSize is the size of the rows a body is stored in: one chunk is what
// a Receive or a body reader holds in memory.
const ChunkSize = 1 << 20

// DefaultReconnectTimeout is how long an operation keeps retrying after the
// connection to the database is lost, unless Options say otherwise.
const DefaultReconnectTimeout = 30 * time.Second

// MigrationsTable records the schema versions applied to a database.
const MigrationsTable = "bizpipe_schema_migrations"

// migrationLockKey is the pg_advisory_xact_lock key that serialises schema
// migrations of concurrently starting servers ("bizpipe1" in ASCII).
const migrationLockKey int64 = 0x62697a7069706531

// Errors callers may test for, besides msgbox's.
var (
	// ErrSchemaMismatch: the database's schema version is not the one this
	// bizpipe knows (newer: upgrade bizpipe; older, with
	// Options.NoMigrate: run bizpipe once without it to migrate).
	ErrSchemaMismatch = errors.New("message box schema version mismatch")
	// ErrNoBox: with Options.NoCreate, the database holds no message box
	// (no bizpipe schema at all).
	ErrNoBox = errors.New("no message box")
	// ErrRunsBeside: the box's schema is older than this bizpipe's, and
	// servers that run on it (of the older bizpipe) hold their names:
	// they could not use a migrated box, so it is left as it is.
	ErrRunsBeside = errors.New("servers of an older bizpipe run on the box")
	// ErrCommitUncertain: the connection was lost while a change was being
	// committed, and whether it was cannot be told from its effect. Look
	// at the message (bizpipe messages show) before repeating it.
	// It wraps msgbox.ErrCommitUncertain, which sources test for.
	ErrCommitUncertain = fmt.Errorf("connection lost during commit: %w", msgbox.ErrCommitUncertain)
)

// Options tune Open. The zero value is what the run engine uses.
type Options struct {
	// MaxConns bounds the connection pool. 0 keeps pgxpool's default (the
	// URL's pool_max_conns, else the larger of 4 and the number of CPUs).
	// A Receive of a body larger than ChunkSize holds a connection while
	// it reads the body; Subscribe uses one more, outside the pool, and
	// HoldOwner another.
	MaxConns int32

	// NoMigrate opens the box without creating or migrating the schema,
	// for callers that must not change the database (validate --live).
	// CheckSchema tells whether the schema is current; other methods fail
	// if it is not.
	NoMigrate bool

	// NoCreate opens only a box that exists, for commands that operate on
	// one (bizpipe messages): in a database without the schema, Open fails
	// with an error wrapping ErrNoBox and creates nothing. An older schema
	// is still migrated.
	NoCreate bool

	// Reading opens the box for a command that only reads (bizpipe
	// messages list, show, body, mdn, a --dry-run, route --message): a
	// schema already current is then only read, so that Open writes
	// nothing, takes no lock (not the migration's) and works on a hot
	// standby or as a role that may only read. An older schema is still
	// migrated, as without Reading; on a database that takes no writes,
	// Open fails saying it must be migrated on the primary instead.
	Reading bool

	// ReconnectTimeout is how long an operation retries after the
	// connection is lost before it returns the error. 0 means
	// DefaultReconnectTimeout; negative disables the retries.
	ReconnectTimeout time.Duration

	// ConnectTimeout bounds each connection attempt when the URL sets no
	// connect_timeout: a host that drops packets then fails in this
	// time instead of the operating system's (minutes). 0 bounds the
	// pool's attempts by as long as a silent database is waited for
	// (ReconnectTimeout, see answerConn), the listener's by the context
	// alone.
	ConnectTimeout time.Duration

	// Abandoned, when not nil, hears of each attempt the box records as
	// failed on its own (see msgbox.AbandonedFunc).
	Abandoned msgbox.AbandonedFunc

	// tracer, when not nil, traces the pool's statements: for the tests
	// that count them.
	tracer pgx.QueryTracer
}

// Box is a msgbox.Box stored in PostgreSQL. It is safe for concurrent use,
// and any number of Boxes, in any number of processes and servers, may use
// the same database at once.
type Box struct {
	pool      *pgxpool.Pool
	connCfg   *pgx.ConnConfig // for the listener's own connection
	name      string          // user@host:port/database, for messages
	id        string          // the box's identity (box_identity), once migrated
	secrets   []string        // masked in every error
	retryFor  time.Duration
	noCreate  bool                 // Options.NoCreate
	abandoned msgbox.AbandonedFunc // Options.Abandoned
	// listPage is how many messages List reads at a time (msgbox.ListPage;
	// tests make it small).
	listPage int
	// purgeBatch is how many messages a Purge statement deletes at most.
	purgeBatch int

	rand io.Reader
	// bufs recycles ChunkSize buffers between Receives.
	bufs sync.Pool

	listen *listener

	// ownerRecheck and ownerWait are the constants of their names (tests
	// make them short).
	ownerRecheck, ownerWait time.Duration

	// claimIdle: the last claim found nothing to claim (see ClaimBatch).
	claimIdle atomic.Bool

	// answerWithin is how long a pool connection waits for an answer
	// before it is given up as lost (see answerConn), in nanoseconds; 0
	// while Open migrates the schema, which may take long on a large box.
	answerWithin atomic.Int64
	// lockWithin is the pool sessions' lock_timeout (lockBound), which a
	// heldLockError names.
	lockWithin time.Duration
	// poolRef is pool, for the connections' silent callback, which may
	// run before Open has set pool.
	poolRef atomic.Pointer[pgxpool.Pool]

	// keyMissed and keyConflict, when not nil, run when a Receive has not
	// found its SourceKey stored, before it stores the message, and when
	// its insert then met the key, before it looks the message up: tests
	// store a message with the key at the one and purge it at the other.
	keyMissed, keyConflict func()
	// resumeChecked, when not nil, runs in Resume's transaction once its
	// checks passed, before its changes (tests resubmit the message
	// there).
	resumeChecked func()

	closed    chan struct{} // closed by Close
	closeOnce sync.Once
}

var _ msgbox.Box = (*Box)(nil)

// Open connects to the database at url (a PostgreSQL URL or key=value
// connection string, as pgx accepts) and, unless opts.NoMigrate, creates or
// migrates the schema. Servers starting at once serialise their migrations;
// a database whose schema is newer than this package knows is refused.
func Open(ctx context.Context, url string, opts Options) (*Box, error) {
	secrets := SecretsOf(url)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, scrub(fmt.Errorf("message box: invalid PostgreSQL URL: %w", err), secrets)
	}
	if p := cfg.ConnConfig.Password; p != "" {
		secrets = append(secrets, p)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		// Shows in pg_stat_activity, for the DBA wondering whose
		// connections these are.
		cfg.ConnConfig.RuntimeParams["application_name"] = "bizpipe"
	}
	b := &Box{
		connCfg:    cfg.ConnConfig.Copy(),
		name:       describe(cfg.ConnConfig),
		secrets:    secrets,
		retryFor:   opts.ReconnectTimeout,
		noCreate:   opts.NoCreate,
		abandoned:  opts.Abandoned,
		listPage:   msgbox.ListPage,
		purgeBatch: purgeBatch,
		rand:       rand.Reader,
		closed:     make(chan struct{}),

		ownerRecheck: ownerRecheck,
		ownerWait:    ownerWait,
	}
	b.claimIdle.Store(true)
	if b.retryFor == 0 {
		b.retryFor = DefaultReconnectTimeout
	}
	// A database that stops answering counts as lost after as long as an
	// operation retries (see answerConn); so does one the pool cannot get
	// a connection from (acquireCtx), or make one to. The listener and
	// the owner hold ping their own connections (connCfg) within bounds
	// of their own.
	within := b.retryFor
	if within < 0 {
		within = DefaultReconnectTimeout
	}
	b.answerWithin.Store(int64(within))
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = within
	}
	// A statement waiting on a lock hears nothing from the database, as
	// one waiting on a frozen server does: a table another session holds
	// for long (a VACUUM FULL, a REINDEX, an ALTER TABLE) would be taken
	// for a silent database and the pool reset. A lock_timeout under the
	// answer bound ends such a wait first, its error named (heldLockError)
	// and retried, on a connection kept. Not for the listener's and the
	// owner hold's sessions (connCfg, copied above), which wait on no
	// lock; the migration waits as long as it takes (SET LOCAL).
	b.lockWithin = lockBound(within)
	if _, set := cfg.ConnConfig.RuntimeParams["lock_timeout"]; !set &&
		!strings.Contains(cfg.ConnConfig.RuntimeParams["options"], "lock_timeout") {
		cfg.ConnConfig.RuntimeParams["lock_timeout"] = strconv.FormatInt(b.lockWithin.Milliseconds(), 10)
	}
	// After the listener's copy: its session is not counted.
	cfg.ConnConfig.Tracer = &poolTracer{within: &b.answerWithin, query: opts.tracer}
	cfg.ConnConfig.DialFunc = answerDialer(cfg.ConnConfig.DialFunc, &b.answerWithin, func() {
		// Off this connection's goroutine: Reset takes the pool's lock.
		if p := b.poolRef.Load(); p != nil {
			go p.Reset()
		}
	})
	b.bufs.New = func() any { buf := make([]byte, ChunkSize); return &buf }
	b.listen = newListener(b)

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, b.wrap(err, "open")
	}
	b.pool = pool
	b.poolRef.Store(pool)
	// A ping first, within answerWithin: a database that does not answer
	// fails Open, where the migration, which waits as long as it takes,
	// would hang.
	err = b.retry(ctx, func(ctx context.Context) error { return b.pool.Ping(ctx) })
	if err == nil && !opts.NoMigrate {
		have := -1 // unknown
		if opts.Reading {
			err = b.retry(ctx, func(ctx context.Context) error {
				var err error
				have, err = b.readSchemaVersion(ctx)
				return err
			})
		}
		if err == nil && have != SchemaVersion() {
			b.answerWithin.Store(0)
			err = b.retry(ctx, b.migrate)
			b.answerWithin.Store(int64(within))
			var pgErr *pgconn.PgError
			if have > 0 && errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
				// A role that may only read, which the command needs.
				err = fmt.Errorf("%w: the database's schema is version %d, older than this bizpipe's (%d), and this role may not migrate it: migrate it first with bizpipe run or a bizpipe messages command that changes the box, as the role that owns the box's tables: %w",
					ErrSchemaMismatch, have, SchemaVersion(), err)
			}
		}
	}
	if err == nil && !opts.NoMigrate {
		err = b.retry(ctx, func(ctx context.Context) error {
			return b.pool.QueryRow(ctx, "SELECT id FROM box_identity").Scan(&b.id)
		})
	}
	if err != nil {
		pool.Close()
		return nil, b.wrap(err, "open")
	}
	return b, nil
}

// ID returns the box's identity (see msgbox.Box); "" for a box opened with
// Options.NoMigrate, which reads only the schema version.
func (b *Box) ID() string { return b.id }

// describe names the database without secrets: user@host:port/database.
func describe(c *pgx.ConnConfig) string {
	host := c.Host
	if strings.HasPrefix(host, "/") {
		host = "[" + host + "]" // a Unix socket directory
	}
	return fmt.Sprintf("postgres %s@%s:%d/%s", c.User, host, c.Port, c.Database)
}

// migrations returns the embedded schema scripts in order; script i brings
// the schema from version i to i+1.
func migrations() ([]string, error) { return msgbox.Migrations(migrationFS, "migrations") }

// SchemaVersion is the schema version this package creates and expects.
func SchemaVersion() int {
	scripts, err := migrations()
	if err != nil {
		// The scripts are compiled in; failing to list them is a build
		// defect that every test shows.
		panic(err)
	}
	return len(scripts)
}

// migrate applies the missing migrations in one transaction that holds an
// advisory lock, so that servers starting at once apply them once, one after
// the other: the second finds the schema current and does nothing.
func (b *Box) migrate(ctx context.Context) error {
	scripts, err := migrations()
	if err != nil {
		return err
	}
	return b.withTx(ctx, func(tx pgx.Tx) error {
		// Another server's migration, or a migration's ALTER TABLE
		// beside running servers, may take long: waited for as long.
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = 0"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("waiting for the migration lock: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", MigrationsTable).Scan(&exists); err != nil {
			return fmt.Errorf("looking for the schema: %w", err)
		}
		if !exists && b.noCreate {
			return fmt.Errorf("%w in the database: it has no bizpipe schema (table %s)", ErrNoBox, MigrationsTable)
		}
		// Not CREATE TABLE IF NOT EXISTS alone: that needs the CREATE
		// privilege even when the table exists, which a role granted
		// only what it does to the rows (the schema another's) has not.
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+MigrationsTable+` (
				version    integer     PRIMARY KEY,
				applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
			)`); err != nil {
				return fmt.Errorf("creating %s: %w", MigrationsTable, err)
			}
		}
		var have int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+MigrationsTable).Scan(&have); err != nil {
			return fmt.Errorf("reading the schema version: %w", err)
		}
		if have > len(scripts) {
			return fmt.Errorf("%w: the database's schema is version %d, newer than this bizpipe supports (%d): upgrade bizpipe",
				ErrSchemaMismatch, have, len(scripts))
		}
		if have > 0 && have < len(scripts) {
			if err := noServerRuns(ctx, tx, have, len(scripts)); err != nil {
				return err
			}
		}
		for v := have; v < len(scripts); v++ {
			if _, err := tx.Exec(ctx, scripts[v]); err != nil {
				return fmt.Errorf("migrating the schema to version %d: %w", v+1, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+MigrationsTable+" (version) VALUES ($1)", v+1); err != nil {
				return fmt.Errorf("recording schema version %d: %w", v+1, err)
			}
		}
		return nil
	})
}

// readSchemaVersion returns the box's schema version, for a box opened
// with Options.Reading: it only reads, so that it needs neither a writing
// transaction nor the migration lock. A version only grows, and none above
// this package's is accepted: once current, it stays so. An older schema
// (0: none) is for migrate, unless the database takes no writes (a hot
// standby, default_transaction_read_only), where migrate would fail on its
// first statement: that is said as it is.
func (b *Box) readSchemaVersion(ctx context.Context) (int, error) {
	want := SchemaVersion()
	var exists, readOnly bool
	if err := b.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL, current_setting('transaction_read_only')::boolean",
		MigrationsTable).Scan(&exists, &readOnly); err != nil {
		return 0, fmt.Errorf("looking for the schema: %w", err)
	}
	have := 0
	if exists {
		if err := b.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+MigrationsTable).Scan(&have); err != nil {
			return 0, fmt.Errorf("reading the schema version: %w", err)
		}
	}
	switch {
	case !exists && b.noCreate:
		return 0, fmt.Errorf("%w in the database: it has no bizpipe schema (table %s)", ErrNoBox, MigrationsTable)
	case have > want:
		return 0, fmt.Errorf("%w: the database's schema is version %d, newer than this bizpipe supports (%d): upgrade bizpipe",
			ErrSchemaMismatch, have, want)
	case have < want && exists && readOnly:
		return 0, fmt.Errorf("%w: the database's schema is version %d, older than this bizpipe's (%d), and the database takes no writes (a hot standby, or default_transaction_read_only): migrate it on the primary first, with bizpipe run or a bizpipe messages command that changes the box",
			ErrSchemaMismatch, have, want)
	}
	return have, nil
}

// noServerRuns fails with ErrRunsBeside when a server holds its name on
// the box (HoldOwner: a run, from the bizpipe that added those holds on)
// while its schema, at version have, is to be migrated to want. Such a
// server keeps running on what it knows of the schema, and a migration
// that renames what it writes fails its work from then on; it is for the
// operator to stop the servers first (docs/operations.md, Upgrading). The
// migration lock is held: a newer run that got the box first has no name
// held yet, since it holds its name once the box is open.
func noServerRuns(ctx context.Context, tx pgx.Tx, have, want int) error {
	holders, err := ownerHolders(ctx, tx, "")
	if err != nil {
		return fmt.Errorf("looking for servers that run on the box: %w", err)
	}
	if len(holders) == 0 {
		return nil
	}
	return fmt.Errorf("schema version %d is older than this bizpipe's (%d) and %w, which could not use a migrated box (%s): stop bizpipe run on every server, then start it again with this bizpipe",
		have, want, ErrRunsBeside, strings.Join(holders, "; "))
}

// CheckSchema reports the database's schema version (have; 0 when the box
// was never created there) and the one this package expects (want). err
// wraps ErrSchemaMismatch when they differ, and is any other error when the
// version cannot be read. It changes nothing: validate --live can call it on
// a box opened with Options.NoMigrate.
func (b *Box) CheckSchema(ctx context.Context) (have, want int, err error) {
	want = SchemaVersion()
	err = b.retry(ctx, func(ctx context.Context) error {
		var exists bool
		if err := b.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", MigrationsTable).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			have = 0
			return nil
		}
		return b.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+MigrationsTable).Scan(&have)
	})
	if err != nil {
		return 0, want, b.wrap(err, "reading the schema version")
	}
	switch {
	case have > want:
		return have, want, b.wrap(fmt.Errorf("%w: the database's schema is version %d, newer than this bizpipe supports (%d): upgrade bizpipe",
			ErrSchemaMismatch, have, want), "check schema")
	case have < want:
		return have, want, b.wrap(fmt.Errorf("%w: the database's schema is version %d, this bizpipe needs %d: run bizpipe once without read-only access to migrate it",
			ErrSchemaMismatch, have, want), "check schema")
	}
	return have, want, nil
}

// Name describes the database without secrets (user@host:port/database).
func (b *Box) Name() string { return b.name }

// Close stops listening for notifications and closes the connections. Calls
// in progress fail; so does any call after Close. A second Close returns
// nil.
func (b *Box) Close() error {
	b.closeOnce.Do(func() {
		close(b.closed)
		b.listen.stop()
		b.pool.Close()
	})
	return nil
}

// wrap names the database and the operation in err, and masks secrets.
func (b *Box) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return scrub(fmt.Errorf("message box %s: %s: %w", b.name, fmt.Sprintf(format, args...), err), b.secrets)
}

// scrubbedError is an error whose text has had secrets masked. It unwraps to
// the original, so that errors.Is and errors.As work; only its own text is
// safe to show.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub masks every secret in err's text.
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	masked := msg
	for _, s := range secrets {
		if s != "" {
			masked = strings.ReplaceAll(masked, s, "xxxxx")
		}
	}
	if masked == msg {
		return err
	}
	return &scrubbedError{msg: masked, err: err}
}

var kvPassword = regexp.MustCompile(`(?i)\b(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]+)`)

// SecretsOf finds the passwords in a connection string, as written and
// decoded, even one pgx cannot parse: those are the strings never to show.
func SecretsOf(conn string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
			if d, err := url.PathUnescape(s); err == nil && d != s {
				out = append(out, d)
			}
			if d, err := url.QueryUnescape(s); err == nil && d != s {
				out = append(out, d)
			}
		}
	}
	if u, err := url.Parse(conn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
			add(url.UserPassword("", p).String()[1:]) // as escaped in the URL
		}
		for _, k := range []string{"password", "sslpassword"} {
			for _, v := range u.Query()[k] {
				add(v)
			}
		}
	} else if i := strings.Index(conn, "://"); i >= 0 {
		// Unparsable URL: whatever sits between the user's ':' and '@'.
		rest := conn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				add(rest[c+1 : at])
			}
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(conn, -1) {
		v := m[1]
		add(v)
		if strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2 {
			add(strings.ReplaceAll(v[1:len(v)-1], `\'`, `'`))
		}
	}
	// Longest first, so that a password containing another is masked whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// ts returns a database time as the box returns times: UTC, microseconds.
func ts(t time.Time) time.Time { return msgbox.Timestamp(t) }

// tsp is ts for a nullable time; NULL is the zero time.
func tsp(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return ts(*t)
}
