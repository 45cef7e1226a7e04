package sqlitebox

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
)

// stmtCache keeps one prepared statement per query text. Parsing SQL is a
// large share of the CPU a delivery costs (some 35 statements each), and
// the box runs the same few dozen texts over and over.
//
// A query not prepared yet runs unprepared and is queued; the writer
// goroutine prepares the queue between batches, when it holds no
// connection. Preparing on the spot could deadlock: a caller holding a
// pool connection (a transaction) would wait for a second one while every
// other connection is held by callers waiting for it. A prepared statement
// is used inside a transaction through Tx.StmtContext, which prepares it on
// the transaction's own connection the first time and reuses it after.
type stmtCache struct {
	db      *sql.DB
	stmts   sync.Map // query text → *sql.Stmt
	pending sync.Map // query text → struct{}: missed, to prepare
	// misses counts lookups that found no prepared statement: tests check
	// that a warmed-up box parses nothing on its hot paths.
	misses atomic.Int64
	// runs counts the statements run through the cache (all but BEGIN,
	// COMMIT and migrations): tests and benchmarks count them per message.
	runs atomic.Int64
	// texts are execRows' queries with their rows of placeholders: a few
	// per query, built once rather than at every batch.
	texts sync.Map // rowsText → string
}

// rowsText names a query of execRows with k rows of width placeholders.
type rowsText struct {
	query    string
	width, k int
}

// rows returns query with rowsMark replaced by k groups of width
// placeholders, "(?, ?), (?, ?)".
func (c *stmtCache) rows(query string, width, k int) string {
	key := rowsText{query, width, k}
	if t, ok := c.texts.Load(key); ok {
		return t.(string)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	t := strings.Replace(query, rowsMark, strings.TrimSuffix(strings.Repeat(row+", ", k), ", "), 1)
	c.texts.Store(key, t)
	return t
}

func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.runs.Add(1)
	if s, ok := c.stmts.Load(query); ok {
		return s.(*sql.Stmt)
	}
	c.misses.Add(1)
	c.pending.Store(query, struct{}{})
	return nil
}

// preparePending prepares the queries missed so far. A query that fails to
// prepare stays unprepared: running it reports the error where it matters.
func (c *stmtCache) preparePending(ctx context.Context) {
	c.pending.Range(func(k, _ any) bool {
		c.pending.Delete(k)
		c.prepare(ctx, k.(string))
		return true
	})
}

// warm prepares queries now, before anyone asks for them: for the
// statements many callers run at once when the box opens (every worker's
// first claim), each of which would otherwise parse its own. Only while
// no caller holds a connection (see stmtCache).
func (c *stmtCache) warm(ctx context.Context, queries ...string) {
	for _, q := range queries {
		c.prepare(ctx, q)
	}
}

// prepare prepares q unless it is already; a query that fails to prepare
// is left unprepared.
func (c *stmtCache) prepare(ctx context.Context, q string) {
	if _, ok := c.stmts.Load(q); ok {
		return
	}
	if s, err := c.db.PrepareContext(ctx, q); err == nil {
		c.stmts.Store(q, s)
	}
}

// close closes the prepared statements; the cache is unusable after.
func (c *stmtCache) close() {
	c.stmts.Range(func(k, v any) bool {
		_ = v.(*sql.Stmt).Close()
		c.stmts.Delete(k)
		return true
	})
}

// cachedTx is a transaction whose statements go through the cache. The
// embedded *sql.Tx stays available for statements not worth caching
// (migration scripts).
type cachedTx struct {
	*sql.Tx
	c *stmtCache
}

var _ querier = (*cachedTx)(nil)

func (t *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.c.lookup(query); s != nil {
		return t.Tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.c.lookup(query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.c.lookup(query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// cachedDB runs single statements on the pool through the cache.
type cachedDB struct {
	*sql.DB
	c *stmtCache
}

var _ querier = cachedDB{}

func (d cachedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := d.c.lookup(query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, query, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := d.c.lookup(query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, query, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := d.c.lookup(query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, query, args...)
}
