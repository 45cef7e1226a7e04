package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFmtReadOnlyFile: a file its owner made read-only (chmod a-w) is not
// rewritten by fmt run as that owner, who may write to the directory: fmt
// replaces a file by a rename, which the directory allows, but the file
// says it is not to be changed (terraform fmt and gofmt -w, which write in
// place, fail there too). fmt says so (exit 2) and formats the others.
// Run as root, the test runs fmt as nobody.
func TestFmtReadOnlyFile(t *testing.T) {
	as := runAsUser(t)
	base := reachableTempDir(t)
	bin := filepath.Join(base, "bin", "bizpipe")
	copyExecutable(t, bin)
	cfg := filepath.Join(base, "cfg")
	mkdirMode(t, cfg, 0o755)
	const messy = "server \"s\"   {}\n"
	ro, rw := filepath.Join(cfg, "ro.hcl"), filepath.Join(cfg, "rw.hcl")
	writeMode(t, ro, 0o444, []byte(messy))
	writeMode(t, rw, 0o644, []byte(messy))
	if os.Geteuid() == 0 {
		uid, _ := strconv.Atoi(as.Uid)
		gid, _ := strconv.Atoi(as.Gid)
		for _, p := range []string{cfg, ro, rw} {
			if err := os.Lchown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	code, stdout, stderr := runBizpipeAs(t, as, base, bin, nil, "fmt", "cfg")
	if code != exitUsage || !strings.Contains(stderr, "ro.hcl") || !strings.Contains(stdout, "rw.hcl") {
		t.Errorf("fmt: exit %d, stdout %q, stderr %q; want %d, rw.hcl formatted and ro.hcl refused", code, stdout, stderr, exitUsage)
	}
	if got, _ := os.ReadFile(ro); string(got) != messy {
		t.Errorf("the read-only file was rewritten: %q", got)
	}
	if got, _ := os.ReadFile(rw); string(got) != "server \"s\" {}\n" {
		t.Errorf("rw.hcl = %q, want it formatted", got)
	}
}
