//go:build linux

package pgbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/pgtest"
)

// deadline is how long a test waits for something that must happen: far
// longer than it takes on any machine, so that reaching it means it did not
// happen, never that the machine was slow.
const deadline = 30 * time.Second

func incoming(name string) msgbox.Incoming {
	return msgbox.Incoming{ReceiveLocation: "orders_in", FileName: name, ContentType: "application/xml"}
}

// route receives a small message and routes it to ports.
func route(t testing.TB, b *Box, name string, ports ...string) msgbox.Message {
	t.Helper()
	m, _, err := b.ReceiveRouted(context.Background(), incoming(name), strings.NewReader("<order>"+name+"</order>"), nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if err := b.Route(context.Background(), m.ID, ports, ""); err != nil {
		t.Fatalf("Route: %v", err)
	}
	return m
}

func mustClaim(t *testing.T, b *Box, owner string, lease time.Duration, ports ...string) *msgbox.Delivery {
	t.Helper()
	d, err := msgboxtest.ClaimOne(t.Context(), b, owner, ports, lease)
	if err != nil || d == nil {
		t.Fatalf("Claim(%s, %v) = %v, %v; want a delivery", owner, ports, d, err)
	}
	return d
}

// killBackends terminates every other connection to url's database, as a
// crashed network or an administrator would, and returns how many.
func killBackends(t *testing.T, url string) int {
	t.Helper()
	conn := pgtest.Connect(t, url)
	var n int
	err := conn.QueryRow(t.Context(), `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()) AS k`).Scan(&n)
	if err != nil {
		t.Fatalf("terminating backends: %v", err)
	}
	return n
}

func TestOpenConcurrentMigrations(t *testing.T) {
	t.Parallel()
	url := pg.NewDatabase(t)
	const servers = 4
	boxes := make([]*Box, servers)
	errs := make([]error, servers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			boxes[i], errs[i] = Open(t.Context(), url, Options{})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("server %d: Open: %v", i, err)
			continue
		}
		defer boxes[i].Close()
	}
	if t.Failed() {
		return
	}
	conn := pgtest.Connect(t, url)
	var versions []int
	rows, err := conn.Query(t.Context(), "SELECT version FROM "+MigrationsTable+" ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(versions) != SchemaVersion() || versions[len(versions)-1] != SchemaVersion() {
		t.Errorf("applied versions %v, want 1..%d once each", versions, SchemaVersion())
	}
	// Every box works on the one schema: what one stores, another reads.
	m := route(t, boxes[0], "x", "p")
	for i, b := range boxes {
		if d, err := b.Get(t.Context(), m.ID); err != nil || d.Message.Status != msgbox.StatusRouted {
			t.Errorf("server %d: Get = %v, %v", i, d, err)
		}
		if have, want, err := b.CheckSchema(t.Context()); err != nil || have != want || want != SchemaVersion() {
			t.Errorf("server %d: CheckSchema = %d, %d, %v", i, have, want, err)
		}
		// One database, one box: the servers share its identity, so that
		// one finishes what another staged.
		if b.ID() == "" || b.ID() != boxes[0].ID() {
			t.Errorf("server %d: ID %q, server 0: %q; want one shared identity", i, b.ID(), boxes[0].ID())
		}
	}
}

