//go:build !amd64 || purego

package aescbc

import "crypto/cipher"

// newAsmKey reports that there is no assembly path here.
func newAsmKey([]byte) func(iv []byte) cipher.BlockMode { return nil }
