package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestLocals: locals are evaluated in dependency order whatever their
// declaration order and file; cycles, and locals that depend on one, are
// BP1001; an undeclared local is BP1001.
func TestLocals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  []string // each a file's locals blocks
		want   map[string]string
		cycles []string // locals reported as on or behind a cycle
		undecl int      // BP1001 "unknown" findings besides cycles
	}{
		{
			name:  "reverse order chain",
			files: []string{"locals {\n  c = \"${local.b}c\"\n  b = \"${local.a}b\"\n  a = \"a\"\n}"},
			want:  map[string]string{"a": "a", "b": "ab", "c": "abc"},
		},
		{
			name:  "across files and blocks",
			files: []string{`locals { x = upper(local.y) }`, "locals { y = \"${local.z}-y\" }\nlocals { z = \"z\" }"},
			want:  map[string]string{"x": "Z-Y", "y": "z-y", "z": "z"},
		},
		{
			name:  "diamond, one reference repeated",
			files: []string{"locals {\n  d = \"${local.b}${local.c}${local.b}\"\n  b = local.a\n  c = local.a\n  a = \"1\"\n}"},
			want:  map[string]string{"a": "1", "b": "1", "c": "1", "d": "111"},
		},
		{
			name:   "cycle and a local behind it",
			files:  []string{"locals {\n  a = local.b\n  b = local.a\n  c = local.c\n  d = local.a\n  e = \"fine\"\n}"},
			want:   map[string]string{"e": "fine"},
			cycles: []string{"a", "b", "c", "d"},
		},
		{
			name:   "undeclared local",
			files:  []string{"locals {\n  a = local.nope\n  b = \"ok\"\n}"},
			want:   map[string]string{"b": "ok"},
			undecl: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for i, src := range tc.files {
				p := filepath.Join(dir, fmt.Sprintf("f%d.hcl", i))
				if i == 0 {
					src = nestingGroup + src
				}
				writeTestFile(t, p, src+"\n")
				paths = append(paths, p)
			}
			cfg, diags := Load(paths, Options{LookupEnv: noEnv})
			got := map[string]string{}
			for _, l := range cfg.Locals {
				if l.Value.IsKnown() && l.Value.Type() == cty.String {
					got[l.Name] = l.Value.AsString()
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("values %v, want %v", got, tc.want)
			}
			var cycles []string
			undecl := 0
			for _, d := range diags {
				switch {
				case d.Summary == "Cycle in local values":
					name := strings.Split(d.Detail, `"`)[1]
					cycles = append(cycles, name)
					if diag.CodeOf(d) != diag.CodeUndeclared {
						t.Errorf("cycle finding code %s, want BP1001", diag.CodeOf(d))
					}
				case diag.CodeOf(d) == diag.CodeUndeclared:
					undecl++
				default:
					t.Errorf("unexpected finding: %s", d)
				}
			}
			if fmt.Sprint(cycles) != fmt.Sprint(tc.cycles) {
				t.Errorf("cycles reported for %v, want %v", cycles, tc.cycles)
			}
			if undecl != tc.undecl {
				t.Errorf("%d undeclared-reference findings, want %d: %s", undecl, tc.undecl, diags)
			}
		})
	}
}

// BenchmarkLocals: 8,192 locals, half of them a chain declared in reverse
// order. Evaluation is linear; it was quadratic (about 7 s).
func BenchmarkLocals(b *testing.B) {
	const n = 8192
	var src strings.Builder
	src.WriteString(nestingGroup + "locals {\n")
	for i := n - 1; i >= 0; i-- {
		if i%2 == 0 {
			fmt.Fprintf(&src, "  l%05d = \"v%d\"\n", i, i)
		} else {
			fmt.Fprintf(&src, "  l%05d = \"${local.l%05d}x\"\n", i, i-1)
		}
	}
	src.WriteString("}\n")
	path := filepath.Join(b.TempDir(), "locals.hcl")
	if err := os.WriteFile(path, []byte(src.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cfg, diags := Load([]string{path}, Options{LookupEnv: noEnv})
		if diags.HasErrors() || len(cfg.Locals) != n {
			b.Fatalf("%d locals, %s", len(cfg.Locals), diags)
		}
	}
}

// TestObjectReferenceNotAValue: a reference to an object of any kind that
// attributes refer to (Names and references in docs/language.md), used as
// a value, is "Object reference is not a value", naming the kind: party.NAME
// was "There is no object named "party"", beside a party block of that name.
func TestObjectReferenceNotAValue(t *testing.T) {
	for _, ref := range []string{"certificate_store.s", "service_account.a", "server.srv", "host.h", "party.p", "pipeline.pl"} {
		kind, _, _ := strings.Cut(ref, ".")
		_, diags := loadSource(t, nestingGroup+`
certificate_store "s" { path = "." }
service_account "a" { personal_store = certificate_store.s }
server "srv" {}
host "h" {}
party "p" {}
pipeline "pl" {}
locals {
  x = `+ref+`
}
`)
		var got []string
		for _, d := range diags {
			if diag.CodeOf(d) == diag.CodeUndeclared {
				got = append(got, d.Summary+": "+d.Detail)
			}
		}
		want := fmt.Sprintf("Object reference is not a value: %s is a reference to a %s;", ref, kind)
		if len(got) != 1 || !strings.HasPrefix(got[0], want) {
			t.Errorf("%s: BP1001 %q, want one starting %q", ref, got, want)
		}
	}
}
