package docgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bizpipe/bizpipe/internal/clidoc"
)

// commands is docs/cli.md: every available command of the tree, then the
// JSON documents.
func commands(cli *CLI) (string, error) {
	root := cli.Root
	cmds := walkCommands(root)
	jsonFor := map[*cobra.Command][]JSONDoc{}
	for _, d := range cli.JSON {
		c := commandOf(root, d.Command)
		if c == nil {
			return "", fmt.Errorf("docgen: JSON document of %q: no such command", d.Command)
		}
		jsonFor[c] = append(jsonFor[c], d)
	}

	var b strings.Builder
	b.WriteString("# Commands\n\n")
	fmt.Fprintf(&b, "%s\n\n", prose(root.Short+"."))
	b.WriteString("| command | what |\n|---|---|\n")
	for _, c := range cmds[1:] {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", c.CommandPath(), Anchor(c.CommandPath()), cell(prose(c.Short)))
	}
	b.WriteString("\n")
	if len(cli.JSON) > 0 {
		b.WriteString("[JSON documents](#json-documents) describes what `--format json` prints.\n\n")
	}

	b.WriteString("## Exit codes\n\n")
	b.WriteString("Every command exits 0 when it did what was asked, and 2 when it could not run\n" +
		"(an unknown command or flag, a missing argument, no configuration files). What\n" +
		"1 and 3 mean depends on the command:\n\n")
	b.WriteString(ExitCodesTable(root) + "\n")

	for _, c := range cmds {
		writeCommand(&b, c, jsonFor[c])
	}

	if len(cli.JSON) > 0 {
		b.WriteString("## JSON documents\n\n")
		b.WriteString("Every JSON document is one value, indented, ending in a newline; text in it is\n" +
			"exact (not escaped for a terminal), and the values of sensitive variables are\n" +
			"never in it. A field is always present unless its description says it is\n" +
			"omitted when empty.\n\n")
		for _, d := range cli.JSON {
			if err := writeJSONDoc(&b, d); err != nil {
				return "", err
			}
		}
	}
	return b.String(), nil
}

// walkCommands lists root and its available commands, depth first, in
// cobra's order (sorted by name).
func walkCommands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		out = append(out, walkCommands(c)...)
	}
	return out
}

// commandOf finds the command a command line runs: the longest run of its
// words, after the root's name, that names commands.
func commandOf(root *cobra.Command, line string) *cobra.Command {
	words := strings.Fields(line)
	if len(words) == 0 || words[0] != root.Name() {
		return nil
	}
	c := root
	for _, w := range words[1:] {
		var next *cobra.Command
		for _, sub := range c.Commands() {
			if sub.Name() == w {
				next = sub
			}
		}
		if next == nil {
			break
		}
		c = next
	}
	return c
}

func writeCommand(b *strings.Builder, c *cobra.Command, docs []JSONDoc) {
	fmt.Fprintf(b, "## %s\n\n", c.CommandPath())
	fmt.Fprintf(b, "%s\n\n", prose(strings.TrimSuffix(c.Short, ".")+"."))
	fmt.Fprintf(b, "```\n%s\n```\n\n", c.UseLine())
	if long := clidoc.LongWithoutExitCodes(c); long != "" {
		fmt.Fprintf(b, "%s\n\n", prose(long))
	}
	if t := flagTable(c); t != "" {
		b.WriteString("Flags:\n\n" + t + "\n")
	}
	if c.Example != "" {
		var lines []string
		for _, l := range strings.Split(strings.Trim(c.Example, "\n"), "\n") {
			lines = append(lines, strings.TrimPrefix(l, "  "))
		}
		fmt.Fprintf(b, "Examples:\n\n```sh\n%s\n```\n\n", strings.Join(lines, "\n"))
	}
	if codes, from := exitCodesOf(c); codes != nil {
		b.WriteString("Exit status")
		if from != c {
			fmt.Fprintf(b, " (as for every `%s` command)", from.CommandPath())
		}
		b.WriteString(":\n\n| status | meaning |\n|---|---|\n")
		for _, ec := range codes {
			fmt.Fprintf(b, "| %d | %s |\n", ec.Code, cell(prose(ec.Meaning)))
		}
		b.WriteString("\n")
	}
	var subs []string
	for _, sub := range walkCommands(c)[1:] {
		if sub.Parent() == c {
			subs = append(subs, fmt.Sprintf("[`%s`](#%s)", sub.Name(), Anchor(sub.CommandPath())))
		}
	}
	if len(subs) > 0 {
		fmt.Fprintf(b, "Commands: %s.\n\n", andList(subs))
	}
	for _, d := range docs {
		fmt.Fprintf(b, "`%s` prints [this JSON document](#%s).\n\n", d.Command, Anchor(d.Command))
	}
}

