//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/pgtest"
	"github.com/bizpipe/bizpipe/internal/testpki"
)

// scaleOutConfig runs one host on two servers against a shared PostgreSQL
// box, reading one shared input directory and writing one output directory.
const scaleOutConfig = `
group "g" { signing_certificate = "%s" }
variable "database_url" {
  type      = string
  sensitive = true
}
message_box {
  postgres { url = var.database_url }
}
certificate_store "personal" {
  path     = "stores/personal"
  password = "pw"
}
certificate_store "others" { path = "stores/others" }
service_account "svc" { personal_store = certificate_store.personal }
server "srv1" { other_people_store = certificate_store.others }
server "srv2" { other_people_store = certificate_store.others }
host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc
  }
}
pipeline "sign_encrypt" {
  encoder "smime" {
    signature = "clear"
    encrypt   = true
  }
}
receive_location "in" {
  host = host.h
  transport "file" {
    path          = "in"
    poll_interval = "50ms"
  }
}
send_port "out" {
  host                   = host.h
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "%s"
  filter                 = true
  transport "file" {
    path      = "out"
    file_name = "${message.file_name}.p7m"
  }
  retry {
    attempts = 100
    interval = "100ms"
  }
}
`

// TestScaleOut: two bizpipe processes, srv1 and srv2, share one PostgreSQL
// message box and one input directory and process 1,000 messages. srv1 is
// killed with SIGKILL midway. Every message is delivered exactly once, both
// servers delivered some, and the survivor stops cleanly on SIGTERM.
func TestScaleOut(t *testing.T) {
	const messages = 1000
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	dir, p := crashSetup(t)
	testpki.WriteFile(t, dir, "bizpipe.hcl", []byte(fmt.Sprintf(scaleOutConfig, p.signer.SHA1(), p.partner.SHA1())))
	bodies := map[string][]byte{}
	for i := range messages {
		name := fmt.Sprintf("m%04d.edi", i)
		bodies[name] = []byte(fmt.Sprintf("ISA*00*%06d*~\r\n%s", i, strings.Repeat("z", 4000)))
		writeSettled(t, filepath.Join(dir, "in", name), bodies[name])
	}
	start := func(server string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bizpipeBin, "run", "--server", server, "--lease", "2s",
			"--data-dir", filepath.Join(dir, "data-"+server), "--log-format", "json", dir)
		cmd.Env = append(os.Environ(), "BIZPIPE_VAR_database_url="+dbURL)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &stderr
	}
	srv1, log1 := start("srv1")
	defer srv1.Process.Kill()
	srv2, log2 := start("srv2")
	defer srv2.Process.Kill()

	out := filepath.Join(dir, "out")
	waitFor := func(n int, what string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for countFiles(t, out) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d delivered after 3 minutes\nsrv1:\n%s\nsrv2:\n%s", what, countFiles(t, out), n, tail(log1), tail(log2))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(messages/3, "before the kill")
	// Kill srv1 only once it has delivered some itself: which server's
	// workers get the first batches done is a matter of timing (on a busy
	// machine one server may do the first third alone).
	for deadline := time.Now().Add(3 * time.Minute); deliveredBy(t, dbURL, "srv1") == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("srv1 delivered nothing in 3 minutes\nsrv1:\n%s", tail(log1))
		}
	}
	if err := srv1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv1.Wait()
	waitFor(messages, "after srv1 was killed")
	// srv1 may have been killed between committing a batch of inputs and
	// removing their claims: their messages are delivered, and srv2
	// acknowledges the claims once they are old enough to take over
	// (TakeoverAfter, twice the lease), finding them stored.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		claims, _ := filepath.Glob(filepath.Join(dir, "in", ".bizpipe-claim-*"))
		if len(claims) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("claims not acknowledged after 3 minutes: %v\nsrv2:\n%s", claims, tail(log2))
		}
	}
	// Let srv2 notice there is nothing left, then stop it.
	time.Sleep(200 * time.Millisecond)
	if err := srv2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv2.Wait(); err != nil {
		t.Fatalf("srv2 after SIGTERM: %v\n%s", err, tail(log2))
	}
	if !strings.Contains(log2.String(), "received ") {
		t.Errorf("srv2 printed no summary:\n%s", tail(log2))
	}

	if left, _ := filepath.Glob(filepath.Join(dir, "in", "*")); len(left) != 0 {
		t.Errorf("left in the input: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "in", ".bizpipe-claim-*")); len(left) != 0 {
		t.Errorf("claims left in the input: %v", left)
	}
	checkDelivered(t, dir, p, bodies)

	// The box: one message per file, all delivered, and both servers
	// delivered some (attempts record the worker, srvN/wK).
	box, err := pgbox.Open(context.Background(), dbURL, pgbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	all, err := msgbox.Collect(context.Background(), box, msgbox.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	byServer := map[string]int{}
	for _, m := range all {
		seen[m.FileName]++
		if m.Status != msgbox.StatusDelivered {
			t.Errorf("message %s (%s) is %s: %s", m.ID, m.FileName, m.Status, m.Reason)
		}
		d, err := box.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range d.Attempts {
			if a.Outcome == msgbox.DeliveryDelivered {
				byServer[strings.SplitN(a.Owner, "/", 2)[0]]++
			}
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s published %d times", name, n)
		}
	}
	if len(seen) != messages {
		t.Errorf("box holds %d distinct files, want %d", len(seen), messages)
	}
	if byServer["srv1"] == 0 || byServer["srv2"] == 0 {
		t.Errorf("deliveries by server %v: both servers should have delivered some", byServer)
	}
	t.Logf("deliveries by server: %v", byServer)

	// The operator's tools read the shared box, and validate --live checks
	// its schema version.
	bp := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bizpipeBin, args...)
		cmd.Env = append(os.Environ(), "BIZPIPE_VAR_database_url="+dbURL)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bizpipe %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	list := bp("messages", "list", "--status", "delivered", dir)
	if n := strings.Count(list, ".edi"); n != messages {
		t.Errorf("messages list shows %d delivered messages, want %d", n, messages)
	}
	if strings.Contains(list, dbURL) {
		t.Error("messages list printed the database URL")
	}
	bp("validate", "--live", "--server", "srv2", dir)
}

// tail returns the last lines of a log, for failure messages.
func tail(b *bytes.Buffer) string {
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// deliveredBy counts the deliveries the box records as made by server's
// workers (their attempts' owner is server/wN).
func deliveredBy(t *testing.T, dbURL, server string) int {
	t.Helper()
	var n int
	if err := pgtest.Connect(t, dbURL).QueryRow(context.Background(), "SELECT count(*) FROM attempts WHERE outcome = 'delivered' AND owner LIKE $1",
		server+"/%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSameServerTwice: a second process running as a server that already
// runs on a shared PostgreSQL box does not start (it would take the
// first one's deliveries in flight for interrupted ones): it exits 1
// saying so, and changes nothing. Once the first has stopped, it runs.
func TestSameServerTwice(t *testing.T) {
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	dir, p := crashSetup(t)
	testpki.WriteFile(t, dir, "bizpipe.hcl", []byte(fmt.Sprintf(scaleOutConfig, p.signer.SHA1(), p.partner.SHA1())))
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bizpipeBin, append(append([]string{"run", "--server", "srv1"}, args...), dir)...)
		cmd.Env = append(os.Environ(), "BIZPIPE_VAR_database_url="+dbURL)
		return cmd
	}
	first := run("--data-dir", filepath.Join(dir, "data-1"))
	var log1 bytes.Buffer
	first.Stdout, first.Stderr = &log1, &log1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	bodies := map[string][]byte{"a.edi": []byte("ISA*00*first~")}
	writeSettled(t, filepath.Join(dir, "in", "a.edi"), bodies["a.edi"])
	for deadline := time.Now().Add(time.Minute); countFiles(t, filepath.Join(dir, "out")) < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the first run delivered nothing in a minute:\n%s", tail(&log1))
		}
	}

	bodies["b.edi"] = []byte("ISA*00*second~")
	writeSettled(t, filepath.Join(dir, "in", "b.edi"), bodies["b.edi"])
	if err := first.Process.Signal(syscall.SIGSTOP); err != nil { // b.edi waits for the second
		t.Fatal(err)
	}
	out, err := run("--once", "--data-dir", filepath.Join(dir, "data-2")).CombinedOutput()
	if err := first.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "another bizpipe process runs under this name") ||
		!strings.Contains(string(out), "srv1") || !strings.Contains(string(out), "--server") {
		t.Fatalf("second run --server srv1: %v\n%s\nwant exit 1 saying srv1 runs already", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "in", "b.edi")); err != nil {
		t.Errorf("the refused run touched the input: %v", err)
	}

	// Stopped while it waits for the name: a clean stop, exit 0.
	waiting := run("--data-dir", filepath.Join(dir, "data-3"), "--log-format", "json")
	stderr, err := waiting.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	defer waiting.Process.Kill()
	lines := bufio.NewScanner(stderr)
	for lines.Scan() && !strings.Contains(lines.Text(), `"msg":"starting"`) {
	}
	if err := waiting.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The name free now, a wait the stop did not end would take it and
	// start, only to stop at once.
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first run after SIGTERM: %v\n%s", err, tail(&log1))
	}
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	if err := waiting.Wait(); err != nil || strings.Contains(rest.String(), "another bizpipe process") ||
		strings.Contains(rest.String(), "stopping: no new work") {
		t.Errorf("run stopped while it waited for srv1: %v\n%s\nwant exit 0, neither refused nor started", err, rest.String())
	}
	if out, err := run("--once", "--data-dir", filepath.Join(dir, "data-2")).CombinedOutput(); err != nil {
		t.Fatalf("run --once after the first stopped: %v\n%s", err, out)
	}
	checkDelivered(t, dir, p, bodies)
}

// TestStopWhileDatabaseSilent: a stop signal while run waits for a
// PostgreSQL box that accepts the connection and never answers ends run
// at once and cleanly (exit 0), where it had no handler yet and died of
// the signal.
func TestStopWhileDatabaseSilent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // held open, never answered
		}
	}()
	dir, p := crashSetup(t)
	testpki.WriteFile(t, dir, "bizpipe.hcl", []byte(fmt.Sprintf(scaleOutConfig, p.signer.SHA1(), p.partner.SHA1())))
	cmd := exec.Command(bizpipeBin, "run", "--server", "srv1", "--data-dir", filepath.Join(dir, "data"), dir)
	cmd.Env = append(os.Environ(), "BIZPIPE_VAR_database_url=postgres://bizpipe@"+ln.Addr().String()+"/bizpipe?sslmode=disable")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(time.Minute):
		t.Fatal("run did not connect to the database in a minute")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run stopped while it waited for the database: %v\n%s\nwant exit 0", err, out.String())
	}
	if !strings.Contains(out.String(), "stopped before starting") {
		t.Errorf("run's log does not say it stopped before starting:\n%s", out.String())
	}
}
