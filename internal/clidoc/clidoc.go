// Package clidoc holds what bizpipe's commands document about themselves
// beyond cobra's own fields: the meaning of their exit codes. A command
// records them once (SetExitCodes); its --help text and the generated
// command reference (package docgen) both show them, so the two cannot
// differ.
package clidoc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// ExitCode is what one exit status of a command means.
type ExitCode struct {
	Code    int
	Meaning string
}

// annotation is the cobra annotation that carries a command's exit codes.
const annotation = "bizpipe.exit_codes"

// helpWidth is the width the help paragraph is wrapped to, as the commands'
// hand-wrapped help texts are.
const helpWidth = 78

// SetExitCodes records cmd's exit codes, in order, and appends the
// paragraph that states them ("Exit status: 0 ...; 1 ...") to cmd's long
// help. It is called once per command, after Long is set.
func SetExitCodes(cmd *cobra.Command, codes ...ExitCode) {
	var enc strings.Builder
	for _, c := range codes {
		if strings.ContainsAny(c.Meaning, "\t\n") {
			panic(fmt.Sprintf("clidoc: exit code %d of %s: the meaning must be one line", c.Code, cmd.Name()))
		}
		fmt.Fprintf(&enc, "%d\t%s\n", c.Code, c.Meaning)
	}
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotation] = enc.String()
	p := HelpParagraph(codes)
	if cmd.Long == "" {
		cmd.Long = cmd.Short + ".\n\n" + p
	} else {
		cmd.Long = strings.TrimRight(cmd.Long, "\n") + "\n\n" + p
	}
}

// ExitCodes returns the exit codes cmd declares, or nil.
func ExitCodes(cmd *cobra.Command) []ExitCode {
	enc := cmd.Annotations[annotation]
	if enc == "" {
		return nil
	}
	var out []ExitCode
	for _, line := range strings.Split(strings.TrimSuffix(enc, "\n"), "\n") {
		code, meaning, _ := strings.Cut(line, "\t")
		n, err := strconv.Atoi(code)
		if err != nil {
			panic(fmt.Sprintf("clidoc: malformed exit code annotation of %s: %q", cmd.Name(), line))
		}
		out = append(out, ExitCode{Code: n, Meaning: meaning})
	}
	return out
}

// LongWithoutExitCodes returns cmd's long help without the paragraph
// SetExitCodes appended, for a reference that shows the codes as a table.
func LongWithoutExitCodes(cmd *cobra.Command) string {
	codes := ExitCodes(cmd)
	if codes == nil {
		return cmd.Long
	}
	long := strings.TrimSuffix(cmd.Long, "\n\n"+HelpParagraph(codes))
	if long == cmd.Short+"." {
		return ""
	}
	return long
}

// HelpParagraph is the exit-status paragraph of a command's help, wrapped.
func HelpParagraph(codes []ExitCode) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d %s", c.Code, c.Meaning)
	}
	return Wrap("Exit status: "+strings.Join(parts, "; ")+".", helpWidth)
}

// Wrap breaks s into lines of at most width characters at spaces (a longer
// word stays whole on its line).
func Wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		switch {
		case n == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
