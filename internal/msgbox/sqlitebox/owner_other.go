//go:build !unix

package sqlitebox

// fileOwner is a no-op where files have no Unix owner (see owner_unix.go).
type fileOwner struct{}

func ownerOf(string) fileOwner { return fileOwner{} }

func (fileOwner) give(string) error { return nil }
