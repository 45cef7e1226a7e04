package runner_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRuntimeDoesNotImportFrontEnd: the runner and the components it runs
// get compiled filters and templates and typed configurations; the
// configuration language (HCL parsing and evaluation) stays out of them, so
// that it can change without touching the runtime.
func TestRuntimeDoesNotImportFrontEnd(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/bizpipe/bizpipe/internal/runner").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/bizpipe/bizpipe/internal/config/lang" {
			t.Errorf("internal/runner depends on %s", pkg)
		}
	}
}
