package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDidYouMean checks the "did you mean" hints of misspelled names: each
// case adds src to a small configuration and wants one diagnostic whose
// detail ends with hint ("" wants no hint at all).
func TestDidYouMean(t *testing.T) {
	const base = `
group "contoso" {}
variable "p12_password" {
  type = string
}
locals {
  partner_dir = "out"
}
certificate_store "personal" {
  path = "."
}
service_account "svc_send" {
  personal_store = certificate_store.personal
}
server "srv1" {}
host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc_send
  }
}
`
	cases := []struct {
		name, src string
		vars      []string
		hint      string
	}{
		{"reference", `receive_location "in" {
  host = host.sned_host
  transport "file" { path = "in" }
}`, nil, "Did you mean host.send_host?"},
		{"reference kind", `receive_location "in" {
  host = hots.send_host
  transport "file" { path = "in" }
}`, nil, "Did you mean host.send_host?"},
		{"reference far from any name", `receive_location "in" {
  host = host.zzzzzzzz
  transport "file" { path = "in" }
}`, nil, ""},
		{"variable", `certificate_store "p12" {
  path     = "."
  password = var.p12_pasword
}`, nil, "Did you mean var.p12_password?"},
		{"local", `certificate_store "p12" {
  path = local.partner_dri
}`, nil, "Did you mean local.partner_dir?"},
		{"--var", "", []string{"p12_pasword=x"}, `Did you mean "p12_password"?`},
		{"message attribute", `send_port "p" {
  host   = host.send_host
  filter = message.filename == "x"
  transport "file" { path = "out" }
}`, nil, "Did you mean message.file_name?"},
		{"message attribute case", `send_port "p" {
  host   = host.send_host
  filter = message.ID == "x"
  transport "file" { path = "out" }
}`, nil, "Did you mean message.id?"},
		{"transport", `receive_location "in" {
  host = host.send_host
  transport "fiel" { path = "in" }
}`, nil, `Did you mean "file"?`},
		{"encoder", `pipeline "pl" {
  encoder "smiem" {}
}`, nil, `Did you mean "smime"?`},
		{"enum value", `send_port "p" {
  host = host.send_host
  transport "file" {
    path      = "out"
    copy_mode = "overwrte"
  }
}`, nil, `Did you mean "overwrite"?`},
		// How close a secret is to a value is not shown.
		{"sensitive enum value", `variable "mode" {
  sensitive = true
  default   = "overwrte"
}
send_port "p" {
  host = host.send_host
  transport "file" {
    path      = "out"
    copy_mode = var.mode
  }
}`, nil, ""},
		// Not near an attribute: probably a context property.
		{"message property", `send_port "p" {
  host   = host.send_host
  filter = message.partner == "x"
  transport "file" { path = "out" }
}`, nil, "A context property is read as message.properties.partner."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "main.hcl")
			if err := os.WriteFile(p, []byte(base+c.src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, diags := Load([]string{p}, Options{Mode: ModeValidate, Vars: c.vars, LookupEnv: noEnv})
			var errs []string
			for _, d := range diags {
				errs = append(errs, d.Detail)
			}
			if len(errs) != 1 {
				t.Fatalf("want 1 diagnostic, got %d:\n%s", len(errs), diags.Error())
			}
			switch {
			case c.hint == "" && strings.Contains(errs[0], "Did you mean"):
				t.Errorf("unexpected hint: %s", errs[0])
			case c.hint != "" && !strings.HasSuffix(errs[0], c.hint):
				t.Errorf("detail does not end with %q: %s", c.hint, errs[0])
			}
		})
	}
}
