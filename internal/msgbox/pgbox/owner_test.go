//go:build linux

package pgbox

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// TestHoldOwner: one process at a time holds a name on a box, whatever
// other names are held; the refusal names who holds it; release lets
// another take it.
func TestHoldOwner(t *testing.T) {
	t.Parallel()
	a, url := openNew(t, Options{})
	b := openURL(t, url, Options{})
	b.ownerWait = 300 * time.Millisecond
	ctx := t.Context()
	relA, err := a.HoldOwner(ctx, "srv1", nil)
	if err != nil {
		t.Fatalf("HoldOwner(srv1): %v", err)
	}
	_, err = b.HoldOwner(ctx, "srv1", nil)
	if !errors.Is(err, msgbox.ErrOwnerInUse) || !strings.Contains(err.Error(), "srv1, by the session of backend ") ||
		!strings.Contains(err.Error(), " connected from ") {
		t.Fatalf("HoldOwner(srv1) from another box = %v; want ErrOwnerInUse naming srv1 and the session holding it", err)
	}
	for _, other := range []string{"srv2", "srv1@h", "SRV1"} {
		rel, err := b.HoldOwner(ctx, other, nil)
		if err != nil {
			t.Fatalf("HoldOwner(%s) beside srv1: %v", other, err)
		}
		rel()
	}
	relA()
	relA() // twice is once
	relB, err := b.HoldOwner(ctx, "srv1", nil)
	if err != nil {
		t.Fatalf("HoldOwner(srv1) after the holder released it: %v", err)
	}

	// A holder that goes while another waits (a process killed a moment
	// before its successor started): the name is the waiter's.
	go func() {
		time.Sleep(500 * time.Millisecond)
		relB()
	}()
	relA, err = a.HoldOwner(ctx, "srv1", nil)
	if err != nil {
		t.Fatalf("HoldOwner(srv1) while its holder goes: %v", err)
	}
	relA()
}

// TestOwnerConnConfig: a hold's session asks the database to find a dead
// client within half a minute, unless the URL says otherwise.
func TestOwnerConnConfig(t *testing.T) {
	t.Parallel()
	url := pg.NewDatabase(t)
	for _, tc := range []struct {
		query string
		idle  string
	}{
		{"", "10"},
		{"tcp_keepalives_idle=60", "60"},
	} {
		u := url
		if tc.query != "" {
			u += map[bool]string{true: "&", false: "?"}[strings.Contains(u, "?")] + tc.query
		}
		b := openURL(t, u, Options{})
		p := b.ownerConnConfig().RuntimeParams
		if p["tcp_keepalives_idle"] != tc.idle || p["tcp_keepalives_interval"] != "5" || p["tcp_keepalives_count"] != "3" {
			t.Errorf("URL %q: keepalives %v; want idle %s, interval 5, count 3", tc.query, p, tc.idle)
		}
		if _, set := b.connCfg.RuntimeParams["tcp_keepalives_count"]; set {
			t.Errorf("the box's own connections got the hold's keepalives")
		}
	}
}

// TestHoldOwnerLost: a hold whose connection is lost takes the lock again
// on a new one; while another process holds the name it tells lost, and
// takes the name back once the other releases it.
func TestHoldOwnerLost(t *testing.T) {
	t.Parallel()
	a, url := openNew(t, Options{})
	a.ownerRecheck = 100 * time.Millisecond
	b := openURL(t, url, Options{})
	b.ownerWait = time.Nanosecond
	ctx := t.Context()
	var mu sync.Mutex
	var told []error
	relA, err := a.HoldOwner(ctx, "srv1", func(err error) {
		mu.Lock()
		told = append(told, err)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer relA()

	// The connection lost, a takes the name again.
	killBackends(t, url)
	waitHeld(t, b, "srv1")

	// Lost again, and b takes it first: a tells, and keeps trying.
	var relB func()
	for i := 0; relB == nil; i++ {
		if i == 50 {
			t.Fatal("b never took srv1 before a took it back")
		}
		killBackends(t, url)
		if relB, err = b.HoldOwner(ctx, "srv1", nil); err != nil && !errors.Is(err, msgbox.ErrOwnerInUse) {
			t.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		mu.Lock()
		n := len(told)
		mu.Unlock()
		if n > 0 {
			break
		}
		if i == 300 {
			t.Fatal("a never told that another process holds srv1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if err := told[0]; !errors.Is(err, msgbox.ErrOwnerInUse) || !strings.Contains(err.Error(), "again after its connection was lost") {
		t.Errorf("told %v; want ErrOwnerInUse saying the hold was lost", err)
	}
	mu.Unlock()
	relB()
	waitHeld(t, b, "srv1")
}

// waitHeld waits until b finds name held by another process.
func waitHeld(t *testing.T, b *Box, name string) {
	t.Helper()
	for i := 0; ; i++ {
		rel, err := b.HoldOwner(t.Context(), name, nil)
		if errors.Is(err, msgbox.ErrOwnerInUse) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		rel()
		if i == 300 {
			t.Fatalf("%s is not held again", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReleaseOwnerReleasesAtOnce: once release returns, no session holds
// the name any more, so that a newer bizpipe started right after this one
// stopped (an upgrade's restart) may migrate the box (noServerRuns sees no
// holder). Closing the connection alone leaves the lock to the server's
// end of the session, a moment later.
func TestReleaseOwnerReleasesAtOnce(t *testing.T) {
	t.Parallel()
	b, url := openNew(t, Options{})
	conn := openURL(t, url, Options{})
	ctx := t.Context()
	for i := range 30 {
		release, err := b.HoldOwner(ctx, "srv1", nil)
		if err != nil {
			t.Fatal(err)
		}
		release()
		held, err := ownerHolders(ctx, conn.pool, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(held) != 0 {
			t.Fatalf("try %d: the name still held by %v once release returned", i, held)
		}
	}
}

// TestHoldOwnerOutlivesIdleSessionTimeout: a database whose
// idle_session_timeout is shorter than the hold's recheck does not end the
// hold's session between its pings. It used to: the lock went with the
// session, and a second process under the same name started beside the
// first, each then taking the other's deliveries in flight for
// interrupted ones.
func TestHoldOwnerOutlivesIdleSessionTimeout(t *testing.T) {
	t.Parallel()
	a, url := openNew(t, Options{})
	b := openURL(t, url, Options{})
	b.ownerWait = 300 * time.Millisecond
	ctx := t.Context()
	if _, err := a.pool.Exec(ctx, `DO $$ BEGIN
		EXECUTE format('ALTER DATABASE %I SET idle_session_timeout = ''200ms''', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	relA, err := a.HoldOwner(ctx, "srv1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer relA()
	time.Sleep(time.Second) // idle five times over, well within a's recheck
	relB, err := b.HoldOwner(ctx, "srv1", nil)
	if err == nil {
		relB()
		t.Fatal("a second process took srv1 while its holder ran: the database ended the hold's idle session")
	}
	if !errors.Is(err, msgbox.ErrOwnerInUse) {
		t.Fatalf("HoldOwner(srv1) beside its holder = %v; want ErrOwnerInUse", err)
	}
}
