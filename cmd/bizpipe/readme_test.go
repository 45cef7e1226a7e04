package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestREADMEValidateOutput checks that the validate output the README shows
// for examples/misconfigured is what bizpipe prints today.
func TestREADMEValidateOutput(t *testing.T) {
	t.Chdir("../..")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const prompt = "$ go run ./cmd/bizpipe validate examples/misconfigured\n"
	i := bytes.Index(readme, []byte(prompt))
	if i < 0 {
		t.Fatalf("README.md has no %q block", strings.TrimSpace(prompt))
	}
	rest := readme[i+len(prompt):]
	end := bytes.Index(rest, []byte("```"))
	if end < 0 {
		t.Fatal("README.md: unterminated code block after the validate prompt")
	}
	want := string(rest[:end])
	var stdout, stderr bytes.Buffer
	code := run([]string{"validate", "examples/misconfigured"}, &stdout, &stderr, func(string) (string, bool) { return "", false })
	if code != exitFindings {
		t.Errorf("exit code %d, want %d", code, exitFindings)
	}
	if stdout.String() != want {
		t.Errorf("README.md shows a different validate output; replace it with:\n%s", stdout.String())
	}
}
