package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/msgboxtest"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
)

// completion is what one bizpipe __complete request answered.
type completion struct {
	values    []string // the offered values, in order
	descs     []string // their descriptions ("" when none)
	directive cobra.ShellCompDirective
}

// complete drives completion as the shell scripts cobra generates do: it
// runs bizpipe __complete with the words of the command line, the last one
// being the word to complete ("" for a new word).
func complete(t *testing.T, words ...string) completion {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{cobra.ShellCompRequestCmd}, words...), &stdout, &stderr, noEnv); code != exitOK {
		t.Fatalf("__complete %q: exit %d\n%s", words, code, &stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	d, err := strconv.Atoi(strings.TrimPrefix(last, ":"))
	if !strings.HasPrefix(last, ":") || err != nil {
		t.Fatalf("__complete %q: no directive line:\n%s", words, &stdout)
	}
	c := completion{directive: cobra.ShellCompDirective(d)}
	for _, l := range lines[:len(lines)-1] {
		v, desc, _ := strings.Cut(l, "\t")
		c.values = append(c.values, v)
		c.descs = append(c.descs, desc)
	}
	return c
}

// TestCompleteFlagValues: the flags whose values are a fixed list offer
// them, and no file names.
func TestCompleteFlagValues(t *testing.T) {
	statuses := []string{"received", "routed", "awaiting_mdn", "delivered", "retrying", "suspended", "terminated"}
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"validate", "--format", ""}, []string{"text", "json", "sarif", "github", "gitlab"}},
		{[]string{"validate", "--format", "g"}, []string{"github", "gitlab"}},
		{[]string{"validate", "--format=s"}, []string{"sarif"}},
		{[]string{"certs", "--format", ""}, []string{"text", "json"}},
		{[]string{"messages", "list", "--format", ""}, []string{"text", "json"}},
		{[]string{"messages", "show", "--format", "j"}, []string{"json"}},
		{[]string{"messages", "list", "--status", ""}, statuses},
		{[]string{"messages", "list", "--status", "re"}, []string{"received", "retrying"}},
		{[]string{"run", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"run", "--log-level", ""}, []string{"debug", "info", "warn", "error"}},
	} {
		got := complete(t, c.words...)
		if !slices.Equal(got.values, c.want) {
			t.Errorf("%q: offered %q, want %q", c.words, got.values, c.want)
		}
		if got.directive != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("%q: directive %d, want %d (no file names)", c.words, got.directive, cobra.ShellCompDirectiveNoFileComp)
		}
	}
	// --status offers what list accepts: every value lists without a
	// usage error.
	for _, s := range statuses {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"messages", "list", "--status", s, "--data-dir", t.TempDir()}, &stdout, &stderr, noEnv); code == exitUsage {
			t.Errorf("messages list --status %s: usage error: %s", s, &stderr)
		}
	}
}

// TestCompleteDeclaredNames: --server of run and validate offers the
// servers, and --host of run the hosts, that the configuration declares,
// read from the paths given or the current directory; with a --server
// given, the hosts with an instance on it. Without a configuration nothing
// is offered. Never file names.
func TestCompleteDeclaredNames(t *testing.T) {
	dir := t.TempDir()
	config := `server "srv1" {}
server "srv2" {}
server "edge" {}
service_account "svc" {}
host "send_host" {
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
host "receive_host" {
  instance {
    server          = server.edge
    service_account = service_account.svc
  }
  instance {
    server          = server.srv1
    service_account = service_account.svc
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "bizpipe.hcl"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	servers := []string{"srv1", "srv2", "edge"}
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"run", dir, "--server", ""}, servers},
		{[]string{"run", dir, "--server", "s"}, []string{"srv1", "srv2"}},
		{[]string{"run", dir, "--server=e"}, []string{"edge"}},
		{[]string{"validate", "--live", dir, "--server", ""}, servers},
		{[]string{"run", dir, "--host", ""}, []string{"send_host", "receive_host"}},
		{[]string{"run", dir, "--host", "r"}, []string{"receive_host"}},
		{[]string{"run", dir, "--server", "edge", "--host", ""}, []string{"receive_host"}},
		{[]string{"run", dir, "--server=srv1", "--host", ""}, []string{"send_host", "receive_host"}},
		{[]string{"run", dir, "--server", "srv2", "--host", ""}, nil},
		{[]string{"validate", "--live", dir, "--host", ""}, []string{"send_host", "receive_host"}},
		{[]string{"validate", "--live", dir, "--server", "edge", "--host", ""}, []string{"receive_host"}},
		{[]string{"run", filepath.Join(dir, "none"), "--server", ""}, nil},
		{[]string{"run", filepath.Join(dir, "none"), "--host", ""}, nil},
	} {
		got := complete(t, c.words...)
		if !slices.Equal(got.values, c.want) || got.directive != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("%q: offered %q (directive %d), want %q (directive %d)", c.words, got.values, got.directive, c.want, cobra.ShellCompDirectiveNoFileComp)
		}
	}
	// No path: the current directory.
	t.Chdir(dir)
	if got := complete(t, "run", "--host", ""); !slices.Equal(got.values, []string{"send_host", "receive_host"}) {
		t.Errorf("run --host in the configuration directory: offered %q", got.values)
	}
}

// TestCompleteFlagDescriptions: every flag of every command is offered
// with its usage as the description, without the backquotes that mark
// its placeholder in the usage.
func TestCompleteFlagDescriptions(t *testing.T) {
	for _, cmd := range commandTree(t) {
		words := append(strings.Fields(cmd.CommandPath())[1:], "--")
		got := complete(t, words...)
		if len(got.values) == 0 {
			t.Errorf("%s: no flag offered", cmd.CommandPath())
		}
		for i, v := range got.values {
			if strings.Contains(got.descs[i], "`") {
				t.Errorf("%s %s: description with a backquote: %q", cmd.CommandPath(), v, got.descs[i])
			}
		}
	}
	got := complete(t, "validate", "--fo")
	if len(got.descs) != 1 || got.descs[0] != "output FORMAT: text, json, sarif, github or gitlab" {
		t.Errorf("validate --fo: offered %q %q", got.values, got.descs)
	}
	// --help still shows the placeholders: only completion drops the
	// backquotes, in its own process.
	var stdout bytes.Buffer
	run([]string{"validate", "--help"}, &stdout, io.Discard, noEnv)
	if !regexp.MustCompile(`--format FORMAT +output FORMAT:`).Match(stdout.Bytes()) {
		t.Errorf("validate --help lost its FORMAT placeholder:\n%s", &stdout)
	}
}

