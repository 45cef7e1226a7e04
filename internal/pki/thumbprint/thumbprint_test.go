package thumbprint

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizpipe/bizpipe/internal/testpki"
)

const (
	sha1Lower   = "9f1c3a22b4d5e6f708192a3b4c5d6e7f80918273"
	sha256Lower = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Thumbprint
	}{
		{"sha1 lowercase", sha1Lower, Thumbprint{sha1Lower, SHA1}},
		{"sha1 uppercase", strings.ToUpper(sha1Lower), Thumbprint{sha1Lower, SHA1}},
		{"sha1 mixed case", "9F1c3A22b4D5e6F708192a3B4c5D6e7F80918273", Thumbprint{sha1Lower, SHA1}},
		{"sha1 windows spaces", "9f 1c 3a 22 b4 d5 e6 f7 08 19 2a 3b 4c 5d 6e 7f 80 91 82 73", Thumbprint{sha1Lower, SHA1}},
		{"sha1 openssl colons", "9F:1C:3A:22:B4:D5:E6:F7:08:19:2A:3B:4C:5D:6E:7F:80:91:82:73", Thumbprint{sha1Lower, SHA1}},
		{"separators anywhere and repeated", "  ::9f1c 3a22::  b4d5e6f708192a3b4c5d6e7f80918273 :: ", Thumbprint{sha1Lower, SHA1}},
		{"sha256", sha256Lower, Thumbprint{sha256Lower, SHA256}},
		{"sha256 uppercase colons", strings.ToUpper("01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef"), Thumbprint{sha256Lower, SHA256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.IsZero() {
				t.Fatalf("Parse(%q) returned the zero Thumbprint", tt.in)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		reason   Reason
		pos      int
		r        rune
		runeName string
		digits   int
		msg      string
	}{
		{
			name: "LRM at start (Windows certificate dialog)", in: "\u200e" + sha1Lower,
			reason: BadCharacter, pos: 1, r: 0x200E, runeName: "LEFT-TO-RIGHT MARK",
			msg: "unexpected character U+200E LEFT-TO-RIGHT MARK at position 1",
		},
		{
			name: "RLM in the middle", in: "9f1c\u200f3a22b4d5e6f708192a3b4c5d6e7f80918273",
			reason: BadCharacter, pos: 5, r: 0x200F, runeName: "RIGHT-TO-LEFT MARK",
			msg: "unexpected character U+200F RIGHT-TO-LEFT MARK at position 5",
		},
		{
			name: "NBSP as separator", in: "9f\u00a01c3a22b4d5e6f708192a3b4c5d6e7f80918273",
			reason: BadCharacter, pos: 3, r: 0xA0, runeName: "NO-BREAK SPACE",
			msg: "unexpected character U+00A0 NO-BREAK SPACE at position 3",
		},
		{
			name: "zero-width space at the end", in: sha1Lower + "\u200b",
			reason: BadCharacter, pos: 41, r: 0x200B, runeName: "ZERO WIDTH SPACE",
			msg: "unexpected character U+200B ZERO WIDTH SPACE at position 41",
		},
		{
			name: "tab", in: "9f1c\t3a22b4d5e6f708192a3b4c5d6e7f80918273",
			reason: BadCharacter, pos: 5, r: '\t', runeName: "CHARACTER TABULATION",
			msg: "unexpected character U+0009 CHARACTER TABULATION at position 5",
		},
		{
			name: "newline", in: sha1Lower + "\n",
			reason: BadCharacter, pos: 41, r: '\n', runeName: "LINE FEED",
			msg: "unexpected character U+000A LINE FEED at position 41",
		},
		{
			name: "non-hex ASCII letter", in: "9f1cg3a22b4d5e6f708192a3b4c5d6e7f80918273",
			reason: BadCharacter, pos: 5, r: 'g', runeName: "LATIN SMALL LETTER G",
			msg: "unexpected character 'g' (U+0067 LATIN SMALL LETTER G) at position 5",
		},
		{
			name: "0x prefix", in: "0x" + sha1Lower,
			reason: BadCharacter, pos: 2, r: 'x', runeName: "LATIN SMALL LETTER X",
			msg: "unexpected character 'x' (U+0078 LATIN SMALL LETTER X) at position 2",
		},
		{
			name: "hyphen separator", in: "9f-1c",
			reason: BadCharacter, pos: 3, r: '-', runeName: "HYPHEN-MINUS",
			msg: "unexpected character '-' (U+002D HYPHEN-MINUS) at position 3",
		},
		{
			name: "non-ASCII letter is shown quoted", in: "ab\u00e9",
			reason: BadCharacter, pos: 3, r: 0xE9, runeName: "LATIN SMALL LETTER E WITH ACUTE",
			msg: "unexpected character 'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE) at position 3",
		},
		{
			name: "Cyrillic lookalike shown with its name", in: "9f\u0410",
			reason: BadCharacter, pos: 3, r: 0x410, runeName: "CYRILLIC CAPITAL LETTER A",
			msg: "unexpected character 'А' (U+0410 CYRILLIC CAPITAL LETTER A) at position 3",
		},
		{
			name: "BOM", in: "\ufeff" + sha1Lower,
			reason: BadCharacter, pos: 1, r: 0xFEFF, runeName: "ZERO WIDTH NO-BREAK SPACE",
			msg: "unexpected character U+FEFF ZERO WIDTH NO-BREAK SPACE at position 1",
		},
		{
			name: "CJK ideograph gets its derived name", in: "\u4e00",
			reason: BadCharacter, pos: 1, r: 0x4E00, runeName: "CJK UNIFIED IDEOGRAPH-4E00",
			msg: "unexpected character '一' (U+4E00 CJK UNIFIED IDEOGRAPH-4E00) at position 1",
		},
		{
			name: "invalid UTF-8", in: "9f\xff1c",
			reason: BadByte, pos: 3, r: 0xFFFD,
			msg: "invalid UTF-8 byte 0xFF at position 3",
		},
		{
			name: "character error wins over length", in: "\u200e9f",
			reason: BadCharacter, pos: 1, r: 0x200E, runeName: "LEFT-TO-RIGHT MARK",
			msg: "unexpected character U+200E LEFT-TO-RIGHT MARK at position 1",
		},
		{
			name: "empty", in: "", reason: Empty,
			msg: "thumbprint is empty; a thumbprint has 40 (SHA-1) or 64 (SHA-256) hex digits",
		},
		{
			name: "only separators", in: " :: : ", reason: Empty,
			msg: "thumbprint is empty; a thumbprint has 40 (SHA-1) or 64 (SHA-256) hex digits",
		},
		{
			name: "39 digits", in: sha1Lower[:39], reason: BadLength, digits: 39,
			msg: "thumbprint has 39 hex digits; a thumbprint has 40 (SHA-1) or 64 (SHA-256)",
		},
		{
			name: "41 digits", in: sha1Lower + "0", reason: BadLength, digits: 41,
			msg: "thumbprint has 41 hex digits; a thumbprint has 40 (SHA-1) or 64 (SHA-256)",
		},
		{
			name: "63 digits with separators", in: "01:" + sha256Lower[2:63], reason: BadLength, digits: 63,
			msg: "thumbprint has 63 hex digits; a thumbprint has 40 (SHA-1) or 64 (SHA-256)",
		},
		{
			name: "65 digits", in: sha256Lower + "a", reason: BadLength, digits: 65,
			msg: "thumbprint has 65 hex digits; a thumbprint has 40 (SHA-1) or 64 (SHA-256)",
		},
		{
			name: "32 digits (MD5 length)", in: sha256Lower[:32], reason: BadLength, digits: 32,
			msg: "thumbprint has 32 hex digits; a thumbprint has 40 (SHA-1) or 64 (SHA-256)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.in, got)
			}
			if !got.IsZero() {
				t.Errorf("Parse(%q) returned %+v with an error, want the zero Thumbprint", tt.in, got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T %v, want *Error", tt.in, err, err)
			}
			if e.Reason != tt.reason || e.Position != tt.pos || e.Digits != tt.digits || e.Input != tt.in {
				t.Errorf("Parse(%q) error = %+v; want reason %d, position %d, digits %d", tt.in, e, tt.reason, tt.pos, tt.digits)
			}
			if tt.r != 0 && e.Rune != tt.r {
				t.Errorf("Rune = %U, want %U", e.Rune, tt.r)
			}
			if e.RuneName != tt.runeName {
				t.Errorf("RuneName = %q, want %q", e.RuneName, tt.runeName)
			}
			if err.Error() != tt.msg {
				t.Errorf("message:\n got %q\nwant %q", err.Error(), tt.msg)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{SHA1: "SHA-1", SHA256: "SHA-256", 0: "Kind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, in := range []string{sha1Lower, sha256Lower} {
		tp, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		s := tp.String()
		if s != strings.ToUpper(in) {
			t.Errorf("String() = %q, want uppercase %q", s, strings.ToUpper(in))
		}
		back, err := Parse(s)
		if err != nil || back != tp {
			t.Errorf("Parse(String()) = %+v, %v; want %+v", back, err, tp)
		}
	}
	if s := (Thumbprint{}).String(); s != "" {
		t.Errorf("zero Thumbprint String() = %q, want empty", s)
	}
}

// TestMatchesAgainstOpenSSL checks the hashes against what the real openssl
// prints as the certificate's fingerprints, so an error in which bytes are
// hashed (or which hash) cannot hide behind a self-consistent test.
func TestMatchesAgainstOpenSSL(t *testing.T) {
	openssl := testpki.OpenSSL(t)
	c := testpki.SelfSigned(t, testpki.Options{CommonName: "thumb", KeyType: testpki.ECDSAP256,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	other := testpki.SelfSigned(t, testpki.Options{CommonName: "other", KeyType: testpki.ECDSAP256})
	path := filepath.Join(t.TempDir(), "c.der")
	if err := os.WriteFile(path, c.DER, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		alg  string
		kind Kind
		own  func([]byte) string
	}{{"-sha1", SHA1, SHA1Hex}, {"-sha256", SHA256, SHA256Hex}} {
		out, err := exec.Command(openssl, "x509", "-inform", "DER", "-in", path, "-noout", "-fingerprint", tc.alg).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl: %v\n%s", err, out)
		}
		// e.g. "sha1 Fingerprint=9F:1C:..." — the form users paste.
		_, fp, ok := strings.Cut(strings.TrimSpace(string(out)), "=")
		if !ok {
			t.Fatalf("unexpected openssl output %q", out)
		}
		tp, err := Parse(fp)
		if err != nil {
			t.Fatalf("Parse(openssl fingerprint %q): %v", fp, err)
		}
		if tp.Kind != tc.kind {
			t.Errorf("kind = %v, want %v", tp.Kind, tc.kind)
		}
		if got := tc.own(c.DER); got != tp.Hex {
			t.Errorf("%s hash = %s, openssl says %s", tc.alg, got, tp.Hex)
		}
		if !tp.Matches(c.DER) || !tp.MatchesCertificate(c.Cert) {
			t.Errorf("%s thumbprint does not match its certificate", tc.alg)
		}
		if tp.Matches(other.DER) || tp.MatchesCertificate(other.Cert) || tp.MatchesCertificate(nil) {
			t.Errorf("%s thumbprint matches a different certificate", tc.alg)
		}
	}

	// The SHA-1 digits must not match when read as something else: a
	// thumbprint only matches with its own hash.
	wrongKind := Thumbprint{Hex: SHA1Hex(c.DER), Kind: SHA256}
	if wrongKind.Matches(c.DER) {
		t.Error("SHA-1 digits labelled SHA256 matched")
	}
	if (Thumbprint{}).Matches(c.DER) {
		t.Error("zero Thumbprint matched")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", sha1Lower, sha256Lower, "\u200e" + sha1Lower, "9F:1C", " : ", "\xff", "g", strings.ToUpper(sha256Lower),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T, want *Error", err)
			}
			if e.Reason == BadCharacter || e.Reason == BadByte {
				if e.Position < 1 || e.Position > len([]rune(s)) {
					t.Fatalf("position %d outside input of %d runes", e.Position, len([]rune(s)))
				}
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			if !tp.IsZero() {
				t.Fatalf("non-zero result %+v with error", tp)
			}
			return
		}
		want := map[Kind]int{SHA1: SHA1Digits, SHA256: SHA256Digits}[tp.Kind]
		if want == 0 || len(tp.Hex) != want || strings.ToLower(tp.Hex) != tp.Hex {
			t.Fatalf("bad result %+v", tp)
		}
		back, err := Parse(tp.String())
		if err != nil || back != tp {
			t.Fatalf("round trip: Parse(%q) = %+v, %v; want %+v", tp.String(), back, err, tp)
		}
		// Separators are the only thing that may be dropped.
		stripped := strings.NewReplacer(" ", "", ":", "").Replace(s)
		if strings.ToLower(stripped) != tp.Hex {
			t.Fatalf("Parse(%q).Hex = %q, want %q", s, tp.Hex, strings.ToLower(stripped))
		}
	})
}
