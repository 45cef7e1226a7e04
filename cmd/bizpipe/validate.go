package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/engine/diag"
	"github.com/bizpipe/bizpipe/engine/live"
	"github.com/bizpipe/bizpipe/engine/report"
	"github.com/bizpipe/bizpipe/engine/rules"
	"github.com/bizpipe/bizpipe/hclspec"
)

type validateFlags struct {
	format string
	strict bool
	live   bool
	server string
	vars   varFlags
}

func newValidateCmd(e *env) *cobra.Command {
	var f validateFlags
	cmd := &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Prove that every host instance can reach the certificates it needs",
		Long: `Validate decodes the configuration and checks every (send port, host instance)
pair: the signing certificate and its private key in the instance's service
account store, the partner certificate in the server's other-people store, and
their dates, key usage and algorithms.

Exit status: 0 no errors; 1 errors (or warnings with --strict); 2 the command
could not run.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(e, f, args)
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text, json or sarif")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "treat warnings as errors for the exit status")
	cmd.Flags().BoolVar(&f.live, "live", false, "also run the live checks (§7.3) on this machine, for --server")
	cmd.Flags().StringVar(&f.server, "server", "", "with --live: the `NAME` of the server this machine is")
	f.vars.register(cmd)
	return cmd
}

func runValidate(e *env, f validateFlags, args []string) error {
	format, ferr := report.ParseFormat(f.format)
	if ferr != nil {
		// Even a usage error is one document in the requested format when
		// it is recognisable; otherwise plain text.
		return usageError(e, report.FormatText, ferr)
	}
	if f.live && f.server == "" {
		return usageError(e, format, errors.New("--live needs --server NAME: the server this machine is"))
	}
	if !f.live && f.server != "" {
		return usageError(e, format, errors.New("--server is used with --live"))
	}
	cfg, diags, err := loadConfig(e, args, f.vars, hclspec.ModeValidate)
	if err != nil {
		return usageError(e, format, err)
	}
	if !hasSyntaxErrors(diags) {
		res, ds := rules.Check(cfg, rules.Options{})
		diags = append(diags, ds...)
		if f.live {
			ds, err := live.Check(cfg, res, live.Options{Server: f.server})
			if err != nil {
				return usageError(e, format, err)
			}
			diags = append(diags, ds...)
		}
	}
	if err := writeReport(e.stdout, format, diags, sources(cfg)); err != nil {
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
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot validate", Detail: err.Error()}
	if format == report.FormatText {
		return &exitError{code: exitUsage, err: err}
	}
	if werr := writeReport(e.stdout, format, hcl.Diagnostics{d}, nil); werr != nil {
		return &exitError{code: exitUsage, err: werr}
	}
	return &exitError{code: exitUsage}
}

func writeReport(w io.Writer, format report.Format, diags hcl.Diagnostics, files map[string][]byte) error {
	if err := report.Write(w, format, diags, report.Options{
		Color:       format == report.FormatText && isTerminal(w),
		Files:       files,
		ToolVersion: version(),
	}); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// isTerminal reports whether w is a terminal that wants colour (NO_COLOR unset).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	return isatty.IsTerminal(f.Fd())
}
