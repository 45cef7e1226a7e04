package suggest

import "testing"

func TestName(t *testing.T) {
	cases := []struct {
		given      string
		candidates []string
		want       string
	}{
		{"sned_host", []string{"recv_host", "send_host"}, "send_host"},
		{"p12_pasword", []string{"p12_password", "database_url"}, "p12_password"},
		{"filename", []string{"id", "file_name", "size"}, "file_name"},
		{"ID", []string{"id", "size", "party"}, "id"},
		// The closest wins, not the first close one.
		{"abcd", []string{"abxy", "abce"}, "abce"},
		// Ties go to the earlier candidate.
		{"abc", []string{"abx", "aby"}, "abx"},
		// Too far: no suggestion rather than a wrong one.
		{"partner", []string{"id", "size"}, ""},
		{"zzzzzz", []string{"send_host"}, ""},
		// An exact match is no typo.
		{"send_host", []string{"send_host", "send_hosts"}, ""},
		{"x", nil, ""},
	}
	for _, c := range cases {
		if got := Name(c.given, c.candidates); got != c.want {
			t.Errorf("Name(%q, %q) = %q, want %q", c.given, c.candidates, got, c.want)
		}
	}
}

func TestHint(t *testing.T) {
	if got, want := Hint("sned_host", []string{"send_host"}, "host.%s"), " Did you mean host.send_host?"; got != want {
		t.Errorf("Hint = %q, want %q", got, want)
	}
	if got := Hint("zzzzzz", []string{"send_host"}, "host.%s"); got != "" {
		t.Errorf("Hint with no close candidate = %q, want empty", got)
	}
}
