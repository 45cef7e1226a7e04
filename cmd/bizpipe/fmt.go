package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/rogpeppe/go-internal/diff"
	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/redact"
	"github.com/bizpipe/bizpipe/internal/safetext"
)

func newFmtCmd(e *env) *cobra.Command {
	var check, showDiff bool
	cmd := &cobra.Command{
		Use:   "fmt [flags] [PATH...]",
		Short: "Rewrite configuration files in canonical format",
		Long: `Fmt rewrites *.hcl files in the canonical HCL format (*.hcl.json files are
left alone) and prints the names of the files it changed. A file named
directly is configuration whatever its name, as for validate, and is
formatted too, except a *.json one (HCL JSON, left alone). A file with
syntax errors is never rewritten. A file rewritten keeps its mode, owner
and group, and the UTF-8 byte order mark it begins with, if any; one whose
owner and group fmt cannot give the new file (run neither as root nor as
that owner) is not rewritten, nor is one read-only to the user who runs
fmt (chmod a-w), though its directory is writable.

With --check it changes nothing, prints the names of the files that are not
formatted and exits 3 when there is one; with --diff it prints the changes as
a unified diff instead of the names, the control characters of its lines
but tabs escaped, as validate's snippets show them. The diff shows a sensitive variable's
default and a store's password written as literals as (sensitive value), as
validate does, and so the literals of the locals and variable defaults a
password uses (from any file of the configuration, those beside a file named
directly included), the password in a postgres message box's url and a send
transport's credentials (its url's password, the values of its
Authorization, Proxy-Authorization, Cookie and API key or token headers);
the files keep them.`,
		Example: `  bizpipe fmt ./config
  bizpipe fmt --check --diff ./config`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFmt(e, args, check, showDiff)
		},
	}
	clidoc.SetExitCodes(cmd,
		clidoc.ExitCode{Code: exitOK, Meaning: "formatted (or nothing to do)"},
		clidoc.ExitCode{Code: exitUsage, Meaning: "bad usage, or a file could not be read, parsed or written"},
		clidoc.ExitCode{Code: exitFmtCheck, Meaning: "with --check, a file is not formatted"})
	cmd.Flags().BoolVar(&check, "check", false, "change nothing; exit 3 when a file is not canonically formatted")
	cmd.Flags().BoolVar(&showDiff, "diff", false, "print the changes as a unified diff")
	return cmd
}

