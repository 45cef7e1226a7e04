package message

import "testing"

// TestNormaliseContentType: a content type is type/subtype, both
// non-empty, with parameters; mime.ParseMediaType also takes a type alone,
// which is refused here (the receivers answer it 400).
func TestNormaliseContentType(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", DefaultContentType, true},
		{"Text/XML; Charset=UTF-8", "text/xml; charset=UTF-8", true},
		{"application/edi-x12", "application/edi-x12", true},
		{"garbage", "", false},
		{"garbage; charset=utf-8", "", false},
		{"text/", "", false},
		{"/xml", "", false},
		{"text/xml/x", "", false},
		{"text/xml; charset", "", false},
	} {
		got, _, err := NormaliseContentType(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormaliseContentType(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
