package rules_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// startScene writes a configuration of two servers, a host on each (h1
// on srv1, h2 on srv2, h12 on both) and extra, the receive locations, and
// returns it loaded.
func startScene(t *testing.T, srv1, extra string) (*scene, *model.Config) {
	t.Helper()
	s := newScene(t, newPKI(t))
	s.mkdir("personal")
	s.write(fmt.Sprintf(`
group "g" {}
certificate_store "personal" {
  path = "stores/personal"
}
service_account "svc" {
  personal_store = certificate_store.personal
}
server %q {}
server "srv2" {}
host "h1" {
  instance {
    server          = server.%s
    service_account = service_account.svc
  }
}
host "h2" {
  instance {
    server          = server.srv2
    service_account = service_account.svc
  }
}
host "h12" {
  instance {
    server          = server.%s
    service_account = service_account.svc
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc
  }
}
send_port "out" {
  host   = host.h1
  filter = true
  transport "file" {
    path = "out"
  }
}
%s`, srv1, srv1, srv1, extra))
	return s, s.load()
}

// startFindings are the diagnostics of rules.Check with opts whose summary
// has what.
func startFindings(cfg *model.Config, opts rules.Options, what string) hcl.Diagnostics {
	_, diags := rules.Check(cfg, opts)
	var out hcl.Diagnostics
	for _, d := range diags {
		if strings.Contains(d.Summary, what) {
			out = append(out, d)
		}
	}
	return out
}

// startOn builds and starts, as run on server does, the receive locations
// of cfg that run there (every host with an instance there, or only host),
// with owner as their owner, and returns the first error; it stops what it
// started.
func startOn(t *testing.T, cfg *model.Config, server, host, owner string) error {
	t.Helper()
	var started []component.Receiver
	defer func() {
		for _, rc := range started {
			rc.Stop(context.Background())
		}
	}()
	sink := component.SinkFunc(func(context.Context, msgbox.Incoming, io.Reader) (msgbox.Message, bool, error) {
		return msgbox.Message{}, false, nil
	})
	for _, r := range cfg.ReceiveLocations {
		here := false
		for _, in := range r.Host.Instances {
			here = here || in.Server.Name == server
		}
		if !here || host != "" && r.Host.Name != host {
			continue
		}
		rc, err := r.Transport.Config.(component.ReceiverConfig).NewReceiver(&component.ReceiveEnv{
			Location: r.Name, Owner: owner, Sink: sink, PartyAS2IDs: map[string]string{}})
		if err != nil {
			return err
		}
		if _, poller := rc.(component.Poller); poller {
			continue // polls when run; building it is its start
		}
		if err := rc.Start(context.Background()); err != nil {
			return err
		}
		started = append(started, rc)
	}
	return nil
}

