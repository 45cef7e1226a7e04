package live_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/validate/live"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// inputsConfig: receive locations "a" (host h) and "b" (host h2) poll
// directories "in" and "alias" of server srv1, with patterns PA and PB.
const inputsConfig = `
group "g" {}
certificate_store "p" {
  path = "stores/p"
}
service_account "svc" {
  personal_store = certificate_store.p
}
server "srv1" {}
host "h" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
host "h2" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
receive_location "a" {
  host = host.h
  transport "file" {
    path    = "in"
    pattern = "PA"
  }
}
receive_location "b" {
  host = host.h2
  transport "file" {
    path    = "alias"
    pattern = "PB"
  }
}
`

// TestLiveSharedInputs: two receive locations whose directories are named
// differently but are one on the server (a symbolic link) and whose
// patterns overlap are refused (BP1004), as the rules refuse two that
// name one directory alike; exclusive patterns, or two directories, are
// not.
func TestLiveSharedInputs(t *testing.T) {
	cases := []struct {
		name     string
		pa, pb   string
		link     bool // alias is a symbolic link to in; else a directory of its own
		host     string
		want     bool
		inDetail []string
	}{
		{name: "symbolic link, overlapping patterns", pa: "*.xml", pb: "order-*", link: true, want: true,
			inDetail: []string{`Receive location "b" (host "h2")`, `receive location "a" (host "h")`,
				`/in" and directory "`, `/alias", one directory on this server`,
				`a file named "order-.xml" matches both pattern "order-*" and pattern "*.xml"`, `server "srv1"`}},
		{name: "symbolic link, judged from one of the hosts", pa: "*", pb: "*", link: true, host: "h", want: true},
		{name: "symbolic link, exclusive patterns", pa: "*.xml", pb: "*.edi", link: true},
		{name: "two directories", pa: "*", pb: "*"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"stores/p", "in"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			alias := filepath.Join(dir, "alias")
			if tt.link {
				if err := os.Symlink("in", alias); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Mkdir(alias, 0o755); err != nil {
				t.Fatal(err)
			}
			src := strings.NewReplacer("PA", tt.pa, "PB", tt.pb).Replace(inputsConfig)
			file := filepath.Join(dir, "main.hcl")
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, diags := lang.Load([]string{file}, lang.Options{LookupEnv: func(string) (string, bool) { return "", false }})
			if diags.HasErrors() {
				t.Fatalf("lang.Load:\n%s", dump(diags))
			}
			res, diags := rules.Check(cfg, rules.Options{})
			if diags.HasErrors() {
				t.Fatalf("the rules refuse what only the server can judge:\n%s", dump(diags))
			}
			ds, err := live.Check(cfg, res, live.Options{Server: "srv1", Host: tt.host})
			if err != nil {
				t.Fatal(err)
			}
			var found []string
			for _, d := range ds {
				if diag.CodeOf(d) == diag.CodeInvalidValue {
					found = append(found, d.Detail)
					if d.Subject == nil || d.Subject.Start.Line != strings.Count(src[:strings.Index(src, `transport "file" {
    path    = "alias"`)], "\n")+1 {
						t.Errorf("BP1004 not at receive location b's transport block:\n%s", dump(ds))
					}
				}
			}
			if got := len(found) > 0; got != tt.want || len(found) > 1 {
				t.Fatalf("BP1004 findings %d, want %v:\n%s", len(found), tt.want, dump(ds))
			}
			for _, s := range tt.inDetail {
				if !strings.Contains(found[0], s) {
					t.Errorf("detail lacks %q:\n%s", s, found[0])
				}
			}
		})
	}
}