// exitCodesOf returns the exit codes of c, or of its nearest ancestor that
// declares them, and that command.
func exitCodesOf(c *cobra.Command) ([]clidoc.ExitCode, *cobra.Command) {
	for x := c; x != nil; x = x.Parent() {
		if codes := clidoc.ExitCodes(x); codes != nil {
			return codes, x
		}
	}
	return nil, nil
}

// ExitCodesTable renders the exit codes of every command of root that
// declares them, one row per command, one column per code, as Markdown.
// The README shows it too.
func ExitCodesTable(root *cobra.Command) string {
	type row struct {
		cmd   string
		codes map[int]string
	}
	var rows []row
	seen := map[int]bool{}
	cmds := walkCommands(root)
	// The completion command has no section of its own (cobra writes its
	// help, and the README says how to use its scripts), but a script that
	// runs it relies on its exit status as on any other's.
	for _, c := range root.Commands() {
		if c.Name() == "completion" && c.IsAvailableCommand() {
			cmds = append(cmds, c)
		}
	}
	slices.SortStableFunc(cmds, func(a, b *cobra.Command) int { return strings.Compare(a.CommandPath(), b.CommandPath()) })
	for _, c := range cmds {
		codes := clidoc.ExitCodes(c)
		if codes == nil {
			continue
		}
		r := row{cmd: strings.TrimPrefix(c.CommandPath(), root.Name()+" "), codes: map[int]string{}}
		for _, ec := range codes {
			r.codes[ec.Code] = ec.Meaning
			seen[ec.Code] = true
		}
		rows = append(rows, r)
	}
	var cols []int
	for code := range seen {
		cols = append(cols, code)
	}
	slices.Sort(cols)
	var b strings.Builder
	b.WriteString("| command |")
	for _, code := range cols {
		fmt.Fprintf(&b, " %d |", code)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` |", r.cmd)
		for _, code := range cols {
			fmt.Fprintf(&b, " %s |", cell(prose(r.codes[code])))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// flagTable lists the visible flags of c, its own then inherited ones.
func flagTable(c *cobra.Command) string {
	var rows []string
	add := func(fs *pflag.FlagSet, from map[string]string) {
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			name, usage := pflag.UnquoteUsage(f)
			flag := "--" + f.Name
			if f.Shorthand != "" {
				flag = "-" + f.Shorthand + ", " + flag
			}
			if name != "" {
				flag += " " + name
			}
			def := ""
			if !zeroDefault(f) {
				def = "`" + f.DefValue + "`"
			}
			usage = prose(usage)
			if p, ok := from[f.Name]; ok {
				usage += " (a flag of every `" + p + "` command)"
			}
			rows = append(rows, fmt.Sprintf("| `%s` | %s | %s |", flag, def, cell(usage)))
		})
	}
	add(c.LocalFlags(), nil)
	// Inherited flags: say which command declares them.
	from := map[string]string{}
	for p := c.Parent(); p != nil; p = p.Parent() {
		p.PersistentFlags().VisitAll(func(f *pflag.Flag) {
			if _, ok := from[f.Name]; !ok {
				from[f.Name] = p.CommandPath()
			}
		})
	}
	add(c.InheritedFlags(), from)
	if len(rows) == 0 {
		return ""
	}
	return "| flag | default | description |\n|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
}

// zeroDefault reports a flag whose default is its type's zero value, which
// the table leaves blank.
func zeroDefault(f *pflag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]":
		return true
	}
	return false
}

// prose renders plain text (help texts) as Markdown: flags, globs and
// identifiers with underscores become code spans; the characters Markdown
// would read as markup are escaped. Line breaks are kept.
func prose(s string) string {
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		words := strings.Split(line, " ")
		for j, w := range words {
			words[j] = proseWord(w)
		}
		lines[i] = strings.Join(words, " ")
	}
	return strings.Join(lines, "\n")
}

func proseWord(w string) string {
	if w == "" {
		return w
	}
	lead := len(w) - len(strings.TrimLeft(w, "(\"'"))
	core := strings.TrimLeft(w, "(\"'")
	trimmed := strings.TrimRight(core, ".,;:)\"'")
	tail := core[len(trimmed):]
	core = trimmed
	if core != "" && (strings.HasPrefix(core, "--") || strings.ContainsAny(core, "*_")) && !strings.Contains(core, "`") {
		return w[:lead] + "`" + core + "`" + tail
	}
	var b strings.Builder
	for _, r := range w {
		if strings.ContainsRune(`\*_[]<>`+"`", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeJSONDoc writes the section of a JSON document: its fields, from the
// sample's type, and the sample's encoding.
func writeJSONDoc(b *strings.Builder, d JSONDoc) error {
	fmt.Fprintf(b, "### %s\n\n", d.Command)
	if d.Doc != "" {
		b.WriteString(strings.TrimSpace(d.Doc) + "\n\n")
	}
	if d.Sample == nil {
		return nil
	}
	t := reflect.TypeOf(d.Sample)
	prefix := ""
	if t.Kind() == reflect.Slice {
		// A document that is an array: its elements' fields, as [].name.
		t, prefix = t.Elem(), "[]."
	}
	var rows []string
	if err := jsonFields(t, prefix, &rows); err != nil {
		return fmt.Errorf("docgen: JSON document of %q: %w", d.Command, err)
	}
	b.WriteString("| field | type | description |\n|---|---|---|\n")
	b.WriteString(strings.Join(rows, "\n") + "\n\n")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d.Sample); err != nil {
		return fmt.Errorf("docgen: JSON document of %q: %w", d.Command, err)
	}
	fmt.Fprintf(b, "For example:\n\n```json\n%s```\n\n", buf.String())
	return nil
}

// jsonFields lists the fields of a struct type as table rows, depth first:
// the JSON name (nested ones as parent.child, array elements as parent[]),
// the JSON type, and the `doc` tag.
func jsonFields(t reflect.Type, prefix string, rows *[]string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("%s is not a struct", t)
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		doc := f.Tag.Get("doc")
		if doc == "" {
			return fmt.Errorf("field %s.%s has no doc tag", t, f.Name)
		}
		typ := jsonType(f.Type)
		if f.Type.Kind() == reflect.Pointer && !strings.Contains(opts, "omitempty") {
			typ += " or null"
		}
		if strings.Contains(opts, "omitempty") {
			doc += " Omitted when empty."
		}
		path := prefix + name
		*rows = append(*rows, fmt.Sprintf("| `%s` | %s | %s |", path, typ, cell(doc)))
		switch elem := structOf(f.Type); {
		case elem == nil:
		case isList(f.Type):
			if err := jsonFields(elem, path+"[].", rows); err != nil {
				return err
			}
		default:
			if err := jsonFields(elem, path+".", rows); err != nil {
				return err
			}
		}
	}
	return nil
}

// structOf is the struct type t holds: t itself, through a pointer, or as
// the element of a slice; nil when there is none.
func structOf(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		return t
	}
	return nil
}

func isList(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Slice
}

// jsonType names the JSON type of a Go type as encoding/json encodes it.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array of " + plural(jsonType(t.Elem()))
	case reflect.Map:
		return "object of " + plural(jsonType(t.Elem()))
	case reflect.Struct:
		return "object"
	}
	return t.Kind().String()
}

func plural(s string) string {
	switch {
	case strings.HasPrefix(s, "array of "), strings.HasPrefix(s, "object of "):
		return s
	}
	return s + "s"
}
