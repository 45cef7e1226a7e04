package main

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/engine/diag"
	"github.com/bizpipe/bizpipe/engine/model"
	"github.com/bizpipe/bizpipe/hclspec"
)

// varFlags are --var and --var-file, shared by validate, run and certs.
type varFlags struct {
	vars     []string
	varFiles []string
}

func (v *varFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&v.vars, "var", nil, "set a variable: `NAME=VALUE` (repeatable)")
	cmd.Flags().StringArrayVar(&v.varFiles, "var-file", nil, "read variables from an HCL or JSON `FILE` (repeatable)")
}

// loadConfig finds and decodes the configuration. An error means the command
// cannot run at all (exit 2); diagnostics are the configuration's problems.
func loadConfig(e *env, paths []string, vf varFlags, mode hclspec.Mode) (*model.Config, hcl.Diagnostics, error) {
	files, err := hclspec.FindFiles(paths)
	if err != nil {
		return nil, nil, err
	}
	cfg, diags := hclspec.Load(files, hclspec.Options{
		Mode: mode, Vars: vf.vars, VarFiles: vf.varFiles, LookupEnv: e.lookupEnv,
	})
	return cfg, diags, nil
}

// hasSyntaxErrors reports files that could not be parsed: the model then
// lacks their blocks, and rules over it would report phantom problems.
func hasSyntaxErrors(diags hcl.Diagnostics) bool {
	for _, d := range diags {
		if d.Severity == hcl.DiagError && diag.CodeOf(d) == diag.CodeSyntax {
			return true
		}
	}
	return false
}

// sources returns the source bytes of every parsed file, for snippets.
func sources(cfg *model.Config) map[string][]byte {
	out := map[string][]byte{}
	if cfg == nil {
		return out
	}
	for name, f := range cfg.Files {
		out[name] = f.Bytes
	}
	return out
}
