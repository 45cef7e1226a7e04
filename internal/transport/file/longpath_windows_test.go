package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLongPath: paths of 248 characters or more get the extended-length
// prefix (UNC ones its UNC form, relative ones made absolute first);
// shorter ones and prefixed ones stay as they are.
func TestLongPath(t *testing.T) {
	long := strings.Repeat("d", 250)
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ in, want string }{
		{`C:\in\a.xml`, `C:\in\a.xml`},
		{`C:\` + long, `\\?\C:\` + long},
		{`\\server\share\` + long, `\\?\UNC\server\share\` + long},
		{`\\?\C:\` + long, `\\?\C:\` + long},
		{long, `\\?\` + filepath.Join(cwd, long)},
	}
	for _, tt := range cases {
		if got := longPath(tt.in); got != tt.want {
			t.Errorf("longPath(%.40q...) = %.60q..., want %.60q...", tt.in, got, tt.want)
		}
	}
}

// TestRenameNoReplaceLongPath: a claim given back in a directory whose
// path is longer than MAX_PATH. It fails without longPath on a Windows
// without LongPathsEnabled; Wine has no such limit, and passes either way.
func TestRenameNoReplaceLongPath(t *testing.T) {
	dir := t.TempDir()
	for len(dir) < 300 {
		dir = filepath.Join(dir, strings.Repeat("x", 60))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	from, to := filepath.Join(dir, ".bizpipe-claim-x"), filepath.Join(dir, "order.xml")
	if err := os.WriteFile(from, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := renameNoReplace(from, to); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(to); err != nil {
		t.Fatal(err)
	}
}