func TestSchemaVersionChecks(t *testing.T) {
	t.Parallel()
	b, url := openNew(t, Options{})
	want := SchemaVersion()
	conn := pgtest.Connect(t, url)
	if _, err := conn.Exec(t.Context(), "INSERT INTO "+MigrationsTable+" (version) VALUES ($1)", want+1); err != nil {
		t.Fatal(err)
	}

	// A newer schema: a newer bizpipe migrated the database.
	_, err := Open(t.Context(), url, Options{})
	if !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("Open of a newer schema: error = %v, want ErrSchemaMismatch", err)
	}
	for _, v := range []int{want + 1, want} {
		if !strings.Contains(err.Error(), strconv.Itoa(v)) {
			t.Errorf("error %q does not name version %d", err, v)
		}
	}
	have, w, err := b.CheckSchema(t.Context())
	if have != want+1 || w != want || !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("CheckSchema = %d, %d, %v; want %d, %d, ErrSchemaMismatch", have, w, err, want+1, want)
	}

	// NoMigrate on an empty database: opens, changes nothing, and says
	// the schema is missing.
	empty := pg.NewDatabase(t)
	ro := openURL(t, empty, Options{NoMigrate: true})
	have, w, err = ro.CheckSchema(t.Context())
	if have != 0 || w != want || !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("CheckSchema of an empty database = %d, %d, %v; want 0, %d, ErrSchemaMismatch", have, w, err, want)
	}
	var tables int
	if err := pgtest.Connect(t, empty).QueryRow(t.Context(),
		"SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("Open with NoMigrate created %d tables", tables)
	}
	if _, _, err := ro.ReceiveRouted(t.Context(), incoming("x"), strings.NewReader("x"), nil); err == nil {
		t.Errorf("Receive on a database without the schema succeeded")
	}
}

