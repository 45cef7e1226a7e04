package sqlitebox

import (
	"net/url"
	"testing"
)

// TestFileURI: the URI names the file by a path after an empty authority,
// for a Windows drive path (as filepath.ToSlash leaves it there) as for a
// Unix one; "file://C:/..." made SQLite take "C:" as the authority and
// refuse every box on Windows ("invalid uri authority: C:").
func TestFileURI(t *testing.T) {
	q := url.Values{"mode": {"ro"}}
	for _, c := range []struct{ path, want string }{
		{"/var/lib/bizpipe/box.db", "file:///var/lib/bizpipe/box.db?mode=ro"},
		{"C:/ProgramData/bizpipe/box.db", "file:///C:/ProgramData/bizpipe/box.db?mode=ro"},
		{"//server/share/box.db", "file:////server/share/box.db?mode=ro"},
		{"/data/a b#1%/box.db", "file:///data/a%20b%231%25/box.db?mode=ro"},
	} {
		got := fileURI(c.path, q)
		if got != c.want {
			t.Errorf("fileURI(%q) = %q, want %q", c.path, got, c.want)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" {
			t.Errorf("fileURI(%q) = %q: authority %q (%v), want none", c.path, got, u.Host, err)
		}
	}
}
