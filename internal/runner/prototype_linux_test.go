package runner_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite"

	"github.com/bizpipe/bizpipe/internal/cpubench"
)

// BenchmarkPrototype is the durable file-to-file design the core issue's
// CPU targets were derived from, rebuilt as that issue describes it, so
// that scripts/bench-run.sh measures it beside the engine alone on the
// same machine and file system in the same run: the machine's kernel
// speed moves both, their ratio says what the engine's own design costs.
//
// Batches of 64, in one goroutine: claim each input by rename and read it;
// store every body with its name as one row (one table, no index but its
// key) in one transaction whose commit syncs the log; write each output
// under a staged name; one syncfs; rename each to its final name with
// RENAME_NOREPLACE; one syncfs; unlink the claimed inputs; one syncfs;
// mark the batch delivered in one transaction. What it leaves out, as the
// issue's prototype did: delivery, attempt and history rows, leases,
// routing, templates, logs, and the process's start.
func BenchmarkPrototype(b *testing.B) {
	root := b.TempDir()
	in, claim, out := filepath.Join(root, "in"), filepath.Join(root, "claim"), filepath.Join(root, "out")
	for _, d := range []string{in, claim, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	body := make([]byte, 4096)
	for i := range b.N {
		must(os.WriteFile(filepath.Join(in, "m"+strconv.Itoa(i)+".xml"), body, 0o644))
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(root, "box.db")+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	must(err)
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	_, err = db.ExecContext(ctx, `CREATE TABLE messages (
		id INTEGER PRIMARY KEY, name TEXT NOT NULL, body BLOB NOT NULL,
		delivered INTEGER NOT NULL DEFAULT 0) STRICT`)
	must(err)
	dirFD := func(dir string) int {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		must(err)
		b.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	inFD, outFD := dirFD(in), dirFD(out)
	must(unix.Syncfs(inFD))

	reportCPU := cpubench.Start(b, "msg")
	b.ResetTimer()
	const batch = 64
	dir, err := os.Open(in)
	must(err)
	defer dir.Close()
	var next int64 // the next row id
	for done := 0; done < b.N; {
		names, err := dir.Readdirnames(batch)
		must(err)
		bodies := make([][]byte, len(names))
		for i, name := range names {
			must(unix.Renameat(inFD, name, unix.AT_FDCWD, filepath.Join(claim, name)))
			bodies[i], err = os.ReadFile(filepath.Join(claim, name))
			must(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		must(err)
		first := next
		for i, name := range names {
			_, err := tx.ExecContext(ctx, "INSERT INTO messages (id, name, body) VALUES (?, ?, ?)", next, name, bodies[i])
			must(err)
			next++
		}
		must(tx.Commit())
		for i, name := range names {
			fd, err := unix.Openat(outFD, "."+name+".staged", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			must(err)
			_, err = unix.Write(fd, bodies[i])
			must(err)
			must(unix.Close(fd))
		}
		must(unix.Syncfs(outFD))
		for _, name := range names {
			must(unix.Renameat2(outFD, "."+name+".staged", outFD, strings.TrimSuffix(name, ".xml")+".eml", unix.RENAME_NOREPLACE))
		}
		must(unix.Syncfs(outFD))
		for _, name := range names {
			must(unix.Unlink(filepath.Join(claim, name)))
		}
		must(unix.Syncfs(inFD))
		_, err = db.ExecContext(ctx, "UPDATE messages SET delivered = 1 WHERE id >= ? AND id < ?", first, next)
		must(err)
		done += len(names)
	}
	b.StopTimer()
	reportCPU()
	left, err := os.ReadDir(out)
	must(err)
	if len(left) != b.N {
		b.Fatalf("%d outputs, want %d", len(left), b.N)
	}
}