func TestTwoServersNeverDoubleClaim(t *testing.T) {
	t.Parallel()
	a, url := openNew(t, Options{})
	b := openURL(t, url, Options{})
	const messages = 60
	ports := []string{"p1", "p2"}
	for i := range messages {
		route(t, a, fmt.Sprint(i), ports...)
	}
	var mu sync.Mutex
	claims := map[int64][]string{}
	var wg sync.WaitGroup
	for s, box := range []*Box{a, b} {
		for w := range 4 {
			owner := fmt.Sprintf("srv%d/w%d", s, w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					d, err := msgboxtest.ClaimOne(t.Context(), box, owner, ports, time.Minute)
					if err != nil {
						t.Errorf("%s: Claim: %v", owner, err)
						return
					}
					if d == nil {
						return
					}
					mu.Lock()
					claims[d.ID] = append(claims[d.ID], owner)
					mu.Unlock()
					if err := box.Finish(t.Context(), d.ID, owner, msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
						t.Errorf("%s: Finish: %v", owner, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(claims) != messages*len(ports) {
		t.Errorf("%d deliveries claimed, want %d", len(claims), messages*len(ports))
	}
	servers := map[string]bool{}
	for id, owners := range claims {
		if len(owners) != 1 {
			t.Errorf("delivery %d claimed by %v", id, owners)
		}
		servers[owners[0][:4]] = true
	}
	done, err := msgbox.Collect(t.Context(), b, msgbox.Filter{Status: msgbox.StatusDelivered})
	if err != nil || len(done) != messages {
		t.Errorf("List(delivered) = %d messages, %v; want %d", len(done), err, messages)
	}
	t.Logf("deliveries claimed by servers: %v", servers)
}

func TestLeaseTakeoverAcrossServers(t *testing.T) {
	t.Parallel()
	a, url := openNew(t, Options{})
	b := openURL(t, url, Options{})
	m := route(t, a, "slow", "p")

	// A live lease protects the delivery from the other server.
	first := mustClaim(t, a, "srv1/w1", 500*time.Millisecond, "p")
	if d, err := msgboxtest.ClaimOne(t.Context(), b, "srv2/w1", []string{"p"}, time.Minute); err != nil || d != nil {
		t.Fatalf("srv2 claimed %v (%v) under srv1's live lease", d, err)
	}
	// srv1 is killed: it neither renews nor finishes.
	a.Close()

	// Once the lease has run out, the delivery is back in the pool for
	// srv2, with the abandoned attempt counted.
	var second *msgbox.Delivery
	for end := time.Now().Add(deadline); second == nil && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var err error
		if second, err = msgboxtest.ClaimOne(t.Context(), b, "srv2/w1", []string{"p"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if second == nil {
		t.Fatalf("srv2 could not claim the delivery within %v of srv1's death", deadline)
	}
	if second.ID != first.ID || second.Attempts != 1 || second.LeaseOwner != "srv2/w1" {
		t.Errorf("takeover = %+v, want delivery %d, 1 attempt counted, owned by srv2/w1", second, first.ID)
	}
	if !second.LeaseUntil.After(first.LeaseUntil) {
		t.Errorf("new lease until %s, not after the expired one %s", second.LeaseUntil, first.LeaseUntil)
	}

	// srv1 restarts: its late Finish is refused, and Recover leaves srv2's
	// delivery alone.
	a2 := openURL(t, url, Options{})
	if err := a2.Finish(t.Context(), first.ID, "srv1/w1", msgbox.Outcome{State: msgbox.DeliveryDelivered}); !errors.Is(err, msgbox.ErrLeaseLost) {
		t.Errorf("late Finish by srv1: %v, want ErrLeaseLost", err)
	}
	if n, err := a2.Recover(t.Context(), "srv1"); err != nil || n != 0 {
		t.Errorf("Recover(srv1) = %d, %v; want 0", n, err)
	}
	if err := b.Finish(t.Context(), second.ID, "srv2/w1", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	d, err := a2.Get(t.Context(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Message.Status != msgbox.StatusDelivered || len(d.Attempts) != 2 ||
		d.Attempts[0].Owner != "srv1/w1" || d.Attempts[0].Error != msgbox.LeaseExpiredError("srv1/w1") {
		t.Errorf("after takeover: status %s, attempts %+v", d.Message.Status, d.Attempts)
	}
}

func TestRecoverAfterKill(t *testing.T) {
	t.Parallel()
	a, url := openNew(t, Options{})
	route(t, a, "m", "p")
	d := mustClaim(t, a, "srv1/w3", time.Hour, "p")
	a.Close() // killed with an hour-long lease

	// srv1 restarts and gets its work back at once, not in an hour; srv2,
	// idle, is told.
	other := openURL(t, url, Options{})
	c, cancel := other.Subscribe([]string{"p"})
	defer cancel()
	waitSession(t, other, 1)
	drain(c)
	a2 := openURL(t, url, Options{})
	if n, err := a2.Recover(t.Context(), "srv1"); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1", n, err)
	}
	woken(t, c, "Recover")
	// The attempt the kill interrupted counts (see msgbox.Box.Recover).
	if again := mustClaim(t, other, "srv2/w1", time.Minute, "p"); again.ID != d.ID || again.Attempts != 1 ||
		again.LastError != msgbox.InterruptedError("srv1/w3") {
		t.Errorf("claim after Recover = %+v, want delivery %d, the interrupted attempt counted", again, d.ID)
	}
}

// waitSession waits until b's listener has established n sessions.
func waitSession(t *testing.T, b *Box, n int) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		got, changed, lastErr := b.listen.state()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("listener: %d sessions after %v, want %d (last error: %v)", got, deadline, n, lastErr)
		}
	}
}

func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}

func woken(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(deadline):
		t.Fatalf("no wake-up within %v of %s", deadline, what)
	}
}

// settler subscribes idle to port q and returns settle, which makes sure
// every notification sent so far has been dispatched, then empties c:
// notifications arrive in commit order on the one listening connection,
// so once a message busy routes to q has woken q's subscriber, everything
// committed before it has been seen. settle returns whether c had been
// woken meanwhile.
func settler(t *testing.T, idle, busy *Box, c <-chan struct{}) (settle func() bool) {
	t.Helper()
	q, cancel := idle.Subscribe([]string{"q"})
	t.Cleanup(cancel)
	waitSession(t, idle, 1)
	n := 0
	return func() bool {
		t.Helper()
		n++
		drain(q)
		route(t, busy, fmt.Sprintf("marker %d", n), "q")
		woken(t, q, "Route to q")
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	idle, url := openNew(t, Options{})
	busy := openURL(t, url, Options{}) // another server
	ctx := t.Context()
	c, cancel := idle.Subscribe([]string{"p", "r"})
	defer cancel()
	settle := settler(t, idle, busy, c)
	settle()
	if settle() {
		t.Errorf("a Route to q woke the subscriber of p and r")
	}

	m := route(t, busy, "mine", "p")
	woken(t, c, "Route to p")

	d := mustClaim(t, busy, "srv2/w1", time.Minute, "p")
	settle()
	if err := busy.Finish(ctx, d.ID, "srv2/w1", msgbox.Outcome{State: msgbox.DeliveryRetrying,
		RetryAt: time.Now().Add(time.Hour), Error: "partner down"}); err != nil {
		t.Fatal(err)
	}
	woken(t, c, "Finish (retrying)")

	m2 := route(t, busy, "bad", "r")
	d = mustClaim(t, busy, "srv2/w1", time.Minute, "r")
	if err := busy.Finish(ctx, d.ID, "srv2/w1", msgbox.Outcome{State: msgbox.DeliverySuspended, Error: "bad certificate"}); err != nil {
		t.Fatal(err)
	}
	settle()
	if err := busy.Resume(ctx, m2.ID); err != nil {
		t.Fatal(err)
	}
	woken(t, c, "Resume")

	// A change that is rolled back notifies nobody: a Route refused as
	// ErrInvalidState sends nothing.
	settle()
	if err := busy.Route(ctx, m.ID, []string{"p"}, ""); !errors.Is(err, msgbox.ErrInvalidState) {
		t.Fatalf("second Route: %v, want ErrInvalidState", err)
	}
	if settle() {
		t.Errorf("woken by a Route that was rolled back")
	}
}

func TestConnectionKilled(t *testing.T) {
	t.Parallel()
	b, url := openNew(t, Options{})
	ctx := t.Context()
	c, cancel := b.Subscribe([]string{"p"})
	defer cancel()
	waitSession(t, b, 1)

	// A body of several chunks, being read when the connections die.
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*ChunkSize/16+7)
	bm, _, err := b.ReceiveRouted(ctx, incoming("big"), bytes.NewReader(big), nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.Body(ctx, bm.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, ChunkSize+10)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	route(t, b, "before", "p") // the pool has connections to lose
	drain(c)

	if n := killBackends(t, url); n < 2 {
		t.Fatalf("terminated %d backends, want at least the pool's and the listener's", n)
	}

	// Everything works again, without the caller doing anything.
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading the body after the connections died: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, big) {
		t.Errorf("body read across the outage differs (%d bytes, want %d)", len(got), len(big))
	}
	m := route(t, b, "after", "p")
	d := mustClaim(t, b, "srv1/w1", time.Minute, "p")
	if err := b.Finish(ctx, d.ID, "srv1/w1", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, m.ID); err != nil || got.Message.ID != m.ID {
		t.Errorf("Get after the outage: %v", err)
	}

	// The listener reconnected, and notifications arrive again.
	waitSession(t, b, 2)
	drain(c)
	other := openURL(t, url, Options{})
	route(t, other, "notified", "p")
	woken(t, c, "a Route after the listener reconnected")
}

func TestKilledDuringLargeReceive(t *testing.T) {
	t.Parallel()
	b, url := openNew(t, Options{})
	in := incoming("big")
	in.SourceKey = "big|1"
	// The connection dies after two chunks were stored: the Receive
	// cannot be retried (the body is read), and must store nothing.
	body := io.MultiReader(bytes.NewReader(make([]byte, 2*ChunkSize)),
		readFunc(func() { killBackends(t, url) }), bytes.NewReader(make([]byte, ChunkSize)))
	if _, _, err := b.ReceiveRouted(t.Context(), in, body, nil); err == nil {
		t.Fatal("Receive whose connection was killed mid-body succeeded")
	}
	if all, err := msgbox.Collect(t.Context(), b, msgbox.Filter{}); err != nil || len(all) != 0 {
		t.Fatalf("after the failed Receive: List = %d messages, %v; want none", len(all), err)
	}
	// The source is received again, in full.
	m, dup, err := b.ReceiveRouted(t.Context(), in, bytes.NewReader(make([]byte, 3*ChunkSize)), nil)
	if err != nil || dup || m.Size != 3*ChunkSize {
		t.Fatalf("Receive again: %+v, dup=%v, %v", m, dup, err)
	}
}

// readFunc is a reader that calls f when first read, and is empty.
type readFunc func()

func (f readFunc) Read([]byte) (int, error) {
	if f != nil {
		f()
	}
	return 0, io.EOF
}

func TestServerRestart(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t) // a server of its own: restarting it disturbs nobody else
	url := srv.NewDatabase(t)
	b := openURL(t, url, Options{})
	c, cancel := b.Subscribe([]string{"p"})
	defer cancel()
	waitSession(t, b, 1)

	// Work goes on while the server restarts: operations that meet the
	// outage wait for it to end instead of failing.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var stored []string
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m, _, err := b.ReceiveRouted(t.Context(), incoming(fmt.Sprintf("%d-%d", w, i)), strings.NewReader("x"), nil)
				if err != nil {
					t.Errorf("Receive during the restart: %v", err)
					return
				}
				if err := b.Route(t.Context(), m.ID, []string{"q"}, ""); err != nil {
					t.Errorf("Route during the restart: %v", err)
					return
				}
				mu.Lock()
				stored = append(stored, m.ID)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	srv.Restart(t)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	all, err := msgbox.Collect(t.Context(), b, msgbox.Filter{Status: msgbox.StatusRouted})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(stored) {
		t.Errorf("%d messages stored and routed, List finds %d", len(stored), len(all))
	}
	waitSession(t, b, 2)
	drain(c)
	route(t, b, "after", "p")
	woken(t, c, "a Route after the server restarted")
}

func TestPasswordNeverInErrors(t *testing.T) {
	t.Parallel()
	good, err := url.Parse(pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	realPW, _ := good.User.Password()
	const secret = "s3cr3t-Pw_that-must-not-leak"

	wrongPW := *good
	wrongPW.User = url.UserPassword(good.User.Username(), secret)
	closedPort := wrongPW
	closedPort.Host = "127.0.0.1:1"
	for _, tc := range []struct{ name, url string }{
		{"wrong password", wrongPW.String()},
		{"nothing listening", closedPort.String()},
		{"unparsable URL", "postgres://bizpipe:" + secret + "@127.0.0.1:notaport/db"},
		{"bad option in URL", wrongPW.String() + "&pool_max_conns=many"},
		{"key=value", "host=127.0.0.1 port=1 user=bizpipe password=" + secret + " connect_timeout=2"},
		{"key=value, quoted", "host=127.0.0.1 port=1 user=bizpipe password='" + secret + "' sslmode=bogus"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		b, err := Open(ctx, tc.url, Options{ReconnectTimeout: 200 * time.Millisecond})
		cancel()
		if err == nil {
			b.Close()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, url.QueryEscape(secret)) {
			t.Errorf("%s: the error shows the password: %s", tc.name, msg)
		}
		t.Logf("%s: %v", tc.name, err)
	}

	// A wrong password is an answer, not an outage: Open does not retry it
	// for its whole ReconnectTimeout.
	start := time.Now()
	_, err = Open(t.Context(), wrongPW.String(), Options{ReconnectTimeout: time.Minute})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Errorf("wrong password: error = %v, want invalid_password (28P01) reachable with errors.As", err)
	}
	if took := time.Since(start); took > deadline {
		t.Errorf("wrong password: Open took %v, retrying an authentication failure", took)
	}

	// A working box's errors do not show it either.
	b := openURL(t, good.String(), Options{})
	if strings.Contains(b.Name(), realPW) {
		t.Errorf("Name() = %q shows the password", b.Name())
	}
	b.Close()
	_, err = b.Get(t.Context(), msgbox.NewID(time.Now(), strings.NewReader(strings.Repeat("x", 10))))
	if err == nil || strings.Contains(err.Error(), realPW) {
		t.Errorf("Get after Close: %v (want an error without the password)", err)
	}
}

func TestSecretsOfScrub(t *testing.T) {
	t.Parallel()
	for _, conn := range []string{
		"postgres://u:p%40ss%2Fword-x@h/db",
		"postgresql://u:plain-secret@h:5432/db?sslmode=disable",
		"postgres://u@h/db?password=query-secret",
		"user=u password=kv-secret host=h",
		"user=u password = 'quoted secret' host=h",
	} {
		secrets := SecretsOf(conn)
		if len(secrets) == 0 {
			t.Errorf("%s: no secret found", conn)
			continue
		}
		err := scrub(fmt.Errorf("failed: %s (decoded: %s)", conn, secrets[len(secrets)-1]), secrets)
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: scrubbed error %q still contains %q", conn, err, s)
			}
		}
		if !errors.Is(err, errors.Unwrap(err)) {
			t.Errorf("scrubbed error does not unwrap")
		}
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	url := pg.NewDatabase(t)
	ctx := t.Context()

	// A connection whose backend was terminated.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	killBackends(t, url)
	_, killed := conn.Exec(ctx, "SELECT 1")
	if killed == nil || !isConnErr(killed) || !retryable(killed) {
		t.Errorf("error on a terminated connection %v: isConnErr=%v retryable=%v, want both", killed,
			isConnErr(killed), retryable(killed))
	}
	_, closed := conn.Exec(ctx, "SELECT 1")
	if closed == nil || !retryable(closed) {
		t.Errorf("error on a closed connection %v: retryable=%v, want true", closed, retryable(closed))
	}

	// Answers from the database are not outages.
	conn2 := pgtest.Connect(t, url)
	_, syntax := conn2.Exec(ctx, "SELEKT 1")
	_, unique := conn2.Exec(ctx, "CREATE TABLE u (x int UNIQUE); INSERT INTO u VALUES (1), (1)")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, ctxErr := conn2.Exec(canceled, "SELECT 1")
	for name, err := range map[string]error{"syntax error": syntax, "unique violation": unique, "canceled": ctxErr} {
		if err == nil || retryable(err) {
			t.Errorf("%s (%v): retryable=%v, want false", name, err, retryable(err))
		}
	}

	// A refused connection is retryable; a lost commit is not retried
	// blindly.
	_, refused := pgx.Connect(ctx, "postgres://u:p@127.0.0.1:1/db?connect_timeout=2")
	if refused == nil || !retryable(refused) {
		t.Errorf("connection refused (%v): retryable=%v, want true", refused, retryable(refused))
	}
	lost := commitErr(killed)
	if !errors.Is(lost, ErrCommitUncertain) && isPgError(killed) == false {
		t.Errorf("commitErr(%v) = %v, want ErrCommitUncertain", killed, lost)
	}
	if u := (&uncertainError{err: io.ErrUnexpectedEOF}); retryable(u) || !errors.Is(u, ErrCommitUncertain) {
		t.Errorf("an uncertain commit: retryable=%v, Is(ErrCommitUncertain)=%v; want false, true",
			retryable(u), errors.Is(u, ErrCommitUncertain))
	}
}

// TestSourcePurgedWhileReceiving: a Receive whose insert met its SourceKey,
// stored by another Receive meanwhile, and whose message is purged before it
// is looked up, stores the message as a new one (a purged message's key is
// forgotten, see msgbox.Box.Purge) instead of failing; whatever the size of
// the body, and with a route or without.
func TestSourcePurgedWhileReceiving(t *testing.T) {
	t.Parallel()
	b, url := openNew(t, Options{})
	other := openURL(t, url, Options{})
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		size  int
		route msgbox.Router
	}{
		{"one chunk", 10, nil},
		{"one chunk, routed", 10, func(msgbox.Message) ([]string, string) { return []string{"p"}, "" }},
		{"several chunks", 2*ChunkSize + 1, nil},
	} {
		src := incoming(tc.name)
		src.SourceKey = "/in/" + tc.name
		body := strings.Repeat("b", tc.size)
		var first msgbox.Message
		b.keyMissed = func() {
			b.keyMissed = nil
			var err error
			if first, _, err = other.ReceiveRouted(ctx, src, strings.NewReader("first"), nil); err != nil {
				t.Errorf("%s: the other Receive: %v", tc.name, err)
			}
			if err := other.Terminate(ctx, first.ID); err != nil {
				t.Errorf("%s: Terminate: %v", tc.name, err)
			}
		}
		purged := 0
		b.keyConflict = func() {
			b.keyConflict = nil
			n, err := other.Purge(ctx, time.Now().Add(time.Hour))
			if err != nil {
				t.Errorf("%s: Purge: %v", tc.name, err)
			}
			purged += n
		}
		m, dup, err := b.ReceiveRouted(ctx, src, strings.NewReader(body), tc.route)
		if purged != 1 {
			t.Fatalf("%s: purged %d messages while receiving, want the other Receive's", tc.name, purged)
		}
		if err != nil || dup || m.ID == first.ID {
			t.Fatalf("%s: Receive of a source whose message was purged meanwhile: %+v, dup=%v, %v; want a new message",
				tc.name, m, dup, err)
		}
		rc, err := b.Body(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != body {
			t.Errorf("%s: body of %d bytes, %v; want the %d received", tc.name, len(got), err, len(body))
		}
		if tc.route != nil && m.Status != msgbox.StatusRouted {
			t.Errorf("%s: status %s, want routed", tc.name, m.Status)
		}
	}
}

// TestConnectTimeout: Options.ConnectTimeout bounds the connection attempts
// of a URL without connect_timeout, the pool's and the listener's; a URL's
// own connect_timeout wins.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	url := pg.NewDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	tests := []struct {
		name string
		url  string
		opt  time.Duration
		want time.Duration
		// wantPool is the pool's when not want: with none set, its
		// connections are bounded as its reads (see answerConn).
		wantPool time.Duration
	}{
		{"none", url, 0, 0, DefaultReconnectTimeout},
		{"option", url, 5 * time.Second, 5 * time.Second, 0},
		{"url wins", url + sep + "connect_timeout=2", 5 * time.Second, 2 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open(t.Context(), tt.url, Options{ConnectTimeout: tt.opt})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			wantPool := tt.want
			if tt.wantPool != 0 {
				wantPool = tt.wantPool
			}
			if got := b.pool.Config().ConnConfig.ConnectTimeout; got != wantPool {
				t.Errorf("pool's connect timeout %v, want %v", got, wantPool)
			}
			if got := b.connCfg.ConnectTimeout; got != tt.want {
				t.Errorf("listener's connect timeout %v, want %v", got, tt.want)
			}
		})
	}
}

