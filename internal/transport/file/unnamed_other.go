//go:build !linux

package file

import (
	"errors"
	"os"
)

// Unnamed temporary files (O_TMPFILE) are Linux's: elsewhere attempts write
// named partial files.
func unnamedFiles() bool { return false }

var errNoUnnamed = errors.New("no unnamed temporary files here")

func openUnnamed(string) (*os.File, error) { return nil, errNoUnnamed }
func linkUnnamed(*os.File, string) error   { return errNoUnnamed }
