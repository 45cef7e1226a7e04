// Package aescbc is AES-CBC encryption with a faster amd64 path.
//
// Go's crypto/cipher has assembly for CBC decryption but not for CBC
// encryption on amd64: it calls the AES block function once per 16-byte
// block. CBC encryption is serial (each block needs the previous
// ciphertext), so the gain comes from one tight AES-NI loop that keeps all
// round keys in registers. Where that loop is not available (other
// architectures, no AES-NI, the purego build tag) the encrypter is the
// standard library's. Either way the result behaves exactly like
// cipher.NewCBCEncrypter(aes.NewCipher(key), iv).
//
// Only encryption is here: decryption is parallel and crypto/cipher
// already has assembly for it.
package aescbc

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// BlockSize is the AES block size, which is also the IV size.
const BlockSize = aes.BlockSize

// Key is an AES key prepared for CBC encryption. It makes any number of
// encrypters, each with its own IV and chaining state; it is not modified
// by them, so it may be shared between goroutines.
type Key struct {
	newMode func(iv []byte) cipher.BlockMode
}

// NewKey prepares key (16, 24 or 32 bytes: AES-128, -192 or -256) for CBC
// encryption. key is not retained.
func NewKey(key []byte) (*Key, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, aes.KeySizeError(len(key))
	}
	if m := newAsmKey(key); m != nil {
		return &Key{newMode: m}, nil
	}
	return newGenericKey(key)
}

// newGenericKey is the fallback: the standard library's AES and CBC.
func newGenericKey(key []byte) (*Key, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &Key{newMode: func(iv []byte) cipher.BlockMode { return cipher.NewCBCEncrypter(b, iv) }}, nil
}

// NewEncrypter returns a CBC encrypter with the given IV (BlockSize
// bytes, copied). Like the standard library's, its CryptBlocks panics if
// src is not a whole number of blocks, if dst is shorter than src or if
// dst and src overlap other than exactly; the chaining state carries over
// from one call to the next.
func (k *Key) NewEncrypter(iv []byte) (cipher.BlockMode, error) {
	if len(iv) != BlockSize {
		return nil, fmt.Errorf("aescbc: IV is %d bytes, must be %d", len(iv), BlockSize)
	}
	return k.newMode(iv), nil
}

// NewEncrypter returns an AES-CBC encrypter for key (16, 24 or 32 bytes)
// and iv (BlockSize bytes). It is NewKey followed by Key.NewEncrypter.
func NewEncrypter(key, iv []byte) (cipher.BlockMode, error) {
	k, err := NewKey(key)
	if err != nil {
		return nil, err
	}
	return k.NewEncrypter(iv)
}
