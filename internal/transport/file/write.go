package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/bizpipe/bizpipe/internal/dirsync"
	"github.com/bizpipe/bizpipe/internal/fanout"
	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// Reserved-name layout; see the protocol in the File documentation.
const (
	reservedPrefix = ".bizpipe-"
	suffixPartial  = ".partial"
	suffixStaged   = ".staged"
	suffixPlacing  = ".placing"

	// maxFileNameLen is the NAME_MAX of every common Linux filesystem.
	maxFileNameLen = 255

	// fileMode is filtered by the process umask, as os.Create does, so the
	// operator controls the mode of delivered files the usual way.
	fileMode = 0o666

	// shownNameLen bounds how much of a rejected file name an error quotes:
	// the name comes from message properties and may be huge.
	shownNameLen = 100
)

// ErrFileExists is wrapped by the error a create_new file transport returns
// when the target file already exists with different content. A retry
// succeeds only after someone removes or renames that file.
var ErrFileExists = errors.New("file already exists with different content")

// Writer is the file transport (send_port transport "file"). It implements
// Stager and delivers exactly once across a SIGKILL at any instant by never
// writing the final name directly. For delivery id D, in the output
// directory:
//
//  1. the payload is written to .bizpipe-D.R.partial, a name of the
//     attempt's own (R is random), and synced; on Linux, to an unnamed
//     temporary file (O_TMPFILE) instead, which step 2 names directly:
//     one name fewer to create and remove per delivery, and nothing for a
//     crash to leave behind;
//  2. it is linked to .bizpipe-D.staged (the staged copy), which link(2)
//     never replaces, the partial name is removed and the directory is
//     synced: from here on the payload survives a crash;
//  3. the final name is made another name of the staged inode: link(2) for
//     create_new (which never replaces anything), or link to
//     .bizpipe-D.placing then rename(2) over the final name for overwrite
//     (an atomic replace); the directory is synced again;
//  4. the staged copy stays until Cleanup, which the runner calls once the
//     box has recorded the delivery.
//
// Because the final name and the staged copy are the same inode, a repeat of
// step 3 (Redo after a crash, or a retry) recognises its own earlier
// placement with os.SameFile instead of mistaking it for a conflict. The
// staged copy is the record of what the delivery wrote: the first attempt
// to stage one fixes the delivery's bytes, and every later attempt (a
// retry, `messages resume`, a redo after a crash or a lost lease) places
// that copy and drops its own rendering, which differs (S/MIME output is
// randomised and timestamped), instead of comparing it with the file in
// place. An attempt looks for the staged copy at Begin, but for a
// delivery's first attempt (transport.Delivery.First), which can find one
// only after `messages resume`: link(2) in step 2 finds it all the same,
// and the attempt then drops its rendering there.
//
// Delivery ids are unique across every server sharing the box, so the
// reserved names of two deliveries never collide even when several servers
// or ports share one directory; with WriterOptions.Namespace set to the box's
// identity the names are .bizpipe-N-D.staged and so on, and the deliveries
// of two boxes (two servers each with an embedded box, writing to one
// share) do not collide either.
//
// One window remains, inherent to handing files to another program: if the
// process dies after step 3 but before the box records the delivery, and
// meanwhile a consumer removes the delivered file, Redo places it again.
// Recording promptly after Send returns keeps the window small.
//
// A Writer holds no mutable state and is safe for concurrent use by several
// goroutines. Two attempts of one delivery at once (the message box leases
// a delivery to one worker, but an attempt that outlived its lease may
// still run, on another server, when the next one starts) never write or
// stage each other's partial file, and both place the one staged copy. Only an attempt that outlives the other's whole delivery, Cleanup
// included, stages its own rendering again: create_new then reports the
// conflict and overwrite delivers it a second time; the runner discards
// that attempt's outcome, its lease being lost.
//
// The output directory must exist: like BizTalk's file adapter, the
// transport never creates it, so that a typo in the configured path
// surfaces as a delivery error instead of silently filling a new directory.
// It must be on a filesystem that supports hard links (every local Linux
// filesystem and NFS do; some SMB and FAT mounts do not, and then every
// delivery fails with the link error).
type Writer struct {
	dir       string
	overwrite bool
	// bufs holds the write buffers of attempts that ended: a delivery of
	// a few KiB must not allocate 256 KiB.
	bufs sync.Pool
	// prefix starts this transport's reserved names: ".bizpipe-", plus the
	// namespace and "-" when there is one.
	prefix string
	// syncs are the rounds of syncs this Writer shares (WriterOptions.Syncs).
	syncs *Syncs
	// fs caches the output directory's file system: nil until a look
	// succeeds, and again once a round finds it changed.
	fs atomic.Pointer[dirsync.FS]
	// fileSystem is dirsync.FileSystemOf; tests replace it to play a file
	// system mounted over the directory.
	fileSystem func(dir string) (dirsync.FS, error)
	// hook, set only by tests, is called at the named steps of an attempt,
	// so that a test can interleave two attempts of one delivery
	// deterministically: "checked" (Send found nothing staged, or did
	// not look for a first attempt, and is about to write), "written"
	// (the partial file is written and synced, not yet staged) and
	// "comparing" (create_new found a file under the final name, and is
	// about to compare it with the staged copy).
	hook func(step string)
	// unnamed: attempts write unnamed temporary files (see
	// openUnnamed), falling back to named partial files where the file
	// system has none.
	unnamed bool
}

