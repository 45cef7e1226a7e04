package main

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
)

// varFlags are --var and --var-file, shared by validate, run and certs.
type varFlags struct {
	vars     []string
	varFiles []string
}

func (v *varFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&v.vars, "var", nil, "set a variable: `NAME=VALUE` (repeatable; wins over --var-file); give a secret as BIZPIPE_VAR_NAME instead, out of the process list")
	cmd.Flags().StringArrayVar(&v.varFiles, "var-file", nil, "read variables from an HCL or JSON `FILE` (repeatable; wins over BIZPIPE_VAR_NAME)")
	mustComplete(cmd, "var-file", completeVarFiles)
}

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
// in a variables file). Diagnostics in them keep their location.
func loadConfig(e *env, paths []string, vf varFlags, mode lang.Mode) (*model.Config, hcl.Diagnostics, error) {
	if err := vf.check(); err != nil {
		return nil, nil, err
	}
	files, err := lang.FindFiles(paths)
	if err != nil {
		return nil, nil, cleanError(err)
	}
	cfg, diags := lang.Load(files, lang.Options{
		Mode: mode, Vars: vf.vars, VarFiles: vf.varFiles, LookupEnv: e.lookupEnv,
	})
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

// sources returns the source bytes of every configuration file, for snippets.
func sources(cfg *model.Config) map[string][]byte {
	out := map[string][]byte{}
	if cfg == nil {
		return out
	}
	for name, f := range cfg.Files {
		if f != nil {
			out[name] = f.Bytes
		}
	}
	return out
}

// redactor replaces the values of sensitive variables (and of locals derived
// from them) in text that is about to be printed.
//
// lang and the rules are meant never to put a sensitive value into a
// diagnostic; the CLI is the last place where a slip can still be caught
// before a secret reaches a CI log, so every report passes through this.
// Matching is case-insensitive (upper(var.secret) is still the secret).
// Values shorter than minRedactLen are left alone: replacing every "on" or
// "1" in the output would make it unreadable and protect nothing.
type redactor struct {
	re *regexp.Regexp // nil: nothing to redact
}

const (
	minRedactLen = 4
	redacted     = "(sensitive value)"
)

func newRedactor(cfg *model.Config) *redactor {
	if cfg == nil {
		return &redactor{}
	}
	seen := map[string]bool{}
	var secrets []string
	collect := func(v cty.Value) {
		for _, s := range stringsIn(v) {
			if len(s) >= minRedactLen && !seen[s] {
				seen[s] = true
				secrets = append(secrets, s)
			}
		}
	}
	for _, v := range cfg.Variables {
		if v.Sensitive && v.Value != cty.NilVal {
			collect(v.Value)
		}
	}
	for _, l := range cfg.Locals {
		if l.Value != cty.NilVal && l.Value.ContainsMarked() {
			collect(l.Value)
		}
	}
	if len(secrets) == 0 {
		return &redactor{}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(secrets, func(i, j int) bool {
		if len(secrets[i]) != len(secrets[j]) {
			return len(secrets[i]) > len(secrets[j])
		}
		return secrets[i] < secrets[j]
	})
	quoted := make([]string, len(secrets))
	for i, s := range secrets {
		quoted[i] = regexp.QuoteMeta(s)
	}
	return &redactor{re: regexp.MustCompile(`(?i)` + strings.Join(quoted, "|"))}
}

// stringsIn returns the known strings in v (the value itself, or the elements
// of a collection or structure), unmarked.
func stringsIn(v cty.Value) []string {
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return []string{v.AsString()}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, stringsIn(e)...)
		}
		return out
	}
	return nil
}

// String redacts s.
func (r *redactor) String(s string) string {
	if r == nil || r.re == nil {
		return s
	}
	return r.re.ReplaceAllLiteralString(s, redacted)
}

// Diagnostics returns copies of diags with summary and detail redacted.
func (r *redactor) Diagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if r == nil || r.re == nil {
		return diags
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		c.Summary = r.String(c.Summary)
		c.Detail = r.String(c.Detail)
		out[i] = &c
	}
	return out
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