// TestCompleteMessageIDs: the ID of messages show, body, mdn, resume and
// terminate completes from the box under --data-dir, most recent first,
// with the messages each command applies to; after the ID, or with
// --all-suspended, the arguments are paths. Without a box nothing is
// offered and nothing is created.
func TestCompleteMessageIDs(t *testing.T) {
	data := t.TempDir()
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	receive := func(name string, ports []string) string {
		m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: name, ContentType: "text/plain"}, strings.NewReader("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := box.Route(ctx, m.ID, ports, "no send port matched"); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	suspended := receive("a.txt", nil) // a routing failure
	delivered := receive("b.txt", []string{"p"})
	d, err := msgboxtest.ClaimOne(ctx, box, "srv1/w0", []string{"p"}, time.Hour)
	if err != nil || d == nil {
		t.Fatalf("ClaimOne = %v, %v", d, err)
	}
	if err := box.Finish(ctx, d.ID, "srv1/w0", msgbox.Outcome{State: msgbox.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	routed := receive("c.txt", []string{"q"})
	// A message its receive pipeline refused: suspended, but neither
	// resumed nor resubmitted.
	r, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: "d.p7m", Decoding: msgbox.DecodingFailed},
		strings.NewReader("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Route(ctx, r.ID, nil, "decoding failed: no signature"); err != nil {
		t.Fatal(err)
	}
	refused := r.ID
	box.Close()

	all := []string{refused, routed, delivered, suspended} // most recent first
	for _, c := range []struct {
		words     []string
		want      []string
		directive cobra.ShellCompDirective
	}{
		{[]string{"show", ""}, all, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"body", ""}, all, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"mdn", ""}, all, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"resume", ""}, []string{suspended}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"resubmit", ""}, []string{delivered, suspended}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"terminate", ""}, []string{refused, routed, suspended}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"show", routed[:len(routed)-1]}, []string{routed}, cobra.ShellCompDirectiveNoFileComp},
		{[]string{"show", "zzz"}, nil, cobra.ShellCompDirectiveNoFileComp},
		// After the ID: configuration paths.
		{[]string{"show", routed, ""}, nil, cobra.ShellCompDirectiveDefault},
		{[]string{"resume", "--all-suspended", ""}, nil, cobra.ShellCompDirectiveDefault},
	} {
		words := append([]string{"messages", c.words[0], "--data-dir", data}, c.words[1:]...)
		got := complete(t, words...)
		if !slices.Equal(got.values, c.want) || got.directive != c.directive {
			t.Errorf("%q: offered %q (directive %d), want %q (directive %d)", c.words, got.values, got.directive, c.want, c.directive)
		}
	}
	got := complete(t, "messages", "show", "--data-dir", data, "")
	if want := []string{"suspended", "routed", "delivered", "suspended"}; len(got.descs) == 4 {
		for i, desc := range got.descs {
			if !strings.HasPrefix(desc, want[i]+" ") || !strings.HasSuffix(desc, []string{"d.p7m", "c.txt", "b.txt", "a.txt"}[i]) {
				t.Errorf("description of %s: %q, want its status, time and file name", got.values[i], desc)
			}
		}
	}

	// No box: nothing offered, nothing created.
	empty := filepath.Join(t.TempDir(), "none")
	for _, sub := range []string{"show", "resume", "terminate"} {
		got := complete(t, "messages", sub, "--data-dir", empty, "")
		if len(got.values) != 0 || got.directive != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("%s without a box: offered %q (directive %d)", sub, got.values, got.directive)
		}
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("completion created the data directory %s: %v", empty, err)
	}
}