func runFmt(e *env, args []string, check, showDiff bool) error {
	files, err := lang.FindFiles(args)
	if err != nil {
		return &exitError{code: exitUsage, err: cleanError(err)}
	}
	var unformatted, failed int
	// Every file is read before any diff is shown: the secrets a diff
	// hides may be written in any file of the configuration (a local
	// set in one, a store's password in another).
	type formatted struct {
		name     string
		src, out []byte
	}
	var changed []formatted
	read := map[string][]byte{}
	for _, name := range files {
		// FindFiles gives a directory's *.hcl and *.hcl.json files, and
		// every file named directly, which validate reads as HCL unless
		// its name ends in .json: fmt formats what validate reads as HCL,
		// so that a file validate checks is never skipped in silence.
		if strings.HasSuffix(name, ".json") {
			continue
		}
		src, err := lang.ReadConfigFile(name) // never waits on a FIFO named *.hcl
		if err != nil {
			// Its errors leave the file to the caller (Load names it in
			// the diagnostic's range).
			fmt.Fprintf(e.stderr, "bizpipe: %s: %s\n", safe(name), safetext.Prose(cleanError(err).Error()))
			failed++
			continue
		}
		read[name] = src
		// hclwrite formats even broken files; refuse them so that fmt never
		// rewrites something it cannot read. They are checked as Load
		// checks them (a file nested too deeply would overflow the
		// parser's stack), and reported as validate reports them: a
		// binary file is a few errors, not one for each of its bytes.
		if diags := lang.SyntaxErrors(src, name); diags.HasErrors() {
			for _, d := range diags {
				fmt.Fprintf(e.stderr, "bizpipe: %s\n", safeDiag(d))
			}
			fmt.Fprintf(e.stderr, "bizpipe: %s not formatted: it has syntax errors\n", safe(name))
			failed++
			continue
		}
		// hclwrite drops a byte order mark (Notepad's); the file keeps
		// the encoding its author saved it in.
		body, bom := bytes.CutPrefix(src, []byte(lang.UTF8BOM))
		out := hclwrite.Format(body)
		if bom {
			out = append([]byte(lang.UTF8BOM), out...)
		}
		if !bytes.Equal(src, out) {
			changed = append(changed, formatted{name, src, out})
		}
	}
	var red redact.Replacer
	if showDiff && len(changed) > 0 {
		// The diff shows the file as written, and a sensitive
		// variable's default or a store's password written as a
		// literal, or in a local they use, is a secret (and the password
		// of a url, a credential header's value), which validate
		// never shows either (--diff is what a CI job prints for a file
		// not formatted): replaced on both sides, in every form the
		// file may write it.
		red = redact.New(redact.Long(redact.SourceForms(lang.SourceLiteralSecrets(configSources(files, read))))...)
	}
	for _, f := range changed {
		name, src, out := f.name, f.src, f.out
		unformatted++
		if showDiff {
			e.stdout.Write(safeDiff(diff.Diff(safe(name), []byte(red.String(string(src))), safe(name)+" (formatted)", []byte(red.String(string(out))))))
		}
		if check {
			if !showDiff {
				fmt.Fprintln(e.stdout, safe(name))
			}
			continue
		}
		if info, err := os.Stat(name); err == nil && !info.Mode().IsRegular() {
			// A stream named directly (/dev/stdin, a shell's <(...)),
			// which validate reads: there is no file to rewrite.
			fmt.Fprintf(e.stderr, "bizpipe: %s is not a regular file and cannot be rewritten: use --check, with --diff to see the changes\n", safe(name))
			failed++
			continue
		}
		if err := writeFileKeepMode(name, out); err != nil {
			fmt.Fprintf(e.stderr, "bizpipe: %s\n", safetext.Prose(cleanError(err).Error()))
			failed++
			continue
		}
		if !showDiff {
			fmt.Fprintln(e.stdout, safe(name))
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

// configSources returns the text of the configuration files fmt works on
// (read, those it has read already) and of the other configuration files
// of their directories: a file named directly is formatted alone, but the
// secrets its diff hides may be set in the files beside it. A file that
// cannot be read is left out (fmt reports its own files), and so is a
// named file that is not a regular file and not read already: a stream
// (/dev/stdin.json) would be read only for this, and could wait.
func configSources(files []string, read map[string][]byte) map[string][]byte {
	out := maps.Clone(read)
	all := slices.Clone(files)
	dirs := map[string]bool{}
	for _, name := range files {
		dirs[filepath.Dir(name)] = true
	}
	for dir := range dirs {
		if beside, err := lang.FindFiles([]string{dir}); err == nil {
			all = append(all, beside...)
		}
	}
	for _, name := range all {
		if _, ok := out[name]; ok {
			continue
		}
		if info, err := os.Stat(name); err != nil || !info.Mode().IsRegular() {
			continue
		}
		if src, err := lang.ReadConfigFile(name); err == nil {
			out[name] = src
		}
	}
	return out
}

// safeDiff is d, a diff of configuration files, with the control
// characters of its lines escaped as validate's snippets escape them
// (safetext.Source): --diff is what a CI job prints for a pull request,
// whose file must not drive the terminal of whoever reads it. Tabs are
// kept, and so is the carriage return that ends a line of a file saved
// with Windows line endings, which moves nothing.
func safeDiff(d []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(d) {
		body, crlf := bytes.CutSuffix(line, []byte("\r\n"))
		b.WriteString(safetext.Source(string(body)))
		if crlf {
			b.WriteString("\r\n")
		}
	}
	return b.Bytes()
}

// safeDiag is d as fmt prints it on one line of stderr: its file name
// escaped as every name is (safe), so that a name holding escape sequences
// or a newline can neither drive the terminal nor forge a line, and the
// rest with its control characters escaped.
func safeDiag(d *hcl.Diagnostic) string {
	if name := diag.FileOf(d); d.Subject == nil && name != "" {
		// About the file as a whole (one in UTF-16): d.Error() would
		// name no file ("<nil>: ...").
		return safe(name) + ": " + safetext.Prose(d.Summary+"; "+d.Detail)
	}
	if d.Subject != nil {
		r := *d.Subject
		r.Filename = safe(r.Filename)
		c := *d
		c.Subject = &r
		d = &c
	}
	return safetext.Prose(d.Error())
}

// writeFileKeepMode replaces name's content through a temporary file and a
// rename, so that an interrupted fmt never leaves a half-written file. The
// new file keeps the mode, owner and group of the old one: a configuration
// readable by a service account's group, formatted with sudo, must not
// become root's. Where the owner cannot be kept (fmt not run as root, on a
// file of another user), or where it is read-only to the user, the file is
// not rewritten. A symbolic link is
// followed: the file it points to is rewritten, and the link stays a link.
//
// The temporary file is created anew under a name no one can guess (never
// opened through what is already there) and its mode and owner are set on
// the open file: whoever can write to the configuration directory could
// otherwise put a symbolic link there, and fmt, run as root, would write,
// chmod and chown the file it points to.
func writeFileKeepMode(name string, data []byte) error {
	target, err := filepath.EvalSymlinks(name)
	if err != nil {
		return err
	}
	info, err := os.Stat(target)
	if err != nil {
		return err
	}
	if err := checkWritable(target); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.bizpipe-fmt.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(info.Mode().Perm())
	}
	if err == nil {
		err = keepOwner(f, info)
	}
	if err == nil {
		err = f.Sync() // the rename must not replace the file with one whose data a crash loses
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replacing %s: %w", name, err)
	}
	return nil
}
