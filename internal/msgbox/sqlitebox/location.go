package sqlitebox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bizpipe/bizpipe/internal/dirsync"
)

// The files a box keeps beside its database file, named after it.
//
// The marker (messagebox.db.boxid) holds the box's identity. Open writes
// it once a box's schema is committed and synced, and writes it for a box
// created before markers existed. It is what tells a box that is gone (a
// database file emptied or lost in a crash) from a place where no box has
// been yet: where a marker (or a -wal or -shm file) is, Open creates
// nothing and refuses to open a database that is missing, empty, not an
// SQLite file, or another box.
//
// The lock file (messagebox.db.lock) is what Options.Lock locks.
const (
	markerSuffix = ".boxid"
	lockSuffix   = ".lock"
)

// ErrNoBox is what Open's error wraps when Options.NoCreate (or ReadOnly)
// finds no box at the path and no sign that one was ever there.
var ErrNoBox = errors.New("no message box")

// ErrDamaged is what Open's error wraps when the path held a box (its
// marker, write-ahead log or shared-memory file says so) and the database
// there is missing, empty, not an SQLite file, or another box. Open changes
// nothing then; the error names what it found and what an operator can do.
var ErrDamaged = errors.New("message box missing or damaged")

// ErrInUse is what Open's error wraps when Options.Lock finds the box's lock
// held by another process.
var ErrInUse = errors.New("in use by another bizpipe process")

// sqliteHeader is how every SQLite database file starts.
var sqliteHeader = []byte("SQLite format 3\x00")

// location is what Open finds at a box's path before opening it.
type location struct {
	db     string // the database file, symbolic links resolved
	marker string // db + markerSuffix

	dbSize   int64 // -1: the file does not exist
	dbHeader bool  // the file starts with sqliteHeader
	// hasMarker is set when the marker exists; markerID is the identity it
	// holds, "" if it is unreadable.
	hasMarker bool
	markerID  string
	// walSize and shmSize are the sizes of the -wal and -shm files, -1 for
	// a file that does not exist.
	walSize, shmSize int64
	// hasBodies is set when the directory of body files exists.
	hasBodies bool
	// owner is what the files created beside the database are given
	// (ownerOf).
	owner fileOwner
}

