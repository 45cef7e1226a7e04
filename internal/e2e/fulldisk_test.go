//go:build linux

package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testfs"
)

// slowRetrySetup is crashSetup with retries a second apart: a --once run
// ends with the retries waiting, and the next picks them up.
func slowRetrySetup(t *testing.T) (string, *crashPKI) {
	t.Helper()
	dir, p := crashSetup(t)
	cfg, err := os.ReadFile(filepath.Join(dir, "bizpipe.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(mustReplace(t, string(cfg), `interval = "50ms"`, `interval = "1s"`))
	if err := os.WriteFile(filepath.Join(dir, "bizpipe.hcl"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, p
}

// TestFullDisk fills the disk under the output directory, then under the
// message box: deliveries that hit ENOSPC are retried and the input that
// cannot be stored stays in place; once space is back, everything is
// delivered exactly once and nothing is lost.
func TestFullDisk(t *testing.T) {
	dir, p := slowRetrySetup(t)
	out := filepath.Join(dir, "out")
	data := filepath.Join(dir, "data")
	testfs.MountTmpfs(t, out, 64<<10)

	const n = 20
	bodies := map[string][]byte{}
	for i := range n {
		b := make([]byte, 4096)
		rand.Read(b)
		name := fmt.Sprintf("m%02d.edi", i)
		bodies[name] = b
		writeSettled(t, filepath.Join(dir, "in", name), b)
	}
	run := func() string {
		t.Helper()
		o, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", data, dir).CombinedOutput()
		if err != nil {
			t.Fatalf("run --once: %v\n%s", err, o)
		}
		return lastLine(o)
	}
	first := run()
	delivered := countFiles(t, out)
	if delivered == 0 || delivered == n {
		t.Fatalf("with a 64 KiB output disk, %d of %d delivered (%s); the test needs a disk that fills up midway", delivered, n, first)
	}
	if !strings.Contains(first, "retried") || strings.Contains(first, "retried 0,") {
		t.Errorf("no delivery was retried after ENOSPC: %s", first)
	}
	if !strings.Contains(first, "waiting for retry") || strings.Contains(first, "waiting for retry 0") {
		t.Errorf("the first run should end with deliveries waiting for a retry: %s", first)
	}
	testfs.ResizeTmpfs(t, out, 8<<20) // room for the large message below too
	time.Sleep(1100 * time.Millisecond)
	second := run()
	if got := countFiles(t, out); got != n {
		t.Fatalf("after freeing space: %d of %d delivered (%s, then %s)", got, n, first, second)
	}
	checkDelivered(t, dir, p, bodies)

	// Now the message box's disk is full: Receive fails, the files stay in
	// the input under their own names, and nothing is lost.
	box := filepath.Join(dir, "box")
	testfs.MountTmpfs(t, box, 512<<10)
	big := map[string][]byte{}
	// The last one is larger than a chunk: stored as a body file.
	for i, size := range []int{300 << 10, 300 << 10, 300 << 10, 300 << 10, 2<<20 + 1} {
		b := make([]byte, size)
		rand.Read(b)
		name := fmt.Sprintf("big%d.edi", i)
		big[name] = b
		writeSettled(t, filepath.Join(dir, "in", name), b)
	}
	o, _ := exec.Command(bizpipeBin, "run", "--once", "--data-dir", box, dir).CombinedOutput()
	left, _ := filepath.Glob(filepath.Join(dir, "in", "big*.edi"))
	if len(left) == 0 {
		t.Fatalf("every file was taken although the box's disk is full:\n%s", o)
	}
	if _, err := os.Stat(filepath.Join(dir, "in", "big4.edi")); err != nil {
		t.Errorf("the large file, whose body file cannot fit, is not in the input any more: %v\n%s", err, o)
	}
	if !strings.Contains(string(o), "no space left on device") && !strings.Contains(string(o), "full") {
		t.Errorf("the log does not say the disk is full:\n%s", o)
	}
	testfs.ResizeTmpfs(t, box, 16<<20)
	o, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", box, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("run after freeing the box's disk: %v\n%s", err, o)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "in", "*")); len(left) != 0 {
		t.Errorf("input not consumed after space came back: %v", left)
	}
	for name, b := range big {
		bodies[name] = b
	}
	checkDelivered(t, dir, p, bodies)
}

// TestFullDiskMidStream fills the output disk while a message larger than
// it streams out: the attempt fails, leaves no partial file behind, and is
// retried; once there is room the message is delivered whole, once.
func TestFullDiskMidStream(t *testing.T) {
	dir, p := slowRetrySetup(t)
	out := filepath.Join(dir, "out")
	data := filepath.Join(dir, "data")
	testfs.MountTmpfs(t, out, 4<<20)
	body := make([]byte, 12<<20)
	rand.Read(body)
	writeSettled(t, filepath.Join(dir, "in", "big.edi"), body)
	run := func() string {
		t.Helper()
		o, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", data, dir).CombinedOutput()
		if err != nil {
			t.Fatalf("run --once: %v\n%s", err, o)
		}
		if !strings.Contains(string(o), "no space left on device") && !strings.Contains(lastLine(o), "delivered 1") {
			t.Errorf("the log neither says the disk is full nor delivers:\n%s", o)
		}
		return lastLine(o)
	}
	first := run()
	if !strings.Contains(first, "delivered 0") || !strings.Contains(first, "waiting for retry 1") {
		t.Fatalf("with a 4 MiB output disk and a 12 MiB message: %s; want it waiting for a retry", first)
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Fatalf("the failed attempt left %d entries in the output directory", len(left))
	}
	testfs.ResizeTmpfs(t, out, 64<<20)
	time.Sleep(1100 * time.Millisecond)
	second := run()
	if !strings.Contains(second, "delivered 1") {
		t.Fatalf("after freeing space: %s", second)
	}
	checkDelivered(t, dir, p, map[string][]byte{"big.edi": body})
}

// TestFullDiskAtOpen: a message box whose disk is full when run opens it
// is an error that says the disk is full, where SQLite says only "disk I/O
// error" (it cannot grow its shared-memory file); messages list still
// reads it (read-only, see sqlitebox.Open); once there is room again, the
// box opens as before.
func TestFullDiskAtOpen(t *testing.T) {
	dir, _ := crashSetup(t)
	data := filepath.Join(dir, "data")
	testfs.MountTmpfs(t, data, 1<<20)
	if o, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", data, dir).CombinedOutput(); err != nil {
		t.Fatalf("run --once creating the box: %v\n%s", err, o)
	}
	fill := filepath.Join(data, "fill")
	f, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(make([]byte, 2<<20))
	f.Close()
	if err == nil {
		t.Fatal("a 2 MiB file fit on the 1 MiB tmpfs")
	}
	o, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", data, dir).CombinedOutput()
	if err == nil || !strings.Contains(string(o), "no space left") {
		t.Errorf("run --once on a full disk: %v; want an error saying the disk is full:\n%s", err, o)
	}
	// Reading needs no space: the operator can look at the box.
	if o, err := exec.Command(bizpipeBin, "messages", "list", "--data-dir", data, dir).CombinedOutput(); err != nil {
		t.Errorf("messages list on a full disk: %v; want the list:\n%s", err, o)
	}
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command(bizpipeBin, "run", "--once", "--data-dir", data, dir).CombinedOutput(); err != nil {
		t.Fatalf("run --once once there is room: %v\n%s", err, o)
	}
}
