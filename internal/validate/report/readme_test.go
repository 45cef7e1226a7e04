package report

import (
	"os"
	"strings"
	"testing"
)

// TestREADMERules checks that the README's table of diagnostic codes is the
// one this package generates, so documentation and SARIF rules never drift.
func TestREADMERules(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteRulesMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), b.String()) {
		t.Errorf("README.md's diagnostic code table differs from WriteRulesMarkdown; regenerate it between the rules:begin and rules:end markers:\n%s", b.String())
	}
}
