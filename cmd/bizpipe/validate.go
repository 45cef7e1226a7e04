package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/redact"
	"github.com/bizpipe/bizpipe/internal/validate/live"
	"github.com/bizpipe/bizpipe/internal/validate/report"
	"github.com/bizpipe/bizpipe/internal/validate/rules"
)

type validateFlags struct {
	format  string
	strict  bool
	live    bool
	server  string
	host    string
	verbose bool
	vars    varFlags
}

func newValidateCmd(e *env) *cobra.Command {
	var f validateFlags
	cmd := &cobra.Command{
		Use:   "validate [flags] [PATH...]",
		Short: "Prove that every host instance can reach the certificates it needs",
		Long: `Validate decodes the configuration and checks every (send port, host instance)
pair: the signing certificate and its private key in the instance's service
account store, the partner certificate in the server's other-people store, and
their dates, key usage and algorithms. It needs no access to the servers.

PATH is a directory (its *.hcl and *.hcl.json files, not recursive) or a file;
the default is the current directory. Relative paths inside a file resolve
against that file's directory.

Variables take their value from --var, then --var-file, then the environment
variable BIZPIPE_VAR_NAME, then their default. A variable with none of these
is unknown: it is checked for type, and the checks that need its value are
skipped with a warning: BP2005 for a store password, BP1009 for an attribute
that decides whether a stage signs, encrypts, decrypts or verifies, for the
group's certificate_expiry_warning, and for a receive location's properties
as a whole when the routing rules (BP1007, BP1008) depend on them.

With --live it also checks this machine, for the instances on --server.
An attribute it needs there that has no value (a transport's directory, a
tls block's file, a store's path, a service account's user, the message
box's url) is warning BP1009, naming the rules skipped: on the server, give
the values run needs.
With --live and --host it checks what run --host with the same --server
checks, and the host needs an instance there (exit 2 otherwise): only the
stores of that host's instances there are loaded, and the certificate and
key rules and the live rules report only on what its receive locations,
send ports and those instances use; unused declarations are not reported.
The configuration is still parsed and decoded as a whole, so a syntax or
schema error anywhere, in another host's send port too, is reported, and
so is what is wrong with what belongs to the whole configuration (the
group, the parties). Run it as the user of the host's service account
(sudo -u USER), who may be unable to read the other accounts' stores.

The report goes to stdout in every format, findings or not; --format json,
--format sarif and --format gitlab always print exactly one JSON document.
In CI, --format github annotates the files of a GitHub Actions run (one
workflow command per finding, with its columns only when its range is on
one line: GitHub refuses columns across lines), --format gitlab writes a
GitLab Code Quality
report, and --format sarif is for GitHub code scanning. The text report is
in colour on a terminal, never in a file or pipe, and not when NO_COLOR is
set to a value or TERM is dumb; so are the findings the other commands print as text.`,
		Example: `  bizpipe validate
  bizpipe validate --strict ./config
  BIZPIPE_VAR_p12_password="$P12_PASSWORD" bizpipe validate --format sarif ./config > bizpipe.sarif
  bizpipe validate --format github ./config
  bizpipe validate --format gitlab ./config > gl-code-quality-report.json
  bizpipe validate --live --server srv1 ./config
  sudo -u bts-send bizpipe validate --live --server srv1 --host send_host ./config`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(e, f, args)
		},
	}
	clidoc.SetExitCodes(cmd,
		clidoc.ExitCode{Code: exitOK, Meaning: "no errors (warnings allowed)"},
		clidoc.ExitCode{Code: exitFindings, Meaning: "errors, or warnings with --strict"},
		clidoc.ExitCode{Code: exitUsage, Meaning: "validate could not run (bad usage, no configuration files, a --host without an instance on --server)"})
	cmd.Flags().StringVar(&f.format, "format", string(report.FormatText), "output `FORMAT`: "+orList(report.Formats()))
	cmd.Flags().BoolVar(&f.strict, "strict", false, "exit 1 on warnings too")
	cmd.Flags().BoolVar(&f.live, "live", false, "also check this machine for --server: service account users, store file owners and modes, transport directories and TLS files")
	cmd.Flags().StringVar(&f.server, "server", "", "with --live: the `NAME` of the server this machine is (optional when one server is declared)")
	cmd.Flags().StringVar(&f.host, "host", "", "with --live: check only what the host `NAME` needs on --server, as run --host does")
	cmd.Flags().BoolVar(&f.verbose, "verbose", false, "also print notes to stderr: store files ignored, keys that match no certificate")
	mustComplete(cmd, "format", completeValues(report.Formats()))
	mustComplete(cmd, "server", completeDeclared(serverNames))
	mustComplete(cmd, "host", completeDeclared(hostsOn(&f.server)))
	f.vars.register(cmd)
	// A flag error happens before runValidate: report it in the requested
	// format too, so that a JSON consumer always gets one JSON document.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		err = plainFlagError(err)
		if format, ok := formatInArgs(e.args); ok && format != report.FormatText {
			return usageError(e, format, err)
		}
		return usageHint(c, err)
	})
	return cmd
}

