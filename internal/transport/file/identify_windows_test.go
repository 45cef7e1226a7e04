package file

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestIdentifyAcrossRename: the claim's identity check (sameFile) must
// accept the listed file once renamed to its claim, on any volume. A
// listing's FileInfo has no file index on a volume without object IDs
// (ReFS, FAT32, exFAT; Wine's drives too), and compared as it was every
// input was refused as "replaced since it was listed" and given back,
// pass after pass. A file put under the name since the listing is not
// taken for the listed one.
func TestIdentifyAcrossRename(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.xml", "<a/>")
	es, err := os.ReadDir(dir)
	if err != nil || len(es) != 1 {
		t.Fatalf("ReadDir = %v, %v", es, err)
	}
	listed, err := es[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	seen, err := identify(path, listed)
	if err != nil {
		t.Fatalf("identify: %v", err)
	}
	claim := filepath.Join(dir, ".claim")
	if err := os.Rename(path, claim); err != nil {
		t.Fatal(err)
	}
	in, err := openNoFollow(claim)
	if err != nil {
		t.Fatal(err)
	}
	st, err := in.Stat()
	in.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !sameFile(seen, st) {
		t.Errorf("the renamed listed file is not the one identified (listing's own FileInfo: sameFile %v)", sameFile(listed, st))
	}

	// Another file under the listed name: not the one listed.
	writeFile(t, dir, "a.xml", "<other/>")
	if _, err := identify(path, listed); !errors.Is(err, errNotAsListed) {
		t.Errorf("identify of another file under the listed name = %v, want errNotAsListed", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := identify(path, listed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("identify of a name gone = %v, want ErrNotExist", err)
	}
}