// step calls the test hook, if any.
func (f *Writer) step(name string) {
	if f.hook != nil {
		f.hook(name)
	}
}

var _ transport.Stager = (*Writer)(nil)

// NewWriter returns a file transport writing into o.Dir. It does not touch the
// filesystem: a directory that is missing now (an unmounted share) is
// reported by each delivery, which the runner retries and then suspends.
func NewWriter(o WriterOptions) (*Writer, error) {
	if o.Dir == "" {
		return nil, errors.New("send: file transport: no output directory")
	}
	prefix := reservedPrefix
	if o.Namespace != "" {
		if len(o.Namespace) > 32 || strings.Trim(o.Namespace, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return nil, fmt.Errorf("send: file transport: invalid namespace %q: lower-case letters and digits, at most 32", o.Namespace)
		}
		prefix += o.Namespace + "-"
	}
	syncs := o.Syncs
	if syncs == nil {
		syncs = &Syncs{}
	}
	return &Writer{dir: filepath.Clean(o.Dir), overwrite: o.Overwrite, prefix: prefix, syncs: syncs,
		fileSystem: dirsync.FileSystemOf, unnamed: unnamedFiles()}, nil
}

// Syncs are the rounds of syncs that Writers share: those writing to one
// directory share its directory syncs, and those writing to one file
// system its syncfs(2) rounds (see syncPoints), so that two send ports
// writing beside each other pay one round per step, not one each. The
// zero Syncs is ready to use; give every Writer of a run the same one
// (WriterOptions.Syncs).
type Syncs struct {
	// dirs shares directory syncs among concurrent deliveries.
	dirs dirsync.Group
	// whole shares syncs of an output directory's whole file system
	// (dirsync.SyncFS) among concurrent commits, where its syncfs(2) does
	// what an fsync of each file and directory would.
	whole dirsync.FSGroup
}

// CheckFileName reports whether name is usable as a delivered file's name:
// a plain base name, 1 to 255 bytes, without "/", "\", NUL or other control
// characters, not "." or "..", and not starting with ".bizpipe-" in any
// letter case (the transport's reserved names; case-insensitively because
// some filesystems are). On Windows also none of the names Windows maps
// elsewhere (see windowsNameProblem). File names are evaluated from message
// properties, which senders control, so this is what keeps a delivery
// inside its directory. The error wraps ErrInvalidFileName.
func CheckFileName(name string) error {
	if reason := fileNameProblem(name); reason != "" {
		return fmt.Errorf("%w %q: %s", transport.ErrInvalidFileName, transport.Shorten(name, shownNameLen), reason)
	}
	return nil
}

// windowsNames applies Windows' rules for file names (windowsNameProblem).
const windowsNames = runtime.GOOS == "windows"

// fileNameProblem says why name is not usable as a delivered file's name
// (see CheckFileName), or "".
func fileNameProblem(name string) string { return nameProblem(name, windowsNames) }

