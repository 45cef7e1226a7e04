package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/registry"
)

// loadSource decodes one configuration file with the given source.
func loadSource(t *testing.T, src string) (*model.Config, hcl.Diagnostics) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load([]string{p}, Options{LookupEnv: noEnv})
}

// walkBlocks calls fn for every block of the table, with its path.
func walkBlocks(bs []Block, path []string, fn func(path []string, b Block)) {
	for _, b := range bs {
		p := append(slices.Clone(path), b.Type)
		fn(p, b)
		walkBlocks(b.Blocks, p, fn)
	}
}

// TestReferenceComplete checks that the block table documents everything it
// declares, so that the generated reference has no hole: a summary for every
// block, a type and a doc for every attribute, a default that fits.
func TestReferenceComplete(t *testing.T) {
	walkBlocks(Blocks(), nil, func(path []string, b Block) {
		where := strings.Join(path, ".")
		if b.Summary == "" || b.Occurs == "" {
			t.Errorf("%s: Summary and Occurs are required", where)
		}
		if len(path) == 1 && b.Example == "" {
			t.Errorf("%s: a top-level block needs an Example", where)
		}
		if b.Component != 0 && (len(b.Attributes) > 0 || len(b.Blocks) > 0 || len(b.Labels) != 1) {
			t.Errorf("%s: a component block has one label and the component's body", where)
		}
		for _, a := range b.Attributes {
			if a.Type == "" || a.Doc == "" {
				t.Errorf("%s.%s: Type and Doc are required", where, a.Name)
			}
			if a.Required && (a.Default != nil || a.RequiredWhen != "") {
				t.Errorf("%s.%s: required, so neither defaulted nor required only when %s", where, a.Name, a.RequiredWhen)
			}
			var fits bool
			switch a.Default.(type) {
			case nil:
				fits = true
			case string:
				fits = a.Type == "string"
			case bool:
				fits = a.Type == "bool"
			case int:
				fits = a.Type == "number"
			case time.Duration:
				fits = a.Type == "duration"
			case int64:
				fits = a.Type == "size"
			}
			if !fits {
				t.Errorf("%s.%s: default %v (%T) does not fit type %s", where, a.Name, a.Default, a.Default, a.Type)
			}
		}
	})
}

// TestReferenceDefaults checks that every default the reference documents
// is the one the decoder applies, by decoding blocks that leave the
// attributes out.
func TestReferenceDefaults(t *testing.T) {
	const src = `
group "g" {}
variable "v" {}
certificate_store "s" { path = "s" }
service_account "a" { personal_store = certificate_store.s }
server "srv" {}
host "h" {
  instance {
    server          = server.srv
    service_account = service_account.a
  }
}
receive_location "in" {
  host = host.h
  transport "file" { path = "in" }
}
send_port "p" {
  host = host.h
  transport "file" { path = "out" }
  retry {}
}
send_port "q" {
  host = host.h
  transport "file" { path = "out" }
}
`
	cfg, diags := loadSource(t, src)
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	// What the decoder made of each attribute with a default.
	decoded := map[string]func() any{
		"group.certificate_expiry_warning": func() any { return cfg.Group.CertificateExpiryWarning.V },
		"group.max_message_size":           func() any { return cfg.Group.MaxMessageSize.V },
		"variable.sensitive":               func() any { return cfg.Variables[0].Sensitive },
		"receive_location.content_type":    func() any { return cfg.ReceiveLocations[0].ContentType.V },
		"send_port.retry.attempts":         func() any { return cfg.SendPorts[0].Retry.Attempts.V },
		"send_port.retry.interval":         func() any { return cfg.SendPorts[0].Retry.Interval.V },
	}
	// A send port without a retry block has the same defaults.
	noRetry := map[string]func() any{
		"send_port.retry.attempts": func() any { return cfg.SendPorts[1].Retry.Attempts.V },
		"send_port.retry.interval": func() any { return cfg.SendPorts[1].Retry.Interval.V },
	}
	seen := map[string]bool{}
	walkBlocks(Blocks(), nil, func(path []string, b Block) {
		for _, a := range b.Attributes {
			if a.Default == nil {
				continue
			}
			key := strings.Join(path, ".") + "." + a.Name
			seen[key] = true
			get, ok := decoded[key]
			if !ok {
				t.Errorf("%s: the reference documents default %v; add the decoded value to this test", key, a.Default)
				continue
			}
			if got := get(); !reflect.DeepEqual(got, a.Default) {
				t.Errorf("%s: the decoder applies %v (%T), the reference documents %v (%T)", key, got, got, a.Default, a.Default)
			}
			if get, ok := noRetry[key]; ok {
				if got := get(); !reflect.DeepEqual(got, a.Default) {
					t.Errorf("%s without a retry block: the decoder applies %v, the reference documents %v", key, got, a.Default)
				}
			}
		}
	})
	for key := range decoded {
		if !seen[key] {
			t.Errorf("%s: the decoder has a default the reference does not document", key)
		}
	}
}

