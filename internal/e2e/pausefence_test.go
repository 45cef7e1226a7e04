//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/pgtest"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// pauseFenceConfig is scaleOutConfig with the send port posting to the
// partner URL given, each request naming its message in X-Message-Id.
func pauseFenceConfig(t *testing.T, p *crashPKI, partner string) string {
	cfg := fmt.Sprintf(scaleOutConfig, p.signer.SHA1(), p.partner.SHA1())
	return mustReplace(t, cfg, `transport "file" {
    path      = "out"
    file_name = "${message.file_name}.p7m"
  }`, `transport "http" {
    url     = "`+partner+`/inbox"
    headers = { "X-Message-Id" = message.id }
    timeout = "1m"
  }`)
}

// endProcess kills cmd, stopped or not, and waits for it: no process outlives a
// failed test.
func endProcess(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// TestPausedPastLeaseFenced: srv1 claims the delivery of a large message
// to an HTTP partner and is frozen (SIGSTOP) while it signs and encrypts
// it. Its lease runs out, srv2 (same PostgreSQL box) takes the delivery
// over and delivers it. Resumed (SIGCONT), srv1 finishes its pipeline, and
// its fence, which finds the lease lost, keeps it from posting: the partner
// receives the message exactly once, and srv1 logs that the attempt was
// not sent. Without the fence, srv1 posted it a second time.
//
// srv1 may be seen only once its pipeline is done, or post before the
// SIGSTOP lands (a fast machine): the scenario is then tried again with a
// larger message, and the test fails if it never could be set up.
func TestPausedPastLeaseFenced(t *testing.T) {
	pg := pgtest.Start(t)
	for _, size := range []int{32 << 20, 128 << 20} {
		if pausedPastLease(t, pg, size) {
			return
		}
	}
	t.Fatal("srv1 could not be stopped in its pipeline at any size tried: the scenario could not be set up")
}

// pausedPastLease runs the scenario of TestPausedPastLeaseFenced with a
// message of size octets. It reports false, having checked nothing, when
// srv1 could not be stopped before its fence.
func pausedPastLease(t *testing.T, pg *pgtest.Server, size int) bool {
	ctx := context.Background()
	var mu sync.Mutex
	posts := map[string]int{} // by X-Message-Id
	partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts[r.Header.Get("X-Message-Id")]++
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer partner.Close()
	counts := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		c := map[string]int{}
		for id, n := range posts {
			c[id] = n
		}
		return c
	}

	dbURL := pg.NewDatabase(t)
	db := pgtest.Connect(t, dbURL)
	dir, p := crashSetup(t)
	testpki.WriteFile(t, dir, "bizpipe.hcl", []byte(pauseFenceConfig(t, p, partner.URL)))
	start := func(server string) (*exec.Cmd, *logBuffer) {
		cmd := exec.Command(bizpipeBin, "run", "--server", server, "--lease", "2s",
			"--data-dir", filepath.Join(dir, "data-"+server), "--log-format", "json", dir)
		cmd.Env = append(os.Environ(), "BIZPIPE_VAR_database_url="+dbURL)
		var out logBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	// poll runs cond every few milliseconds until it holds, failing the
	// test after 3 minutes.
	poll := func(what string, cond func() bool, logs ...*logBuffer) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				var b strings.Builder
				for i, l := range logs {
					fmt.Fprintf(&b, "\nsrv%d:\n%s", i+1, l.tail())
				}
				t.Fatalf("%d MiB message: %s: not within 3 minutes%s", size>>20, what, b.String())
			}
		}
	}

	srv1, log1 := start("srv1")
	defer endProcess(srv1)
	line := []byte("ISA*00*paused past the lease*~\r\n")
	writeSettledFunc(t, filepath.Join(dir, "in", "big.edi"), func(w *bufio.Writer) {
		for range size / len(line) {
			w.Write(line)
		}
	})

	// srv1 holds the delivery's lease and is spooling what its pipeline
	// signs and encrypts for the POST, not half of it yet: the fence is
	// still to come. (The lease alone is not enough: the receive claims
	// the delivery before a worker attempts it, and a worker handed a
	// delivery whose lease ran out meanwhile drops it unattempted.)
	var msgID string
	spooled := int64(-1)
	poll("srv1 claims the delivery and spools its POST", func() bool {
		if len(counts()) > 0 {
			return true // too late
		}
		err := db.QueryRow(ctx, "SELECT message_id FROM deliveries WHERE state = 'in_progress' AND lease_owner LIKE 'srv1/%'").Scan(&msgID)
		if err == nil {
			spooled = spooling(srv1.Process.Pid)
		}
		return spooled >= 0
	}, log1)
	if len(counts()) > 0 || spooled >= int64(size/2) {
		t.Logf("%d MiB message: srv1 was seen spooling too late (%d KiB spooled, %d POSTs): trying a larger one", size>>20, spooled>>10, len(counts()))
		return false
	}
	if err := srv1.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			srv1.Process.Signal(syscall.SIGCONT)
		}
	}()
	// Still spooling once stopped (a stopped process's descriptors can be
	// read): it did not reach the fence between the look and the signal.
	if now := spooling(srv1.Process.Pid); now < 0 || now >= int64(size) {
		t.Logf("%d MiB message: srv1 ended its pipeline before SIGSTOP stopped it (spool %d KiB): trying a larger one", size>>20, now>>10)
		return false
	}
	// Its lease runs out (by the box's clock). Whatever srv1 had written
	// to the partner before it stopped has arrived by then: none, or the
	// scenario is tried again.
	poll("srv1's lease runs out", func() bool {
		var expired bool
		err := db.QueryRow(ctx, "SELECT lease_until < now() FROM deliveries WHERE message_id = $1", msgID).Scan(&expired)
		return err == nil && expired
	}, log1)
	t.Logf("%d MiB message: srv1 stopped with %d KiB spooled", size>>20, spooled>>10)
	if n := counts()[msgID]; n != 0 {
		t.Logf("%d MiB message: srv1 posted it before SIGSTOP stopped it (%d POSTs): trying a larger one", size>>20, n)
		return false
	}

	srv2, log2 := start("srv2")
	defer endProcess(srv2)
	poll("srv2 delivers the message", func() bool {
		var state string
		err := db.QueryRow(ctx, "SELECT state FROM deliveries WHERE message_id = $1", msgID).Scan(&state)
		return err == nil && state == "delivered" && counts()[msgID] > 0
	}, log1, log2)

	if err := srv1.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	// srv1 finishes its pipeline, asks the fence, and finds the box
	// refusing the attempt's outcome.
	poll("srv1 logs its lease lost", func() bool {
		return strings.Contains(log1.String(), "lease lost before the outcome was recorded")
	}, log1, log2)
	for _, cmd := range []*exec.Cmd{srv1, srv2} {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
	}

	if got := counts(); got[msgID] != 1 || len(got) != 1 {
		t.Errorf("the partner received POSTs %v, want exactly one for %s", got, msgID)
	}
	var status string
	if err := db.QueryRow(ctx, "SELECT status FROM messages WHERE id = $1", msgID).Scan(&status); err != nil || status != "delivered" {
		t.Errorf("message %s is %q (%v), want delivered", msgID, status, err)
	}
	var byServer string
	if err := db.QueryRow(ctx, "SELECT string_agg(owner, ',') FROM attempts WHERE message_id = $1 AND outcome = 'delivered'", msgID).Scan(&byServer); err != nil || !strings.HasPrefix(byServer, "srv2/") || strings.Contains(byServer, ",") {
		t.Errorf("delivered attempts of %s by %q (%v), want one by srv2", msgID, byServer, err)
	}
	// The line about the refused attempt: its outcome is the fence's error,
	// the POST not sent.
	var refused string
	for _, l := range strings.Split(log1.String(), "\n") {
		if strings.Contains(l, "lease lost before the outcome was recorded") {
			refused = l
		}
	}
	if !strings.Contains(refused, "not sent") || !strings.Contains(refused, "no longer gives it to this server") {
		t.Errorf("srv1's lease-lost line does not say the fence kept the POST from being sent:\n%s\nsrv1:\n%s", refused, log1.tail())
	}
	return true
}

// spooling returns the size of the HTTP transport's spool file that
// process pid has open (an unlinked .bizpipe-spool-*), -1 when it has none.
func spooling(pid int) int64 {
	fds := fmt.Sprintf("/proc/%d/fd", pid)
	entries, _ := os.ReadDir(fds)
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(fds, e.Name()))
		if err != nil || !strings.Contains(target, ".bizpipe-spool-") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(fds, e.Name())); err == nil {
			return fi.Size()
		}
	}
	return -1
}

// logBuffer is a process's output, read while the process writes it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is tail of the output so far.
func (l *logBuffer) tail() string { return tail(bytes.NewBufferString(l.String())) }