// nameProblem is fileNameProblem, with Windows' rules if windows is set.
func nameProblem(name string, windows bool) string {
	reason := ""
	switch {
	case name == "":
		reason = "empty"
	case name == "." || name == "..":
		reason = "not a file name"
	case len(name) > maxFileNameLen:
		reason = fmt.Sprintf("longer than %d bytes", maxFileNameLen)
	case strings.ContainsAny(name, `/\`):
		// Backslash too: it separates paths on Windows and for any
		// consumer that moves the file onto a Windows share.
		reason = "contains a path separator"
	case strings.HasPrefix(strings.ToLower(name), reservedPrefix):
		reason = fmt.Sprintf("names starting with %q are reserved for the transport's own files", reservedPrefix)
	case hasControl(name):
		// NUL would truncate the name in the kernel; newlines and
		// escape sequences in names break scripts and terminals
		// downstream.
		reason = "contains a control character"
	}
	if reason == "" && windows {
		reason = windowsNameProblem(name)
	}
	return reason
}

// hasControl reports whether s holds a control character: C0, DEL, or C1
// (U+0080 to U+009F, as UTF-8), where U+009B is the one-character CSI that
// starts escape sequences as ESC [ does, and U+0085 a newline to Unicode
// line splitting.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// windowsNameProblem says why Windows would not give a file name (already
// checked as for any platform) to a file of its own in the directory, or
// "". Win32 path normalization drops trailing periods and spaces ("x.."
// is "x", another delivery's file), and reads a reserved device name, with
// or without an extension, as the device (NUL.xml is the null device: the
// write succeeds and the data is gone); ":" names an alternate data stream
// of another file ("a.xml:b" is stream b of a.xml), and <>"|?* are refused
// or taken as wildcards. See "Naming Files, Paths, and Namespaces" in
// Microsoft's documentation.
func windowsNameProblem(name string) string {
	if i := strings.IndexAny(name, `<>:"|?*`); i >= 0 {
		return fmt.Sprintf("contains %q, which Windows does not allow in file names", name[i])
	}
	if last := name[len(name)-1]; last == '.' || last == ' ' {
		return "ends with a period or a space, which Windows drops from file names"
	}
	stem, _, _ := strings.Cut(name, ".")
	stem = strings.TrimRight(stem, " ")
	switch u := strings.ToUpper(stem); {
	case u == "CON" || u == "PRN" || u == "AUX" || u == "NUL" || u == "CONIN$" || u == "CONOUT$",
		(strings.HasPrefix(u, "COM") || strings.HasPrefix(u, "LPT")) &&
			(len(u) == 4 && '0' <= u[3] && u[3] <= '9' || slices.Contains([]string{"¹", "²", "³"}, u[3:])):
		return fmt.Sprintf("%q is a device name on Windows, with any extension", stem)
	}
	return ""
}

// Send delivers p.Data to d.FileName in the output directory, following the
// protocol in the File documentation, and returns nil once the file is in place and
// the directory synced. The staged copy stays behind until Cleanup.
//
// When a staged copy of d already exists (an earlier attempt failed or was
// interrupted after staging, or another attempt staged it meanwhile), Send
// places that copy and ignores p: the
// earlier payload is an equally valid rendering of the same message, and it
// may already be in place under the final name, so writing p instead could
// deliver the message twice (overwrite) or fail forever as a conflict with
// itself (create_new: S/MIME output differs on every run).
//
// With copy_mode create_new an existing file of the same name counts as
// delivered when its content is identical (§9), and is an error wrapping
// ErrFileExists otherwise. With overwrite it is replaced atomically: a
// reader sees the old file or the new one, never a mix.
func (f *Writer) Send(ctx context.Context, d transport.Delivery, p transport.Payload) error {
	w, err := f.Begin(ctx, d)
	if err != nil {
		return err
	}
	if _, err := w.Write(p.Data); err != nil {
		w.Abort()
		return err
	}
	return w.Commit(ctx)
}

// Begin starts streaming the payload of delivery d: what is written to the
// returned WriteAttempt goes straight into the attempt's partial file (step 1
// of the protocol), and Commit stages and places it. When a staged copy of
// d exists already, the writes are discarded and Commit places that copy
// (see File); a first attempt (d.First) does not look, and its Commit
// finds the copy when it stages, drops its own file and places the copy.
// A Begin error fails the attempt; so does a Write or Commit error, after
// which nothing of the attempt is left but what SweepStale removes.
func (f *Writer) Begin(ctx context.Context, d transport.Delivery) (*WriteAttempt, error) {
	final, err := f.finalPath(d)
	if err != nil {
		return nil, f.hideName(d, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, f.hideName(d, f.errorf(d, "delivery %d not attempted: %w", d.ID, err))
	}
	w := &WriteAttempt{f: f, d: d, final: final, staged: f.reserved(d.ID, suffixStaged)}
	if !d.First {
		exists, err := f.stagedExists(d, w.staged)
		if err != nil {
			return nil, w.fail(err)
		}
		if exists {
			return w, nil
		}
	}
	f.step("checked")
	if f.unnamed {
		w.fh, err = openUnnamed(f.dir)
		if err == nil {
			w.partial, w.unnamed = w.fh.Name(), true
		}
	}
	if !w.unnamed && (err == nil || errors.Is(err, errNoUnnamed)) {
		var fh *os.File
		if w.partial, fh, err = f.createPartial(d.ID); err == nil {
			w.fh = fh
		}
	}
	if err != nil {
		return nil, w.fail(f.errorf(d, "staging delivery %d: %w", d.ID, err))
	}
	w.buf, _ = f.bufs.Get().(*bufio.Writer)
	if w.buf == nil {
		w.buf = bufio.NewWriterSize(w.fh, fileWriteBuffer)
	} else {
		w.buf.Reset(w.fh)
	}
	return w, nil
}

// fileWriteBuffer is how much of a payload a WriteAttempt gathers before a
// write(2): stages write in small pieces (a base64 line is 78 bytes).
const fileWriteBuffer = 256 << 10

// WriteAttempt is one attempt of a file delivery in progress (Writer.Begin).
type WriteAttempt struct {
	f             *Writer
	d             transport.Delivery
	final, staged string
	// partial, fh and buf are the attempt's own partial file; nil when a
	// staged copy existed at Begin and the payload is discarded.
	partial string
	fh      attemptFile
	buf     *bufio.Writer
	// unnamed: fh is an unnamed temporary file (O_TMPFILE), which gets
	// the staged name directly; partial is then only a label for errors.
	unnamed bool
	err     error // the first failure; every later call returns it
	done    bool
	// n counts the bytes written, headers included: what Flush judges
	// sharing by.
	n int64
	// flushed: Flush ended the writing; only Commit or Abort may follow.
	flushed bool
	// batched: the commit joins rounds of syncs shared with the other
	// commits of a batch (see syncPoints); set by a Flush that answered
	// share, cleared by Alone.
	batched bool
}

// attemptFile is the file an attempt writes: an *os.File, or on Linux the
// rawFile of an unnamed temporary file (see openUnnamed).
type attemptFile interface {
	io.Writer
	io.Closer
	dirsync.File
}

// sharedCommitMax is the most an attempt may have written for its commit
// to wait for the rest of its batch (see Flush): a larger one's sync
// costs little next to its writing, and committing it at once keeps a
// batch of large outputs from filling the disk with files not yet placed.
// Judged by the bytes written, not the message's size: a pipeline may
// make a small message big.
const sharedCommitMax = 1 << 20

// Write appends p to the partial file.
func (w *WriteAttempt) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done || w.flushed {
		return 0, errors.New("send: file delivery already ended")
	}
	if w.buf == nil {
		w.n += int64(len(p))
		return len(p), nil
	}
	n, err := w.buf.Write(p)
	w.n += int64(n)
	if err != nil {
		// ENOSPC is the likely cause: give the space back now.
		w.drop()
		return n, w.fail(w.f.errorf(w.d, "staging delivery %d: writing %s: %w", w.d.ID, w.partial, err))
	}
	return n, nil
}

// Flush writes out what the attempt buffers and gives its buffer back:
// the payload is complete, and Commit may come later (the runner commits a
// batch together). Nothing may be written after it.
//
// share reports whether the commit is worth deferring to share rounds of
// syncs with the rest of a batch: it is, unless the attempt wrote more
// than sharedCommitMax or found its staged copy there already (no file of
// its own, see syncPoints), and then Commit syncs on its own as an attempt
// never flushed does.
func (w *WriteAttempt) Flush() (share bool, err error) {
	if w.err != nil {
		return false, w.err
	}
	if w.done || w.flushed {
		return false, errors.New("send: file delivery already ended")
	}
	w.flushed = true
	if err := w.flush(); err != nil {
		w.drop()
		return false, w.fail(w.f.errorf(w.d, "staging delivery %d: writing %s: %w", w.d.ID, w.partial, err))
	}
	// An attempt that found its staged copy there already has no file of
	// its own, so nothing would tie its names to the file system a round
	// synced (see syncPoints): it syncs its directory itself.
	w.batched = w.fh != nil && w.n <= sharedCommitMax
	return w.batched, nil
}

// Alone says, after a Flush that answered share, that no other commit is
// left to share rounds of syncs with: Commit syncs its own file, as an
// attempt never flushed does, since a syncfs(2) round for one file would
// write back the whole file system.
func (w *WriteAttempt) Alone() { w.batched = false }

// flush writes out and releases the write buffer, if the attempt still
// has one.
func (w *WriteAttempt) flush() error {
	if w.buf == nil {
		return nil
	}
	err := w.buf.Flush()
	w.release()
	return err
}

// Commit syncs the partial file, stages it and places it (steps 1 to 3),
// and returns once the file is durable under its final name.
func (w *WriteAttempt) Commit(ctx context.Context) error {
	return commitAll(ctx, []*WriteAttempt{w})[0]
}

// commitAll commits ws as Commit does each, and returns their errors in
// order. It takes the steps together: each step for every attempt still
// going, then one sync point for them all (syncPoints), so that a batch's
// commits share each round of syncs without a goroutine each waiting for
// it. An attempt that fails at a step drops out of the later ones.
func commitAll(ctx context.Context, ws []*WriteAttempt) []error {
	errs := make([]error, len(ws))
	var files, names []*WriteAttempt           // at step 1 (own file), at step 3 (placing)
	at := make(map[*WriteAttempt]int, len(ws)) // where each attempt past the checks is in ws
	for i, w := range ws {
		switch {
		case w.err != nil:
			errs[i] = w.err
		case w.done:
			errs[i] = w.fail(errors.New("send: file delivery committed twice"))
		case ctx.Err() != nil:
			w.done = true
			w.drop()
			errs[i] = w.fail(w.f.errorf(w.d, "delivery %d not completed: %w", w.d.ID, ctx.Err()))
		case w.fh == nil:
			w.done = true // its staged copy was there at Begin: placed at step 3
			at[w] = i
			names = append(names, w)
		default:
			w.done = true
			at[w] = i
			if err := w.flush(); err != nil {
				errs[i] = w.written(err)
				continue
			}
			files = append(files, w)
		}
	}
	// Step 1: the data of each attempt's own file.
	var staging []*WriteAttempt
	for j, err := range syncPoints(files, true) {
		w := files[j]
		if err != nil {
			errs[at[w]] = w.written(err)
			continue
		}
		if !w.unnamed {
			if err := w.fh.Close(); err != nil {
				w.fh = nil
				errs[at[w]] = w.written(err)
				continue
			}
			w.fh = nil
		}
		w.release()
		w.f.step("written")
		staging = append(staging, w)
	}
	// passed records each error of a step (stepErrs, in the order of ws)
	// as its attempt's failure, in the words of format when it is not ""
	// (the delivery's id, then the error), and returns the attempts that
	// passed.
	passed := func(ws []*WriteAttempt, stepErrs []error, format string) []*WriteAttempt {
		var ok []*WriteAttempt
		for j, w := range ws {
			switch err := stepErrs[j]; {
			case err == nil:
				ok = append(ok, w)
			case format != "":
				errs[at[w]] = w.fail(w.f.errorf(w.d, format, w.d.ID, err))
			default:
				errs[at[w]] = w.fail(err)
			}
		}
		return ok
	}
	// Step 2: stage each.
	linkErrs := make([]error, len(staging))
	fanout.Each(len(staging), linkers, func(j int) {
		w := staging[j]
		own, err := w.stage()
		if err == nil && !own {
			w.batched = false // see linked
		}
		linkErrs[j] = err
	})
	staged := passed(staging, linkErrs, "")
	names = append(names, passed(staged, syncPoints(staged, false), "staging delivery %d: %w")...)
	// Step 3: place each.
	linkErrs = make([]error, len(names))
	fanout.Each(len(names), linkers, func(j int) {
		w := names[j]
		// Staged and durable, so that whoever holds the delivery now
		// places this copy (Redo) if the fence says it may be another.
		if err := w.d.CheckFence(ctx); err != nil {
			linkErrs[j] = w.f.errorf(w.d, "delivery %d not placed: %w", w.d.ID, err)
			return
		}
		linkErrs[j] = w.f.placeName(w.d, w.staged, w.final)
	})
	placed := passed(names, linkErrs, "")
	passed(placed, syncPoints(placed, false), "placing delivery %d: %w")
	return errs
}

// linkers is how many of a batch's links (step 2 or 3) commitAll has in
// flight at once: a link waits for the directory, which another process
// writing there may hold, and a few in flight keep the directory busy
// without a goroutine per file.
const linkers = 4

// written fails an attempt whose file could not be written out or synced
// (step 1), closing and, when named, removing it.
func (w *WriteAttempt) written(err error) error {
	if w.fh != nil {
		_ = w.fh.Close()
		w.fh = nil
	}
	w.release()
	if !w.unnamed {
		_ = fsop.Remove(w.partial)
	}
	return w.fail(w.f.errorf(w.d, "staging delivery %d: writing %s: %w", w.d.ID, w.partial, err))
}

// stage performs step 2 but its sync: it links the attempt's file to the
// staged name (see linked for own), and closes an unnamed file.
func (w *WriteAttempt) stage() (own bool, err error) {
	if w.unnamed {
		// Named while still open: the name is made from the descriptor.
		err = linkUnnamed(w.fh, w.staged)
		w.fh.Close()
		w.fh = nil
	} else {
		// link(2), not rename(2): it never replaces a staged copy. One
		// that exists was staged by another attempt of this delivery,
		// still running (its lease was lost to this one, or this one's
		// to it), or before `messages resume` (a first attempt does not
		// look at Begin), and may already be in place under the final
		// name: it is the delivery, and this attempt's rendering,
		// different bytes for the same message, is dropped. Replacing it
		// would make the file in place look like someone else's (a
		// create_new conflict with itself) or deliver the message a
		// second time (overwrite).
		err = os.Link(w.partial, w.staged)
		// The partial name goes either way. If removing it fails it
		// stays a second name of the staged copy, or the dropped
		// rendering: harmless, and SweepStale removes it.
		_ = fsop.Remove(w.partial)
	}
	return w.f.linked(w.d, w.staged, err)
}

// Abort drops the partial file of an attempt that will not be committed.
// It is a no-op after Commit.
func (w *WriteAttempt) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.drop()
	if w.err == nil {
		w.err = errors.New("send: file delivery aborted")
	}
}