// freePort is a port of 127.0.0.1 free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestListenersAsRunJudgesThem: validate reports two receive locations
// that listen on one address on one server exactly when run there fails
// to start the second (two http locations on 127.0.0.1:8080 validated,
// and run exited 1 with "address already in use").
func TestListenersAsRunJudgesThem(t *testing.T) {
	p, q := freePort(t), freePort(t)
	for _, tc := range []struct {
		a, b     string
		hostB    string // the second location's host
		conflict bool
	}{
		{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", p), "h1", true},
		{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", p), "h12", true},
		{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", p), "h2", false},
		{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("[127.0.0.1]:%d", p), "h1", true},
		{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:0%d", p), "h1", true},
		{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:+%d", p), "h1", true},
		{fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", q), "h1", false},
		{"127.0.0.1:0", "127.0.0.1:0", "h1", false},
		{"127.0.0.1:", "127.0.0.1:0", "h1", false},
	} {
		name := fmt.Sprintf("%s_%s_%s", tc.a, tc.b, tc.hostB)
		t.Run(name, func(t *testing.T) {
			_, cfg := startScene(t, "srv1", fmt.Sprintf(`
receive_location "a" {
  host = host.h1
  transport "http" {
    listen = %q
  }
}
receive_location "b" {
  host = host.%s
  transport "http" {
    listen = %q
    path   = "/b"
  }
}`, tc.a, tc.hostB, tc.b))
			found := startFindings(cfg, rules.Options{}, "Listen address")
			var failed []string
			for _, srv := range []string{"srv1", "srv2"} {
				if err := startOn(t, cfg, srv, "", srv); err != nil {
					failed = append(failed, err.Error())
				}
			}
			if (len(found) > 0) != (len(failed) > 0) || (len(found) > 0) != tc.conflict {
				t.Fatalf("validate's findings %v; run's errors %v; want a conflict: %v", found, failed, tc.conflict)
			}
			if tc.conflict && (len(found) != 1 || !strings.Contains(found[0].Detail, `"b"`) || !strings.Contains(found[0].Detail, `"a"`) ||
				!strings.Contains(found[0].Detail, `server "srv1"`)) {
				t.Errorf("findings %v: want one naming both locations and the server", found)
			}
		})
	}
}

// TestOwnersAsPollerJudgesThem: validate reports a server whose name is
// too long for the claims of a file receive location that runs there
// exactly when the location refuses it as run builds it (a server named
// with 159 letters validated, and run exited 1 with "owner ... is too long
// to fit in claim file names"); with run --host (Options.Host), the name
// run works under, "server@host".
func TestOwnersAsPollerJudgesThem(t *testing.T) {
	for _, tc := range []struct {
		server, host string
	}{
		{strings.Repeat("s", 158), ""},
		{strings.Repeat("s", 159), ""},
		{"a" + strings.Repeat("-", 52), ""},
		{"a" + strings.Repeat("-", 53), ""},
		{"a" + strings.Repeat("_", 157), ""},
		{strings.Repeat("s", 154), "h1"},
		{strings.Repeat("s", 155), "h1"},
		{strings.Repeat("s", 159), "h1"},
		{"srv1", "h1"},
	} {
		t.Run(fmt.Sprintf("%d_%s", len(tc.server), tc.host), func(t *testing.T) {
			_, cfg := startScene(t, tc.server, `
receive_location "files" {
  host = host.h1
  transport "file" {
    path = "in"
  }
}`)
			found := startFindings(cfg, rules.Options{Host: tc.host, Server: tc.server}, "Server name too long")
			err := startOn(t, cfg, tc.server, tc.host, component.Owner(tc.server, tc.host))
			if (len(found) > 0) != (err != nil) {
				t.Fatalf("validate's findings %v; run's error %v", found, err)
			}
			if len(found) > 0 && (len(found) != 1 || !strings.Contains(found[0].Detail, `"files"`) || !strings.Contains(found[0].Detail, tc.server)) {
				t.Errorf("findings %v: want one naming the location and the server", found)
			}
		})
	}
}

// TestInputsShared: validate reports two receive locations that run on one
// server and can take the same input (file locations on one directory
// whose patterns a file name matches both): each file would go to
// whichever location claimed it first, through its own pipeline.
func TestInputsShared(t *testing.T) {
	for _, tc := range []struct {
		name            string
		pathA, patternA string // "" pattern: the default, "*"
		pathB, patternB string
		hostB           string
		opts            rules.Options
		conflict        bool
		wantInDetail    string
	}{
		{"every file and xml", "in", "", "in", "*.xml", "h1", rules.Options{}, true, `pattern "*.xml"`},
		{"xml and edi", "in", "*.xml", "in", "*.edi", "h1", rules.Options{}, false, ""},
		{"one directory spelt two ways", "in", "*", "./sub/../in", "order-*", "h1", rules.Options{}, true, `directory`},
		{"two directories", "in", "*", "in2", "*", "h1", rules.Options{}, false, ""},
		{"different servers", "in", "*", "in", "*", "h2", rules.Options{}, false, ""},
		{"a host on both servers", "in", "[0-9]*", "in", "*7*", "h12", rules.Options{}, true, `"h12"`},
		{"run --host on the shared server", "in", "*", "in", "*", "h12", rules.Options{Host: "h1", Server: "srv1"}, true, `server "srv1"`},
		{"run --host on the other server", "in", "*", "in", "*", "h12", rules.Options{Host: "h2", Server: "srv2"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pattern := func(p string) string {
				if p == "" {
					return ""
				}
				return fmt.Sprintf("pattern = %q", p)
			}
			_, cfg := startScene(t, "srv1", fmt.Sprintf(`
receive_location "a" {
  host = host.h1
  transport "file" {
    path = %q
    %s
  }
}
receive_location "b" {
  host = host.%s
  transport "file" {
    path = %q
    %s
  }
}`, tc.pathA, pattern(tc.patternA), tc.hostB, tc.pathB, pattern(tc.patternB)))
			found := startFindings(cfg, tc.opts, "take the same inputs")
			if (len(found) > 0) != tc.conflict {
				t.Fatalf("findings %v; want a conflict: %v", found, tc.conflict)
			}
			if !tc.conflict {
				return
			}
			d := found[0]
			if len(found) != 1 || !strings.Contains(d.Detail, `location "b"`) || !strings.Contains(d.Detail, `location "a"`) ||
				!strings.Contains(d.Detail, tc.wantInDetail) || d.Subject == nil || d.Subject.Filename == "" {
				t.Errorf("findings %v: want one naming both locations and %s, with a range", found, tc.wantInDetail)
			}
		})
	}
}
