package fsop

import (
	"fmt"
	"os"
)

// Unlinked is a temporary file whose name is removed as soon as it is
// created, so that what it holds (a spooled body, decrypted content) goes
// with its last descriptor, even if the process dies. Where the system
// refuses to remove an open file (Windows), the name is kept and removed
// by Close.
type Unlinked struct {
	*os.File
	name string // still to remove at Close; "" once unlinked
}

// CreateUnlinked creates an Unlinked file in dir (os.TempDir() when ""),
// named after pattern as os.CreateTemp names it.
func CreateUnlinked(dir, pattern string) (*Unlinked, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("creating a spool file: %w", err)
	}
	u := &Unlinked{File: f}
	if err := os.Remove(f.Name()); err != nil {
		u.name = f.Name()
	}
	return u, nil
}

// Close closes the file and removes its name if it could not be removed
// at creation.
func (u *Unlinked) Close() error {
	err := u.File.Close()
	if u.name != "" {
		_ = os.Remove(u.name)
		u.name = ""
	}
	return err
}
