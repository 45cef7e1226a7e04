package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// Opening an input.
//
// Whoever can write to a receive directory can replace a file between the
// listing that judged it settled and the open that reads it: rename(2) a
// symbolic link over it (to /etc/shadow, to a PKCS#12 store the service
// account reads), or a FIFO (whose open waits for a writer, forever), or a
// file still being written. The claim's rename moves whatever is there at
// that instant, and a claim name can be swapped too. So an input is opened
// without following a link and without blocking (openNoFollow), and the
// opened descriptor must be a regular file, the very one the listing saw
// (same device and inode): anything else is refused, never read.

// errRefused matches (errors.Is) every refusal; errReplaced those of a
// regular file that is not the one listed.
var (
	errRefused  = errors.New("refused")
	errReplaced = errors.New("replaced since it was listed")
)

// errNotAsListed: a name no longer holds what the listing saw there
// (identify); the next pass looks again.
var errNotAsListed = errors.New("changed since it was listed")

// refusedError is an input that was not read: not a regular file, or not
// the file that was listed.
type refusedError struct {
	reason   string
	replaced bool
}

func refusal(reason string) error     { return &refusedError{reason: reason} }
func (e *refusedError) Error() string { return "refused: " + e.reason }
func (e *refusedError) Is(err error) bool {
	return err == errRefused || e.replaced && err == errReplaced
}

// refusedReason is the reason of a refusal in err's chain, or "".
func refusedReason(err error) string {
	var r *refusedError
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

// notRegular is the refusal of an input of the given mode.
func notRegular(m fs.FileMode) error {
	return refusal("not a regular file but a " + fsop.TypeName(m))
}

// hardLinked is the refusal of an input with more than one name. Whoever
// can write to the directory may link a file they cannot read into it (a
// key, a password file, another location's input): its content is not
// theirs to submit. Reading only files with one name refuses that, at the
// cost of producers that link a file in place of renaming it.
func hardLinked(n uint64) error {
	return refusal(fmt.Sprintf("a hard link: the file has %d names, and another may be a file this location must not read", n))
}

// hardLinkRefusal is the refusal (hardLinked) of the file info describes
// if it has more than one name; nil if it has one, or where the platform
// does not say (linkCount).
func hardLinkRefusal(info fs.FileInfo) error {
	if n, ok := linkCount(info); ok && n > 1 {
		return hardLinked(n)
	}
	return nil
}

// inputFile is an opened input: an *os.File, or on Linux a rawFile.
type inputFile interface {
	io.ReadCloser
	Name() string
	Stat() (fs.FileInfo, error)
}

// copySource is f as io.Copy's kernel copy takes a source: an *os.File
// (see rawFile.asOS).
func copySource(f inputFile) io.Reader {
	if r, ok := f.(interface{ asOS() *os.File }); ok {
		if osf := r.asOS(); osf != nil {
			return osf
		}
	}
	return f
}

// openInput opens the input at path, which a listing saw as seen, for
// reading. It refuses (errRefused) a symbolic link, anything else that is
// not a regular file, a file other than seen, and, when single is set (a
// new file, not a claim this owner made earlier, which a message box may
// have linked while keeping it), a file with more than one name; a FIFO
// does not block it. It locks the claim (lockClaim) while the file is
// open, and fails with errHeld when another process has. info is the
// opened descriptor's own stat, for the caller's further checks (a file
// swapped in since cannot lend its own).
func openInput(open func(string) (inputFile, error), path string, seen fs.FileInfo, single bool) (file inputFile, info fs.FileInfo, err error) {
	file, err = open(path)
	if err != nil {
		return nil, nil, err
	}
	info, err = file.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("checking %s: %w", path, err)
	case !info.Mode().IsRegular():
		err = notRegular(info.Mode())
	case !sameFile(seen, info):
		err = &refusedError{reason: errReplaced.Error(), replaced: true}
	case single:
		err = hardLinkRefusal(info)
	}
	if err == nil {
		err = lockClaim(file, path, info)
	}
	if err != nil {
		file.Close() // read-only, nothing read: nothing to lose
		return nil, nil, err
	}
	return file, info, nil
}

// inputError marks a failure of the input itself (it could not be opened
// or read), as opposed to the sink's.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// isInputError reports whether err is a failure of the input itself.
func isInputError(err error) bool {
	var ie *inputError
	return errors.As(err, &ie)
}

// inputCopyChunk is how much WriteTo copies between two looks at the
// context.
const inputCopyChunk = 1 << 20

// inputReader is the body given to the sink: an opened input (a regular
// file: its reads never wait for a peer), read only while ctx is not done,
// so that a caller that gives up (a cancelled Poll) ends the read between
// two reads with ctx's error. (Run gives the sink a context that is never
// cancelled: a stopping server finishes the file in flight.) err keeps the
// file's own read error, to tell it from the sink's.
type inputReader struct {
	ctx  context.Context
	file inputFile
	err  error
	// seen is the file as the listing found it (nil: not known), read
	// what was read of it. A file whose size or modification time at the
	// end differ from seen changed while it was read (a producer that
	// still writes): what was read is not the file, and is refused.
	seen fs.FileInfo
	read int64
	// unreadable, when set, is returned by the first read, and the file
	// is neither read nor kept: a claim made before a restart or taken
	// over that has several names is published only if the box has it
	// already (a duplicate is found before the body is read); otherwise
	// it may be a link to a file this location must not read.
	unreadable error
	// linking, when set (by tests), runs in LinkTo once the lease is
	// held, before the link is made.
	linking func()
}

// errChanged: the input changed while it was read.
var errChanged = errors.New("the file changed while it was read")

