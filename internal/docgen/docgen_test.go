package docgen

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/registry"
	"github.com/bizpipe/bizpipe/internal/validate/report"
)

// testSpec is a component only this test registers.
var testSpec = &component.Spec{
	Kind:    component.SendTransport,
	Name:    "carrier_pigeon",
	Summary: "Ties each message to a pigeon's leg.",
	Doc:     "The pigeon flies to `loft`.",
	Attributes: []component.Attribute{
		{Name: "loft", Type: component.String, Required: true, Doc: "Where the pigeon lives."},
		{Name: "speed", Type: component.Enum, Values: []string{"slow", "fast"}, Default: "slow", Doc: "How fast it flies."},
		{Name: "rest", Type: component.Duration, Default: 90 * time.Minute, Doc: "The pause between flights."},
	},
	Blocks: []component.BlockSpec{{Type: "ring", Doc: "The leg ring.", Attributes: []component.Attribute{
		{Name: "colour", Type: component.String, Doc: "Its colour."},
	}}},
	Example: "transport \"carrier_pigeon\" {\n  loft = \"north\"\n}",
	Decode:  func(*component.Body) component.Config { return nil },
}

func generate(t *testing.T, reg *component.Registry, cli *CLI) map[string]string {
	t.Helper()
	files, err := Generate(reg, cli)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for name, b := range files {
		out[name] = string(b)
	}
	return out
}

// TestRegisteredComponent checks that components.md documents whatever
// component the registry holds, and language.md links to it from the block
// it is written in.
func TestRegisteredComponent(t *testing.T) {
	reg := registry.Builtin()
	if err := reg.Register(testSpec); err != nil {
		t.Fatal(err)
	}
	files := generate(t, reg, nil)
	c := files["components.md"]
	for _, want := range []string{
		"### transport \"carrier_pigeon\" (send transport)\n\nTies each message to a pigeon's leg.\n\nThe pigeon flies to `loft`.\n",
		"| `loft` | string | yes |  | Where the pigeon lives. |",
		"| `speed` | one of `\"slow\"` or `\"fast\"` | no | `\"slow\"` | How fast it flies. |",
		"| `rest` | duration | no | `\"1h30m\"` | The pause between flights. |",
		"#### ring block\n\n`ring { ... }`: at most one. The leg ring.",
		"| `colour` | string | no |  | Its colour. |",
		"```hcl\ntransport \"carrier_pigeon\" {\n  loft = \"north\"\n}\n```",
		"* [Send transports](#send-transports): `as2`, `carrier_pigeon`, `file` and `http`",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("components.md lacks %q", want)
		}
	}
	if !strings.Contains(files["language.md"], "[`carrier_pigeon`](components.md#transport-carrier_pigeon-send-transport)") {
		t.Error("language.md does not link the send_port's transport block to the new component")
	}
	// The built-in registry, untouched, does not have it.
	if strings.Contains(generate(t, registry.Builtin(), nil)["components.md"], "carrier_pigeon") {
		t.Error("a fresh built-in registry documents the test component")
	}
}

// TestGenerateWithoutCLI checks that cli.md is left out, and not linked,
// without a command tree.
func TestGenerateWithoutCLI(t *testing.T) {
	files := generate(t, registry.Builtin(), nil)
	if _, ok := files["cli.md"]; ok {
		t.Error("cli.md generated without a CLI")
	}
	if strings.Contains(files["README.md"], "cli.md") {
		t.Error("the index links cli.md, which is not generated")
	}
	for _, name := range []string{"README.md", "language.md", "components.md", "diagnostics.md"} {
		if !strings.HasPrefix(files[name], header) {
			t.Errorf("%s does not start with the generated-file header", name)
		}
	}
}

// TestDiagnostics checks that diagnostics.md has every rule, and says which
// are live.
func TestDiagnostics(t *testing.T) {
	d := generate(t, registry.Builtin(), nil)["diagnostics.md"]
	for _, r := range report.Rules() {
		if !strings.Contains(d, "\n## "+string(r.Code)+"\n\n**"+r.Title+".** Severity: "+severity(r.Severity)+". Checked by: "+checkedBy(r)) {
			t.Errorf("diagnostics.md lacks the section of %s", r.Code)
		}
		if !strings.Contains(d, r.Description) {
			t.Errorf("diagnostics.md lacks the description of %s", r.Code)
		}
	}
	if !strings.Contains(d, "| [BP6001](#bp6001) | error | `validate --live`, `run` (live) |") {
		t.Error("BP6001 is not shown as a live rule")
	}
	// BP6004 judges the user the engine runs as: validate --live never
	// reports it.
	if !strings.Contains(d, "| [BP6004](#bp6004) | warning | `run` (live) |") {
		t.Error("BP6004 is not shown as checked by run only")
	}
	// Every format of validate is named.
	for _, f := range report.Formats() {
		if !strings.Contains(strings.ToLower(d[:strings.Index(d, "| code |")]), string(f)) {
			t.Errorf("diagnostics.md does not name validate's format %s", f)
		}
	}
}

