package lang

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bizpipe/bizpipe/internal/message"
)

// hostInputsConfig has hosts a (on srv1 as svc_a, on srv2 as svc_a2) and b
// (on srv1 as svc_b), each with its own store, send port and receive
// location, and a variable for each value: what b alone uses (its store's
// password and path, its account's user, its pipeline's signature, its
// port's directory, file name template and filter, its location's
// properties), what a uses on srv2 only, and what a uses on srv1.
const hostInputsConfig = nestingGroup + `
variable "a_pw" {
  type      = string
  sensitive = true
}
variable "a2_pw" {
  type      = string
  sensitive = true
}
variable "b_pw" {
  type      = string
  sensitive = true
}
variable "b_user" { type = string }
variable "b_sig" { type = string }
variable "b_dir" { type = string }
variable "b_name" { type = string }
variable "b_partner" { type = string }
variable "b_prop" { type = string }
variable "box" { type = string }
certificate_store "a" {
  path     = "stores/a"
  password = var.a_pw
}
certificate_store "a2" {
  path     = "stores/a2"
  password = var.a2_pw
}
certificate_store "b" {
  path     = "${env("B_STORES")}/b"
  password = var.b_pw
}
certificate_store "ops" {
  path = "stores/ops"
}
service_account "svc_a" {
  personal_store = certificate_store.a
}
service_account "svc_a2" {
  personal_store = certificate_store.a2
}
service_account "svc_b" {
  user           = var.b_user
  personal_store = certificate_store.b
}
server "srv1" {
  other_people_store = certificate_store.ops
}
server "srv2" {
}
host "a" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_a
  }
  instance {
    server          = server.srv2
    service_account = service_account.svc_a2
  }
}
host "b" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_b
  }
}
pipeline "pa" {
  encoder "smime" {
    signature = "clear"
  }
}
pipeline "pb" {
  encoder "smime" {
    signature = var.b_sig
  }
}
send_port "a_out" {
  host     = host.a
  pipeline = pipeline.pa
  filter   = message.properties.partner == "a"
  transport "file" {
    path = "out_a"
  }
}
send_port "b_out" {
  host     = host.b
  pipeline = pipeline.pb
  filter   = message.properties.partner == var.b_partner
  transport "file" {
    path      = var.b_dir
    file_name = "${var.b_name}-${message.id}"
  }
}
receive_location "a_in" {
  host = host.a
  transport "file" {
    path = "in_a"
  }
}
receive_location "b_in" {
  host       = host.b
  properties = { partner = var.b_prop }
  transport "file" {
    path = "in_b"
  }
}
message_box {
  sqlite { path = "${var.box}/box.db" }
}
`

