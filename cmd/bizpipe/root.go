package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

// Exit codes. What each means for a command is declared with the command
// (clidoc.SetExitCodes), for its help and the reference.
const (
	exitOK       = 0 // done
	exitFindings = 1 // the configuration has errors, or the operation failed
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
	args           []string // the command line, for errors cobra reports before a command runs

	// bulkListed, when not nil, is called by a bulk operation between
	// listing the suspended messages and acting on them: for the tests of
	// what changes meanwhile.
	bulkListed func()

	// resubmitChecked, when not nil, is called by resubmit between
	// checking the message and copying it: for the tests of two
	// resubmits at once.
	resubmitChecked func()

	// spoolInMemory bounds the bytes messages list keeps in memory before
	// its text rows move to a temporary file (spool); 0 means
	// defaultSpoolInMemory.
	spoolInMemory int
}

// run executes the CLI with args and returns the exit code.
func run(args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	return runEnv(&env{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}, args)
}

// runEnv is run in the environment e, whose args it sets.
func runEnv(e *env, args []string) int {
	e.args = args
	stderr := e.stderr
	root := newRootCmd(e)
	if isCompletionRequest(args) {
		plainFlagUsages(root)
	}
	if len(args) == 0 {
		// No command at all is a missing argument, as a group's without
		// one (groupCommands): the usage on stderr, exit 2. --help and
		// help ask for it, and stay 0.
		return missingCommand(root, stderr)
	}
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			// An error may quote what the message box or a store holds:
			// escaped, but for the newlines of its own lines.
			fmt.Fprintln(stderr, "bizpipe:", safetext.Prose(ee.err.Error()))
		}
		return ee.code
	}
	// Cobra's own errors: unknown command or flag, wrong arguments.
	fmt.Fprintln(stderr, "bizpipe:", safetext.Prose(err.Error()))
	fmt.Fprintln(stderr, "Run 'bizpipe --help' for usage.")
	return exitUsage
}

// newRootCmd builds the command tree, every command writing to e. The
// reference in docs/ is generated from this tree (TestDocs).
func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "bizpipe",
		Short: "Validate and run S/MIME and AS2 messaging pipelines declared in HCL",
		Long: `bizpipe is a BizTalk-style messaging engine configured by HCL: it receives
messages (files, HTTP, AS2), signs and encrypts or decrypts and verifies them
(S/MIME), and delivers them (files, HTTP, AS2), durably and exactly once to
files.

Before anything runs, "bizpipe validate" proves that every host instance that
signs can reach the group signing certificate and its private key through its
own service account, and that every encrypting send port's certificate is in
the other-people store of every server where the port can run.

A configuration is every *.hcl and *.hcl.json file directly in each directory
named on the command line (the current directory by default), plus files
named directly.`,
		Example: `  bizpipe validate ./config
  BIZPIPE_VAR_p12_password="$P12_PASSWORD" bizpipe validate --format sarif ./config
  bizpipe certs ./config
  bizpipe fmt --check ./config`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("bizpipe {{.Version}}\n")
	root.Flags().BoolP("version", "v", false, "print the version")
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageHint(c, plainFlagError(err))
	})
	root.AddCommand(
		newValidateCmd(e),
		newCertsCmd(e),
		newFmtCmd(e),
		newRunCmd(e),
		newRouteCmd(e),
		newMessagesCmd(e),
		newVersionCmd(e),
		newLSPCmd(e),
	)
	// Cobra adds its completion command when the tree runs; added now, it
	// is in the tree that --help, the reference and groupCommands see.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			clidoc.SetExitCodes(c,
				clidoc.ExitCode{Code: exitOK, Meaning: "the script was written"},
				clidoc.ExitCode{Code: exitUsage, Meaning: "bad usage (an unknown shell, or none)"})
		}
	}
	groupCommands(root)
	helpTopics(root)
	return root
}

