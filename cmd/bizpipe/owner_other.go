//go:build !unix

package main

import "os"

// keepOwner does nothing where files have no Unix owner and group: a file
// replaced keeps its mode only.
func keepOwner(*os.File, os.FileInfo) error { return nil }

// checkWritable does nothing where a rename cannot replace a read-only
// file anyway.
func checkWritable(string) error { return nil }