// TestListPages: List reads page by page, each after the last message
// handed on, and lists every message once (msgboxtest.ListPages).
func TestListPages(t *testing.T) {
	t.Parallel()
	b, err := Open(t.Context(), pg.NewDatabase(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgboxtest.ListPages(t, b, func(n int) { b.listPage = n })
}

// TestPurgeBatches: a purge of several batches, each going on after the
// last message the one before deleted, deletes every message it should
// among those it keeps (msgboxtest.PurgeBatches).
func TestPurgeBatches(t *testing.T) {
	t.Parallel()
	b, err := Open(t.Context(), pg.NewDatabase(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgboxtest.PurgeBatches(t, b, func(n int) { b.purgeBatch = n })
}

// TestSentMDNsAuthenticatedMigrated: a database from before MDNs were kept
// as authenticated or not (schema version 7) keeps its pending MDNs
// through the upgrade, as unauthenticated ones, still claimed.
func TestSentMDNsAuthenticatedMigrated(t *testing.T) {
	t.Parallel()
	b, url := openNew(t, Options{})
	m, _, err := b.ReceiveRouted(t.Context(), incoming("old.edi"), strings.NewReader("ISA*00~"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	conn := pgtest.Connect(t, url)
	backToVersion7(t, conn)
	// An MDN pending in version 7's sent_mdns.
	if _, err := conn.Exec(t.Context(), `INSERT INTO sent_mdns (message_id, location, data, url, state, attempts, next_attempt_at, last_error)
			VALUES ('`+m.ID+`', 'as2_in', '\x00', 'http://127.0.0.1:1/mdn', 'pending', 0, now() - interval '1 hour', '')`); err != nil {
		t.Fatal(err)
	}

	up := openURL(t, url, Options{})
	if _, ok, err := up.NextMDNDue(t.Context(), "as2_in", false); err != nil || ok {
		t.Errorf("NextMDNDue of the authenticated after the upgrade: %v, %v; want none", ok, err)
	}
	claimed, err := up.ClaimMDNs(t.Context(), "as2_in", time.Minute, 10, 10)
	if err != nil || len(claimed) != 1 || claimed[0].MessageID != m.ID || claimed[0].Authenticated {
		t.Errorf("ClaimMDNs after the upgrade = %+v, %v; want %s, unauthenticated", claimed, err, m.ID)
	}
}

// backToVersion7 gives the box in conn's database back the schema of
// version 7, before sent_mdns.authenticated (and the trigger of 9).
func backToVersion7(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	for _, stmt := range []string{
		"DROP TRIGGER sent_mdns_pending_kept ON sent_mdns",
		"DROP FUNCTION sent_mdns_pending_kept()",
		"DROP INDEX sent_mdns_due",
		"ALTER TABLE sent_mdns DROP COLUMN authenticated",
		"CREATE INDEX sent_mdns_due ON sent_mdns (location, next_attempt_at) WHERE state = 'pending'",
		"DELETE FROM " + MigrationsTable + " WHERE version > 7",
	} {
		if _, err := conn.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// TestNoMigrationBesideARun: a box of an older schema on which a server
// runs (holding its name: HoldOwner) is not migrated by another process
// opening it (a newer bizpipe's run or messages command): that server
// would go on with what it knows of the schema, and a migration renaming
// what it writes would fail its work. The open fails naming the server's
// session and changes nothing; once the server has stopped, the box is
// migrated. A box already current opens beside a running server as ever.
func TestNoMigrationBesideARun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	running, url := openNew(t, Options{})
	release, err := running.HoldOwner(ctx, "srv1", func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	beside := openURL(t, url, Options{}) // current: opens beside it
	beside.Close()
	conn := pgtest.Connect(t, url)
	backToVersion7(t, conn)
	version := func() int {
		var v int
		if err := conn.QueryRow(ctx, "SELECT max(version) FROM "+MigrationsTable).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	_, err = Open(ctx, url, Options{})
	if !errors.Is(err, ErrRunsBeside) || !strings.Contains(err.Error(), "schema version 7 is older") ||
		!strings.Contains(err.Error(), "backend ") || !strings.Contains(err.Error(), "stop bizpipe run on every server") {
		t.Fatalf("Open beside a running server: %v; want ErrRunsBeside naming its session", err)
	}
	if v := version(); v != 7 {
		t.Fatalf("schema version %d after the refused open, want 7", v)
	}
	release()
	up := openURL(t, url, Options{})
	up.Close()
	if v, want := version(), SchemaVersion(); v != want {
		t.Errorf("schema version %d once the server stopped, want %d", v, want)
	}
}
