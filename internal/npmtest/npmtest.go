// Package npmtest installs the pinned npm dependencies of a test's Node.js
// program (an independent implementation the tests run against bizpipe:
// libas2 as an AS2 partner, vscode-jsonrpc as a language client). Node.js
// and npm are required: when either is missing the test fails, it does not
// skip.
package npmtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Tool returns the path of a required program or fails the test, saying
// what needs it.
func Tool(t testing.TB, name, neededBy string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("npmtest: %s is not installed; it is needed for %s (.ci/run installs Node.js and npm: apt-get install nodejs npm)", name, neededBy)
	}
	return p
}

// Install returns a directory whose node_modules holds the dependencies
// that src's package.json and package-lock.json pin, running "npm ci" into
// the user cache directory (keyed by the two files' hash) when marker, a
// path under node_modules, is missing there. neededBy names the test
// program in errors.
func Install(t testing.TB, src, marker, neededBy string) string {
	t.Helper()
	Tool(t, "node", neededBy)
	npm := Tool(t, "npm", neededBy)
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		t.Fatalf("npmtest: %v", err)
	}
	pkg, err := os.ReadFile(filepath.Join(src, "package.json"))
	if err != nil {
		t.Fatalf("npmtest: %v", err)
	}
	sum := sha256.Sum256(append(append([]byte{}, pkg...), lock...))
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "bizpipe", "npm", hex.EncodeToString(sum[:8]))
	installed := filepath.Join(dir, "node_modules", marker)
	if _, err := os.Stat(installed); err == nil {
		return dir
	}
	// Install into a fresh directory and rename it into place, so that
	// concurrent test binaries never see a half-installed tree.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatalf("npmtest: %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		t.Fatalf("npmtest: %v", err)
	}
	defer os.RemoveAll(tmp)
	for name, data := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			t.Fatalf("npmtest: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npmtest: npm ci for %s failed: %v\n%s", neededBy, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(installed); serr != nil {
			t.Fatalf("npmtest: %v", err)
		}
	}
	return dir
}