// groupCommands makes every command of root's tree that only groups others
// (messages, completion) fail on an unknown command as root does: exit 2,
// naming the commands there are. Cobra checks only the root's; under a
// group it shows the group's help and exits 0, so a typo such as
// "bizpipe messages lsit" would look like success to a script. Without a
// command the group's usage goes to stderr, and it exits 2 too: a missing
// argument ("bizpipe completion" in a script that forgot the shell wrote
// no script). --help shows the help, exit 0.
func groupCommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		if !c.HasSubCommands() {
			continue
		}
		groupCommands(c)
		if c.Runnable() {
			continue // a command of its own that also has commands
		}
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2 // what cobra uses for the root's
		}
		c.Args = unknownCommand
		c.RunE = func(c *cobra.Command, _ []string) error {
			return &exitError{code: missingCommand(c, c.ErrOrStderr())}
		}
	}
}

// missingCommand writes the usage of c, a command that only groups others
// (or the root), to w, followed by a line naming its commands, and
// returns exitUsage.
func missingCommand(c *cobra.Command, w io.Writer) int {
	fmt.Fprint(w, c.UsageString())
	fmt.Fprintf(w, "bizpipe: missing command for %q: use %s\n", c.CommandPath(), orList(commandNames(c)))
	return exitUsage
}

// commandNames are the commands of c a user can give (not help).
func commandNames(c *cobra.Command) []string {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() && sub.Name() != "help" {
			names = append(names, sub.Name())
		}
	}
	return names
}

// helpTopics makes "bizpipe help TOPIC" of a topic that is no command
// fail as an unknown command does (exit 2, naming the commands), where
// cobra's help command prints "Unknown help topic" and exits 0.
func helpTopics(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	for _, h := range root.Commands() {
		if h.Name() != "help" || h.Run == nil {
			continue
		}
		show := h.Run
		h.Run = nil
		h.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				target, rest, err := root.Find(args)
				if err != nil || target == root || len(rest) > 0 {
					if target == nil || err != nil {
						target = root
					}
					return unknownCommand(target, rest)
				}
			}
			show(c, args)
			return nil
		}
	}
}

// unknownCommand is the Args of a command group: any argument is a command
// that does not exist (cobra would have run it otherwise).
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	err := fmt.Errorf("unknown command %q for %q: use %s", args[0], c.CommandPath(), orList(commandNames(c)))
	// One likely command is worth naming; several are no better a hint
	// than the list ("tcsh" is as near to bash as to zsh).
	if s := c.SuggestionsFor(args[0]); len(s) == 1 {
		err = fmt.Errorf("%w (did you mean %s?)", err, s[0])
	}
	return usageHint(c, err)
}

// usageHint turns a command-line error of command c into an exit-2 error
// that says where to find the usage.
func usageHint(c *cobra.Command, err error) error {
	//lint:ignore ST1005 shown to the user as a second line, a sentence
	return &exitError{code: exitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath())}
}

// plainFlagError says in words what a bool or number flag takes when it
// was given a value it cannot take: pflag's error quotes strconv's
// ("strconv.ParseBool: parsing \"maybe\": invalid syntax"), which tells a
// user nothing. Other errors are returned as they are.
func plainFlagError(err error) error {
	var bad *pflag.InvalidValueError
	var num *strconv.NumError
	if !errors.As(err, &bad) || !errors.As(err, &num) {
		return err
	}
	want := "give a whole number"
	switch {
	case num.Func == "ParseBool":
		want = "use true or false, or the flag alone for true"
	case errors.Is(num.Err, strconv.ErrRange):
		want = "the number is out of range"
	}
	name := "--" + bad.GetFlag().Name
	if f := bad.GetFlag(); f.Shorthand != "" && f.ShorthandDeprecated == "" {
		name = "-" + f.Shorthand + ", " + name
	}
	return fmt.Errorf("invalid argument %q for %q flag: %s", bad.GetValue(), name, want)
}

// noArgs is cobra.NoArgs with a message that says what is wrong (cobra's
// says "unknown command").
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageHint(c, fmt.Errorf("%s takes no arguments; got %q", c.CommandPath(), args[0]))
	}
	return nil
}

// version is the module version of the binary, or "devel" in a source build.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func newVersionCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.stdout, "bizpipe %s\n", version())
			return nil
		},
	}
	clidoc.SetExitCodes(cmd,
		clidoc.ExitCode{Code: exitOK, Meaning: "printed"},
		clidoc.ExitCode{Code: exitUsage, Meaning: "bad usage"})
	return cmd
}
