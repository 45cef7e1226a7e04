package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// lookupIn is a lookupEnv over vars.
func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// TestNoColorOffTerminal: a writer that is not a terminal never gets colour,
// whatever the environment says.
func TestNoColorOffTerminal(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()

	writers := []struct {
		name string
		w    io.Writer
	}{
		{"buffer", &bytes.Buffer{}},
		{"pipe", pw},
		{"file", file},
		{"/dev/null", devNull},
	}
	envs := []map[string]string{
		{},
		{"TERM": "xterm-256color"},
		{"TERM": "xterm-256color", "CLICOLOR_FORCE": "1", "FORCE_COLOR": "1"},
	}
	for _, w := range writers {
		for _, vars := range envs {
			if wantsColor(w.w, lookupIn(vars)) {
				t.Errorf("%s with environment %v: colour on a non-terminal", w.name, vars)
			}
		}
	}
}
