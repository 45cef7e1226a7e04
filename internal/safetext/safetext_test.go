package safetext

import "testing"

func TestField(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"order-1001.xml", "order-1001.xml"},
		{"CN=Contoso Signing (DEMO ONLY),O=bizpipe demo", "CN=Contoso Signing (DEMO ONLY),O=bizpipe demo"},
		{"commande été 日本.xml", "commande été 日本.xml"},               // printable Unicode stays
		{`back\slash "quoted" inside`, `back\slash "quoted" inside`}, // cannot be mistaken: no leading quote
		{`"leading quote`, `"\"leading quote"`},
		{"a\x1b[2Jb", `"a\x1b[2Jb"`},
		{"row\nforged\tcells", `"row\nforged\tcells"`},
		{"cr\roverwrite", `"cr\roverwrite"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{"bidi\u202eexe.txt", `"bidi\u202eexe.txt"`},
		{"nbsp\u00a0space", `"nbsp\u00a0space"`},
		{"bell\a", `"bell\a"`},
		{"c1\u009bcsi", `"c1\u009bcsi"`},
	} {
		if got := Field(tc.in); got != tc.want {
			t.Errorf("Field(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestProse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Two paragraphs.\n\nStay so.", "Two paragraphs.\n\nStay so."},
		{`a "quoted" and back\slash`, `a "quoted" and back\slash`},
		{"esc\x1b[31mred\x1b[0m", `esc\x1b[31mred\x1b[0m`},
		{"tab\there, cr\r", `tab\there, cr\r`},
		{"bad\xff\xfe", `bad\xff\xfe`},
		{"bidi\u202e", `bidi\u202e`},
		{"été 日本", "été 日本"},
	} {
		if got := Prose(tc.in); got != tc.want {
			t.Errorf("Prose(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSource(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"\tsigning_certificate = \"AB\"", "\tsigning_certificate = \"AB\""},
		{"  x = \"\x1b]0;pwned\x07\"", `  x = "\x1b]0;pwned\a"`},
		{"cr\r", `cr\r`},
		{"bad\xff", `bad\xff`},
		{"été", "été"},
	} {
		if got := Source(tc.in); got != tc.want {
			t.Errorf("Source(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWidth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"order-1001.xml", 14},
		{"été", 3},               // precomposed
		{"e\u0301te\u0301", 3},   // combining acute accents take no column
		{"日本語.edi", 10},          // CJK: two columns each
		{"ＡＢ", 4},                // fullwidth Latin
		{"ｱｲ", 2},                // halfwidth katakana
		{Field("tab\there"), 11}, // escaped as "tab\there"
	} {
		if got := Width(tc.in); got != tc.want {
			t.Errorf("Width(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
