package msgbox

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Migrations returns the schema scripts of a box, the files dir/*.sql of
// fsys in order: script i brings the schema from version i to i+1. Their
// names carry the version, 0001_... first: a gap or a duplicate is a build
// defect, reported here rather than by a database.
func Migrations(fsys fs.FS, dir string) ([]string, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	scripts := make([]string, 0, len(names))
	for i, n := range names {
		if want := fmt.Sprintf("%s/%04d_", dir, i+1); !strings.HasPrefix(n, want) {
			return nil, fmt.Errorf("migration %s: want a name starting with %s", n, want)
		}
		s, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		scripts = append(scripts, string(s))
	}
	return scripts, nil
}
