package file

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bizpipe/bizpipe/internal/cpubench"
)

// BenchmarkProtocolFloor is the file system's own cost of what a file to
// file delivery asks of it, without bizpipe around it: per 4 KiB message,
// the input's claim (rename), read and removal, and the output's unnamed
// file, write, staged link, final link and staged removal, with one
// syncfs per step for a batch of 16, as run makes them. One goroutine,
// no message box: its cpu-µs/msg is a floor under the engine's CPU per
// message (scripts/bench-run.sh prints it beside the engine).
//
//	TMPDIR=/mnt/ext4 go test ./internal/transport/file -run '^$' -bench ProtocolFloor -benchtime 2000x
func BenchmarkProtocolFloor(b *testing.B) {
	root := b.TempDir()
	in, claim, out := filepath.Join(root, "in"), filepath.Join(root, "claim"), filepath.Join(root, "out")
	for _, d := range []string{in, claim, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	body := make([]byte, 4096)
	for i := range b.N {
		if err := os.WriteFile(filepath.Join(in, strconv.Itoa(i)), body, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := unix.Syncfs(dirFD(b, in)); err != nil {
		b.Fatal(err)
	}
	outFD := dirFD(b, out)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	staged := func(i int) string { return filepath.Join(out, ".bizpipe-"+strconv.Itoa(i)+".staged") }
	b.SetBytes(int64(len(body)))
	reportCPU := cpubench.Start(b, "msg")
	b.ResetTimer()
	const batch = 16
	for first := 0; first < b.N; first += batch {
		var fds []int
		for i := first; i < min(first+batch, b.N); i++ {
			name := strconv.Itoa(i)
			must(unix.Rename(filepath.Join(in, name), filepath.Join(claim, name)))
			data, err := os.ReadFile(filepath.Join(claim, name))
			must(err)
			must(unix.Unlink(filepath.Join(claim, name)))
			fd, err := unix.Open(out, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			must(err)
			_, err = unix.Write(fd, data)
			must(err)
			fds = append(fds, fd)
		}
		must(unix.Syncfs(outFD))
		for j, fd := range fds {
			must(unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, staged(first+j), unix.AT_SYMLINK_FOLLOW))
			must(unix.Close(fd))
		}
		must(unix.Syncfs(outFD))
		for j := range fds {
			must(unix.Link(staged(first+j), filepath.Join(out, strconv.Itoa(first+j))))
		}
		must(unix.Syncfs(outFD))
		for j := range fds {
			must(unix.Unlink(staged(first + j)))
		}
	}
	b.StopTimer()
	reportCPU()
}

// dirFD opens dir for syncfs, closed when the benchmark ends.
func dirFD(b *testing.B, dir string) int {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	return fd
}
