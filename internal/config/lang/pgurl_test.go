package lang_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
)

// TestPostgresURLAsOpenJudgesIt: validate refuses exactly the postgres
// message_box urls that pgbox.Open (run, as it opens the box) refuses as
// URLs, for reasons of the URL's own (a port of 99999 validated, and run
// refused to start: "invalid PostgreSQL URL: ... invalid port"). Files it
// names (sslrootcert) are the server's: not judged.
func TestPostgresURLAsOpenJudgesIt(t *testing.T) {
	for _, u := range []string{
		"postgres://bizpipe@127.0.0.1:5432/bizpipe",
		"postgresql://127.0.0.1/bizpipe?sslmode=verify-full&pool_max_conns=4&connect_timeout=5",
		"postgres:///bizpipe?host=/run/postgresql",
		"postgres://127.0.0.1/bizpipe?application_name=x&search_path=y",
		"postgres://127.0.0.1:5432,127.0.0.1:5433/bizpipe?target_session_attrs=read-write",
		"postgres://127.0.0.1:99999/bizpipe",
		"postgres://127.0.0.1:0/bizpipe",
		"postgres://127.0.0.1:abc/bizpipe",
		"postgres://127.0.0.1/bizpipe?sslmode=bogus",
		"postgres://127.0.0.1/bizpipe?pool_max_conns=x",
		"postgres://127.0.0.1/bizpipe?connect_timeout=abc",
		"postgres://127.0.0.1/bizpipe?target_session_attrs=zz",
		"postgres://u:secret@127.0.0.1:70000/bizpipe",
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "main.hcl")
		src := "group \"g\" {}\nmessage_box {\n  postgres { url = \"" + u + "\" }\n}\n"
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		_, diags := lang.Load([]string{path}, lang.Options{Mode: lang.ModeValidate, LookupEnv: func(string) (string, bool) { return "", false }})
		var found []string
		for _, d := range diags {
			if d.Summary == "Invalid PostgreSQL URL" {
				found = append(found, d.Detail)
			}
		}
		// A cancelled context: Open parses the URL first, then gives up
		// before it connects anywhere.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		box, err := pgbox.Open(ctx, u, pgbox.Options{NoMigrate: true})
		if box != nil {
			box.Close()
		}
		refused := err != nil && strings.Contains(err.Error(), "invalid PostgreSQL URL")
		if refused != (len(found) > 0) {
			t.Errorf("url %q: validate's findings %v, but Open's error %v", u, found, err)
		}
		for _, f := range found {
			if strings.Contains(f, "secret") {
				t.Errorf("url %q: the finding shows the password: %s", u, f)
			}
		}
	}
	// A file the URL names is the server's: its absence here is not the
	// configuration's fault (run refuses it all the same, with BP6005).
	if err := lang.PostgresURLError("postgres://127.0.0.1/bizpipe?sslrootcert=/nonexistent/ca.pem"); err != nil {
		t.Errorf("a URL naming a file that is not here: %v", err)
	}
}
