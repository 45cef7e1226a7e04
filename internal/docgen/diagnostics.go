package docgen

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/validate/report"
)

// diagnostics is docs/diagnostics.md: every code of report.Rules.
func diagnostics() string {
	var b strings.Builder
	b.WriteString("# Diagnostics\n\n")
	b.WriteString("Every finding is a diagnostic with a severity (`error` or `warning`), a stable\n" +
		"code, a one-line summary, a detail that names every object involved (send port,\n" +
		"pipeline, host, server, service account, store, file, thumbprint) and, where\n" +
		"there is one, the source range of the construct to change (the `instance`\n" +
		"block, the `encryption_certificate` attribute, ...). `bizpipe validate` prints\n" +
		"them as " + orList(formatNames()) + ", as its\n" +
		"`--format` chooses ([`bizpipe validate`](" + fileCLI + "#bizpipe-validate)); it exits 1 when there is\n" +
		"an error (or, with `--strict`, a warning).\n\n")
	b.WriteString("The static rules need no access to servers: `validate` runs them in CI on a\n" +
		"checkout. They are checked per (send port, host instance) pair, and a finding\n" +
		"names the send port and the exact instance (host, server, service account,\n" +
		"store). A host whose send ports do not sign needs no signing certificate. The\n" +
		"live rules judge the machine they run on, for the instances of one server: they\n" +
		"run with `validate --live --server NAME` and at the start of every `run`, never\n" +
		"in plain `validate` (a CI checkout's file modes say nothing about a server).\n" +
		"Where a service account declares no `user`, they judge the user running\n" +
		"bizpipe.\n\n")
	b.WriteString("| code | severity | checked by | rule |\n|---|---|---|---|\n")
	rules := report.Rules()
	for _, r := range rules {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s |\n", r.Code, Anchor(heading(r)), severity(r.Severity), checkedBy(r), cell(r.Title))
	}
	b.WriteString("\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "## %s\n\n", heading(r))
		fmt.Fprintf(&b, "**%s.** Severity: %s. Checked by: %s. SARIF rule: `%s`.\n\n", r.Title, severity(r.Severity), checkedBy(r), r.Name)
		b.WriteString(r.Description + "\n\n")
	}
	return b.String()
}

func heading(r report.Rule) string { return string(r.Code) }

func severity(s hcl.DiagnosticSeverity) string {
	if s == hcl.DiagWarning {
		return "warning"
	}
	return "error"
}

// formatNames describes each of validate's --format values, in help
// order; a format without a description here is shown by its name.
func formatNames() []string {
	described := map[report.Format]string{
		report.FormatText:   "text",
		report.FormatJSON:   "JSON",
		report.FormatSARIF:  "SARIF",
		report.FormatGitHub: "GitHub Actions annotations (`github`)",
		report.FormatGitLab: "a GitLab Code Quality report (`gitlab`)",
	}
	var out []string
	for _, f := range report.Formats() {
		d, ok := described[f]
		if !ok {
			d = "`" + string(f) + "`"
		}
		out = append(out, d)
	}
	return out
}

func checkedBy(r report.Rule) string {
	switch r.Kind {
	case report.RunOnly:
		return "`run` (live)"
	case report.Live:
		return "`validate --live`, `run` (live)"
	}
	return "`validate`, `run`"
}
