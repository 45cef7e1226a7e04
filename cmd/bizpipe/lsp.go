package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/lsp"
)

func newLSPCmd(e *env) *cobra.Command {
	var vf varFlags
	cmd := &cobra.Command{
		Use:   "lsp",
		Short: "Run a language server for configuration files over stdin and stdout",
		Long: `Lsp runs a Language Server Protocol server on stdin and stdout, for any
editor with an LSP client (Neovim, Helix, VS Code through a generic client).
It serves the configuration files, *.hcl and *.hcl.json:

  - diagnostics, as "bizpipe validate" reports them with the same --var
    and --var-file, for the whole configuration directory of each open
    file, with unsaved buffers laid over the files on disk, on open, change
    and save, and when the editor reports configuration or certificate
    files changed on disk (the server asks clients that watch files to);
  - hover over a thumbprint: the certificate, the stores that hold it and
    the host instances that reach it with its private key;
  - go to definition of references (host.x, var.x, certificate_store.x, ...),
    in HCL and JSON files: in JSON, from a string that is a reference
    ("host.x") or from a template's interpolation ("${local.x}");
  - completion of block and attribute names, components and values, in
    *.hcl files (none in *.hcl.json, whose syntax it does not write).

Variables take their values from --var, then --var-file (relative to the
directory the editor starts the server in), then BIZPIPE_VAR_NAME in the
editor's environment, as validate's do; every configuration the server
checks gets them. The editor starts the server, and its log shows what the
server writes to stderr.`,
		Example: `  bizpipe lsp
  bizpipe lsp --var-file vars/dev.hcl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vf.check(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if err := regularVarFiles(vf.varFiles); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			err := lsp.Serve(cmd.InOrStdin(), e.stdout, lsp.Options{LookupEnv: e.lookupEnv,
				Vars: vf.vars, VarFiles: vf.varFiles, Version: version()})
			if errors.Is(err, lsp.ErrNoShutdown) {
				return &exitError{code: exitFindings}
			}
			if err != nil {
				return &exitError{code: exitFindings, err: err}
			}
			return nil
		},
	}
	vf.register(cmd)
	clidoc.SetExitCodes(cmd,
		clidoc.ExitCode{Code: exitOK, Meaning: "the client asked the server to shut down, then to exit"},
		clidoc.ExitCode{Code: exitFindings, Meaning: "the client exited or closed the connection without a shutdown request"},
		clidoc.ExitCode{Code: exitUsage, Meaning: "bad usage"})
	return cmd
}

// regularVarFiles checks that every --var-file of the language server is a
// regular file: the server reads them again at every check, which a pipe
// (--var-file <(...)) would answer once and then not at all, or block. And
// that none is in a configuration directory, where it would be read as
// configuration whenever an editor opens a file there (its values shown
// in snippets); the server also refuses to check such a directory.
func regularVarFiles(paths []string) error {
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("--var-file: %w", err)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("--var-file %s is not a regular file: the language server reads it again at every check, which a pipe cannot be", p)
		}
		if lang.VarFileInConfigurationDir(p, paths) {
			files, err := lang.FindFiles([]string{filepath.Dir(p)})
			if err != nil {
				return fmt.Errorf("--var-file %s: %w", p, err)
			}
			return lang.CheckVarFiles(nil, files, []string{p})
		}
	}
	return nil
}
