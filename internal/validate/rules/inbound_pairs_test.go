package rules_test

import (
	"strings"
	"testing"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

// TestInboundRulesPerPair: the inbound rules are evaluated per (receive
// location, host instance) pair (language §10, "like §7.2"): with host
// recv_host on two servers, srv1 holding what the locations need and srv2
// nothing, every finding is about srv2's instance, once for each of the
// two locations that decrypt and verify there, and names that location,
// the instance (host, server, service account) and the store; srv1's
// instance, whose stores hold everything, is in no finding.
func TestInboundRulesPerPair(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	hcl := onSrv2Too(t, inTopo{Extra: srv2Decls + `
receive_location "from_northwind" {
  host     = host.recv_host
  pipeline = pipeline.decode
  transport "file" {
    path = "in2"
  }
}
`}.hcl())

	s := newScene(t, p.with(t))
	inStores(s)
	s.mkdir("personal2")
	s.mkdir("other2")
	s.write(hcl)
	cfg, loadDiags := s.loadChecked()
	_, diags := rules.Check(cfg, rules.Options{Now: p.now})
	srv2 := []string{`host "recv_host"`, `server "srv2"`, `service account "svc2"`}
	var want []finding
	for _, loc := range []string{`Receive location "from_fabrikam"`, `Receive location "from_northwind"`} {
		want = append(want,
			finding{diag.CodeDecCertMissing, errorSev, "inst2", "instance {", "}",
				append(list(loc, `certificate store "personal2"`, `{{TP "dec"}}`), srv2...)},
			finding{diag.CodePartyCertMissing, errorSev, "party_certs", `["{{tp "party"}}"]`, "",
				append(list(loc, `certificate store "other2"`, `party "fabrikam"`), srv2...)},
		)
	}
	s.expect(append(loadDiags, diags...), want)
	for _, d := range diags {
		if strings.Contains(d.Detail, `server "srv1"`) || strings.Contains(d.Detail, `service account "svc_recv"`) {
			t.Errorf("a finding names srv1's instance, whose stores hold everything: %s", d.Detail)
		}
	}
}

// TestPartyCertRejectedOnOneServer: a party certificate the decoder
// rejects whatever the time (certinfo.SignerError) is a warning where a
// usable certificate of the party is found next to it, but an error
// (BP7007) on a server whose other-people store holds only it: every
// signature of the party is rejected there. Each server is judged on its
// own, whatever the order of the instances: srv1, where the party's
// usable certificate is, comes first, and must not hide srv2's error.
func TestPartyCertRejectedOnOneServer(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	hcl := onSrv2Too(t, inTopo{NoDecrypt: true, Dec: "-", Party: `["{{tp "party-no-ds"}}", "{{tp "party"}}"]`, Extra: srv2Decls}.hcl())

	s := newScene(t, p.with(t))
	s.mkdir("personal")
	s.certOnly("other", "fabrikam.pem", "party")
	s.certOnly("other", "bad.pem", "party-no-ds")
	s.mkdir("personal2")
	s.certOnly("other2", "bad.pem", "party-no-ds")
	s.write(hcl)
	cfg, loadDiags := s.loadChecked()
	_, diags := rules.Check(cfg, rules.Options{Now: p.now})
	s.expect(append(loadDiags, diags...), []finding{
		{diag.CodePartyCertInvalid, warningSev, "party_certs", `"{{tp "party-no-ds"}}"`, "",
			list(`{{TP "party-no-ds"}}`, "key usage", `{{TP "party"}}`, "is usable", `server "srv1"`)},
		{diag.CodePartyCertInvalid, errorSev, "party_certs", `"{{tp "party-no-ds"}}"`, "",
			list(`{{TP "party-no-ds"}}`, "key usage", "None of the party's other listed certificates", `server "srv2"`, `service account "svc2"`, "stores/other2/bad.pem")},
	})
}

// srv2Decls declares server "srv2", whose other-people store is "other2",
// and service account "svc2", whose personal store is "personal2".
const srv2Decls = `
certificate_store "personal2" {
  path = "stores/personal2"
}
certificate_store "other2" {
  path = "stores/other2"
}
service_account "svc2" {
  personal_store = certificate_store.personal2
}
server "srv2" {
  other_people_store = certificate_store.other2
}
`

// onSrv2Too is an inTopo configuration (with srv2Decls) whose host
// recv_host has a second instance, marked @inst2, on srv2 as svc2.
func onSrv2Too(t *testing.T, hcl string) string {
	t.Helper()
	first := "  instance { # @inst\n    server          = server.srv1\n    service_account = service_account.svc_recv\n  }\n"
	if !strings.Contains(hcl, first) {
		t.Fatal("inTopo's instance block is not where the test adds the second one")
	}
	hcl = strings.Replace(hcl, first, first+"  instance { # @inst2\n    server          = server.srv2\n    service_account = service_account.svc2\n  }\n", 1)
	return hcl
}
