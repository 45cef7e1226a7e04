//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLargeMessageBoundedMemory: a message many times larger than the
// memory bizpipe may take goes through `run --once` (received, stored,
// signed, encrypted, delivered) with the process's peak RSS bounded, and
// decrypts and verifies to its exact bytes. Whole-body processing took
// about 6.6× the message size.
func TestLargeMessageBoundedMemory(t *testing.T) {
	const size = 128 << 20
	const maxRSS = 96 << 20
	dir, p := crashSetup(t)
	// Written in pieces: the test process stays small (its own memory is
	// not what is measured, but see peakRSS).
	writeSettledFunc(t, filepath.Join(dir, "in", "big.edi"), func(w *bufio.Writer) {
		r := rand.New(rand.NewPCG(1, 2))
		for range size / 8 {
			v := r.Uint64()
			for j := range 8 {
				w.WriteByte(byte(v >> (8 * j)))
			}
		}
	})
	cmd := exec.Command(bizpipeBin, "run", "--once", "--data-dir", filepath.Join(dir, "data"), dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	rss := peak()
	if err != nil {
		t.Fatalf("run --once: %v\n%s", err, out.Bytes())
	}
	if last := lastLine(out.Bytes()); !strings.Contains(last, "delivered 1") {
		t.Fatalf("run --once: %s", last)
	}
	t.Logf("peak RSS %d MiB for a %d MiB message", rss>>20, size>>20)
	if rss == 0 || rss > maxRSS {
		t.Errorf("peak RSS %d MiB for a %d MiB message, want at most %d MiB", rss>>20, size>>20, maxRSS>>20)
	}
	body := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < size; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			body[i+j] = byte(v >> (8 * j))
		}
	}
	checkDelivered(t, dir, p, map[string][]byte{"big.edi": body})
}

// watchPeakRSS samples the high-water mark of process pid's resident set
// (VmHWM in /proc/PID/status) until the returned function is called, after
// the process ended, which returns the last value read. The rusage of a
// child is no use here: Linux carries the parent's high-water mark over
// the fork and exec, and the test process holds large buffers.
func watchPeakRSS(pid int) func() int64 {
	var mu sync.Mutex
	var hwm int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		path := "/proc/" + strconv.Itoa(pid) + "/status"
		for {
			if b, err := os.ReadFile(path); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
						if kib, err := strconv.ParseInt(f[1], 10, 64); err == nil {
							mu.Lock()
							hwm = max(hwm, kib<<10)
							mu.Unlock()
						}
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return hwm
	}
}

// writeSettledFunc is writeSettled with the content written by fill.
func writeSettledFunc(t *testing.T, path string, fill func(*bufio.Writer)) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fill(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
