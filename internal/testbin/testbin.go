// Package testbin builds the bizpipe binary for tests that run it as a
// child process, as users and editors do.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Main builds bizpipe into a temporary directory, runs the tests with its
// path in *bin, removes the directory and returns the exit code for
// os.Exit: what a TestMain of such tests does.
func Main(bin *string, run func() int) int {
	dir, err := os.MkdirTemp("", "bizpipe-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "bizpipe")
	build := exec.Command("go", "build", "-o", *bin, "github.com/bizpipe/bizpipe/cmd/bizpipe")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bizpipe:", err)
		return 1
	}
	return run()
}