// drop closes and removes the partial file, if any (an unnamed one goes
// with its last descriptor).
func (w *WriteAttempt) drop() {
	if w.fh != nil {
		_ = w.fh.Close()
		if !w.unnamed {
			_ = fsop.Remove(w.partial)
		}
		w.fh = nil
	}
	w.release()
}

// release gives the write buffer back for the next attempt.
func (w *WriteAttempt) release() {
	if w.buf != nil {
		w.buf.Reset(nil)
		w.f.bufs.Put(w.buf)
		w.buf = nil
	}
}

// fail records err as the attempt's outcome, in the words an operator
// sees: a missing output directory shows first as the ENOENT of some
// reserved name, and is checked only now, to spare every delivery a stat.
func (w *WriteAttempt) fail(err error) error {
	if err == nil {
		return nil
	}
	if derr := w.f.checkDir(w.d); derr != nil {
		err = derr
	}
	w.err = w.f.hideName(w.d, err)
	return w.err
}

// Redo finishes delivery d after a crash, without the payload. When the
// staged copy exists it (re)places it exactly as Send's last step does,
// which is idempotent, and returns done=true. Otherwise nothing of d
// survived that matters: Redo removes leftover .partial files (any
// attempt's) and .placing file and returns done=false, and the runner runs
// the pipeline and Send.
func (f *Writer) Redo(ctx context.Context, d transport.Delivery) (done bool, err error) {
	done, err = f.redo(ctx, d)
	return done, f.hideName(d, err)
}

