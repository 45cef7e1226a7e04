package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/config/diag"
)

// TestSigningRollover checks the decoding of group.signing_rollover
// (language §12): the model's values, and a BP1004 pointing exactly at what
// is wrong (the at value, the second block's header, the block missing an
// attribute).
func TestSigningRollover(t *testing.T) {
	const tp = "CCFE302DA296CC18B316BA3063F069169382D9FC"
	tests := []struct {
		name string
		body string // the group's body after signing_certificate
		vars []string
		// at is the decoded instant (zero: not usable); known says
		// whether it is known.
		at    time.Time
		known bool
		// err is the source text the BP1004 range covers, with the
		// detail's key words; "" means no diagnostic.
		err, detail string
		// errLine, when not 0, is the line the range must start on.
		errLine int
	}{
		{name: "UTC", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = "2027-01-15T00:00:00Z"
  }`, at: time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), known: true},
		{name: "offset", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = "2027-01-15T01:30:00+01:30"
  }`, at: time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), known: true},
		// RFC 3339 5.6: "T" and "Z" may be written in lower case.
		{name: "lower case t and z", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = "2027-01-15t00:00:00z"
  }`, at: time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), known: true},
		{name: "unknown variable during validate", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = var.when
  }`},
		{name: "variable", vars: []string{"when=2027-01-15T00:00:00Z"}, body: `signing_rollover {
    certificate = "` + tp + `"
    at          = var.when
  }`, at: time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), known: true},
		{name: "no time zone", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = "2027-01-15T00:00:00"
  }`, err: `"2027-01-15T00:00:00"`, detail: `RFC 3339`},
		{name: "date only", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = "2027-01-15"
  }`, err: `"2027-01-15"`, detail: `at attribute of signing_rollover of group "g"`},
		{name: "no such day", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = "2027-02-30T00:00:00Z"
  }`, err: `"2027-02-30T00:00:00Z"`, detail: `got "2027-02-30T00:00:00Z"`},
		{name: "not a string", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = ["2027-01-15T00:00:00Z"]
  }`, err: `["2027-01-15T00:00:00Z"]`, detail: `must be string`},
		{name: "missing at", body: `signing_rollover {
    certificate = "` + tp + `"
  }`, err: "", errLine: 4, detail: `"at" is required`},
		{name: "two blocks", body: `signing_rollover {
    certificate = "` + tp + `"
    at          = "2027-01-15T00:00:00Z"
  }
  signing_rollover {
    certificate = "` + tp + `"
    at          = "2028-01-15T00:00:00Z"
  }`, at: time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), known: true,
			err: `signing_rollover`, errLine: 8, detail: `more than one signing_rollover block`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "variable \"when\" {}\ngroup \"g\" {\n  signing_certificate = \"4E077EB5555B50DCBCBF3D7261281954D2A1999D\"\n  " + tt.body + "\n}\n"
			f := filepath.Join(t.TempDir(), "main.hcl")
			if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, diags := Load([]string{f}, Options{LookupEnv: noEnv, Vars: tt.vars})
			if tt.err == "" && tt.errLine == 0 && len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", diags.Error())
			}
			if tt.err != "" || tt.errLine != 0 {
				if len(diags) != 1 || diag.CodeOf(diags[0]) != diag.CodeInvalidValue {
					t.Fatalf("want one BP1004, got:\n%s", diags.Error())
				}
				d := diags[0]
				text := src[d.Subject.Start.Byte:d.Subject.End.Byte]
				if !strings.HasPrefix(text, tt.err) {
					t.Errorf("range covers %q, want it to start with %q", text, tt.err)
				}
				if strings.Contains(text, "\n") {
					t.Errorf("range %q spans lines: not the value alone", text)
				}
				if tt.errLine != 0 && d.Subject.Start.Line != tt.errLine {
					t.Errorf("range starts on line %d, want %d", d.Subject.Start.Line, tt.errLine)
				}
				if !strings.Contains(d.Detail, tt.detail) {
					t.Errorf("detail %q lacks %q", d.Detail, tt.detail)
				}
			}
			r := cfg.Group.SigningRollover
			if r == nil {
				t.Fatal("no SigningRollover in the model")
			}
			if got := r.Thumbprint; !got.Usable() || got.V != tp {
				t.Errorf("Thumbprint = %+v", got)
			}
			if r.At.Known != tt.known || (tt.known && (!r.At.Usable() || !r.At.V.Equal(tt.at))) {
				t.Errorf("At = %+v, want %v (known %v)", r.At, tt.at, tt.known)
			}
			if hdr := src[r.Range.Start.Byte:r.Range.End.Byte]; hdr != "signing_rollover" {
				t.Errorf("Range covers %q, want the block header", hdr)
			}
		})
	}
}

// TestNoSigningRollover: a group without the block has none in the model.
func TestNoSigningRollover(t *testing.T) {
	cfg, diags := Load([]string{"testdata/valid-files/full.hcl"}, Options{LookupEnv: noEnv})
	if len(diags) > 0 {
		t.Fatal(diags.Error())
	}
	if cfg.Group.SigningRollover != nil {
		t.Errorf("SigningRollover = %+v, want nil", cfg.Group.SigningRollover)
	}
}
