package sqlitebox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
)

// The tests in this file run a second process: the test binary itself,
// re-executed with helperEnv set, so that file locking and crash behaviour
// are those of two real processes, not of two connections in one.
const helperEnv = "SQLITEBOX_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode, os.Getenv("SQLITEBOX_TEST_DB")); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelper is the second process. It reports on stdout, one line per event.
func runHelper(mode, path string) error {
	ctx := context.Background()
	if mode == "read" || mode == "readonly" || mode == "reading" {
		return readHelper(ctx, path, Options{NoCreate: mode != "readonly", ReadOnly: mode == "readonly", Reading: mode == "reading"})
	}
	b, err := Open(path, Options{Lock: mode == "lock"})
	if err != nil {
		return err
	}
	switch mode {
	case "lock":
		// Hold the box's lock until killed.
		fmt.Println("locked")
		select {}

	case "crash":
		// Commit one message, then die (by SIGKILL from the parent) in the
		// middle of a large body.
		m, _, err := b.ReceiveRouted(ctx, in("committed"), pattern(20, 2*ChunkSize+3), nil)
		if err != nil {
			return err
		}
		fmt.Printf("committed %s\n", m.ID)
		stall := readerFunc(func([]byte) (int, error) {
			fmt.Println("staging")
			select {} // until killed
		})
		_, _, err = b.ReceiveRouted(ctx, in("killed"), io.MultiReader(pattern(21, 3*ChunkSize), stall), nil)
		return fmt.Errorf("the stalled Receive returned: %v", err)

	case "worker":
		// Claim from the shared port while receiving messages of its own,
		// concurrently with the parent doing the same.
		for i := 0; ; i++ {
			if i < 20 {
				m, _, err := b.ReceiveRouted(ctx, in(fmt.Sprintf("child-%d", i)), strings.NewReader("from the child"), nil)
				if err != nil {
					return err
				}
				if err := b.Route(ctx, m.ID, []string{"child"}, ""); err != nil {
					return err
				}
			}
			d, err := msgboxtest.ClaimOne(ctx, b, "child", []string{"shared"}, time.Minute)
			if err != nil {
				return err
			}
			if d == nil {
				if i < 20 {
					continue
				}
				break
			}
			fmt.Printf("claimed %d\n", d.ID)
			if err := b.Finish(ctx, d.ID, "child", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
				return err
			}
		}
		fmt.Println("done")
		return b.Close()
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// startHelper starts the second process and returns its stdout lines.
// readHelper is an operator's bizpipe messages in the second process,
// perhaps as another user: it opens the box with opts, lists it and reads
// each body, then tries a change, and reports each step on stdout.
func readHelper(ctx context.Context, path string, opts Options) error {
	b, err := Open(path, opts)
	if err != nil {
		fmt.Printf("open: %v\n", err)
		return nil
	}
	defer b.Close()
	msgs, err := msgbox.Collect(ctx, b, msgbox.Filter{})
	if err != nil {
		return err
	}
	for _, m := range msgs {
		rc, err := b.Body(ctx, m.ID)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		fmt.Printf("message %s %d bytes\n", m.FileName, len(body))
	}
	if len(msgs) > 0 {
		fmt.Printf("terminate: %v\n", b.Terminate(ctx, msgs[0].ID))
	}
	return nil
}

func startHelper(t *testing.T, mode, path string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "SQLITEBOX_TEST_DB="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	return cmd, lines
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("helper process ended early")
		}
		return l
	case <-time.After(2 * time.Minute):
		t.Fatal("helper process is silent")
	}
	return ""
}