// TestLanguage checks that language.md shows the block table, the functions
// and the message object as lang declares them.
func TestLanguage(t *testing.T) {
	l := generate(t, registry.Builtin(), nil)["language.md"]
	var walk func([]lang.Block)
	walk = func(bs []lang.Block) {
		for _, b := range bs {
			for _, a := range b.Attributes {
				if !strings.Contains(l, "| `"+a.Name+"` | "+cell(a.Type)+" |") {
					t.Errorf("language.md lacks attribute %s of %s", a.Name, b.Type)
				}
			}
			walk(b.Blocks)
		}
	}
	walk(lang.Blocks())
	for _, f := range lang.Functions() {
		if !strings.Contains(l, "| `"+f.Name+"(") {
			t.Errorf("language.md lacks function %s", f.Name)
		}
	}
	for _, a := range lang.MessageAttributes() {
		if !strings.Contains(l, "| `message."+a.Name+"` | "+a.Type.FriendlyName()+" |") {
			t.Errorf("language.md lacks message.%s", a.Name)
		}
	}
	for _, want := range []string{
		"| `certificate_expiry_warning` | duration | no | `\"720h\"` |",
		"| `max_message_size` | size | no | `\"1GiB\"` |",
		"| `attempts` | number | no | `3` |",
		"| `interval` | duration | no | `\"5m\"` |",
		"A configuration file is at most 4 MiB, a `--var-file` 1 MiB.",
	} {
		if !strings.Contains(l, want) {
			t.Errorf("language.md lacks %q", want)
		}
	}
}

// testCLI is a small command tree with exit codes and a JSON document.
func testCLI() *CLI {
	root := &cobra.Command{Use: "tool", Short: "Do things"}
	var format string
	get := &cobra.Command{Use: "get [flags] NAME", Short: "Get a thing", Long: "Get gets *.thing files, as --format says.",
		Example: "  tool get x", RunE: func(*cobra.Command, []string) error { return nil }}
	get.Flags().StringVar(&format, "format", "text", "output `FORMAT`: text or json")
	clidoc.SetExitCodes(get, clidoc.ExitCode{Code: 0, Meaning: "got it"}, clidoc.ExitCode{Code: 3, Meaning: "no such thing"})
	group := &cobra.Command{Use: "box", Short: "Work on boxes"}
	group.PersistentFlags().String("dir", ".box", "the `DIR` of boxes")
	clidoc.SetExitCodes(group, clidoc.ExitCode{Code: 0, Meaning: "done"}, clidoc.ExitCode{Code: 1, Meaning: "failed"})
	open := &cobra.Command{Use: "open", Short: "Open a box", RunE: func(*cobra.Command, []string) error { return nil }}
	hidden := &cobra.Command{Use: "secret", Hidden: true, RunE: func(*cobra.Command, []string) error { return nil }}
	group.AddCommand(open)
	root.AddCommand(get, group, hidden)
	type doc struct {
		Name  string   `json:"name" doc:"The thing's name."`
		Tags  []string `json:"tags,omitempty" doc:"Its tags."`
		Owner *struct {
			ID int `json:"id" doc:"The owner's id."`
		} `json:"owner" doc:"Who owns it."`
	}
	return &CLI{Root: root, JSON: []JSONDoc{{Command: "tool get --format json", Doc: "One thing.", Sample: doc{Name: "x"}}}}
}

// TestCommands checks cli.md: commands, usage, flags with defaults,
// inherited flags, examples, exit codes (inherited too), JSON documents.
func TestCommands(t *testing.T) {
	c := generate(t, registry.Builtin(), testCLI())["cli.md"]
	for _, want := range []string{
		"| [`tool get`](#tool-get) | Get a thing |",
		"## tool get\n\nGet a thing.\n\n```\ntool get [flags] NAME\n```\n\nGet gets `*.thing` files, as `--format` says.\n",
		"| `--format FORMAT` | `text` | output FORMAT: text or json |",
		"Examples:\n\n```sh\ntool get x\n```",
		"Exit status:\n\n| status | meaning |\n|---|---|\n| 0 | got it |\n| 3 | no such thing |",
		"## tool box open\n",
		"| `--dir DIR` | `.box` | the DIR of boxes (a flag of every `tool box` command) |",
		"Exit status (as for every `tool box` command):",
		"| command | 0 | 1 | 3 |\n|---|---|---|---|\n| `box` | done | failed |  |\n| `get` | got it |  | no such thing |\n",
		"`tool get --format json` prints [this JSON document](#tool-get---format-json).",
		"### tool get --format json\n\nOne thing.\n",
		"| `name` | string | The thing's name. |",
		"| `tags` | array of strings | Its tags. Omitted when empty. |",
		"| `owner` | object or null | Who owns it. |",
		"| `owner.id` | number | The owner's id. |",
		"```json\n{\n  \"name\": \"x\",\n  \"owner\": null\n}\n```",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("cli.md lacks %q\n%s", want, c)
		}
	}
	if strings.Contains(c, "secret") {
		t.Error("cli.md documents a hidden command")
	}
	// The exit status paragraph SetExitCodes adds to the help is not
	// repeated in the reference, which shows the table.
	if strings.Contains(c, "Exit status: ") {
		t.Error("cli.md repeats the help's exit status paragraph")
	}
}