// TestHostInputs: in ModeRun with Options.Host, a variable or env() without
// a value is an error only where that host's instances on the server need
// it (its own blocks, every filter, the group, parties and message box);
// another host's values stay unknown, and without Host every variable
// needs a value, as before, each one error whatever uses it.
func TestHostInputs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.hcl")
	writeTestFile(t, path, hostInputsConfig)
	// every input but those named has a value.
	without := func(unset ...string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			name = strings.TrimPrefix(name, envVarPrefix)
			if slices.Contains(unset, name) {
				return "", false
			}
			if name == "b_sig" {
				return "clear", true
			}
			return "v", true
		}
	}
	noValue := func(name string) string { return `No value for required variable: Variable "` + name + `"` }
	notKnown := func(attr, of string) string { return "Value not known: The " + attr + " attribute of " + of }
	bOnly := []string{"b_pw", "b_user", "b_sig", "b_dir", "b_name", "b_prop", "B_STORES"}
	cases := []struct {
		name, host, server string
		unset              []string
		want               []string
	}{
		{name: "every value given", host: "a"},
		// Every variable is needed: each without a value is one error,
		// at its declaration, and its uses none.
		{name: "b's values unset, without --host", unset: bOnly,
			want: []string{noValue("b_pw"), noValue("b_user"), noValue("b_sig"), noValue("b_dir"), noValue("b_name"), noValue("b_prop"),
				"Error in function call"}},
		{name: "b's values unset, host a", host: "a", unset: bOnly},
		{name: "b's values unset, host a on srv1", host: "a", server: "srv1", unset: bOnly},
		{name: "a2's password unset, host a on srv1", host: "a", server: "srv1", unset: []string{"a2_pw"}},
		{name: "a2's password unset, host a on srv2", host: "a", server: "srv2", unset: []string{"a2_pw"},
			want: []string{noValue("a2_pw"), notKnown("password", `certificate_store "a2"`)}},
		{name: "a2's password unset, host a on any server", host: "a", unset: []string{"a2_pw"},
			want: []string{noValue("a2_pw"), notKnown("password", `certificate_store "a2"`)}},
		{name: "a's own password unset, host a", host: "a", server: "srv1", unset: []string{"a_pw", "b_pw"},
			want: []string{noValue("a_pw"), notKnown("password", `certificate_store "a"`)}},
		{name: "b's values unset, host b", host: "b", unset: bOnly,
			want: []string{noValue("b_pw"), noValue("b_user"), noValue("b_sig"), noValue("b_dir"), noValue("b_name"), noValue("b_prop"),
				`Environment variable not set: env("B_STORES")`, notKnown("path", `certificate_store "b"`),
				notKnown("password", `certificate_store "b"`), notKnown("user", `service_account "svc_b"`),
				notKnown("signature", `encoder "smime" of pipeline "pb"`), notKnown("path", `transport "file" of send_port "b_out"`),
				notKnown("properties", `receive_location "b_in"`)}},
		{name: "b's filter reads an unset variable: every host routes with it", host: "a", unset: []string{"b_partner"},
			want: []string{noValue("b_partner")}},
		{name: "the message box reads an unset variable: every host opens it", host: "a", unset: []string{"box"},
			want: []string{noValue("box"), notKnown("path", "sqlite of message_box")}},
		{name: "an undeclared host needs no host's values", host: "nope", unset: bOnly},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := Load([]string{path}, Options{Mode: ModeRun, Host: tc.host, Server: tc.server, LookupEnv: without(tc.unset...)})
			var got []string
			for _, d := range diags {
				got = append(got, d.Summary+": "+d.Detail)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("diagnostics:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(tc.want), strings.Join(tc.want, "\n"))
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("no diagnostic %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
			if tc.host == "" || len(tc.want) > 0 {
				return
			}
			// What another host uses is unknown, never an empty value.
			for _, st := range cfg.Stores {
				if slices.Contains(tc.unset, st.Name+"_pw") && (st.Password.Known || !st.Password.Set) {
					t.Errorf("store %q password %+v, want set and unknown", st.Name, st.Password)
				}
			}
		})
	}
}

// TestHostInputsAtRunTime: a template or filter that reads a variable
// without a value (another host's, which run --host did not need at load;
// in validate, any) fails naming it, never with an empty value.
func TestHostInputsAtRunTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.hcl")
	writeTestFile(t, path, hostInputsConfig)
	unset := func(names ...string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			if slices.Contains(names, strings.TrimPrefix(name, envVarPrefix)) {
				return "", false
			}
			return "clear", true
		}
	}
	msg := messageValue(&message.Message{ID: "m1", Properties: map[string]string{"partner": "x"}})

	cfg, diags := Load([]string{path}, Options{Mode: ModeRun, Host: "a", LookupEnv: unset("b_name", "b_dir", "b_pw")})
	if diags.HasErrors() {
		t.Fatalf("load for host a: %s", diags)
	}
	_, err := EvalTemplate(cfg, fileNameOf(t, cfg.Files[path], "b_out"), msg)
	if err == nil || !strings.Contains(err.Error(), "var.b_name has no value") {
		t.Errorf("b_out's file_name: err = %v, want one naming var.b_name", err)
	}

	cfg, diags = Load([]string{path}, Options{Mode: ModeValidate, LookupEnv: unset("b_partner")})
	if diags.HasErrors() {
		t.Fatalf("load for validate: %s", diags)
	}
	for _, p := range cfg.SendPorts {
		if p.Name != "b_out" {
			continue
		}
		if _, err := EvalFilter(cfg, p, msg); err == nil || !strings.Contains(err.Error(), "var.b_partner has no value") {
			t.Errorf("b_out's filter: err = %v, want one naming var.b_partner", err)
		}
	}
}

// fileNameOf is the file_name expression of send port port's transport.
func fileNameOf(t *testing.T, f *hcl.File, port string) hcl.Expression {
	t.Helper()
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "send_port" || b.Labels[0] != port {
			continue
		}
		for _, tb := range b.Body.Blocks {
			if a, ok := tb.Body.Attributes["file_name"]; tb.Type == "transport" && ok {
				return a.Expr
			}
		}
	}
	t.Fatalf("send port %q has no file_name", port)
	return nil
}