func TestKilledMidBody(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "box.db")
	cmd, lines := startHelper(t, "crash", path)
	committed, ok := strings.CutPrefix(nextLine(t, lines), "committed ")
	if !ok {
		t.Fatalf("helper did not commit")
	}
	if l := nextLine(t, lines); l != "staging" {
		t.Fatalf("helper said %q, want staging", l)
	}
	// Three chunks of the second body are in its temporary file; the
	// helper waits for the fourth. Kill it there.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after the kill: %v", err)
	}
	msgs, err := msgbox.Collect(ctx, b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != committed {
		t.Fatalf("after the kill: %+v, want only the committed message %s", msgs, committed)
	}
	if got, want := readAll(t, b, committed), mustRead(t, pattern(20, 2*ChunkSize+3)); !reflect.DeepEqual(got, want) {
		t.Errorf("the committed body is damaged")
	}
	// The interrupted body's temporary file is still there: it is recent,
	// and might belong to a Receive still running in another process.
	if names := bodyFiles(t, b); len(names) != 2 || !isTempName(names[0]) && !isTempName(names[1]) {
		t.Errorf("body files after the kill: %v, want the committed one and a temporary one", names)
	}
	b.Close()

	// Once stale, the next Open removes it.
	b, err = Open(path, Options{StaleUploadAfter: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if names := bodyFiles(t, b); len(names) != 1 || !isFileName(names[0]) {
		t.Errorf("body files after the sweep: %v, want the committed message's alone", names)
	}
	if n, c := count(t, b, "bodies"), count(t, b, "body_chunks"); n != 1 || c != 0 {
		t.Errorf("after the sweep: %d bodies, %d chunks; want the committed message's 1 and none", n, c)
	}
	if got, want := readAll(t, b, committed), mustRead(t, pattern(20, 2*ChunkSize+3)); !reflect.DeepEqual(got, want) {
		t.Errorf("the sweep damaged the committed body")
	}
}

func TestTwoProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "box.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const shared = 40
	for i := range shared {
		m, _, err := b.ReceiveRouted(ctx, in(fmt.Sprint(i)), strings.NewReader("shared"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Route(ctx, m.ID, []string{"shared"}, ""); err != nil {
			t.Fatal(err)
		}
	}

	cmd, lines := startHelper(t, "worker", path)
	childClaims := map[int64]bool{}
	childDone := make(chan error, 1)
	go func() {
		for l := range lines {
			var id int64
			if _, err := fmt.Sscanf(l, "claimed %d", &id); err == nil {
				childClaims[id] = true
			}
		}
		childDone <- cmd.Wait()
	}()

	// Meanwhile: a read-only opener lists, and this process receives and
	// claims from the same port.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Errorf("read-only Open beside two writers: %v", err)
			return
		}
		defer ro.Close()
		for {
			if _, err := msgbox.Collect(ctx, ro, msgbox.Filter{Limit: 10}); err != nil {
				t.Errorf("read-only List beside two writers: %v", err)
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	parentClaims := map[int64]bool{}
	for i := 0; ; i++ {
		if i < 20 {
			if _, _, err := b.ReceiveRouted(ctx, in(fmt.Sprintf("parent-%d", i)), strings.NewReader("from the parent"), nil); err != nil {
				t.Fatal(err)
			}
		}
		d, err := msgboxtest.ClaimOne(ctx, b, "parent", []string{"shared"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			if i < 20 {
				continue
			}
			break
		}
		if parentClaims[d.ID] {
			t.Errorf("parent claimed %d twice", d.ID)
		}
		parentClaims[d.ID] = true
		if err := b.Finish(ctx, d.ID, "parent", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-childDone; err != nil {
		t.Fatalf("helper process: %v", err)
	}
	close(stop)
	wg.Wait()

	for id := range parentClaims {
		if childClaims[id] {
			t.Errorf("delivery %d claimed by both processes", id)
		}
	}
	if n := len(parentClaims) + len(childClaims); n != shared {
		t.Errorf("%d claims in all (parent %d, child %d), want %d", n, len(parentClaims), len(childClaims), shared)
	}
	all, err := msgbox.Collect(ctx, b, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != shared+20+20 {
		t.Errorf("%d messages, want %d", len(all), shared+20+20)
	}
	delivered, err := msgbox.Collect(ctx, b, msgbox.Filter{Status: msgbox.StatusDelivered})
	if err != nil || len(delivered) != shared {
		t.Errorf("%d delivered, %v; want %d", len(delivered), err, shared)
	}
	t.Logf("claims: parent %d, child %d", len(parentClaims), len(childClaims))
}
