package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Exit codes (§8).
const (
	exitOK       = 0
	exitFindings = 1 // validate: errors (or warnings with --strict)
	exitUsage    = 2 // the command could not run
	exitFmtCheck = 3 // fmt --check: a file is not canonically formatted
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error // printed to stderr when non-nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// env is what a command needs from the process, injected so that tests run
// the real CLI in-process without touching global state.
type env struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
}

// run executes the CLI with args and returns the exit code.
func run(args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	e := &env{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
	root := &cobra.Command{
		Use:           "bizpipe",
		Short:         "Validate and run S/MIME send pipelines declared in HCL",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(
		newValidateCmd(e),
		newCertsCmd(e),
		newFmtCmd(e),
		newVersionCmd(e),
	)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "bizpipe:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors: unknown command or flag, wrong arguments.
	fmt.Fprintln(stderr, "bizpipe:", err)
	return exitUsage
}

// version is the module version of the binary, or "devel" in a source build.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.stdout, "bizpipe %s\n", version())
			return nil
		},
	}
}
