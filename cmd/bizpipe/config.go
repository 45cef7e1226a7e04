package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/redact"
)

// varFlags are --var and --var-file, shared by the commands that read a
// configuration: validate, run, route, certs, lsp and messages.
type varFlags struct {
	vars     []string
	varFiles []string
}

// register adds the flags to cmd.
func (v *varFlags) register(cmd *cobra.Command) { v.registerOn(cmd, cmd.Flags()) }

// registerPersistent adds the flags to cmd and every command under it
// (messages and its subcommands).
func (v *varFlags) registerPersistent(cmd *cobra.Command) { v.registerOn(cmd, cmd.PersistentFlags()) }

func (v *varFlags) registerOn(cmd *cobra.Command, fs *pflag.FlagSet) {
	fs.StringArrayVar(&v.vars, "var", nil, "set a variable: `NAME=VALUE` (repeatable; wins over --var-file); give a secret as BIZPIPE_VAR_NAME instead, out of the process list")
	fs.StringArrayVar(&v.varFiles, "var-file", nil, "read variables from an HCL or JSON `FILE` (repeatable; wins over BIZPIPE_VAR_NAME)")
	mustComplete(cmd, "var-file", completeVarFiles)
}

// given reports whether a --var or --var-file was given.
func (v *varFlags) given() bool { return len(v.vars)+len(v.varFiles) > 0 }

// check reports a --var without "=" (or without a name) as a usage error:
// the command line is wrong, not the configuration. The value is not
// shown: a secret given without its NAME= would otherwise be printed.
func (v *varFlags) check() error {
	for i, arg := range v.vars {
		if name, _, ok := strings.Cut(arg, "="); !ok || name == "" {
			return fmt.Errorf("--var takes NAME=VALUE, but the %s --var has no \"=\" (it is not shown, in case it is a secret); give secrets in the environment as %sNAME=VALUE instead",
				ordinal(i+1), lang.LanguageFacts().EnvVarPrefix)
		}
	}
	return nil
}

// ordinal renders 1 as "1st", 2 as "2nd", ...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// loadConfig finds and decodes the configuration. An error means the command
// cannot run at all (exit 2); diagnostics are the configuration's problems.
//
// cfg.Files keeps the configuration files only: lang's parser also holds
// the --var-file files, whose lines are variable values, and a snippet of one
// would print a sensitive value (a diagnostic pointing at `password = "..."`
// in a variables file). Their snippets come from cfg.VarFileSources, where
// such values are masked.
func loadConfig(e *env, paths []string, vf varFlags, mode lang.Mode) (*model.Config, hcl.Diagnostics, error) {
	return loadConfigWith(e, paths, vf, lang.Options{Mode: mode})
}

// loadConfigWith is loadConfig with more of lang's options (opts's Vars,
// VarFiles and LookupEnv are vf's and e's).
func loadConfigWith(e *env, paths []string, vf varFlags, opts lang.Options) (*model.Config, hcl.Diagnostics, error) {
	if err := vf.check(); err != nil {
		return nil, nil, err
	}
	files, err := lang.FindFiles(paths)
	if err != nil {
		return nil, nil, cleanError(err)
	}
	if err := lang.CheckVarFiles(paths, files, vf.varFiles); err != nil {
		return nil, nil, err
	}
	opts.Vars, opts.VarFiles, opts.LookupEnv = vf.vars, vf.varFiles, e.lookupEnv
	cfg, diags := lang.Load(files, opts)
	if cfg != nil {
		keep := map[string]bool{}
		for _, f := range files {
			keep[f] = true
		}
		for name := range cfg.Files {
			if !keep[name] {
				delete(cfg.Files, name)
			}
		}
	}
	return cfg, diags, nil
}

