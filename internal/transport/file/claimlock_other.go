//go:build !unix

package file

import "io/fs"

// lockClaim: claims are not locked here. Windows cannot remove a file
// that is open (removeOpen), so a lock would end before its claim does.
func lockClaim(inputFile, string, fs.FileInfo) error { return nil }

// removeOpen: Windows refuses to remove a file open without sharing for
// deletion, as inputs are: a claim is closed before it is removed.
const removeOpen = false
