package fsop

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// ErrTooLarge is wrapped by ReadRegular's error for a file above its limit.
var ErrTooLarge = errors.New("file too large")

// ReadRegular reads the regular file at path (symbolic links followed),
// refusing anything else (a FIFO, a device, a directory) without waiting
// on it, and a file above limit bytes: a file a configuration names (a TLS
// certificate, a key) must not hang a command or exhaust its memory. The
// errors are *fs.PathError naming path.
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, err := OpenNoWait(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("a %s, not a regular file", TypeName(info.Mode()))}
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: larger than %d bytes", ErrTooLarge, limit)}
	}
	return b, nil
}
