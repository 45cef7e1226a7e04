//go:build unix

package lang

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/testfs"
)

// loadDirWithin finds and loads dir (with overlay), failing the test if
// that does not return promptly: a FIFO must never be waited on.
func loadDirWithin(t *testing.T, dir string, overlay map[string][]byte) hcl.Diagnostics {
	t.Helper()
	done := make(chan hcl.Diagnostics, 1)
	go func() {
		files, err := FindFilesOverlay([]string{dir}, overlay)
		if err != nil {
			done <- hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "FindFiles: " + err.Error()}}
			return
		}
		_, diags := Load(files, Options{LookupEnv: noEnv, Overlay: overlay})
		done <- diags
	}()
	select {
	case d := <-done:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("finding and loading the directory hangs")
		return nil
	}
}

// unreadable returns the BP1000 "Cannot read configuration file" details,
// by file base name; a detail of a diagnostic that is not about the file
// it names (diag.FileOf) is marked so.
func unreadable(diags hcl.Diagnostics) map[string]string {
	out := map[string]string{}
	for _, d := range diags {
		if d.Summary == "Cannot read configuration file" && diag.CodeOf(d) == diag.CodeSyntax && d.Severity == hcl.DiagError {
			name := strings.TrimSuffix(strings.Fields(d.Detail)[1], ":")
			// The reports name the file (diag.FileOf) although the
			// diagnostic has no position in it.
			if diag.FileOf(d) != name {
				out[filepath.Base(name)] = "not about the file: " + d.Detail
				continue
			}
			out[filepath.Base(name)] = d.Detail
		}
	}
	return out
}

// TestUnusableConfigFiles: every entry of a configuration directory with a
// configuration file's name that is not a regular file (a dangling link, a
// link loop, a FIFO, a device, a directory) is BP1000 naming the file and
// why, instead of being left out while the rest validates; a link to a
// regular file is read. Nothing waits on the FIFO.
func TestUnusableConfigFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "config")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		if err := os.Symlink(target, at(name)); err != nil {
			t.Fatal(err)
		}
	}
	write(at("group.hcl"), `group "g" {}`)
	write(filepath.Join(root, "real.hcl"), `server "srv" {}`)
	link(filepath.Join(root, "real.hcl"), "linked.hcl")
	link(filepath.Join(root, "gone.hcl"), "dangling.hcl")
	link(at("loop-b.hcl"), "loop-a.hcl")
	link(at("loop-a.hcl"), "loop-b.hcl")
	testfs.MakeFIFO(t, at("fifo.hcl"))
	if err := os.Mkdir(at("dir.hcl"), 0o755); err != nil {
		t.Fatal(err)
	}
	link("/dev/null", "null.hcl.json")

	diags := loadDirWithin(t, dir, nil)
	got := unreadable(diags)
	want := map[string]string{
		"dangling.hcl":  `a dangling symbolic link: its target "` + filepath.Join(root, "gone.hcl") + `" does not exist`,
		"loop-a.hcl":    "a symbolic link loop",
		"loop-b.hcl":    "a symbolic link loop",
		"fifo.hcl":      "a named pipe (FIFO), not a regular file",
		"dir.hcl":       "a directory, not a regular file",
		"null.hcl.json": "a character device, not a regular file",
	}
	for name, reason := range want {
		if d := got[name]; !strings.Contains(d, at(name)) || !strings.Contains(d, reason) {
			t.Errorf("%s: diagnostic %q, want BP1000 naming the file and %q", name, d, reason)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unreadable files %v, want exactly %d", got, len(want))
	}
	for _, d := range diags {
		if strings.Contains(d.Error(), "linked.hcl") || strings.Contains(d.Error(), "group.hcl") {
			t.Errorf("a regular file or a link to one is refused: %v", d)
		}
	}

	// The language server's unsaved buffers: one stands in for a dangling
	// link (saving creates its target), not for a FIFO (saving to it
	// leaves a FIFO).
	overlay := map[string][]byte{at("dangling.hcl"): []byte(`server "s2" {}`), at("fifo.hcl"): []byte(`server "s3" {}`)}
	got = unreadable(loadDirWithin(t, dir, overlay))
	if _, ok := got["dangling.hcl"]; ok {
		t.Errorf("the unsaved text of a dangling link is refused: %v", got["dangling.hcl"])
	}
	if !strings.Contains(got["fifo.hcl"], "named pipe") {
		t.Errorf("an unsaved text stands in for a FIFO: %q", got["fifo.hcl"])
	}
}

// TestReadConfigFileStream: a pipe named directly under another name than a
// configuration file's (a shell's <(...)) is still read as a stream.
func TestReadConfigFileStream(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.WriteString(`group "g" {}`)
		w.Close()
	}()
	// /dev/fd/N is how a shell names a process substitution.
	b, err := ReadConfigFile("/dev/fd/" + strconv.Itoa(int(r.Fd())))
	if err != nil || string(b) != `group "g" {}` {
		t.Fatalf("ReadConfigFile(pipe) = %q, %v", b, err)
	}
}
