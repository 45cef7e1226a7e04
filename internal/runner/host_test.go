package runner_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/msgbox"
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

// TestHostProcessesShareAServer: two `run --host` processes on one server
// sharing a box (the PostgreSQL setup docs/operations.md describes). When
// one starts while the other has a delivery in flight, its start-up
// Recover takes back only what its own previous run held: the delivery in
// flight stays leased to the other process (in progress, no attempt
// counted), which finishes it, and the partner gets the message once.
// Both boxes: Recover is the box's, the owner names the runner's.
func TestHostProcessesShareAServer(t *testing.T) {
	boxes := []struct {
		name string
		tune func(t *testing.T, opts *runner.Options)
	}{
		{"sqlite", func(*testing.T, *runner.Options) {}},
		{"postgres", func(t *testing.T, opts *runner.Options) { usePostgres(t)(opts) }},
	}
	for _, bx := range boxes {
		t.Run(bx.name, func(t *testing.T) {
			var posts atomic.Int32
			arrived, release := make(chan struct{}), make(chan struct{})
			partner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if posts.Add(1) == 1 {
					close(arrived)
					<-release // the first POST stays in flight
				}
			}))
			defer partner.Close()
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()
			dir := setup(t, newPKI(t), common+`
send_port "web" {
  host      = host.h
  filter    = true
  transport "http" { url = "{{.URL}}/in" }
}
host "h2" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
send_port "h2_out" {
  host      = host.h2
  filter    = false
  transport "file" { path = "out2" }
}
`, map[string]string{"URL": partner.URL})
			base := testOptions(t, dir)
			bx.tune(t, &base)
			process := func(host string) *runner.Runner {
				res, diags := rules.Check(base.Config, rules.Options{Server: "srv1", Host: host})
				if diags.HasErrors() {
					t.Fatal(diags.Error())
				}
				o := base
				o.Checked, o.Host = res, host
				r, err := runner.New(o)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			a, b := process("h"), process("h2")
			put(t, dir, "order.edi", []byte("ISA*00*order~"))
			stop := sync.OnceFunc(runInBackground(t, a))
			defer stop()
			select {
			case <-arrived:
			case <-time.After(time.Minute):
				t.Fatal("the message was never posted")
			}
			// The other host's process starts (and runs once) meanwhile.
			if _, err := b.RunOnce(context.Background()); err != nil {
				t.Fatalf("h2's run: %v", err)
			}
			msgs, err := base.Box.List(context.Background(), msgbox.Filter{})
			if err != nil || len(msgs) != 1 {
				t.Fatalf("List: %d messages, %v; want 1", len(msgs), err)
			}
			d, err := base.Box.Get(context.Background(), msgs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Deliveries) != 1 {
				t.Fatalf("%d deliveries, want 1", len(d.Deliveries))
			}
			got := d.Deliveries[0]
			if got.State != msgbox.DeliveryInProgress || got.Attempts != 0 || !strings.HasPrefix(got.LeaseOwner, "srv1@h/") {
				t.Errorf("after h2's process started: delivery %s, %d attempts, leased to %q; "+
					"want in progress, 0 attempts, leased to srv1@h/…", got.State, got.Attempts, got.LeaseOwner)
			}
			close(release)
			waitDelivered(t, base.Box, 1)
			stop()
			if n := posts.Load(); n != 1 {
				t.Errorf("the partner got %d POSTs of the message, want 1", n)
			}
		})
	}
}
