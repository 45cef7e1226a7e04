package lsp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/pki/certstore"
)

// TestStoreCache: between runs of a directory, a store whose files changed
// is loaded again, and the other stores stay loaded (the same *Store), so
// that touching one store does not make the next keystroke load them all.
func TestStoreCache(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	c := &checker{lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
	stores := func() map[string]*certstore.Store {
		t.Helper()
		snap := c.check(dir, nil)
		if snap.res == nil {
			t.Fatalf("the rules did not run: %v", snap.diags)
		}
		out := map[string]*certstore.Store{}
		for decl, s := range snap.res.Stores {
			out[decl.Name] = s
		}
		if out["svc_send_personal"] == nil || out["srv1_other_people"] == nil {
			t.Fatalf("stores loaded: %v", out)
		}
		return out
	}
	first := stores()
	if again := stores(); again["svc_send_personal"] != first["svc_send_personal"] || again["srv1_other_people"] != first["srv1_other_people"] {
		t.Fatal("unchanged stores were loaded again")
	}

	// A file of one store touched: that store is read again, the other
	// is kept.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "stores", "srv1_other_people", "fabrikam.pem"), later, later); err != nil {
		t.Fatal(err)
	}
	next := stores()
	if next["srv1_other_people"] == first["srv1_other_people"] {
		t.Error("the store whose file changed was not loaded again")
	}
	if next["svc_send_personal"] != first["svc_send_personal"] {
		t.Error("the store whose files did not change was loaded again")
	}
}

// TestVarFileInDirectory: a --var-file that is one of the checked
// directory's configuration files is refused as validate refuses it (one
// diagnostic saying so, no rules, no snippet of its lines); a var-file
// elsewhere is not.
func TestVarFileInDirectory(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"bizpipe.hcl":      "group \"g\" {}\nvariable \"pin\" {\n  sensitive = true\n}\n",
		"vars.hcl":         "pin = \"SECRETFILEPIN\"\n",
		"vars/outside.hcl": "pin = \"SECRETFILEPIN\"\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		varFile string
		refused bool
	}{
		{"vars.hcl", true},
		{"vars/outside.hcl", false},
	}
	for _, tt := range tests {
		t.Run(tt.varFile, func(t *testing.T) {
			c := &checker{lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now,
				varFiles: []string{filepath.Join(dir, tt.varFile)}}
			snap := c.check(dir, nil)
			refused := len(snap.diags) == 1 && strings.Contains(snap.diags[0].Detail, "is one of the configuration's files")
			if refused != tt.refused {
				t.Errorf("refused = %v, want %v; diagnostics: %v", refused, tt.refused, snap.diags)
			}
			for _, d := range snap.diags {
				if strings.Contains(d.Summary+d.Detail, "SECRETFILEPIN") {
					t.Errorf("diagnostic shows the value: %v", d)
				}
			}
		})
	}
}

// TestStoreCachePasswords: a store loaded with a password no store uses
// any more (a password typed one keystroke at a time, a var-file's value
// changed) is not kept: the cache held a loaded store for every password
// a directory's stores ever had, for the rest of the session. The store
// loaded with the password in use stays loaded.
func TestStoreCachePasswords(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	password := ""
	c := &checker{now: time.Now, lookupEnv: func(name string) (string, bool) {
		return password, name == "BIZPIPE_VAR_p12_password"
	}}
	store := func(pw string) *certstore.Store {
		t.Helper()
		password = pw
		snap := c.check(dir, nil)
		if snap.res == nil {
			t.Fatalf("the rules did not run: %v", snap.diags)
		}
		for decl, s := range snap.res.Stores {
			if decl.Name == "svc_send_personal" {
				return s
			}
		}
		t.Fatal("svc_send_personal not loaded")
		return nil
	}
	first := store("first-wrong-password")
	if again := store("first-wrong-password"); again != first {
		t.Fatal("the store was loaded again with the same password")
	}
	store("second-wrong-password")
	if back := store("first-wrong-password"); back == first {
		t.Error("the store loaded with a password no store used any more was kept")
	}
}

// TestSecretQuoted: a secret (here a store's password written in the
// file) is hidden in the diagnostics also where one quotes it escaped, as
// validate hides it: a password with a backslash, also written as a
// content_type, whose BP1004 shows the value %q-quoted, showed it to the
// editor while validate printed "(sensitive value)".
func TestSecretQuoted(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "quickstart"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bizpipe.hcl")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for old, repl := range map[string]string{
		"password = var.p12_password":      `password = "demo\\only-pw"`,
		`content_type = "application/xml"`: `content_type = "demo\\only-pw"`,
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("quickstart changed: no %s", old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	c := &checker{lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
	snap := c.check(dir, map[string][]byte{path: []byte(text)})
	found := false
	for _, d := range snap.diags {
		msg := d.Summary + "\n" + d.Detail
		if strings.Contains(msg, "only-pw") {
			t.Errorf("diagnostic shows the password: %s", msg)
		}
		found = found || strings.Contains(d.Summary, "content_type")
	}
	if !found {
		t.Errorf("no finding about the content_type: %v", snap.diags)
	}
}

// TestLocalSecretQuoted: a literal that reaches a store's password through
// a local set in another file is a secret too: a call that fails on it
// (parseint quotes what it cannot parse) showed it to the editor.
func TestLocalSecretQuoted(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"group.hcl":  "group \"g\" {}\n",
		"locals.hcl": "locals {\n  pin = parseint(\"L0CAL-pin-secret\", 10)\n  pw  = \"${local.pin}\"\n}\n",
		"stores.hcl": "certificate_store \"s\" {\n  path     = \"s\"\n  password = local.pw\n}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := &checker{lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
	snap := c.check(dir, nil)
	found := false
	for _, d := range snap.diags {
		msg := d.Summary + "\n" + d.Detail
		if strings.Contains(msg, "L0CAL-pin") {
			t.Errorf("diagnostic shows the password: %s", msg)
		}
		found = found || strings.Contains(msg, "cannot parse")
	}
	if !found {
		t.Errorf("no finding about the parseint: %v", snap.diags)
	}
}
