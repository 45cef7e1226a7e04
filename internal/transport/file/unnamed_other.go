//go:build !linux

package file

import "errors"

// Unnamed temporary files (O_TMPFILE) are Linux's: elsewhere attempts write
// named partial files.
func unnamedFiles() bool { return false }

var errNoUnnamed = errors.New("no unnamed temporary files here")

func openUnnamed(string) (attemptFile, error) { return nil, errNoUnnamed }
func linkUnnamed(attemptFile, string) error   { return errNoUnnamed }