// TestReferenceExamples checks that the reference's examples are a valid
// configuration: every block's example, with the few objects they refer to
// and do not declare, decodes with no diagnostic.
func TestReferenceExamples(t *testing.T) {
	var src strings.Builder
	src.WriteString(`
variable "partner" { default = "fabrikam" }
variable "database_url" {
  type      = string
  sensitive = true
}
certificate_store "srv1_other_people" { path = "stores/srv1_other_people" }
service_account "svc_recv" { personal_store = certificate_store.svc_send_personal }
`)
	for _, b := range Blocks() {
		fmt.Fprintf(&src, "\n%s\n", b.Example)
	}
	cfg, diags := loadSource(t, src.String())
	if len(diags) > 0 {
		t.Fatalf("the examples do not decode cleanly:\n%s\n%s", diags.Error(), src.String())
	}
	if cfg.Group == nil || len(cfg.SendPorts) != 1 || cfg.SendPorts[0].Transport == nil || cfg.MessageBox == nil {
		t.Errorf("the examples did not all reach the model")
	}
}

// TestComponentExamples checks that the example of every registered
// component decodes with no diagnostic, in the block its kind belongs in.
func TestComponentExamples(t *testing.T) {
	const base = `
group "g" {}
certificate_store "s" { path = "s" }
service_account "a" { personal_store = certificate_store.s }
server "srv" {}
host "h" {
  instance {
    server          = server.srv
    service_account = service_account.a
  }
}
party "fabrikam" { as2_id = "FABRIKAM" } # transport "as2"'s partner
`
	for _, s := range registry.Builtin().Specs() {
		t.Run(s.Kind.String()+"/"+s.Name, func(t *testing.T) {
			if s.Example == "" {
				t.Fatal("no example")
			}
			var src string
			switch s.Kind {
			case component.ReceiveTransport:
				src = base + "receive_location \"in\" {\n  host = host.h\n" + s.Example + "\n}\n"
			case component.SendTransport:
				src = base + "send_port \"out\" {\n  host = host.h\n" + s.Example + "\n}\n"
			case component.Encoder, component.Decoder:
				src = base + "pipeline \"p\" {\n" + s.Example + "\n}\n"
			default:
				t.Fatalf("no wrapper for kind %s", s.Kind)
			}
			if _, diags := loadSource(t, src); len(diags) > 0 {
				t.Errorf("the example does not decode cleanly:\n%s\n%s", diags.Error(), src)
			}
		})
	}
}

// TestMessageAttributes checks that the message filters and templates see
// at run time has exactly the attributes the reference documents, with
// their types.
func TestMessageAttributes(t *testing.T) {
	v := Message{ID: "m", Properties: map[string]string{"k": "v"}}.Value()
	got := map[string]string{}
	for name, ty := range v.Type().AttributeTypes() {
		got[name] = ty.FriendlyName()
	}
	want := map[string]string{}
	for _, a := range MessageAttributes() {
		if a.Doc == "" {
			t.Errorf("message.%s has no Doc", a.Name)
		}
		want[a.Name] = a.Type.FriendlyName()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the message value has attributes %v; the reference documents %v", got, want)
	}
	if !MessageType().Equals(v.Type()) {
		t.Errorf("MessageType %s differs from the value's type %s", MessageType().FriendlyName(), v.Type().FriendlyName())
	}
}

// TestFunctions checks that the documented functions are the ones an
// expression can call: each is called through a configuration (a wrong
// arity is an error, an unknown function another).
func TestFunctions(t *testing.T) {
	fns := Functions()
	if len(fns) == 0 {
		t.Fatal("no functions")
	}
	var locals strings.Builder
	locals.WriteString("group \"g\" {}\nlocals {\n")
	for i, f := range fns {
		if f.Description == "" {
			t.Errorf("%s has no description", f.Name)
		}
		// A call with the documented number of arguments must type-check
		// as a call of a known function: its errors, if any, are about
		// argument values, never "Call to unknown function".
		args := make([]string, len(f.Params))
		for j := range args {
			args[j] = "null"
		}
		fmt.Fprintf(&locals, "  f%d = %s(%s)\n", i, f.Name, strings.Join(args, ", "))
	}
	locals.WriteString("  unknown = nosuchfunction()\n}\n")
	_, diags := loadSource(t, locals.String())
	var unknown []string
	for _, d := range diags {
		switch d.Summary {
		case "Call to unknown function":
			unknown = append(unknown, d.Detail)
		case "Not enough function arguments", "Too many function arguments":
			t.Errorf("a documented parameter list is wrong: %s", d.Error())
		}
	}
	if len(unknown) != 1 || !strings.Contains(unknown[0], "nosuchfunction") {
		t.Errorf("want exactly one unknown function, nosuchfunction; got %q", unknown)
	}
	// file() is documented and bound per file.
	if !slices.ContainsFunc(fns, func(f Function) bool { return f.Name == "file" }) {
		t.Error("file() is not documented")
	}
}