func (r *inputReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.unreadable != nil {
		r.err = r.unreadable
		return 0, r.unreadable
	}
	if r.seen != nil && r.read >= r.seen.Size() {
		// All that was listed is read: the end, unless the file grew,
		// which unchanged's fstat tells as well as a read(2) that finds
		// EOF would (and one that shrank met EOF before this).
		if err := r.unchanged(); err != nil {
			r.err = err
			return 0, err
		}
		return 0, io.EOF
	}
	n, err := r.file.Read(p)
	r.read += int64(n)
	switch {
	case err == io.EOF:
		if cerr := r.unchanged(); cerr != nil {
			r.err = cerr
			return n, cerr
		}
	case err != nil:
		r.err = err
	}
	return n, err
}

// unchanged checks, at the end of the file, that it is still as listed.
func (r *inputReader) unchanged() error {
	if r.seen == nil {
		return nil
	}
	now, err := r.file.Stat()
	if err != nil {
		return err
	}
	if now.Size() != r.read || r.seen.Size() != r.read || !now.ModTime().Equal(r.seen.ModTime()) {
		return fmt.Errorf("%w: %d bytes when listed, %d read, %d now", errChanged, r.seen.Size(), r.read, now.Size())
	}
	return nil
}

// WriteTo keeps the kernel copy a plain *os.File offers: io.Copy into a
// file calls it, and each chunk's io.CopyN goes to the destination's
// ReadFrom with the file itself as source (copy_file_range on Linux). A
// rawFile becomes an *os.File for it (copySource) when the input is
// kernelCopyMin or more, or of unknown size: a smaller one takes fewer
// read(2) calls than the conversion costs system calls.
func (r *inputReader) WriteTo(w io.Writer) (int64, error) {
	if r.unreadable != nil {
		r.err = r.unreadable
		return 0, r.unreadable
	}
	// The file's own read errors are kept in r.err, as Read keeps them, to
	// tell them from the sink's: through a reader that records them, or,
	// for the kernel copy, where one error stands for both ends, by a read
	// of the file where the copy stopped (see sourceFailed).
	var src io.Reader = recordingReader{r}
	var kernel *os.File
	if size := r.Size(); size < 0 || size-r.read >= kernelCopyMin {
		if osf, ok := copySource(r.file).(*os.File); ok {
			src, kernel = osf, osf
		}
	}
	var total int64
	for {
		if err := r.ctx.Err(); err != nil {
			return total, err
		}
		chunk := int64(inputCopyChunk)
		if r.seen != nil {
			// Up to the listed size, as Read: its end is told by
			// unchanged, without a copy that finds EOF.
			if left := r.seen.Size() - r.read; left <= 0 {
				chunk = 0
			} else {
				chunk = min(chunk, left)
			}
		}
		if chunk == 0 {
			if cerr := r.unchanged(); cerr != nil {
				r.err = cerr
				return total, cerr
			}
			return total, nil
		}
		n, err := io.CopyN(w, src, chunk)
		total += n
		r.read += n
		switch {
		case err == io.EOF:
			if cerr := r.unchanged(); cerr != nil {
				r.err = cerr
				return total, cerr
			}
			return total, nil
		case err != nil:
			if kernel != nil {
				r.sourceFailed(kernel)
			}
			return total, err
		}
	}
}

// recordingReader reads r's file, keeping its error in r.err.
type recordingReader struct{ r *inputReader }

func (rr recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.file.Read(p)
	if err != nil && err != io.EOF {
		rr.r.err = err
	}
	return n, err
}

// sourceFailed sets r.err when a kernel copy from f failed because of f:
// when f cannot be read where the copy stopped. An error of the copy says
// nothing of which end failed.
func (r *inputReader) sourceFailed(f *os.File) {
	var b [1]byte
	if _, err := f.ReadAt(b[:], r.read); err != nil && err != io.EOF {
		r.err = err
	}
}

// kernelCopyMin is the least input WriteTo copies in the kernel.
const kernelCopyMin = 128 << 10

// A file input is a msgbox.FileBody: a box may keep its file.
var _ msgbox.FileBody = (*inputReader)(nil)

// Size is the input's size as listed (see msgbox.FileBody); -1 when the
// listing is not known.
func (r *inputReader) Size() int64 {
	if r.seen == nil {
		return -1
	}
	return r.seen.Size()
}

// LinkTo lets a message box keep the input's file itself (see
// msgbox.FileBody), on Linux, while no process has it open for writing
// (holdUnwritten). The link is made by the claimed name the file was
// opened by, and then checked to be that very file: a claim name swapped
// since the open is not linked.
func (r *inputReader) LinkTo(path string) bool {
	if r.read != 0 || r.seen == nil || r.unreadable != nil || r.ctx.Err() != nil {
		return false
	}
	release, ok := holdUnwritten(r.file)
	if !ok {
		return false
	}
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	if r.linking != nil {
		r.linking()
	}
	now, err := r.file.Stat()
	if err != nil || now.Size() != r.seen.Size() || !now.ModTime().Equal(r.seen.ModTime()) || !keepable(now) {
		return false
	}
	if err := linkNoFollow(r.file.Name(), path); err != nil {
		return false
	}
	linked, err := os.Lstat(path)
	if err != nil || !sameFile(linked, now) {
		os.Remove(path)
		return false
	}
	// A process that opened the file for writing meanwhile waits for the
	// release, and would then write to the kept file: the lease says
	// whether one came.
	released = true
	if !release() {
		os.Remove(path)
		return false
	}
	r.read = now.Size() // the box has it whole: nothing to read
	return true
}