// TestCompleteMessageIDsPastFinal: terminate offers a message it applies
// to even when more than maxCompletedIDs newer messages are final
// (delivered or terminated): the limit counts what is offered, not what
// is looked at.
func TestCompleteMessageIDsPastFinal(t *testing.T) {
	data := t.TempDir()
	box, err := sqlitebox.Open(filepath.Join(data, "messagebox.db"), sqlitebox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	receive := func(name string) string {
		m, _, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: "in", FileName: name}, strings.NewReader("x"),
			func(msgbox.Message) ([]string, string) { return nil, "no send port matched" })
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	suspended := receive("old.txt")
	for i := range maxCompletedIDs + 1 {
		if err := box.Terminate(ctx, receive(fmt.Sprintf("%d.txt", i))); err != nil {
			t.Fatal(err)
		}
	}
	box.Close()
	got := complete(t, "messages", "terminate", "--data-dir", data, "")
	if !slices.Equal(got.values, []string{suspended}) {
		t.Errorf("terminate offered %d ids %.3q; want the one suspended message %s behind %d terminated ones",
			len(got.values), got.values, suspended, maxCompletedIDs+1)
	}
}

// commandTree returns every command a user can run, for the checks that
// hold for each.
func commandTree(t *testing.T) []*cobra.Command {
	t.Helper()
	e := &env{stdout: io.Discard, stderr: io.Discard, lookupEnv: noEnv}
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		out = append(out, c)
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				walk(sub)
			}
		}
	}
	walk(newRootCmd(e))
	return out
}

// TestUsageConsistency: every command's usage line reads the same way,
// "bizpipe CMD [flags] ARGS [PATH...]", and every flag that takes a value
// names it with an upper-case placeholder, the same one for a flag of the
// same name on every command.
func TestUsageConsistency(t *testing.T) {
	placeholder := regexp.MustCompile("^[A-Z]+(=[A-Z]+)?$")
	seen := map[string]string{} // flag name → placeholder
	for _, c := range commandTree(t) {
		line := c.UseLine()
		path := c.CommandPath()
		rest, ok := strings.CutPrefix(line, path)
		if !ok {
			t.Errorf("%s: usage %q does not start with the command", path, line)
			continue
		}
		// Cobra's completion scripts (bizpipe completion bash, ...) leave
		// [flags] out of their usage on purpose.
		if c.HasAvailableFlags() && !c.DisableFlagsInUseLine && !strings.HasPrefix(rest, " [flags]") {
			t.Errorf("%s: usage %q: [flags] must come right after the command", path, line)
		}
		if i := strings.Index(rest, "[PATH...]"); i >= 0 && i+len("[PATH...]") != len(rest) {
			t.Errorf("%s: usage %q: [PATH...] must come last", path, line)
		}
		if strings.Count(line, "[flags]") > 1 {
			t.Errorf("%s: usage %q names [flags] twice", path, line)
		}
		visit := func(f *pflag.Flag) {
			if f.Hidden || f.Value.Type() == "bool" {
				return
			}
			name, _ := pflag.UnquoteUsage(f)
			if !strings.Contains(f.Usage, "`") || !placeholder.MatchString(name) {
				t.Errorf("%s --%s: usage %q has no upper-case `NAME` placeholder", path, f.Name, f.Usage)
				return
			}
			if prev, ok := seen[f.Name]; ok && prev != name {
				t.Errorf("%s --%s: placeholder %s, but %s elsewhere", path, f.Name, name, prev)
			}
			seen[f.Name] = name
		}
		c.LocalFlags().VisitAll(visit)
	}
}

// TestHelpExamples: every command that runs something shows examples, and
// none passes a secret on the command line (language reference: secrets go
// in the environment, BIZPIPE_VAR_NAME).
func TestHelpExamples(t *testing.T) {
	secretOnCommandLine := regexp.MustCompile(`--var[ =]\S*(password|secret|token|key)`)
	needExamples := map[string]bool{"bizpipe": true, "bizpipe validate": true, "bizpipe certs": true,
		"bizpipe fmt": true, "bizpipe run": true, "bizpipe lsp": true}
	for _, c := range commandTree(t) {
		if needExamples[c.CommandPath()] && c.Example == "" {
			t.Errorf("%s: no examples", c.CommandPath())
		}
		if m := secretOnCommandLine.FindString(c.Example); m != "" {
			t.Errorf("%s: an example passes a secret on the command line (%s): use BIZPIPE_VAR_NAME", c.CommandPath(), m)
		}
	}
}
