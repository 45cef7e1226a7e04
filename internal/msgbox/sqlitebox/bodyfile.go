package sqlitebox

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/dirsync"
	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// Body files.
//
// A body larger than one chunk is stored as a file in the directory beside
// the database named after it with ".bodies" (messagebox.db.bodies), not in
// chunk rows: SQLite would write it twice (log, then checkpoint), page by
// page, and a file can be filled by the kernel (copy_file_range) from a
// file input. The directory is created (0700) by the first large Receive.
//
// A Receive writes the body to a temporary file of its own (O_EXCL, a
// random name matching tempPattern), syncs it, renames it to its final
// name (fileNameLen random hex digits, stored in bodies.file), syncs the
// directory, and only then commits the row naming it. So a crash leaves
// either no message (and at most a file no row names) or a complete one.
// Open removes the files no row names, temporary or final, untouched for
// Options.StaleUploadAfter (and, in the engine's box, kept inputs at once:
// sweepFiles), holding the write lock, and a
// Receive checks its file is still there under the same lock before it
// commits: a file is never removed under a row that names it. Purge
// removes a message's file after the commit that deletes its row.
const (
	bodiesSuffix = ".bodies"
	tempPrefix   = "body-"
	tempSuffix   = ".tmp"
	tempPattern  = tempPrefix + "*" + tempSuffix
	fileNameLen  = 32 // hex digits: 128 random bits
)

// errReadOnly answers a large Receive on a box opened read-only before it
// writes anything: a small one gets SQLite's own SQLITE_READONLY, but a
// large one would create its file before its first statement.
var errReadOnly = errors.New("the message box is open read-only")

// bodiesDir is the directory of the box's body files.
func (b *Box) bodiesDir() string { return b.path + bodiesSuffix }

// bodyFile is the path of the body file named name.
func (b *Box) bodyFile(name string) string { return filepath.Join(b.bodiesDir(), name) }