// formatInArgs finds the value of --format in a command line that cobra could
// not parse. The last one wins, as it does for the parsed flag.
func formatInArgs(args []string) (report.Format, bool) {
	var value string
	found := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--format="); ok {
			value, found = v, true
		} else if a == "--format" && i+1 < len(args) {
			value, found = args[i+1], true
			i++
		}
	}
	if !found {
		return "", false
	}
	f, err := report.ParseFormat(value)
	return f, err == nil
}

func runValidate(e *env, f validateFlags, args []string) error {
	format, ferr := report.ParseFormat(f.format)
	if ferr != nil {
		// Even a usage error is one document in the requested format when
		// it is recognisable; otherwise plain text.
		return usageError(e, report.FormatText, ferr)
	}
	if !f.live && f.server != "" {
		return usageError(e, format, errors.New("--server is used with --live"))
	}
	if !f.live && f.host != "" {
		// Which host's instances is a question of the server the
		// machine is, which only --live asks.
		return usageError(e, format, errors.New("--host is used with --live"))
	}
	cfg, diags, err := loadConfig(e, args, f.vars, lang.ModeValidate)
	if err != nil {
		return usageError(e, format, err)
	}
	if diag.HasSyntaxErrors(diags) {
		// The blocks of a file that could not be parsed are missing from the
		// model, so decoding reports phantom problems about them ("no group
		// block", references to undeclared objects): show the syntax errors
		// only, and run no rules.
		diags = diag.SyntaxErrors(diags)
	} else {
		// As run: --server may be left out when one server is declared.
		var server string
		if f.live {
			if server, err = serverOf(cfg, f.server); err != nil {
				return usageError(e, format, err)
			}
			if err := checkHostOn(cfg, server, f.host); err != nil {
				return usageError(e, format, err)
			}
		}
		// With --host, as run --host: only what that host's instances on
		// the server need, so that its service account can check them.
		res, ds := rules.Check(cfg, rules.Options{Server: server, Host: f.host})
		diags = append(diags, ds...)
		if f.verbose {
			writeStoreNotes(e, cfg.Stores, res.Stores, newRedactor(cfg))
		}
		if f.live {
			ds, err := live.Check(cfg, res, live.Options{Server: server, Host: f.host})
			if err != nil {
				return usageError(e, format, cleanError(err))
			}
			diags = append(diags, ds...)
			diags = append(diags, checkMessageBox(context.Background(), cfg, server, f.host)...)
		}
	}
	if err := e.reportStrict(e.stdout, format, diags, cfg, f.strict); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	errs, warns := diag.Counts(diags)
	if errs > 0 || (f.strict && warns > 0) {
		return &exitError{code: exitFindings}
	}
	return nil
}

// usageError reports a failure to run (exit 2) in the requested format, so
// that a JSON consumer always gets one JSON document.
func usageError(e *env, format report.Format, err error) error {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot validate", Detail: sentence(err.Error())}
	if format == report.FormatText {
		return &exitError{code: exitUsage, err: err}
	}
	if werr := e.report(e.stdout, format, hcl.Diagnostics{d}, nil); werr != nil {
		return &exitError{code: exitUsage, err: werr}
	}
	return &exitError{code: exitUsage}
}

// report renders diags to w with the snippets of cfg's files (cfg may be
// nil), the values of cfg's sensitive variables redacted, and colour only
// on a terminal that wants it.
func (e *env) report(w io.Writer, format report.Format, diags hcl.Diagnostics, cfg *model.Config) error {
	return e.reportStrict(w, format, diags, cfg, false)
}

// reportStrict is report, for validate: with strict (--strict), warnings
// fail the command, which the summary line then says.
func (e *env) reportStrict(w io.Writer, format report.Format, diags hcl.Diagnostics, cfg *model.Config, strict bool) error {
	files, parsed := sources(cfg)
	return renderReport(w, format, diags, files, parsed, newRedactor(cfg), wantsColor(w, e.lookupEnv), strict)
}

// renderReport renders diags; red replaces the sensitive values in their
// texts and in the source snippets of every format.
func renderReport(w io.Writer, format report.Format, diags hcl.Diagnostics, files map[string][]byte, parsed map[string]*hcl.File, red *redactor, color, strict bool) error {
	var r redact.Replacer
	if red != nil {
		r = red.r
	}
	if err := report.Write(w, format, diags, report.Options{
		Color:       format == report.FormatText && color,
		Files:       files,
		Parsed:      parsed,
		ToolVersion: version(),
		Redact:      r,
		Strict:      strict,
	}); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// wantsColor reports whether w is a terminal that wants colour: never for a
// file or pipe, nor when NO_COLOR is set and not empty (https://no-color.org:
// an empty one does not count) or TERM is "dumb".
func wantsColor(w io.Writer, lookupEnv func(string) (string, bool)) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	if v, _ := lookupEnv("NO_COLOR"); v != "" {
		return false
	}
	if term, _ := lookupEnv("TERM"); term == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd())
}

// sentence makes an error message a diagnostic detail: a capital first
// letter and a final period.
func sentence(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
