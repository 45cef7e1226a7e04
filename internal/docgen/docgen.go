// Package docgen generates bizpipe's reference, the Markdown files in the
// repository's docs/ directory, from the code: the language's block table,
// functions and message object (package lang), the registered components
// (package component), the diagnostic codes (report.Rules) and the command
// tree (cobra), with the exit codes commands declare (package clidoc) and
// the JSON documents they print.
//
// The reference is checked, not written: cmd/bizpipe's TestDocs regenerates
// it and compares it with the committed files (-update rewrites them).
package docgen

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/component"
)

// CLI is the command-line interface to document.
type CLI struct {
	// Root is the root command, with every command added.
	Root *cobra.Command
	// JSON lists the JSON documents commands print.
	JSON []JSONDoc
}

// JSONDoc documents one JSON document a command prints.
type JSONDoc struct {
	// Command is the command line that prints it: "bizpipe certs --format
	// json". The document is shown in the section of the command named by
	// its first two words (or three, for a subcommand that exists).
	Command string
	// Doc is Markdown prose about the document.
	Doc string
	// Sample is a value of the Go type the command encodes, filled with
	// sample data: the fields are listed from its type (json tags, and
	// `doc` tags for their descriptions), and the example is its encoding.
	// nil: only Doc is shown.
	Sample any
}

// Files of the reference, relative to docs/.
const (
	fileIndex       = "README.md"
	fileLanguage    = "language.md"
	fileComponents  = "components.md"
	fileDiagnostics = "diagnostics.md"
	fileCLI         = "cli.md"
)

// Guide is a hand-written page of docs/, beside the generated reference:
// the index links it; Generate neither writes nor removes it.
type Guide struct {
	// File is its name, relative to docs/.
	File string
	// What says what it holds, for the index.
	What string
}

// Guides are the hand-written pages of docs/.
var Guides = []Guide{
	{"operations.md", "Operating bizpipe on servers: one configuration for every server, host instances and service accounts, changing certificates, backing up, restoring and upgrading the message box, monitoring, and what the box keeps in clear."},
	{"performance.md", "What bizpipe's throughput and memory figures mean, the commands that measure them, and the latest results."},
}

// IsGuide reports whether name, relative to docs/, is one of Guides.
func IsGuide(name string) bool {
	for _, g := range Guides {
		if g.File == name {
			return true
		}
	}
	return false
}

// header starts every generated file.
const header = "<!-- Generated from the code by internal/docgen: do not edit. Regenerate with\n" +
	"     go test ./cmd/bizpipe -run TestDocs -update -->\n\n"

// Generate returns the reference's files by name, relative to docs/. reg is
// the registry whose components components.md lists; cli may be nil, and
// then cli.md is left out.
func Generate(reg *component.Registry, cli *CLI) (map[string][]byte, error) {
	if reg == nil {
		return nil, fmt.Errorf("docgen: no component registry")
	}
	files := map[string]string{
		fileLanguage:    language(reg),
		fileComponents:  components(reg),
		fileDiagnostics: diagnostics(),
	}
	if cli != nil {
		if cli.Root == nil {
			return nil, fmt.Errorf("docgen: CLI without a root command")
		}
		s, err := commands(cli)
		if err != nil {
			return nil, err
		}
		files[fileCLI] = s
	}
	files[fileIndex] = index(files)
	out := make(map[string][]byte, len(files))
	for name, s := range files {
		out[name] = []byte(header + strings.TrimRight(s, "\n") + "\n")
	}
	return out, nil
}

// index is docs/README.md: what each file of the reference holds.
func index(files map[string]string) string {
	var b strings.Builder
	b.WriteString("# bizpipe reference\n\n")
	b.WriteString("The reference of this version of bizpipe, generated from its code: the block\n" +
		"table the configuration decoder uses, the registered components, the\n" +
		"diagnostic codes and the command tree. The [repository's README](../README.md)\n" +
		"is the tour; this is where the details are.\n\n")
	entries := []struct{ file, what string }{
		{fileLanguage, "The configuration language: files, names and references, every block and attribute (types, defaults, allowed values), values, variables and locals, functions, the message object that filters and templates see, thumbprints and certificate stores."},
		{fileComponents, "The components: every transport and pipeline stage, with its attributes, nested blocks and an example."},
		{fileDiagnostics, "The diagnostic codes `validate` and `run` report, static and live."},
		{fileCLI, "The commands: usage, flags and their defaults, examples, exit codes, and the JSON documents they print."},
	}
	for _, e := range entries {
		if _, ok := files[e.file]; ok {
			fmt.Fprintf(&b, "* [%s](%s): %s\n", e.file, e.file, e.what)
		}
	}
	if len(Guides) > 0 {
		b.WriteString("\nBeside the reference, guides written by hand (not generated from the code):\n\n")
	}
	for _, g := range Guides {
		fmt.Fprintf(&b, "* [%s](%s): %s\n", g.File, g.File, g.What)
	}
	return b.String()
}

// kindSection names the section of components.md for a kind, and anchor
// is its anchor.
func kindSection(k component.Kind) (title, anchor string) {
	switch k {
	case component.ReceiveTransport:
		return "Receive transports", "receive-transports"
	case component.SendTransport:
		return "Send transports", "send-transports"
	case component.Encoder:
		return "Encoders", "encoders"
	case component.Decoder:
		return "Decoders", "decoders"
	}
	return k.String(), Anchor(k.String())
}

// Anchor is the anchor GitHub gives a heading (the first one of that text):
// lower case, spaces as dashes, punctuation other than - and _ dropped.
func Anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// componentAnchor is the anchor of a component's heading in components.md.
func componentAnchor(s *component.Spec) string {
	return Anchor(componentHeading(s))
}

func componentHeading(s *component.Spec) string {
	return fmt.Sprintf("%s %q (%s)", s.Kind.Block(), s.Name, s.Kind)
}

// componentLinks lists the registered components of a kind as links.
func componentLinks(reg *component.Registry, k component.Kind) string {
	var links []string
	for _, name := range reg.Names(k) {
		s, _ := reg.Lookup(k, name)
		links = append(links, fmt.Sprintf("[`%s`](%s#%s)", name, fileComponents, componentAnchor(s)))
	}
	if len(links) == 0 {
		return "none is registered"
	}
	return orList(links)
}

// orList joins xs as "a, b or c".
func orList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// andList joins xs as "a, b and c".
func andList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// codeList formats xs as code spans: `a`, `b`.
func codeList(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = "`" + x + "`"
	}
	return out
}

// quotedCodeList formats xs as quoted code spans: `"a"`, `"b"`.
func quotedCodeList(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("`%q`", x)
	}
	return out
}

// cell makes text fit a table cell: one line, | escaped.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