// sources returns the source bytes of every configuration file, for
// snippets, and what was parsed of them, so that the report does not parse
// them again. A file refused before parsing (nested too deeply, too many
// tokens, an unclosed comment) has its text in cfg.Sources and nothing in
// cfg.Files: it is given as parsed with no body, which the report shows
// the lines of without parsing it (a parse is what it was refused to
// spare), where it would otherwise say "(source code not available)". Its
// strings are masked (maskStrings): unparsed, its literal secrets (a
// sensitive variable's default, a store's password) are not known to the
// redaction, and the line a snippet shows could hold one.
func sources(cfg *model.Config) (map[string][]byte, map[string]*hcl.File) {
	out := map[string][]byte{}
	parsed := map[string]*hcl.File{}
	if cfg == nil {
		return out, parsed
	}
	for name, f := range cfg.Files {
		if f != nil {
			out[name] = f.Bytes
			parsed[name] = f
		}
	}
	for name, src := range cfg.Sources {
		if _, ok := out[name]; !ok {
			masked := maskStrings(src)
			out[name] = masked
			parsed[name] = &hcl.File{Bytes: masked}
		}
	}
	// The --var-file files, their secrets already masked by lang (the
	// values of sensitive and undeclared variables, and of those that go
	// where a secret goes), the rest shown.
	for name, src := range cfg.VarFileSources {
		if _, ok := out[name]; !ok {
			out[name] = src
			parsed[name] = &hcl.File{Bytes: src}
		}
	}
	return out, parsed
}

// maskStrings returns src with what may be a string's content replaced by
// '*', byte for byte so that every position stays where it was: on each
// line, all from its first double quote to its last, and every line of a
// heredoc (from the line after <<ID or <<-ID to the line that is ID). It
// is no lexer, and it masks more than strings (a comment's quotes), never
// less: it is for a file that could not be parsed.
func maskStrings(src []byte) []byte {
	out := bytes.Clone(src)
	heredoc := "" // the closing marker of the heredoc the line is in
	start := 0
	for start < len(out) {
		end := bytes.IndexByte(out[start:], '\n')
		if end < 0 {
			end = len(out)
		} else {
			end += start
		}
		line := out[start:end]
		switch {
		case heredoc != "" && strings.TrimSpace(string(line)) == heredoc:
			heredoc = ""
		case heredoc != "":
			for i := range line {
				if line[i] != '\r' {
					line[i] = '*'
				}
			}
		default:
			if m := heredocStart.FindSubmatch(line); m != nil {
				heredoc = string(m[1])
			}
			if first, last := bytes.IndexByte(line, '"'), bytes.LastIndexByte(line, '"'); first >= 0 && last > first {
				for i := first + 1; i < last; i++ {
					line[i] = '*'
				}
			}
		}
		start = end + 1
	}
	return out
}

// heredocStart finds the opening of a heredoc (<<EOT, <<-EOT) on a line.
var heredocStart = regexp.MustCompile(`<<-?([A-Za-z_][A-Za-z0-9_-]*)\s*$`)

// redactor replaces the values of sensitive variables (and of locals derived
// from them) in text that is about to be printed.
//
// lang and the rules are meant never to put a sensitive value into a
// diagnostic; the CLI is the last place where a slip can still be caught
// before a secret reaches a CI log, so every report passes through this.
// Matching is case-insensitive (upper(var.secret) is still the secret).
// Values shorter than redact.MinLen are left alone. A nil *redactor
// redacts nothing.
type redactor struct {
	r redact.Replacer
}

const redacted = redact.Shown

func newRedactor(cfg *model.Config) *redactor {
	if cfg == nil {
		return &redactor{}
	}
	// The forms a file or a %q writes too: source snippets show the
	// files as written, where a secret may be escaped.
	return &redactor{r: redact.New(redact.Long(redact.SourceForms(lang.SensitiveStrings(cfg)))...)}
}

// String redacts s.
func (r *redactor) String(s string) string {
	if r == nil {
		return s
	}
	return r.r.String(s)
}

// Diagnostics returns copies of diags with summary and detail redacted.
func (r *redactor) Diagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if r == nil {
		return diags
	}
	return r.r.Diagnostics(diags)
}

// cleanError removes the system-call names that *fs.PathError puts in its
// message ("stat x: no such file or directory" becomes "x: no such file or
// directory"): they mean nothing to a user. The result is for printing only.
func cleanError(err error) error {
	var pe *fs.PathError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	msg, plain := err.Error(), pe.Path+": "+pe.Err.Error()
	// "configuration path x: stat x: ..." names x twice: keep it once.
	if dup := pe.Path + ": " + pe.Error(); strings.Contains(msg, dup) {
		return errors.New(strings.Replace(msg, dup, plain, 1))
	}
	return errors.New(strings.Replace(msg, pe.Error(), plain, 1))
}
