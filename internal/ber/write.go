package ber

import (
	"fmt"
	"io"
)

// EOC is the end-of-contents octets closing one indefinite-length element.
var EOC = []byte{0, 0}

// AppendLength appends the DER definite length n.
func AppendLength(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	var tmp [8]byte
	i := len(tmp)
	for ; n > 0; n >>= 8 {
		i--
		tmp[i] = byte(n)
	}
	dst = append(dst, 0x80|byte(len(tmp)-i))
	return append(dst, tmp[i:]...)
}

// AppendTLV appends a definite-length element with the one-octet tag.
func AppendTLV(dst []byte, tag byte, body ...[]byte) []byte {
	n := 0
	for _, b := range body {
		n += len(b)
	}
	dst = AppendLength(append(dst, tag), n)
	for _, b := range body {
		dst = append(dst, b...)
	}
	return dst
}

// AppendIndefinite appends the header of an indefinite-length element with
// the one-octet (constructed) tag; EOC closes it.
func AppendIndefinite(dst []byte, tag byte) []byte { return append(dst, tag, 0x80) }

// DefaultChunk is the content size of one OCTET STRING chunk: large
// enough that the 4-octet headers cost nothing, small enough to be a
// negligible buffer.
const DefaultChunk = 16 << 10

// ChunkWriter cuts what is written to it into primitive OCTET STRINGs
// (tag 04) of Size octets, each written to Dst whole; Flush writes the
// last, shorter one. The caller writes the constructed header before and
// the EOC after. A ChunkWriter is not safe for concurrent use.
type ChunkWriter struct {
	dst io.Writer
	buf []byte // header room + pending content
}

// chunkHeader is the room kept in front of the content: 04 83 xx xx xx.
const chunkHeader = 5

// NewChunkWriter returns a ChunkWriter of chunks of size octets (at most
// 16 MiB) that writes to dst.
func NewChunkWriter(dst io.Writer, size int) *ChunkWriter {
	if size <= 0 || size >= 1<<24 {
		panic(fmt.Sprintf("ber: chunk size %d out of range", size))
	}
	return &ChunkWriter{dst: dst, buf: make([]byte, chunkHeader, chunkHeader+size)}
}

// Write buffers p and writes every chunk that fills up.
func (c *ChunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf = c.buf[:len(c.buf)+k]
		p = p[k:]
		n += k
		if len(c.buf) == cap(c.buf) {
			if err := c.Flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Flush writes the pending content, if any, as one chunk.
func (c *ChunkWriter) Flush() error {
	n := len(c.buf) - chunkHeader
	if n == 0 {
		return nil
	}
	// The header is written right-aligned into the room before the content
	// so the chunk goes out in one Write.
	var h []byte
	switch {
	case n < 0x80:
		h = []byte{0x04, byte(n)}
	case n < 0x100:
		h = []byte{0x04, 0x81, byte(n)}
	case n < 0x10000:
		h = []byte{0x04, 0x82, byte(n >> 8), byte(n)}
	default:
		h = []byte{0x04, 0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	start := chunkHeader - len(h)
	copy(c.buf[start:], h)
	_, err := c.dst.Write(c.buf[start:])
	c.buf = c.buf[:chunkHeader]
	return err
}
