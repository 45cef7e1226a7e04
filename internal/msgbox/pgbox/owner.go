package pgbox

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// ownerLockSpace is the first key of the advisory locks that hold owner
// names ("bizp"), so that they do not meet other applications' locks in
// the same database.
const ownerLockSpace = 0x62697a70

// ownerRecheck is how often a hold makes sure its session, and so its
// lock, is still there.
const ownerRecheck = 10 * time.Second

// ownerWait is how long HoldOwner tries a name another session holds.
const ownerWait = 10 * time.Second

var _ msgbox.OwnerHolder = (*Box)(nil)

// HoldOwner makes this process the only one that runs as owner on the box
// (see msgbox.OwnerHolder), with a session-level advisory lock on a
// connection of its own. The lock goes with its session: when the
// connection is lost, the hold connects again and takes the lock again,
// telling lost when another process holds it meanwhile, until it has it
// back or release is called.
//
// A process killed a moment ago may still hold the name: the server ends
// its session, and the lock, only once it has read the closed connection.
// So a name held by another session is tried again for ownerWait before
// HoldOwner gives up. A server that vanished without closing its
// connections (a power cut, a partition) holds it until the database's
// keepalives find the connection dead, which the session asks to be
// within about half a minute (ownerConnConfig).
func (b *Box) HoldOwner(ctx context.Context, owner string, lost func(error)) (release func(), err error) {
	owner = msgbox.CleanText(owner)
	var conn *pgx.Conn
	for deadline := time.Now().Add(b.ownerWait); ; {
		conn, err = b.takeOwner(ctx, owner)
		if !errors.Is(err, msgbox.ErrOwnerInUse) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, b.wrap(ctx.Err(), "hold the name %s", owner)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, b.wrap(err, "hold the name %s", owner)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.keepOwner(hctx, owner, conn, lost)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}, nil
}

// takeOwner connects and takes owner's lock; the connection holds it.
func (b *Box) takeOwner(ctx context.Context, owner string) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, b.ownerConnConfig())
	if err != nil {
		return nil, err
	}
	// The session idles between the hold's pings: a database whose
	// idle_session_timeout (PostgreSQL 14 on) is shorter would end it,
	// and the lock with it, leaving the name free to a second process
	// until the next recheck. Read from pg_settings, not set in the
	// startup packet, which an older server refuses as unknown.
	_, err = conn.Exec(cctx, `SELECT set_config(name, '0', false) FROM pg_settings WHERE name = 'idle_session_timeout'`)
	var got bool
	if err == nil {
		err = conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, ownerLockSpace, owner).Scan(&got)
	}
	if err == nil && !got {
		err = ownerInUse(cctx, conn, owner)
	}
	if err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// ownerConnConfig is the configuration of a hold's connection: the box's,
// with TCP keepalives the database sends every 5 s after 10 s of silence,
// and gives up on after 3 unanswered, so that the lock of a server that
// vanished goes within about 25 s rather than the system's default of
// hours. (Settings the URL gives win; a Unix socket ignores them.)
func (b *Box) ownerConnConfig() *pgx.ConnConfig {
	cfg := b.connCfg.Copy()
	for k, v := range map[string]string{"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	return cfg
}

// ownerInUse is the error of a lock on owner that another session holds,
// naming that session as the database sees it.
func ownerInUse(ctx context.Context, conn *pgx.Conn, owner string) error {
	held, err := ownerHolders(ctx, conn, owner)
	if err != nil || len(held) == 0 {
		// Who holds it is detail: the refusal stands without it.
		return fmt.Errorf("%w: %s", msgbox.ErrOwnerInUse, owner)
	}
	return fmt.Errorf("%w: %s, by the session of %s", msgbox.ErrOwnerInUse, owner, held[0])
}

// querier is what ownerHolders reads with: a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ownerHolders describes the sessions that hold owner's lock on the
// database, or, with owner "", any owner's: "backend PID connected from
// ADDRESS since TIME", as far as the role may see (without
// pg_read_all_stats, another role's session shows neither).
func ownerHolders(ctx context.Context, q querier, owner string) ([]string, error) {
	// The lock's second key, an int4, shows as an oid: the same 32 bits.
	rows, err := q.Query(ctx, `SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid AND l.objsubid = 2
			AND ($2 = '' OR l.objid = hashtext($2)::oid)
			AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY a.backend_start`, ownerLockSpace, owner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var pid int
		var addr *netip.Prefix
		var since *time.Time
		if err := rows.Scan(&pid, &addr, &since); err != nil {
			return nil, err
		}
		text := fmt.Sprintf("backend %d", pid)
		switch {
		case addr != nil:
			text += " connected from " + addr.Addr().String()
		case since != nil: // a local socket shows no address; hidden, neither shows
			text += " connected from a local socket"
		}
		if since != nil {
			text += " since " + since.UTC().Format(time.RFC3339)
		}
		out = append(out, text)
	}
	return out, rows.Err()
}

// keepOwner makes sure, every ownerRecheck, that conn still holds owner's
// lock, and takes it again on a new connection when conn is lost, until
// ctx ends; then it closes the connection, which releases the lock.
func (b *Box) keepOwner(ctx context.Context, owner string, conn *pgx.Conn, lost func(error)) {
	t := time.NewTicker(b.ownerRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if conn != nil {
				unlockOwner(conn, owner)
				closeConn(conn)
			}
			return
		case <-t.C:
		}
		if conn != nil {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err == nil || ctx.Err() != nil {
				continue
			}
			closeConn(conn)
			conn = nil
		}
		c, err := b.takeOwner(ctx, owner)
		switch {
		case err == nil:
			conn = c
		case errors.Is(err, msgbox.ErrOwnerInUse) && lost != nil:
			lost(b.wrap(err, "hold the name %s again after its connection was lost", owner))
		}
		// Any other error (the database still down): the next tick tries
		// again.
	}
}

// unlockOwner releases owner's lock that conn holds, and returns once the
// server has: closing the connection alone releases it only when the
// server has ended the session, a moment later, and a newer bizpipe
// started right after this one stopped (an upgrade's restart) would find
// the name still held and refuse to migrate the box (noServerRuns). A
// connection that fails here releases it as it closes.
func unlockOwner(conn *pgx.Conn, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, ownerLockSpace, owner)
}

// closeConn closes a connection of its own (a hold's, the listener's),
// giving the server a few seconds to hear it.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Close(ctx)
}
