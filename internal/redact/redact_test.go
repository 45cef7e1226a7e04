package redact

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestReplacer(t *testing.T) {
	r := New("s3cret", "", "s3cret-longer").With("Tok1")
	for _, tt := range []struct{ in, want string }{
		{"password s3cret here", "password (sensitive value) here"},
		{"S3CRET-LONGER whole", "(sensitive value) whole"},
		{"a tok1 b", "a (sensitive value) b"},
		{"nothing", "nothing"},
	} {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var zero Replacer
	if !zero.Empty() || zero.String("s3cret") != "s3cret" || r.Empty() {
		t.Error("the zero Replacer replaces something, or r nothing")
	}
	d := hcl.Diagnostics{{Summary: "bad s3cret", Detail: "see s3cret"}}
	got := r.Diagnostics(d)
	if got[0].Summary != "bad (sensitive value)" || got[0].Detail != "see (sensitive value)" || d[0].Summary != "bad s3cret" {
		t.Errorf("Diagnostics = %+v (original %+v)", got[0], d[0])
	}
	if l := Long([]string{"on", "1", "long enough", "four"}); len(l) != 2 || l[0] != "long enough" || l[1] != "four" {
		t.Errorf("Long = %q", l)
	}
}