func (f *Writer) redo(ctx context.Context, d transport.Delivery) (done bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, f.errorf(d, "redo of delivery %d not attempted: %w", d.ID, err)
	}
	// An unreadable directory must not be mistaken for "nothing staged":
	// that would run the pipeline again and could deliver twice.
	if err := f.checkDir(d); err != nil {
		return false, err
	}
	staged := f.reserved(d.ID, suffixStaged)
	exists, err := f.stagedExists(d, staged)
	if err != nil {
		return false, err
	}
	if !exists {
		if err := f.removeLeftovers(d.ID); err != nil {
			return false, f.errorf(d, "removing leftovers of delivery %d: %w", d.ID, err)
		}
		return false, nil
	}
	final, err := f.finalPath(d)
	if err != nil {
		return false, err
	}
	if err := d.CheckFence(ctx); err != nil {
		return false, f.errorf(d, "delivery %d not placed: %w", d.ID, err)
	}
	if err := f.placeName(d, staged, final); err != nil {
		return false, err
	}
	if err := f.syncs.dirs.Sync(f.dir); err != nil {
		return false, f.errorf(d, "placing delivery %d: %w", d.ID, err)
	}
	return true, nil
}

// removeLeftovers removes the partial files of delivery id, whatever
// attempt wrote them, and its .placing name. Redo calls it for a delivery
// whose attempt has just been claimed: an attempt of another process still
// writing one of these lost its lease, so it loses its partial file too,
// fails, and its outcome is discarded.
func (f *Writer) removeLeftovers(id int64) error {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		got, suffix, ok := f.parseReserved(e.Name())
		if !ok || got != id || (suffix != suffixPartial && suffix != suffixPlacing) {
			continue
		}
		if err := fsop.RemoveIfExists(filepath.Join(f.dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Cleanup removes the staged copy of d. The delivered file itself is
// untouched: it is another name of the same inode, so removing the staged
// name only drops the link count. A missing staged copy is not an error.
// The runner calls it after the box recorded d as delivered (or
// terminated); removing the staged copy earlier would let a crash deliver
// the message a second time.
//
// A successful Send leaves no .partial or .placing file of d (it removes
// or renames both), and a failed one removes what it made; what a crash leaves is
// removed by Redo or SweepStale. So Cleanup spares the two removals that
// would nearly always find nothing.
func (f *Writer) Cleanup(d transport.Delivery) error {
	if err := fsop.RemoveIfExists(f.reserved(d.ID, suffixStaged)); err != nil {
		return f.errorf(d, "cleanup of delivery %d: %w", d.ID, err)
	}
	return nil
}

// Staged returns the ids of the deliveries that have a staged copy in the
// output directory, in increasing order. A crash between the box recording a
// delivery and Cleanup leaves a staged copy behind forever; a runner can
// compare this list with the box at start-up and call Cleanup for the ids
// that are delivered or terminated. Staged copies of deliveries still
// pending must stay: Redo needs them.
func (f *Writer) Staged() ([]int64, error) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("send: file transport: listing staged deliveries: %w", err)
	}
	var ids []int64
	for _, e := range entries {
		if id, suffix, ok := f.parseReserved(e.Name()); ok && suffix == suffixStaged {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// SweepStale removes .partial and .placing files last modified more than
// olderThan ago and returns how many it removed. Neither kind is ever the
// only copy of anything: a .partial file becomes useful only when the
// attempt that wrote it links it to the staged name, which it removes
// then, and a .placing file is a second name of a staged copy. So sweeping is always safe for correctness; olderThan only
// spares attempts in flight (on this or another server sharing the
// directory), which would otherwise fail and be retried. Staged copies are
// never swept: see Staged.
func (f *Writer) SweepStale(olderThan time.Duration) (removed int, err error) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return 0, fmt.Errorf("send: file transport: sweeping %s: %w", f.dir, err)
	}
	cutoff := time.Now().Add(-olderThan)
	var errs []error
	for _, e := range entries {
		_, suffix, ok := f.parseReserved(e.Name())
		if !ok || (suffix != suffixPartial && suffix != suffixPlacing) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile by its own attempt
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !info.ModTime().Before(cutoff) {
			continue
		}
		if err := fsop.RemoveIfExists(filepath.Join(f.dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("send: file transport: sweeping %s: %w", f.dir, err)
	}
	return removed, nil
}

// linked ends step 2, but its sync, once the link to staged returned err.
// own reports that the link made the staged copy; when another attempt's
// was there already (EEXIST), which is the delivery (see stage), nothing
// ties its name to the file system of this attempt's file, so that the
// attempt syncs directories from here on, unbatched, as one that found the
// copy at Begin does (see syncPoints).
func (f *Writer) linked(d transport.Delivery, staged string, err error) (own bool, _ error) {
	switch {
	case errors.Is(err, fs.ErrExist):
		if _, err := f.stagedExists(d, staged); err != nil {
			return false, err
		}
		return false, nil
	case err != nil:
		return false, f.errorf(d, "staging delivery %d: %w", d.ID, err)
	}
	return true, nil
}

// syncPoints makes durable what the attempts ws changed in their output
// directories so far: with files, the content of each one's file; without,
// the directories' entries. It returns each attempt's error, in order.
//
// The attempts of a batch (batched: their Flush answered share, and the
// runner commits them together) take, where the file system allows
// (dirsync.FileSystemOf), one round of syncfs(2) per file system, which
// covers both and which they share with every commit in flight there (an
// FSGroup): one round serves the whole batch, and the batches of other
// ports writing there, where an fsync of each file would force the
// journal once per file. It also writes back whatever else is waiting on
// that file system, which is why an attempt alone (one that wrote over
// sharedCommitMax, a lone one) and every attempt elsewhere fsyncs its own
// file (those of ws concurrently, so that they share the journal commit)
// and joins a round of directory syncs.
//
// A round that finds its directory on another file system (a share
// mounted over this Writer's directory or another's since) syncs nothing,
// and a file opened on another file system than the round synced is not
// counted as synced: those attempts sync file by file, and the next sync
// point looks at the directory again. The file's check covers the names
// too: link(2) fails across file systems, so an attempt whose file is on
// the file system synced staged and placed it there. An attempt without a
// file (its staged copy was there already) therefore never joins a round
// (Flush), nor does one whose link found a staged copy once it has
// (linked).
func syncPoints(ws []*WriteAttempt, files bool) []error {
	errs := make([]error, len(ws))
	rounds := map[uint64]error{} // by device: each file system's round
	var alone []int
	for i, w := range ws {
		if w.batched {
			if fs, ok := w.f.fileSystemSyncs(); ok {
				err, ran := rounds[fs.Dev]
				if !ran {
					err = w.f.syncs.whole.Sync(w.f.dir, fs)
					rounds[fs.Dev] = err
				}
				if err == nil && files {
					err = dirsync.Written(w.fh, fs)
				}
				if !errors.Is(err, dirsync.ErrNotSyncFS) {
					errs[i] = err
					continue
				}
				w.f.fs.Store(nil)
			}
		}
		alone = append(alone, i)
	}
	switch {
	case files:
		fanout.Each(len(alone), len(alone), func(k int) { errs[alone[k]] = ws[alone[k]].fh.Sync() })
	default:
		dirs := map[string]error{} // each directory once
		for _, i := range alone {
			f := ws[i].f
			err, ran := dirs[f.dir]
			if !ran {
				err = f.syncs.dirs.Sync(f.dir)
				dirs[f.dir] = err
			}
			errs[i] = err
		}
	}
	return errs
}

// fileSystemSyncs returns the output directory's file system, and whether
// syncPoints may use syncfs(2) there. It looks on the first call whose
// statfs(2) and stat(2) succeed, and keeps the answer until syncPoints
// drops it.
func (f *Writer) fileSystemSyncs() (dirsync.FS, bool) {
	if fs := f.fs.Load(); fs != nil {
		return *fs, fs.SyncFS
	}
	fs, err := f.fileSystem(f.dir)
	if err != nil {
		return fs, false // the step's own error tells what is wrong
	}
	f.fs.Store(&fs)
	return fs, fs.SyncFS
}

// createPartial creates the partial file of one attempt of delivery id,
// under a name no other attempt uses (.bizpipe-D.R.partial, R random): an
// attempt whose lease was lost may still be writing its own, and neither
// must remove, write or stage the other's. O_EXCL: never follow a symlink
// planted under the name.
func (f *Writer) createPartial(id int64) (string, *os.File, error) {
	var err error
	for range 3 { // a name taken means a planted file, or a one in 2^64 chance
		name := f.prefix + strconv.FormatInt(id, 10) + "." + fmt.Sprintf("%016x", rand.Uint64()) + suffixPartial
		path := filepath.Join(f.dir, name)
		var fh *os.File
		fh, err = fsop.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
		if err == nil {
			return path, fh, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return "", nil, err
}

// placeName performs step 3 but its sync: make final a name of the staged
// inode. It is idempotent.
func (f *Writer) placeName(d transport.Delivery, staged, final string) error {
	if f.overwrite {
		return f.placeOverwrite(d, staged, final)
	}
	return f.placeCreateNew(d, staged, final)
}

func (f *Writer) placeCreateNew(d transport.Delivery, staged, final string) error {
	err := os.Link(staged, final)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return f.errorf(d, "placing delivery %d: %w", d.ID, err)
	}
	stagedInfo, err := os.Lstat(staged)
	if err != nil {
		return f.errorf(d, "placing delivery %d: %w", d.ID, err)
	}
	finalInfo, err := os.Lstat(final)
	if err != nil {
		return f.errorf(d, "placing delivery %d: %w", d.ID, err)
	}
	if os.SameFile(stagedInfo, finalInfo) {
		return nil // placed by an earlier attempt of this very delivery
	}
	if !finalInfo.Mode().IsRegular() {
		return f.errorf(d, "file %s already exists and is not a regular file (%s); copy_mode create_new", final, finalInfo.Mode().Type())
	}
	f.step("comparing")
	same, err := sameContent(staged, final, stagedInfo, finalInfo)
	if err != nil {
		return f.errorf(d, "placing delivery %d: comparing with the existing file: %w", d.ID, err)
	}
	if !same {
		return f.errorf(d, "file %s %w; copy_mode create_new", final, ErrFileExists)
	}
	return nil // an existing identical file counts as delivered (§9)
}

func (f *Writer) placeOverwrite(d transport.Delivery, staged, final string) error {
	finalInfo, err := os.Lstat(final)
	switch {
	case err == nil:
		stagedInfo, err := os.Lstat(staged)
		if err != nil {
			return f.errorf(d, "placing delivery %d: %w", d.ID, err)
		}
		if os.SameFile(stagedInfo, finalInfo) {
			// Already placed. Renaming .placing over final now
			// would be a no-op that leaves .placing behind:
			// rename(2) does nothing when both names are links to
			// one inode.
			return nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return f.errorf(d, "placing delivery %d: %w", d.ID, err)
	}
	placing := f.reserved(d.ID, suffixPlacing)
	err = os.Link(staged, placing)
	if errors.Is(err, fs.ErrExist) {
		// Left by an interrupted attempt.
		if err = fsop.RemoveIfExists(placing); err == nil {
			err = os.Link(staged, placing)
		}
	}
	if err != nil {
		return f.errorf(d, "placing delivery %d: %w", d.ID, err)
	}
	if err := fsop.Rename(placing, final); err != nil {
		_ = fsop.Remove(placing)
		return f.errorf(d, "placing delivery %d: %w", d.ID, err)
	}
	return nil
}

// finalPath validates d.FileName and joins it to the directory.
func (f *Writer) finalPath(d transport.Delivery) (string, error) {
	if err := checkDeliveredName(d.FileName, d.FileNameSensitive); err != nil {
		return "", f.errorf(d, "%w", err)
	}
	return filepath.Join(f.dir, d.FileName), nil
}

// checkDeliveredName is CheckFileName for a delivery's file name, which,
// when sensitive, the error neither quotes nor describes: either tells
// something of the sensitive value.
func checkDeliveredName(name string, sensitive bool) error {
	if sensitive && fileNameProblem(name) != "" {
		return fmt.Errorf("%w %s: not a plain file name of 1 to %d bytes without path separators or control characters, not starting with %q",
			transport.ErrInvalidFileName, transport.SensitiveValue, maxFileNameLen, reservedPrefix)
	}
	return CheckFileName(name)
}

// hideName keeps a sensitive file name out of err: the delivered file's
// path, which every message naming the file (the transport's own and the
// operating system's) quotes, becomes dir/(sensitive value). errors.Is and
// errors.As still see what err wraps.
func (f *Writer) hideName(d transport.Delivery, err error) error {
	if err == nil || !d.FileNameSensitive || d.FileName == "" {
		return err
	}
	final := filepath.Join(f.dir, d.FileName)
	return &shownError{text: strings.ReplaceAll(err.Error(), final, filepath.Join(f.dir, transport.SensitiveValue)), err: err}
}

// shownError is err with another text.
type shownError struct {
	text string
	err  error
}

func (e *shownError) Error() string { return e.text }
func (e *shownError) Unwrap() error { return e.err }

// checkDir reports a missing output directory, or a path that is not one,
// in words an operator can act on; the raw ENOENT or ENOTDIR of the first
// file operation would name a reserved file instead.
func (f *Writer) checkDir(d transport.Delivery) error {
	info, err := os.Stat(f.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f.errorf(d, "output directory %s does not exist (the file transport does not create it): %w", f.dir, err)
	case err != nil:
		return f.errorf(d, "output directory: %w", err)
	case !info.IsDir():
		return f.errorf(d, "output directory %s is not a directory", f.dir)
	}
	return nil
}

// stagedExists reports whether the staged copy of d exists.
func (f *Writer) stagedExists(d transport.Delivery, staged string) (bool, error) {
	info, err := os.Lstat(staged)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, f.errorf(d, "delivery %d: %w", d.ID, err)
	case !info.Mode().IsRegular():
		return false, f.errorf(d, "delivery %d: %s is not a regular file", d.ID, staged)
	}
	return true, nil
}

func (f *Writer) reserved(id int64, suffix string) string {
	return filepath.Join(f.dir, f.prefix+strconv.FormatInt(id, 10)+suffix)
}

func (f *Writer) errorf(d transport.Delivery, format string, args ...any) error {
	return fmt.Errorf("send port %q: "+format, append([]any{d.Port}, args...)...)
}

// parseReserved splits one of this transport's reserved names into
// delivery id and suffix; ok is false for any other name, including the
// reserved names of another namespace.
func (f *Writer) parseReserved(name string) (id int64, suffix string, ok bool) {
	rest, found := strings.CutPrefix(name, f.prefix)
	if !found {
		return 0, "", false
	}
	for _, s := range []string{suffixPartial, suffixStaged, suffixPlacing} {
		num, found := strings.CutSuffix(rest, s)
		if !found {
			continue
		}
		if s == suffixPartial {
			// D.R.partial (see createPartial), or D.partial as
			// versions before the attempt's own name wrote it.
			if n, r, ok := strings.Cut(num, "."); ok {
				if r == "" || strings.Trim(r, "0123456789abcdef") != "" {
					return 0, "", false
				}
				num = n
			}
		}
		id, err := strconv.ParseInt(num, 10, 64)
		return id, s, err == nil
	}
	return 0, "", false
}

// sameContent compares two regular files byte for byte: a and b, as
// Lstat found them (ai, bi).
func sameContent(a, b string, ai, bi fs.FileInfo) (bool, error) {
	if ai.Size() != bi.Size() {
		return false, nil
	}
	fa, err := openAsSeen(a, ai)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := openAsSeen(b, bi)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	const chunk = 64 << 10
	bufA, bufB := make([]byte, chunk), make([]byte, chunk)
	for {
		na, errA := io.ReadFull(fa, bufA)
		nb, errB := io.ReadFull(fb, bufB)
		if !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA := errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF)
		endB := errors.Is(errB, io.EOF) || errors.Is(errB, io.ErrUnexpectedEOF)
		switch {
		case errA != nil && !endA:
			return false, errA
		case errB != nil && !endB:
			return false, errB
		case endA || endB:
			// Equal chunks, so both ended together (a file that
			// grew or shrank meanwhile compares unequal above).
			return endA && endB, nil
		}
	}
}

// openAsSeen opens path, which Lstat found to be the regular file seen,
// for reading: without waiting, and only if it still is that file.
// Whoever can write to the directory can swap a FIFO in since (whose
// plain open would wait for a writer, for ever) or a link to another file.
func openAsSeen(path string, seen fs.FileInfo) (*os.File, error) {
	fh, err := fsop.OpenNoWait(path)
	if err != nil {
		return nil, err
	}
	info, err := fh.Stat()
	if err == nil && (!info.Mode().IsRegular() || !os.SameFile(info, seen)) {
		err = &fs.PathError{Op: "open", Path: path, Err: errors.New("replaced by another file, or not a regular file, since it was looked at")}
	}
	if err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// WriterOptions configures a file transport (send_port transport "file").
type WriterOptions struct {
	Dir       string // output directory
	Overwrite bool   // copy_mode = "overwrite"; default create_new
	// Namespace, when set, is part of every reserved name the transport
	// uses (.bizpipe-NAMESPACE-ID.staged): the message box's identity
	// (msgbox.Box.ID), because delivery ids are unique only within one
	// box, and two boxes may deliver into one directory. Lower-case
	// letters and digits, at most 32.
	Namespace string
	// Syncs, when set, are rounds of syncs shared with the other Writers
	// given the same; nil: rounds of the Writer's own.
	Syncs *Syncs
}