// isFileName reports whether name is a final body file's name.
func isFileName(name string) bool {
	if len(name) != fileNameLen {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil && strings.ToLower(name) == name
}

// isTempName reports whether name is a temporary body file's name.
func isTempName(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
}

// newFileName returns a random final name for a body file.
func (b *Box) newFileName() (string, error) {
	var r [fileNameLen / 2]byte
	if _, err := io.ReadFull(b.rand, r[:]); err != nil {
		return "", fmt.Errorf("naming the body file: %w", err)
	}
	return hex.EncodeToString(r[:]), nil
}

// createTemp creates a temporary body file, creating the directory if it
// does not exist and no stored message names a file in it: a directory
// that vanished while rows name its files is a lost one, not recreated
// silently (its messages' Body fail, naming their files, and so does this
// Receive). The file, and the directory when it creates it, get the box's
// owner (fileOwner): a body a root process stores is the run's to read.
func (b *Box) createTemp(ctx context.Context) (*os.File, error) {
	f, err := b.createTempIn(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.owner.give(f.Name()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// createTempIn is createTemp but for the owner the file is given.
func (b *Box) createTempIn(ctx context.Context) (*os.File, error) {
	dir := b.bodiesDir()
	f, err := os.CreateTemp(dir, tempPattern)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
		// The directory is there now: a concurrent Receive made it after
		// this one's attempt.
		return os.CreateTemp(dir, tempPattern)
	}
	var referenced bool
	if err := b.q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM bodies WHERE file IS NOT NULL)").Scan(&referenced); err != nil {
		return nil, fmt.Errorf("checking for stored body files: %w", err)
	}
	if referenced {
		if _, serr := os.Stat(dir); serr == nil {
			// Made, and used, by a concurrent Receive since the first
			// look.
			return os.CreateTemp(dir, tempPattern)
		}
		return nil, fmt.Errorf("the body directory %s is missing while stored messages have their bodies there: "+
			"restore it from a backup (stop bizpipe first)", dir)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("creating the body directory: %w", err)
	} else if err == nil {
		if err := b.owner.give(dir); err != nil {
			return nil, fmt.Errorf("creating the body directory: %w", err)
		}
	}
	if err := dirsync.Sync(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	return os.CreateTemp(dir, tempPattern)
}

// writeFile stores a body as a file: first and extra, already read from
// body (and written to sum), then the rest of body. It returns the final name and the
// body's size once the file is synced under that name and the directory
// too; on error nothing is left behind. buf is a ChunkSize scratch buffer.
func (b *Box) writeFile(ctx context.Context, first, extra []byte, body io.Reader, sum hash.Hash, buf []byte) (name string, size int64, err error) {
	if b.readOnly {
		return "", 0, errReadOnly
	}
	f, err := b.createTemp(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("creating a body file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	for _, p := range [][]byte{first, extra} {
		if _, err := f.Write(p); err != nil {
			return "", 0, fmt.Errorf("writing body file %s: %w", tmp, err)
		}
	}
	head := int64(len(first) + len(extra))
	rest, _, err := copyBody(f, body, sum, head, buf)
	size = head + rest
	if err != nil {
		return "", 0, fmt.Errorf("writing body file %s after %d bytes: %w", tmp, size, err)
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("syncing body file %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("closing body file %s: %w", tmp, err)
	}
	if name, err = b.newFileName(); err != nil {
		return "", 0, err
	}
	final := b.bodyFile(name)
	// A Receive whose temporary file was swept under it (paused longer
	// than the stale-upload limit) fails here: its file is gone.
	if err := os.Rename(tmp, final); err != nil {
		return "", 0, fmt.Errorf("renaming body file %s: %w", tmp, err)
	}
	if err := b.dirs.Sync(b.bodiesDir()); err != nil {
		os.Remove(final)
		return "", 0, err
	}
	return name, size, nil
}

// linkFile keeps the file of a file input as a body file (see
// msgbox.FileBody): linked under a temporary name, checksummed, synced, renamed and its directory synced, as writeFile does
// with a copy. linked false, with nothing left behind: the input is to be
// copied instead. A file that changes while it is checksummed (a producer
// still writing) is an error, as when a copy finds it changed.
func (b *Box) linkFile(ctx context.Context, fb msgbox.FileBody, sum hash.Hash, buf []byte) (name string, size int64, linked bool, err error) {
	if b.readOnly {
		return "", 0, false, errReadOnly
	}
	// createTemp finds (or makes) the directory and a fresh name; the
	// link takes the name over.
	f, err := b.createTemp(ctx)
	if err != nil {
		return "", 0, false, fmt.Errorf("creating a body file: %w", err)
	}
	tmp := f.Name()
	f.Close()
	if err := os.Remove(tmp); err != nil {
		return "", 0, false, fmt.Errorf("removing body file %s: %w", tmp, err)
	}
	if !fb.LinkTo(tmp) {
		return "", 0, false, nil
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if f, err = os.Open(tmp); err != nil {
		return "", 0, false, fmt.Errorf("opening body file %s: %w", tmp, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return "", 0, false, fmt.Errorf("body file %s: %w", tmp, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return "", 0, false, err
		}
		n, rerr := f.Read(buf)
		sum.Write(buf[:n])
		size += int64(n)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", 0, false, fmt.Errorf("reading back body file %s to checksum: %w", tmp, rerr)
		}
	}
	after, err := f.Stat()
	if err != nil {
		return "", 0, false, fmt.Errorf("body file %s: %w", tmp, err)
	}
	if size != fb.Size() || after.Size() != size || !after.ModTime().Equal(before.ModTime()) {
		return "", 0, false, fmt.Errorf("the file changed while it was stored: %d bytes when listed, %d read, %d now",
			fb.Size(), size, after.Size())
	}
	if err := f.Sync(); err != nil {
		return "", 0, false, fmt.Errorf("syncing body file %s: %w", tmp, err)
	}
	if name, err = b.newFileName(); err != nil {
		return "", 0, false, err
	}
	final := b.bodyFile(name)
	if err := os.Rename(tmp, final); err != nil {
		return "", 0, false, fmt.Errorf("renaming body file %s: %w", tmp, err)
	}
	if err := b.dirs.Sync(b.bodiesDir()); err != nil {
		os.Remove(final)
		return "", 0, false, err
	}
	return name, size, true, nil
}

// copyBody copies body to f, which holds off bytes already, and writes
// what it copies to sum, in order.
//
// A file input reaches f's own ReadFrom (see hashingFile), which lets the
// kernel copy it (copy_file_range) without it passing through this
// process; sum then reads those bytes back from f (from the page cache),
// which also makes it the checksum of what is really stored. Whatever else
// (a network stream, bytes in memory) passes through buf and is hashed on
// the way. byFile is how many of the n bytes went to the file's ReadFrom.
func copyBody(f *os.File, body io.Reader, sum hash.Hash, off int64, buf []byte) (n, byFile int64, err error) {
	h := &hashingFile{f: f, sum: sum, buf: buf, pos: off, hashed: off}
	n, err = io.Copy(h, body)
	if err == nil {
		err = h.catchUp()
	}
	return n, h.byFile, err
}

// hashingFile is the body file as copyBody writes it: Write hashes what
// passes through it; ReadFrom hands a file source to the *os.File's
// ReadFrom (the kernel copy), leaving those bytes to catchUp, which hashes
// them from the file before anything written after them.
type hashingFile struct {
	f      *os.File
	sum    hash.Hash
	buf    []byte
	pos    int64 // bytes in f
	hashed int64 // bytes of f written to sum
	byFile int64 // bytes f.ReadFrom wrote
}

func (h *hashingFile) Write(p []byte) (int, error) {
	if err := h.catchUp(); err != nil {
		return 0, err
	}
	n, err := h.f.Write(p)
	h.sum.Write(p[:n])
	h.pos += int64(n)
	h.hashed = h.pos
	return n, err
}

// ReadFrom is what io.Copy calls; the file receiver's input calls it with
// a *io.LimitedReader of its *os.File, an *os.File's WriteTo with a
// wrapper of itself.
func (h *hashingFile) ReadFrom(r io.Reader) (int64, error) {
	src := r
	if lr, ok := r.(*io.LimitedReader); ok {
		src = lr.R
	}
	if _, ok := src.(interface{ Stat() (fs.FileInfo, error) }); !ok {
		// Not a file: through buf, hashed on the way (Write). Caught up
		// first: catchUp reads into buf, which then holds what Write
		// is given.
		if err := h.catchUp(); err != nil {
			return 0, err
		}
		return io.CopyBuffer(struct{ io.Writer }{h}, r, h.buf)
	}
	n, err := h.f.ReadFrom(r)
	h.pos += n
	h.byFile += n
	return n, err
}

// catchUp hashes the bytes of f not hashed yet.
func (h *hashingFile) catchUp() error {
	if h.hashed == h.pos {
		return nil
	}
	n, err := io.CopyBuffer(h.sum, io.NewSectionReader(h.f, h.hashed, h.pos-h.hashed), h.buf)
	h.hashed += n
	if err != nil {
		return fmt.Errorf("reading back to checksum: %w", err)
	}
	return nil
}

// removeFiles removes body files no row names any more (after the commit
// that deleted their rows). A failure leaves an orphan for Open's sweep.
func (b *Box) removeFiles(names []string) {
	for _, n := range names {
		_ = os.Remove(b.bodyFile(n))
	}
}

// checkFile verifies, under the write lock, that the body file name is
// still there before a row naming it commits: the sweep, which removes
// files under the same lock, cannot then remove it afterwards (it removes
// only files no row names).
func (b *Box) checkFile(name string) error {
	fi, err := os.Lstat(b.bodyFile(name))
	if err != nil {
		return fmt.Errorf("the body file was removed before its message was stored (paused longer than the stale-upload limit?): %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("the body file %s is not a regular file", b.bodyFile(name))
	}
	return nil
}

// sweepFiles removes, in the write transaction tx, the body files that no
// row names and the temporary ones, untouched since before: those of
// Receives interrupted before they committed. With linked set (the engine's
// box, opened with Lock) it also removes at once, however recent, those that
// are an input kept by a link (msgbox.FileBody): the input's claim is its
// other name, and holds it whole, and the receive location reads a claim
// with two names only once it has one (it cannot tell the box's link from
// a link to a file it must not read). Were that link from a Receive of
// another process still in progress, that Receive fails, and its location
// stores the file again. Other files are left alone, and so is, on
// Windows, a file a Receive still holds open (fsop.InUse): it cannot be
// removed there, and is not abandoned. A missing directory has nothing to
// sweep (and is not created).
func (b *Box) sweepFiles(ctx context.Context, tx *cachedTx, before time.Time, linked bool) error {
	dir := b.bodiesDir()
	entries, err := listBodyFiles(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		final := isFileName(name)
		if !final && !isTempName(name) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("body file %s: %w", name, err)
		}
		if !lastChange(fi).Before(before) && !(linked && linkedInput(fi)) {
			continue
		}
		if final {
			var named bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM bodies WHERE file = ?)", name).Scan(&named); err != nil {
				return fmt.Errorf("looking up body file %s: %w", name, err)
			}
			if named {
				continue
			}
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) && !fsop.InUse(err) {
			return fmt.Errorf("removing interrupted body file: %w", err)
		}
	}
	return nil
}

// sweepTempLoop removes, every every until Close, the temporary body files
// untouched for staleAfter: those of Receives killed (SIGKILL) during an
// upload, which Open alone would keep until the next start of run. Only
// temporary files: no row ever names one (a Receive renames its file to
// the final name before a row names it), so removing one needs no write
// lock and no lookup; a live Receive whose file is removed fails, as it
// does when Open's sweep removes it (Options.StaleUploadAfter). Final
// files no row names are left to Open's sweep: telling them apart needs a
// lookup per file under the write lock, a long hold for a large box.
func (b *Box) sweepTempLoop(every, staleAfter time.Duration) {
	defer close(b.tempSweepDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.quit:
			return
		case <-t.C:
			if err := b.sweepTemp(b.now().Add(-staleAfter)); err != nil {
				// Retried next tick; meanwhile interrupted uploads pile
				// up, which the operator must hear of.
				b.log.Warn("removing stale temporary body files failed; trying again in "+every.String(), "error", err)
				b.tempSweepErr.Store(&err)
			}
		}
	}
}

// sweepTemp removes the temporary body files untouched since before,
// except, on Windows, one a Receive still holds open (see sweepFiles).
func (b *Box) sweepTemp(before time.Time) error {
	dir := b.bodiesDir()
	entries, err := listBodyFiles(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !isTempName(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !lastChange(fi).Before(before) {
			continue // gone meanwhile, or in use
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) && !fsop.InUse(err) {
			return fmt.Errorf("removing interrupted body file: %w", err)
		}
	}
	return nil
}

// fileFetcher returns a msgbox.ChunkFetcher that reads message id's body
// from the file at path, opened as f, one chunk at a time. Before each
// chunk it checks that the message still exists: a purged message's file
// is removed, but an open file is still readable, and a read of a purged
// body must fail with ErrNotFound (see msgbox.Box.Purge), not deliver it.
func (b *Box) fileFetcher(ctx context.Context, id, path string, f *os.File) msgbox.ChunkFetcher {
	var off int64
	return func(seq int64, buf []byte) ([]byte, error) {
		var exists bool
		if err := b.q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?)", id).Scan(&exists); err != nil {
			return buf[:0], err
		}
		if !exists {
			return buf[:0], msgbox.ErrNotFound
		}
		if cap(buf) < ChunkSize {
			buf = make([]byte, ChunkSize)
		}
		n, err := io.ReadFull(f, buf[:ChunkSize])
		off += int64(n)
		switch {
		case n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
			return buf[:0], fmt.Errorf("the body file %s ends after %d bytes: %w", path, off, msgbox.ErrCorrupt)
		case err != nil && err != io.EOF && err != io.ErrUnexpectedEOF:
			return buf[:0], fmt.Errorf("reading the body file %s: %w", path, err)
		}
		return buf[:n], nil
	}
}

// fileReader wraps the chunk reader of a body file to close the file.
type fileReader struct {
	*msgbox.ChunkReader
	f *os.File
}

func (r *fileReader) Close() error {
	r.ChunkReader.Close()
	return r.f.Close()
}

// listBodyFiles lists the body directory dir; a missing one (no large body
// stored yet, and never created by a sweep) has none.
func listBodyFiles(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing body files: %w", err)
	}
	return entries, nil
}
