package rules_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// hostFilterExtra adds to the standard topology a host "other_host" with an
// instance on srv1 as svc_other and one on srv2 as svc_srv2, whose
// personal stores do not exist (the stores of accounts this process cannot
// read), an encrypting and signing port on it whose partner certificate
// srv1's other-people store lacks and whose filter names an undeclared
// location, a malformed decryption thumbprint, two unrouted receive
// locations on it (one verifying signatures while no party is declared),
// and an unused pipeline.
const hostFilterExtra = `
certificate_store "other_personal" {
  path = "stores/other_personal" # @other_personal
}
certificate_store "srv2_personal" {
  path = "stores/srv2_personal" # @srv2_personal
}
service_account "svc_other" {
  personal_store = certificate_store.other_personal
}
service_account "svc_srv2" {
  personal_store = certificate_store.srv2_personal
}
server "srv2" { # @srv2
}
host "other_host" {
  decryption_certificate = "not-a-thumbprint" # @other_dec
  instance {
    server          = server.srv1
    service_account = service_account.svc_other
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc_srv2
  }
}
send_port "other_out" {
  host                   = host.other_host
  pipeline               = pipeline.pl
  encryption_certificate = "{{tp "decoy"}}" # @other_enc
  filter                 = message.receive_location == "nowhere" # @other_filter
  transport "file" {
    path = "other_out"
  }
}
receive_location "other_in" { # @other_in
  host = host.other_host
  transport "file" {
    path = "other_in"
  }
}
pipeline "verify" {
  decoder "smime" {
    verify = true
  }
}
receive_location "other_verify" { # @other_verify
  host     = host.other_host
  pipeline = pipeline.verify # @other_verify_pl
  transport "file" {
    path = "other_verify"
  }
}
pipeline "spare" { # @spare
  encoder "smime" {
    signature = "clear"
  }
}
`

// TestHostFilter: with Options.Host (run --host), only the stores that
// host's instances on Options.Server use are loaded (a store that cannot
// be read is reported only when loaded), and only findings about that host
// there are reported; without it, everything is, as validate reports it.
func TestHostFilter(t *testing.T) {
	p := newPKI(t)
	var (
		otherStore = finding{code: "BP2001", sev: errorSev, at: "other_personal", text: `"stores/other_personal"`, detail: []string{`"other_personal"`}}
		srv2Store  = finding{code: "BP2001", sev: errorSev, at: "srv2_personal", text: `"stores/srv2_personal"`, detail: []string{`"srv2_personal"`}}
		otherEnc   = finding{code: "BP4002", sev: errorSev, at: "other_enc", text: `"{{tp "decoy"}}"`, detail: []string{`"other_out"`, `host "other_host" on server "srv1"`}}
		srv2NoOPS  = finding{code: "BP4002", sev: errorSev, at: "srv2", text: `server "srv2"`, detail: []string{`"other_out"`, `host "other_host" on server "srv2"`}}
		filterLoc  = finding{code: "BP1006", sev: warningSev, at: "other_filter", text: `"nowhere"`, detail: []string{`"other_out"`}}
		unrouted   = finding{code: "BP1007", sev: warningSev, at: "other_in", text: `receive_location "other_in"`, detail: []string{`"other_in"`}}
		unrouted2  = finding{code: "BP1007", sev: warningSev, at: "other_verify", text: `receive_location "other_verify"`, detail: []string{`"other_verify"`}}
		badDec     = finding{code: "BP2004", sev: errorSev, at: "other_dec", text: `"not-a-thumbprint"`, detail: []string{`host "other_host"`}}
		noParty    = finding{code: "BP7006", sev: errorSev, at: "other_verify_pl", text: `pipeline.verify`, detail: []string{`"other_verify"`}}
		unused     = finding{code: "BP5002", sev: warningSev, at: "spare", text: `pipeline "spare"`, detail: []string{`"spare"`}}
	)
	cases := []struct {
		name, server, host string
		want               []finding
		// loaded are the stores Result.Stores holds.
		loaded []string
	}{
		{"no filter", "", "", []finding{otherStore, srv2Store, otherEnc, srv2NoOPS, filterLoc, unrouted, unrouted2, badDec, noParty, unused}, []string{"other", "personal"}},
		{"no filter, a server alone", "srv1", "", []finding{otherStore, srv2Store, otherEnc, srv2NoOPS, filterLoc, unrouted, unrouted2, badDec, noParty, unused}, []string{"other", "personal"}},
		{"send_host on srv1", "srv1", "send_host", nil, []string{"other", "personal"}},
		{"send_host on srv2, where it has no instance", "srv2", "send_host", nil, nil},
		{"other_host on srv1", "srv1", "other_host", []finding{otherStore, otherEnc, filterLoc, unrouted, unrouted2, badDec, noParty}, []string{"other"}},
		{"other_host on srv2", "srv2", "other_host", []finding{srv2Store, srv2NoOPS, filterLoc, unrouted, unrouted2, badDec, noParty}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t, p.with(t))
			defaultStores(s)
			s.write(topo{Extra: hostFilterExtra}.hcl())
			cfg := s.load()
			res, diags := rules.Check(cfg, rules.Options{Now: p.now, Server: tc.server, Host: tc.host})
			s.expect(diags, tc.want)
			var loaded []string
			for st := range res.Stores {
				loaded = append(loaded, st.Name)
			}
			slices.Sort(loaded)
			if !slices.Equal(loaded, tc.loaded) {
				t.Errorf("loaded stores %q, want %q", loaded, tc.loaded)
			}
		})
	}
}

// TestHostFilterGroupFinding: a finding about the group that lists what
// needs the missing setting (BP1004, no signing_certificate) names only
// the covered host's ports with Options.Host.
func TestHostFilterGroupFinding(t *testing.T) {
	p := newPKI(t)
	s := newScene(t, p)
	defaultStores(s)
	s.write(topo{Sign: "-", Extra: hostFilterExtra}.hcl())
	cfg := s.load()
	for _, tc := range []struct {
		host          string
		names, absent []string
	}{
		{"", []string{`"fabrikam"`, `"other_out"`}, nil},
		{"send_host", []string{`"fabrikam"`}, []string{"other_out"}},
		{"other_host", []string{`"other_out"`}, []string{"fabrikam"}},
	} {
		_, diags := rules.Check(cfg, rules.Options{Now: p.now, Server: "srv1", Host: tc.host})
		var details []string
		for _, d := range diags {
			if d.Summary == "Missing signing_certificate" {
				details = append(details, d.Detail)
			}
		}
		if len(details) != 1 {
			t.Errorf("host %q: %d missing signing_certificate findings, want 1:\n%s", tc.host, len(details), dump(diags))
			continue
		}
		for _, n := range tc.names {
			if !strings.Contains(details[0], n) {
				t.Errorf("host %q: the finding does not name %s: %s", tc.host, n, details[0])
			}
		}
		for _, n := range tc.absent {
			if strings.Contains(details[0], n) {
				t.Errorf("host %q: the finding names %s: %s", tc.host, n, details[0])
			}
		}
	}
}
