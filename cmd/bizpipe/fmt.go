package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/rogpeppe/go-internal/diff"
	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/hclspec"
)

func newFmtCmd(e *env) *cobra.Command {
	var check, showDiff bool
	cmd := &cobra.Command{
		Use:   "fmt [PATH...]",
		Short: "Rewrite configuration files in canonical format",
		Long: `Fmt rewrites *.hcl files in the canonical HCL format (JSON files are left
alone) and prints the names of the files it changed.

With --check it changes nothing and exits 3 when a file is not formatted;
with --diff it prints what it would change.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFmt(e, args, check, showDiff)
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "change nothing; exit 3 when a file is not canonically formatted")
	cmd.Flags().BoolVar(&showDiff, "diff", false, "print the changes as a unified diff")
	return cmd
}

func runFmt(e *env, args []string, check, showDiff bool) error {
	files, err := hclspec.FindFiles(args)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	var unformatted, failed int
	for _, name := range files {
		if !strings.HasSuffix(name, ".hcl") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(e.stderr, "bizpipe: %s\n", err)
			failed++
			continue
		}
		// hclwrite formats even broken files; refuse them so that fmt never
		// rewrites something it cannot read.
		if _, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos); diags.HasErrors() {
			fmt.Fprintf(e.stderr, "bizpipe: %s: not formatted: %s\n", name, diags.Error())
			failed++
			continue
		}
		out := hclwrite.Format(src)
		if bytes.Equal(src, out) {
			continue
		}
		unformatted++
		if showDiff {
			e.stdout.Write(diff.Diff(name, src, name+" (formatted)", out))
		}
		if check {
			if !showDiff {
				fmt.Fprintln(e.stdout, name)
			}
			continue
		}
		if err := writeFileKeepMode(name, out); err != nil {
			fmt.Fprintf(e.stderr, "bizpipe: %s\n", err)
			failed++
			continue
		}
		if !showDiff {
			fmt.Fprintln(e.stdout, name)
		}
	}
	switch {
	case failed > 0:
		return &exitError{code: exitUsage, err: errors.New("some files could not be formatted")}
	case check && unformatted > 0:
		return &exitError{code: exitFmtCheck}
	}
	return nil
}

// writeFileKeepMode replaces name's content through a temporary file and a
// rename, so that an interrupted fmt never leaves a half-written file.
func writeFileKeepMode(name string, data []byte) error {
	info, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp := name + ".bizpipe-fmt.tmp"
	if err := os.WriteFile(tmp, data, info.Mode().Perm()); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replacing %s: %w", name, err)
	}
	return nil
}
