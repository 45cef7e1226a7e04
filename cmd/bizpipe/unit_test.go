package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/validate/report"
)

func TestFormatInArgs(t *testing.T) {
	cases := []struct {
		args []string
		want report.Format
		ok   bool
	}{
		{nil, "", false},
		{[]string{"validate", "--bogus"}, "", false},
		{[]string{"validate", "--format", "json", "--bogus"}, report.FormatJSON, true},
		{[]string{"validate", "--bogus", "--format=sarif"}, report.FormatSARIF, true},
		{[]string{"validate", "--format=JSON"}, report.FormatJSON, true},
		{[]string{"validate", "--format", "json", "--format", "text"}, report.FormatText, true}, // the last wins
		{[]string{"validate", "--format", "xml"}, "", false},
		{[]string{"validate", "--format"}, "", false},                        // no value
		{[]string{"validate", "--", "--format", "json"}, "", false},          // a path, not a flag
		{[]string{"validate", "--var", "format=json", "--bogus"}, "", false}, // a --var value
		{[]string{"validate", "--formatjson"}, "", false},                    // another flag
		{[]string{"validate", "--format", "--bogus", "json"}, "", false},     // --bogus is the value
		{[]string{"validate", "--format=sarif", "--format=bad"}, "", false},  // the last is bad
		{[]string{"validate", "--strict", "--format", "sarif", "x"}, report.FormatSARIF, true},
	}
	for _, c := range cases {
		got, ok := formatInArgs(c.args)
		if got != c.want || ok != c.ok {
			t.Errorf("formatInArgs(%q) = %q, %v; want %q, %v", c.args, got, ok, c.want, c.ok)
		}
	}
}

func TestCleanError(t *testing.T) {
	stat := &fs.PathError{Op: "stat", Path: "nope", Err: fs.ErrNotExist}
	open := &fs.PathError{Op: "open", Path: "/x/y.hcl", Err: fs.ErrPermission}
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("configuration path nope: %w", stat), "configuration path nope: file does not exist"},
		{fmt.Errorf("reading %s: %w", "y.hcl", open), "reading y.hcl: /x/y.hcl: permission denied"},
		{stat, "nope: file does not exist"},
		{errors.New("plain"), "plain"},
	}
	for _, c := range cases {
		if got := cleanError(c.err).Error(); got != c.want {
			t.Errorf("cleanError(%q) = %q, want %q", c.err, got, c.want)
		}
	}
	if cleanError(nil) != nil {
		t.Error("cleanError(nil) is not nil")
	}
	// A real one, as the os package makes it.
	_, err := os.Stat("definitely/not/here")
	if got := cleanError(err).Error(); strings.Contains(got, "stat") || !strings.Contains(got, "definitely/not/here") {
		t.Errorf("cleanError(%q) = %q", err, got)
	}
}

func TestRedactor(t *testing.T) {
	sensitive := func(name string, v cty.Value) *model.Variable {
		return &model.Variable{Name: name, Sensitive: true, Value: v.Mark("sensitive")}
	}
	cfg := &model.Config{
		Variables: []*model.Variable{
			sensitive("password", cty.StringVal("hunter2-secret")),
			sensitive("short", cty.StringVal("abc")), // too short to redact
			sensitive("list", cty.ListVal([]cty.Value{cty.StringVal("tok-1234"), cty.StringVal("tok-1234-long")})),
			sensitive("unknown", cty.UnknownVal(cty.String)),
			sensitive("number", cty.NumberIntVal(123456)),
			{Name: "public", Value: cty.StringVal("plain-value")},
		},
		Locals: []*model.Local{
			{Name: "derived", Value: cty.StringVal("c2VjcmV0LXZhbHVl").Mark("sensitive")},
			{Name: "open", Value: cty.StringVal("open-value")},
		},
	}
	r := newRedactor(cfg)
	cases := []struct{ in, want string }{
		{"password hunter2-secret is wrong", "password (sensitive value) is wrong"},
		{"path /a/HUNTER2-SECRET/b", "path /a/(sensitive value)/b"},
		{"abc stays", "abc stays"},
		{"tok-1234-long and tok-1234", "(sensitive value) and (sensitive value)"},
		{"c2VjcmV0LXZhbHVl", "(sensitive value)"},
		{"plain-value and open-value stay", "plain-value and open-value stay"},
		{"123456 stays", "123456 stays"},
		{"regexp.*chars stay", "regexp.*chars stay"},
	}
	for _, c := range cases {
		if got := r.String(c.in); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := newRedactor(nil).String("hunter2-secret"); got != "hunter2-secret" {
		t.Errorf("nil config: %q", got)
	}
}

// TestFmtRefusesDeepNesting: a file nested far beyond any real
// configuration is refused with a syntax error naming it, not handed to the
// parser, whose recursion would overflow the stack and kill the process.
func TestFmtRefusesDeepNesting(t *testing.T) {
	const depth = 100_000
	name := filepath.Join(t.TempDir(), "deep.hcl")
	src := "x = " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n"
	if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"fmt", "--check", name}, {"fmt", name}} {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr, func(string) (string, bool) { return "", false })
		if code == 0 || !strings.Contains(stderr.String(), "nested too deeply") || !strings.Contains(stderr.String(), name) {
			t.Errorf("%v: exit %d, stderr %q; want a failure naming the file and the nesting", args, code, stderr.String())
		}
	}
	if got, err := os.ReadFile(name); err != nil || string(got) != src {
		t.Errorf("fmt changed the refused file (err %v)", err)
	}
}

// TestMaskStrings: the text of a file refused before parsing, as snippets
// show it, has what may be a string's content masked byte for byte, a
// heredoc's lines too, and every byte where it was.
func TestMaskStrings(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`a = "hunter2"` + "\n", `a = "*******"` + "\n"},
		{`a = "x" /* "y" */ b = "hunter2"`, `a = "` + strings.Repeat("*", 25) + `"`},
		{"a = <<EOT\r\nhunter2\r\n  EOT\r\nb = 1\r\n", "a = <<EOT\r\n*******\r\n  EOT\r\nb = 1\r\n"},
		{"a = <<-END\n  hunter2\n  END\n/* x", "a = <<-END\n*********\n  END\n/* x"},
		{"no strings [[[[", "no strings [[[["},
	} {
		got := string(maskStrings([]byte(tt.in)))
		if got != tt.want || len(got) != len(tt.in) {
			t.Errorf("maskStrings(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDeliveryStatesDocumented: the reference of messages show's JSON
// (the doc tag of deliveries[].state, docs/cli.md) names every state a
// delivery can show, awaiting_mdn included (markAwaiting), so that a
// script that switches on it is told of each.
func TestDeliveryStatesDocumented(t *testing.T) {
	field, ok := reflect.TypeFor[jsonDelivery]().FieldByName("State")
	if !ok {
		t.Fatal("jsonDelivery has no State field")
	}
	doc := field.Tag.Get("doc")
	for _, st := range []msgbox.DeliveryState{msgbox.DeliveryPending, msgbox.DeliveryInProgress,
		msgbox.DeliveryState(msgbox.StatusAwaitingMDN), msgbox.DeliveryRetrying, msgbox.DeliveryDelivered,
		msgbox.DeliverySuspended, msgbox.DeliveryTerminated} {
		if !regexp.MustCompile(`\b` + string(st) + `\b`).MatchString(doc) {
			t.Errorf("the reference of deliveries[].state does not name %s: %q", st, doc)
		}
	}
}