// realPath returns the path of the file that abs really names: symbolic
// links of the file and of its directories resolved, so that the files
// kept beside the database (marker, lock) are the same whichever path
// reaches it. A file that does not exist yet is resolved through its
// directory; so is one whose directory does not exist (for Open to report).
func realPath(abs string) (string, error) {
	p, err := filepath.EvalSymlinks(abs)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if fi, lerr := os.Lstat(abs); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(abs)
		return "", fmt.Errorf("%s is a symbolic link to %s, which does not exist", abs, target)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if errors.Is(err, fs.ErrNotExist) {
		return abs, nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// inspect reads what is at db (a path realPath returned).
func inspect(db string) (*location, error) {
	l := &location{db: db, marker: db + markerSuffix}
	var err error
	if l.dbSize, err = size(db); err != nil {
		return nil, err
	}
	if l.dbSize > 0 {
		if l.dbHeader, err = hasHeader(db); err != nil {
			return nil, err
		}
	}
	l.owner = ownerOf(db)
	if l.walSize, err = size(db + "-wal"); err != nil {
		return nil, err
	}
	if l.shmSize, err = size(db + "-shm"); err != nil {
		return nil, err
	}
	switch _, err := os.Lstat(db + bodiesSuffix); {
	case err == nil:
		l.hasBodies = true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	// Only a regular file is read: one that never ends (a FIFO, a link to
	// /dev/zero) would hang every command on the box.
	if _, err := size(l.marker); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(l.marker)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		l.hasMarker = true
		l.markerID = parseMarker(b)
	}
	return l, nil
}

// size returns the size of the file at path, -1 if it does not exist.
func size(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", path)
	}
	return fi.Size(), nil
}

func hasHeader(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(f, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	return bytes.Equal(buf, sqliteHeader), nil
}

// markerText is the marker's content: the identity on the first line, then
// a word for whoever finds the file.
func markerText(id, db string) []byte {
	return fmt.Appendf(nil, "%s\n"+
		"# The bizpipe message box %s is in %s, beside this file.\n"+
		"# bizpipe refuses to open that database while it is missing, empty or another box.\n"+
		"# Remove this file only to start a new, empty box there deliberately.\n",
		id, id, filepath.Base(db))
}

// parseMarker returns the identity a marker holds, "" if it holds none.
func parseMarker(b []byte) string {
	first, _, _ := strings.Cut(string(b), "\n")
	id := strings.TrimSpace(first)
	if id == "" || strings.ContainsAny(id, " \t#") {
		return ""
	}
	return id
}

// writeMarker writes the marker for box id durably: a file written and
// synced under a temporary name, renamed into place, the directory synced.
func writeMarker(l *location, id string) error {
	dir := filepath.Dir(l.marker)
	f, err := os.CreateTemp(dir, filepath.Base(l.marker)+"-*.tmp")
	if err != nil {
		return fmt.Errorf("writing the box marker: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(markerText(id, l.db))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.owner.give(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, l.marker)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the box marker %s: %w", l.marker, err)
	}
	if err := dirsync.Sync(dir); err != nil {
		return fmt.Errorf("writing the box marker %s: %w", l.marker, err)
	}
	l.hasMarker, l.markerID = true, id
	return nil
}

// evidence lists what says a box was at l, and the files to remove to start
// a new box there deliberately. A location without evidence has never held
// a box (or held one created before markers whose files are all gone).
func (l *location) evidence() (found, remove []string) {
	if l.hasMarker {
		if l.markerID != "" {
			found = append(found, fmt.Sprintf("the marker %s says it held box %s", l.marker, l.markerID))
		} else {
			found = append(found, fmt.Sprintf("the marker %s says it held a box", l.marker))
		}
		remove = append(remove, l.marker)
	}
	if l.walSize >= 0 {
		found = append(found, fmt.Sprintf("its write-ahead log %s (%d bytes) is there", l.db+"-wal", l.walSize))
		remove = append(remove, l.db+"-wal")
	}
	if l.shmSize >= 0 {
		found = append(found, fmt.Sprintf("its shared-memory file %s is there", l.db+"-shm"))
		remove = append(remove, l.db+"-shm")
	}
	if l.hasBodies {
		found = append(found, fmt.Sprintf("its directory of message bodies %s is there", l.db+bodiesSuffix))
		remove = append(remove, l.db+bodiesSuffix)
	}
	return found, remove
}

// check decides, before SQLite opens anything, whether Open may go on and
// whether it creates the database file. It refuses a location that held a
// box whose database is missing or empty (SQLite would make a new, empty
// one), and a database file that is not SQLite's.
func (l *location) check() (fresh bool, err error) {
	found, remove := l.evidence()
	switch {
	case l.dbSize > 0 && !l.dbHeader:
		remove = append([]string{l.db}, remove...)
		return false, fmt.Errorf("%w: %s (%d bytes) is not an SQLite database: restore it from a backup, or, to start a new, empty box deliberately, remove %s",
			ErrDamaged, l.db, l.dbSize, joinAnd(remove))
	case l.dbSize > 0:
		return false, nil
	case len(found) == 0:
		return true, nil
	}
	what := "does not exist"
	if l.dbSize == 0 {
		what = "is empty (0 bytes)"
		remove = append([]string{l.db}, remove...)
	}
	return false, fmt.Errorf("%w: the database file %s %s, but %s: bizpipe does not put a new, empty box in its place. "+
		"Restore the database file from a backup (stop bizpipe first), or, to start a new, empty box deliberately, remove %s",
		ErrDamaged, l.db, what, joinAnd(found), joinAnd(remove))
}

// checkContent is check's second half, once SQLite has opened the file:
// hasSchema tells whether the database holds a box's schema, id its
// identity. A location with a marker needs its own box; one without takes
// any box (one created before markers) and, unless noCreate, an empty
// database to create one in.
func (l *location) checkContent(hasSchema bool, id string, noCreate bool) error {
	switch {
	case !hasSchema && l.hasMarker:
		return fmt.Errorf("%w: the database file %s holds no message box, but the marker %s says it held box %s: "+
			"restore the database file from a backup (stop bizpipe first), or, to start a new, empty box deliberately, remove %s and %s",
			ErrDamaged, l.db, l.marker, l.markerID, l.db, l.marker)
	case !hasSchema && noCreate:
		return fmt.Errorf("%w at %s: the SQLite database there holds none", ErrNoBox, l.db)
	case hasSchema && l.markerID != "" && id != l.markerID:
		return fmt.Errorf("%w: the database file %s holds box %s, but the marker %s says box %s was there: "+
			"this is another box's database. Put that box's database back, or, to use this one deliberately, remove %s",
			ErrDamaged, l.db, id, l.marker, l.markerID, l.marker)
	}
	return nil
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
