package msgbox

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ChunkFetcher reads chunk seq (0, 1, ...) of a stored body, appending it to
// buf[:0] so that one chunk-sized buffer serves the whole read. It returns an
// empty slice and no error when the chunk does not exist, and an error
// wrapping ErrNotFound when the message does not exist any more (it was
// purged while its body was being read): the one is a corrupt body, the
// other a message gone, and the reader tells the caller which.
type ChunkFetcher func(seq int64, buf []byte) ([]byte, error)

// ReadChunk fills buf from r, as a box reads a body to store it chunk by
// chunk. last reports that r is exhausted: n may then be less than
// len(buf), or 0.
func ReadChunk(r io.Reader, buf []byte) (n int, last bool, err error) {
	n, err = io.ReadFull(r, buf)
	switch {
	case err == nil:
		return n, false, nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return n, true, nil
	default:
		return n, false, err
	}
}

// ChunkReader streams a body that a box stores in numbered chunks, one chunk
// in memory at a time. At the end it checks the size and SHA-256 recorded at
// Receive, and fails rather than hand over a body that is not byte for byte
// the one received. Both boxes use it, so they detect corruption alike.
type ChunkReader struct {
	fetch ChunkFetcher
	wrap  func(error) error
	size  int64
	want  []byte

	seq  int64  // next chunk to fetch
	buf  []byte // the current chunk, reused for the next
	cur  []byte // rest of the current chunk, in buf
	read int64
	sum  hash.Hash
	err  error // sticky: io.EOF or the failure
}

// NewChunkReader reads a body of size bytes whose checksum is sum (see
// NewChecksum; a 32-byte sum is a SHA-256). wrap adds
// the box's context (database, message id) to errors.
func NewChunkReader(size int64, sum []byte, fetch ChunkFetcher, wrap func(error) error) *ChunkReader {
	return &ChunkReader{fetch: fetch, wrap: wrap, size: size, want: sum, sum: checksumFor(sum)}
}

// Read implements io.Reader.
func (r *ChunkReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.cur) == 0 {
		if r.read == r.size {
			if !bytes.Equal(r.sum.Sum(nil), r.want) {
				r.err = r.wrap(fmt.Errorf("checksum mismatch: %w", ErrCorrupt))
				return 0, r.err
			}
			r.err = io.EOF
			return 0, io.EOF
		}
		data, err := r.fetch(r.seq, r.buf)
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("the message was purged while its body was being read, after %d of %d bytes: %w",
				r.read, r.size, err)
		} else if err == nil && len(data) == 0 {
			err = fmt.Errorf("chunk %d missing or empty after %d of %d bytes: %w", r.seq, r.read, r.size, ErrCorrupt)
		}
		if err != nil {
			r.err = r.wrap(err)
			return 0, r.err
		}
		r.buf, r.cur = data, data
		r.seq++
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.read += int64(n)
	if r.read > r.size {
		r.err = r.wrap(fmt.Errorf("longer than its recorded %d bytes: %w", r.size, ErrCorrupt))
		return 0, r.err
	}
	r.sum.Write(p[:n])
	return n, nil
}

// Close ends the reading; later Reads fail.
func (r *ChunkReader) Close() error {
	if r.err == nil || r.err == io.EOF {
		r.err = errors.New("read of closed body")
	}
	r.cur, r.buf = nil, nil
	return nil
}

// ReadUpTo reads r to its end, or until it has more than limit bytes, and
// returns what it read: all of r when len(data) <= limit. It starts small
// and grows as needed, so that a small body costs a small buffer, not a
// chunk-sized one (a batch holds many bodies at once, and a chunk-sized
// buffer per batch would be garbage for the collector to chase). A
// reader that tells its size (a FileBody) gets a buffer of that size and
// one byte more, to see the end without growing.
func ReadUpTo(r io.Reader, limit int) (data []byte, err error) {
	size := min(8<<10, limit+1)
	if s, ok := r.(interface{ Size() int64 }); ok && s.Size() >= 0 && s.Size() < int64(limit) {
		size = int(s.Size()) + 1
	}
	data = make([]byte, 0, size)
	for {
		if len(data) == cap(data) {
			if len(data) > limit {
				return data, nil
			}
			grown := make([]byte, len(data), min(2*cap(data), limit+1))
			copy(grown, data)
			data = grown
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		switch {
		case err == io.EOF:
			return data, nil
		case err != nil:
			return data, err
		}
	}
}
