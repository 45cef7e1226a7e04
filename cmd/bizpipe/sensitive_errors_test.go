package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSensitiveFunctionErrors: a function, operator or conversion that
// fails on a value derived from a sensitive variable shows neither the
// value nor anything made of it (reversed, cut, split) in any format. The
// text replacement of known values cannot catch those, nor a value shorter
// than redact.MinLen: a 3-character secret is checked too. Each expression
// is a local of its own, or an attribute of a send port, and each must be
// reported (BP1004, BP1005 for the template), so that "not shown" is not "not checked".
func TestSensitiveFunctionErrors(t *testing.T) {
	locals := []struct{ name, expr string }{
		{"parseint", `parseint(var.secret, 10)`},
		{"reversed", `parseint(strrev(var.secret), 10)`},
		{"substring", `parseint(substr(var.secret, 0, 3), 10)`},
		{"split", `parseint(split("x", var.secret)[0], 10)`},
		{"jsondecode", `jsondecode(var.secret)`},
		{"formatdate format", `formatdate(var.secret, "2020-01-01T00:00:00Z")`},
		{"formatdate time", `formatdate("YYYY", var.secret)`},
		{"timeadd", `timeadd("2020-01-01T00:00:00Z", var.secret)`},
		{"regex pattern", `regex(var.secret, "x")`},
		{"regex other argument", `regex("(", var.secret)`},
		{"csvdecode", `csvdecode("a\n\"${var.secret}")`},
		{"format", `format("%d", var.secret)`},
		{"format verb", `format(var.secret, 1)`},
		{"index", `index({ a = 1 }, var.secret)`},
		{"nested in a local", `parseint(local.holder.s, 10)`},
		{"joined", `jsondecode(join(",", [var.secret, "x"]))`},
		{"file", `file(var.secret)`},
		{"tonumber", `tonumber(var.secret)`},
		{"operator", `var.secret + 1`},
		{"map key", `{ a = 1 }[var.secret]`},
		{"condition", `var.secret ? 1 : 2`},
	}
	var cfg strings.Builder
	cfg.WriteString("variable \"secret\" {\n  type      = string\n  sensitive = true\n}\n\nlocals {\n  holder = { s = var.secret }\n")
	for i, l := range locals {
		fmt.Fprintf(&cfg, "  l%d = %s # %s\n", i, l.expr, l.name)
	}
	cfg.WriteString("}\n")
	// Attributes of a type of their own: a number from a template, a
	// duration, an enum, a template that must be a string.
	cfg.WriteString(`
send_port "leak" {
  host                   = host.send_host
  pipeline               = pipeline.sign_encrypt
  encryption_certificate = "CCFE302DA296CC18B316BA3063F069169382D9FC"
  filter                 = message.receive_location == "orders_in"
  retry {
    attempts = "${var.secret}"
    interval = var.secret
  }
  transport "file" {
    path      = "out/leak"
    file_name = parseint(var.secret, 10)
    copy_mode = var.secret
  }
}
`)
	const attributes = 4
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(examplesDir, "quickstart"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "leak.hcl"), []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, secret := range []string{"Qz9xK7wJ", "Zq7"} {
		for _, format := range []string{"text", "json", "sarif", "github", "gitlab"} {
			t.Run(secret+"/"+format, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run([]string{"validate", "--format", format, "--var", "secret=" + secret, "."}, &stdout, &stderr, noEnv)
				if code != exitFindings {
					t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitFindings, &stderr)
				}
				out := stdout.String() + stderr.String()
				if n := strings.Count(out, "Error: [BP100"); format == "text" && n != len(locals)+attributes {
					t.Errorf("%d BP1004 or BP1005 findings, want %d:\n%s", n, len(locals)+attributes, out)
				}
				for _, shown := range derived(secret) {
					if i := strings.Index(strings.ToLower(out), strings.ToLower(shown)); i >= 0 {
						t.Errorf("the output shows %q (from the secret %q): …%s…", shown, secret, out[max(0, i-200):min(len(out), i+100)])
					}
				}
			})
		}
	}
}

// derived returns what must not be shown of secret: itself, reversed, and
// for a longer one each 3-character piece of either.
func derived(secret string) []string {
	r := []rune(secret)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	out := []string{secret, string(r)}
	for _, s := range []string{secret, string(r)} {
		for i := 0; len(s) > 3 && i+3 <= len(s); i++ {
			out = append(out, s[i:i+3])
		}
	}
	return out
}

// TestURLPasswordSnippets: the default of a variable a send transport's
// url interpolates as its password is hidden in validate's snippets,
// whether the url writes it in place or through locals. Before, only the
// one written in the url was: through a local, the snippet of a finding
// on the variable's line showed the password.
func TestURLPasswordSnippets(t *testing.T) {
	for _, tt := range []struct{ name, locals, url string }{
		{"in place", "", `"https://user:${var.pw}@partner.example/in"`},
		{"in a local", `u = "https://user:${var.pw}@partner.example/in"`, "local.u"},
		{"in a local a template uses", `base = "https://user:${var.pw}@partner.example"`, `"${local.base}/in"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// A variable declared twice (BP1002): the finding's snippet
			// is the line that writes the default.
			cfg := `group "g" {}
variable "pw" { default = "SNIPPET-URL-PW" }
variable "pw" { default = "SNIPPET-URL-PW" }
locals {
  ` + tt.locals + `
}
host "h" {}
send_port "p" {
  host   = host.h
  filter = true
  transport "http" {
    url = ` + tt.url + `
  }
}
`
			if err := os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			out := string(runCLI(t, 1, "validate", dir))
			if strings.Contains(out, "SNIPPET-URL-PW") || !strings.Contains(out, `variable "pw" { default = "(sensitive value)" }`) {
				t.Errorf("validate shows the url's password:\n%s", out)
			}
		})
	}
}
