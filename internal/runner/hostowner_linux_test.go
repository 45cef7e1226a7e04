package runner_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

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
			msgs, err := msgbox.Collect(context.Background(), base.Box, msgbox.Filter{})
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
