//go:build unix

package sqlitebox

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRootGivesFilesTheBoxOwner: a bizpipe messages command run as root
// (sudo) on the box of a run that runs as a service account gives the
// files it creates beside the database the database's owner and group. A
// marker it writes (a restored box, or one made before markers) left
// root's and 0600 stopped that run at start ("open messagebox.db.boxid:
// permission denied"), and a body file, or the bodies directory, that a
// resubmit of a large message made failed the copy's deliveries ("opening
// the body file: permission denied") and every large receive after.
func TestRootGivesFilesTheBoxOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the box must be another user's")
	}
	const uid, gid = 65534, 65534 // nobody, the run's service account here
	dir := t.TempDir()
	path := filepath.Join(dir, "messagebox.db")
	run, err := Open(path, Options{Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := run.ReceiveRouted(t.Context(), in("small.xml"), strings.NewReader("small"), nil); err != nil {
		t.Fatal(err)
	}
	if err := run.Close(); err != nil {
		t.Fatal(err)
	}
	// The box as a run as uid leaves it, but for its marker.
	err = filepath.Walk(dir, func(name string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(name, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + markerSuffix); err != nil {
		t.Fatal(err)
	}

	op, err := Open(path, Options{NoCreate: true}) // bizpipe messages
	if err != nil {
		t.Fatal(err)
	}
	large := strings.Repeat("L", ChunkSize+1) // a body file
	if _, _, err := op.ReceiveRouted(t.Context(), in("large.xml"), strings.NewReader(large), nil); err != nil {
		t.Fatal(err)
	}
	if err := op.Close(); err != nil {
		t.Fatal(err)
	}
	bodies, err := os.ReadDir(path + bodiesSuffix)
	if err != nil || len(bodies) != 1 {
		t.Fatalf("body files: %v, %v; want one", bodies, err)
	}
	for _, tc := range []struct{ what, name string }{
		{"the marker", path + markerSuffix},
		{"the bodies directory", path + bodiesSuffix},
		{"the body file", filepath.Join(path+bodiesSuffix, bodies[0].Name())},
	} {
		fi, err := os.Lstat(tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.what, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s %s is uid %d gid %d; want the database's, %d %d", tc.what, tc.name, st.Uid, st.Gid, uid, gid)
		}
	}
}
