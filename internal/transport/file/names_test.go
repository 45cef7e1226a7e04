package file

import "testing"

// TestWindowsNameRules: on Windows a delivered file's name must be one
// Windows keeps as given, in the output directory. Before, "x.." was
// written to "x" (another delivery's file), "NUL.xml" to the null device
// (reported delivered, data gone) and "a.xml:b" to a stream of a.xml (as
// seen under Wine). Elsewhere these names stay accepted.
func TestWindowsNameRules(t *testing.T) {
	bad := []string{
		"x..", "x.", "x ", "report.csv. ", "...",
		"NUL", "nul.xml", "Con", "con.tar.gz", "AUX.edi", "PRN", "NUL .xml",
		"COM1", "com9.txt", "LPT1", "lpt0.x", "COM¹", "CONIN$", "conout$.txt",
		"a.xml:b", "C:x", "a<b", "a>b", `a"b`, "a|b", "a?b", "a*b",
	}
	for _, name := range bad {
		if r := nameProblem(name, true); r == "" {
			t.Errorf("%q: accepted on Windows", name)
		}
		if r := nameProblem(name, false); r != "" {
			t.Errorf("%q: refused elsewhere: %s", name, r)
		}
	}
	good := []string{
		"a", "..x", ".hidden", "order 1 (copy).eml", "commande-été.xml",
		"2024-01-02T03-04-05Z.edi", "CONSOLE.txt", "nul_report.xml", "null.xml",
		"COM10", "LPT", "com.txt", "auxiliary.edi", "x.y.z", " leading space",
	}
	for _, name := range good {
		if r := nameProblem(name, true); r != "" {
			t.Errorf("%q: refused on Windows: %s", name, r)
		}
	}
}
