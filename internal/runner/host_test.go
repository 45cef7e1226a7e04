package runner_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// otherHost is a second host on srv1, running as its own service account
// whose personal store this process cannot read (here: its directory does
// not exist), with a signing port and a receive location of its own.
const otherHost = `
certificate_store "personal2" {
  path     = "stores/personal2"
  password = "pw"
}
service_account "svc2" { personal_store = certificate_store.personal2 }
host "h2" {
  instance {
    server          = server.srv1
    service_account = service_account.svc2
  }
}
send_port "h2_out" {
  host                   = host.h2
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "{{.Partner}}"
  filter                 = message.properties.partner == "other"
  transport "file" { path = "out2" }
}
receive_location "h2_in" {
  host = host.h2
  transport "file" { path = "in2" }
}
`

// TestHostProvisionsOnlyItsOwn: with Options.Host the runner provisions
// that host's ports and locations from the stores its instance uses, and
// needs none of another host's (rules.Check with the same Host does not
// load them); without Host it provisions every host's and fails for the
// store it lacks.
func TestHostProvisionsOnlyItsOwn(t *testing.T) {
	p := newPKI(t)
	dir := setup(t, p, common+fabrikamFiles+otherHost, nil)
	files, err := lang.FindFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(files, lang.Options{Mode: lang.ModeRun, LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatalf("config: %s", diags.Error())
	}
	res, diags := rules.Check(cfg, rules.Options{Server: "srv1", Host: "h"})
	if len(diags) > 0 {
		t.Fatalf("rules for host h: %s", diags.Error())
	}
	for st := range res.Stores {
		if st.Name == "personal2" {
			t.Fatalf("rules for host h loaded h2's store")
		}
	}
	box, err := sqlitebox.Open(filepath.Join(dir, "data", "box.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	opts := runner.Options{Config: cfg, Checked: res, Server: "srv1", Box: box,
		Workers: 2, IdleWait: 20 * time.Millisecond, FileSettle: time.Millisecond}

	all := opts
	if _, err := runner.New(all); err == nil || !strings.Contains(err.Error(), `"personal2" was not loaded`) {
		t.Errorf("runner.New for every host, without h2's store: err = %v, want one naming store \"personal2\"", err)
	}

	opts.Host = "h"
	r, err := runner.New(opts)
	if err != nil {
		t.Fatalf("runner.New for host h: %v", err)
	}
	if got := r.Ports(); !slices.Equal(got, []string{"fabrikam"}) {
		t.Errorf("ports %q, want only h's", got)
	}
	put(t, dir, "order.edi", binaryBody(100))
	sum, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Received != 1 || sum.Delivered != 1 || sum.Suspended != 0 {
		t.Errorf("summary %+v, want 1 received and delivered", sum)
	}
}