// TestJSONDocErrors checks that a JSON document whose type has a field
// without a doc tag, or that names no command, is an error, not a silent hole.
func TestJSONDocErrors(t *testing.T) {
	cli := testCLI()
	cli.JSON = []JSONDoc{{Command: "tool get --format json", Sample: struct {
		N int `json:"n"`
	}{}}}
	if _, err := Generate(registry.Builtin(), cli); err == nil || !strings.Contains(err.Error(), "no doc tag") {
		t.Errorf("a field without a doc tag: got %v", err)
	}
	cli.JSON = []JSONDoc{{Command: "other get"}}
	if _, err := Generate(registry.Builtin(), cli); err == nil || !strings.Contains(err.Error(), "no such command") {
		t.Errorf("a document of no command: got %v", err)
	}
}

func TestProse(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"every *.hcl file", "every `*.hcl` file"},
		{"with --strict; or", "with `--strict`; or"},
		{"(--var, BIZPIPE_VAR_NAME)", "(`--var`, `BIZPIPE_VAR_NAME`)"},
		{"body ID > order.xml", `body ID \> order.xml`},
		{"[PATH...] <x>", `\[PATH...\] \<x\>`},
		{"line one\nline two", "line one\nline two"},
	} {
		if got := prose(c.in); got != c.want {
			t.Errorf("prose(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFormatDefault(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, ""},
		{"*", "`\"*\"`"},
		{true, "`true`"},
		{3, "`3`"},
		{720 * time.Hour, "`\"720h\"`"},
		{5 * time.Minute, "`\"5m\"`"},
		{90 * time.Second, "`\"1m30s\"`"},
		{time.Second, "`\"1s\"`"},
		{int64(256 << 20), "`\"256MiB\"`"},
	} {
		if got := formatDefault(c.in); got != c.want {
			t.Errorf("formatDefault(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestAnchor(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"bizpipe validate --format json", "bizpipe-validate---format-json"},
		{`transport "file" (receive transport)`, "transport-file-receive-transport"},
		{"instance (in host)", "instance-in-host"},
		{"certificate_store", "certificate_store"},
	} {
		if got := Anchor(c.in); got != c.want {
			t.Errorf("Anchor(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestJSONDocArray: a document that is an array documents its elements'
// fields as [].name.
func TestJSONDocArray(t *testing.T) {
	cli := testCLI()
	cli.JSON = []JSONDoc{{Command: "tool get --format json", Sample: []struct {
		N int `json:"n" doc:"A number."`
	}{{N: 1}}}}
	files, err := Generate(registry.Builtin(), cli)
	if err != nil {
		t.Fatal(err)
	}
	c := string(files[fileCLI])
	for _, want := range []string{"| `[].n` | number | A number. |", "```json\n[\n  {\n    \"n\": 1\n  }\n]\n```"} {
		if !strings.Contains(c, want) {
			t.Errorf("cli.md lacks %q:\n%s", want, c)
		}
	}
}

// TestReferenceKinds: Names and references lists every kind of reference
// the language takes, the components' party.NAME (an as2 transport's
// partner) included; the functions that are not Terraform's are named as
// such.
func TestReferenceKinds(t *testing.T) {
	l := generate(t, registry.Builtin(), nil)["language.md"]
	start := strings.Index(l, "## Names and references")
	end := strings.Index(l, "## Blocks")
	if start < 0 || end < start {
		t.Fatal("language.md has no Names and references section")
	}
	for _, ref := range []string{"certificate_store", "service_account", "server", "host", "pipeline", "party"} {
		if !strings.Contains(l[start:end], "`"+ref+".NAME`") {
			t.Errorf("Names and references lacks %s.NAME", ref)
		}
	}
	if strings.Contains(l, "under\nTerraform's names") {
		t.Error("language.md says every function has Terraform's name")
	}
	intro := l[strings.Index(l, "## Functions"):]
	intro = intro[:strings.Index(intro, "| function |")]
	for _, f := range lang.Functions() {
		if f.NotTerraform && !strings.Contains(intro, "`"+f.Name+"`") {
			t.Errorf("language.md does not say that %s is not Terraform's", f.Name)
		}
	}
}
