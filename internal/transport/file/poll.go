package file

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bizpipe/bizpipe/internal/dirsync"
	"github.com/bizpipe/bizpipe/internal/fsop"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// errClaimGone: a claimed file vanished (an operator moved it).
var errClaimGone = errors.New("claimed file is gone")

// errHeld: another process holds the claim's lock (lockClaim): it is
// storing the file, and it is its to finish.
var errHeld = errors.New("another process holds its claim")

// defaultPollInterval is the spec's poll_interval default (§3).
const defaultPollInterval = time.Second

// defaultConcurrency is how many files a pass publishes at once by default
// without a BatchSink. Each publish mostly waits for syncs (claim, commit,
// removal); the more wait together, the more of them one directory sync
// and one message box commit serve. 32 stays below the SQLite box's 64
// writes per commit.
const defaultConcurrency = 32

// With a BatchSink, a batch takes by default up to defaultBatchFiles files
// (the message box's most per commit, msgbox.MaxBatch), and no more than
// defaultBatchBytes of them as listed unless it is a single file: two
// batches in flight then hold at most 64 MiB of bodies in memory while
// they commit, as 32 files of up to one box chunk (1 MiB) did, while small
// files go 64 to a commit. Against 32 files per batch, on 2,000 files of
// 4 KiB: the box's commits (fsyncs of its log) 187 -> 110, syncfs(2)
// rounds about 400 -> 295.
const (
	defaultBatchFiles = msgbox.MaxBatch
	defaultBatchBytes = 32 << 20
)

// maxDefaultSettle caps the default SettleTime.
const maxDefaultSettle = 500 * time.Millisecond

// Poller is a polling file receive location (spec §3 transport "file").
//
// Each pass lists Dir (not recursively) and takes the regular files whose
// base name matches Pattern, except dot-files (claims and other tools'
// temporary files) and *.tmp files (case-insensitive), which producers
// should write to and then rename into place. Symbolic links, other
// non-regular files and files with more than one name are not taken, and a
// warning says so once per name and file (see notTaken): deleting a link
// would not remove what it points to, and what it or another name of a hard
// link leads to is not this directory's to send.
//
// A file still being written is left for a later pass. A file counts as
// settled when both:
//
//   - its modification time is at least SettleTime away from now (either
//     way: a time far in the future, from a skewed clock on a network share,
//     must not hold a file back forever); and
//   - the previous pass saw it with the same size and modification time. A
//     file the previous pass did not see counts as changed. The very first
//     pass has no previous one and uses the first rule only, so that files
//     present at start (and the runner's --once mode) are taken at once.
//
// A settled file is claimed by renaming it to a hidden name carrying Owner
// and a random part (see claim.go), so that of several servers polling one
// directory exactly one takes it: the others' renames fail as the file is
// gone, and they skip it. The claimed file is then streamed to the Sink with
// SourceKey "<Location>/<claim name>", and removed only after the Sink
// returned nil. If the Sink fails, the file is renamed back to its original
// name, to be retried by the next pass (of any server) and seen by
// operators.
//
// On its first successful pass a Poller recovers the claims its Owner left
// behind when it was killed, whose original names match Pattern: it
// publishes them with their original SourceKey, so the box returns dup=true
// for one it had committed, which is then simply removed. Such a claim is
// never renamed back: if the earlier attempt did commit, a new claim would
// publish it again under a new key. It stays claimed and is retried, with
// the same key, on every pass until it is acknowledged. Claims of other
// owners are left alone until they are older than TakeoverAfter (their
// server died): then one whose original name Pattern takes is taken over
// under its key, and one that no location of this process polling Dir
// takes (Siblings) is reported once (see stray); it stays until its server
// restarts with the same name, or an operator renames it back (the part
// after "<random>-" is the original name).
//
// A claim of this owner's whose original name Pattern does not take is
// another location's of this process when one polling Dir takes it
// (Siblings). Otherwise no one recovers it (the pattern changed, or its
// location was removed, while it was claimed): the first pass logs one
// warning naming them all, which says how to recover them.
//
// A claim of this process's that its directory took away (renamed away in
// the middle of a pass, or replaced by another directory) is not
// forgotten for the run: when a pass finds another directory than the
// previous one listed, or a claim gone with the directory it was in, the
// next pass collects this owner's claims again, as at start, so that one
// that comes back with its directory is received (once: its key tells the
// box whether it has it already).
//
// A file is read only if it is still the regular file a listing saw: it is
// opened without following a symbolic link and without waiting (a FIFO
// would wait for a writer), and must have the device and inode listed (see
// input.go). Whoever can write to the directory can swap something else in
// between the listing and the claim, or over a claim; that is refused
// unread and logged once. A new file is given back under its name, where
// the listing skips it, or takes it once settled if it is a regular file;
// a claim being recovered, taken over or retried stays as it is and is not retried.
//
// A claim is locked (lockClaim) from its open until its file is removed
// or given back: another process that meets it (recovering its own owner
// name's claims at start, as a second process of the same server name
// does, or taking over another owner's) does not store a locked claim,
// and retries it every pass until it is gone or free. Where there are no
// such locks (Windows, some network file systems), two receive locations
// must not poll one directory with overlapping patterns under the same
// Owner: each would recover the other's claims.
//
// Failures never stop a Poller: a directory that is missing or unreadable is
// logged when the condition starts and when it ends (not on every pass); a
// file that cannot be claimed or read (given back, tried again every pass)
// when it starts, every problemRepeat while it lasts, and when it ends; a
// refused file once; an entry not taken once per name and file; and a
// publish the Sink failed when failures start, every problemRepeat while
// they last (with how many were not logged), and when a publish succeeds.
type Poller struct {
	o      PollOptions
	match  string // o.Pattern as names are matched with (matchPattern)
	sink   transport.Sink
	log    *slog.Logger
	prefix string // this owner's claim prefix
	// dirs shares the directory syncs of the files published at once.
	dirs dirsync.Group

	pending atomic.Int64 // unsettled files seen by the last pass
	passes  atomic.Int64 // passes started; lets tests wait for passes

	mu sync.Mutex // serialises passes; guards the fields below
	// side guards leftovers and warned while a pass publishes several
	// files at once (the pass itself holds mu).
	side sync.Mutex
	// prev is the size and time of each candidate the previous pass saw
	// and left; nil before the first successful pass.
	prev map[string]fileState
	// recovered is set once this owner's old claims have been collected.
	recovered bool
	// dirInfo is the directory the last successful listing read (its
	// Stat just before; nil if that failed): another one at its path
	// may hold claims this process lost (see Poller).
	dirInfo fs.FileInfo
	// lost is set when a claim of this process vanished with its
	// directory during a pass (see Poller), by the pass's publishes.
	lost atomic.Bool
	// leftovers are claims this File holds that must be published (again)
	// under their own SourceKey: recovered at start, not given back after a
	// failure, or not removed after a publish. By claim name.
	leftovers map[string]leftover
	// dirErr is the directory error last logged; "" while it is readable.
	dirErr string
	// problems is the last problem logged for a directory entry (a file
	// or a claim), so that one that fails on every pass is reported once
	// and then every problemRepeat, not on every pass.
	problems map[string]problem
	// failing is the publish failures of this location, logged when they
	// start, then once every problemRepeat with a count, and when a
	// publish succeeds again; guarded by side.
	failing publishFailures
	// unsynced is the claims, takeovers and give-backs whose directory
	// sync failed, by the warning that says so: each logged at most once
	// every problemRepeat for the location (the cause, such as
	// descriptors used up, fails every sync of every pass alike);
	// guarded by side. Their first is not used.
	unsynced map[string]*publishFailures
	// strays are other owners' claims of names this location does not
	// take, met by takeOver (see stray), by claim name; forgotten once
	// gone from the listing.
	strays map[string]stray
	// skipped are the matching entries the listing does not take (see
	// notTaken), by name, each warned about once: again only when the name
	// holds another file or another reason. An entry no longer skipped
	// (gone, or now a file taken) is forgotten, so the map holds at most
	// the directory's current entries.
	skipped map[string]skippedEntry

	// Test hooks, set only by this package's tests. beforeClaim runs just
	// before a listed file (or another owner's claim) is renamed to a claim
	// of this owner: a test swaps the file there, as a hostile writer of the
	// directory could at that instant. open opens an input. now is the
	// clock.
	beforeClaim func(path string)
	// beforeGiveBack, when set (by tests), runs just before a claim the
	// box did not store is renamed back to its file's name.
	beforeGiveBack func()
	open           func(path string) (inputFile, error)
	now            func() time.Time
}

// leftover is a claim to publish (again).
type leftover struct {
	name string      // the original file name
	seen fs.FileInfo // the file as listed: what opening the claim must find
	// fresh: a new file just claimed from the listing, which must have one
	// name (see hardLinked). A claim made earlier may have two: a message
	// box links the input it keeps (msgbox.FileBody) before the claim is
	// removed, and a crash in between leaves both.
	fresh bool
}

// problem is the last problem logged for a directory entry.
type problem struct {
	name   string    // the file's original name
	key    string    // what went wrong, without the detail that varies
	first  time.Time // when it was first logged
	logged time.Time // when it was last logged
}

// problemRepeat is how often a problem with a file that lasts is logged
// again.
const problemRepeat = 10 * time.Minute

// publishFailures is the publish failures of a location since the last
// success. They are counted per location, not per file: the usual cause
// is the message box (its disk full, its database unavailable), which
// fails every file of every pass alike, and logging each filled the log
// (1,453 lines in 10 s for 31 files on a full disk).
type publishFailures struct {
	first  time.Time // the first failure; zero while publishing works
	logged time.Time // when a failure was last logged
	quiet  int       // failures since then, not logged
}

// fileState is what a pass remembers of a file to tell if it is still
// being written.
type fileState struct {
	size  int64
	mtime int64 // Unix nanoseconds
}

// CheckOwner is why owner cannot be a Poller's (PollOptions.Owner): its
// claim names, with the random part and a file name of reasonable length
// (64 bytes), would not fit in a file name. The owner is escaped in them
// (escapeOwner): a byte other than a letter, a digit, '_' and '.' takes
// three.
func CheckOwner(owner string) error {
	if len(ownerClaimPrefix(owner))+claimRandLen+1+64 > maxNameLen {
		return fmt.Errorf("owner %q is too long to fit in claim file names", owner)
	}
	return nil
}

// NewPoller checks the options and returns a file receiver. It touches no
// file: the directory may not exist yet. log may be nil. Its errors leave
// naming the location to the caller, which names the component it builds.
func NewPoller(o PollOptions, sink transport.Sink, log *slog.Logger) (*Poller, error) {
	if o.Location == "" {
		return nil, errors.New("file receive location: Location is required")
	}
	errf := func(format string, args ...any) error {
		return fmt.Errorf("file receive location: %s", fmt.Sprintf(format, args...))
	}
	if sink == nil {
		return nil, errf("Sink is required")
	}
	if o.Dir == "" {
		return nil, errf("Dir is required")
	}
	if o.Owner == "" {
		return nil, errf("Owner is required (the stable name of this server, which carries claims across restarts)")
	}
	if o.Pattern == "" {
		o.Pattern = "*"
	}
	if strings.ContainsAny(o.Pattern, `/\`) {
		return nil, errf("pattern %q must match base names only, without a path separator", o.Pattern)
	}
	if _, err := filepath.Match(o.Pattern, "x"); err != nil {
		return nil, errf("pattern %q: %v", o.Pattern, err)
	}
	switch {
	case o.PollInterval < 0:
		return nil, errf("negative poll interval %v", o.PollInterval)
	case o.PollInterval == 0:
		o.PollInterval = defaultPollInterval
	}
	switch {
	case o.SettleTime < 0:
		return nil, errf("negative settle time %v", o.SettleTime)
	case o.SettleTime == 0:
		o.SettleTime = min(o.PollInterval, maxDefaultSettle)
	}
	if o.ContentType == "" {
		o.ContentType = transport.DefaultContentType
	}
	switch {
	case o.Concurrency < 0:
		return nil, errf("negative concurrency %d", o.Concurrency)
	}
	o.Properties = maps.Clone(o.Properties) // the caller's map may change later
	o.SensitiveProperties = slices.Clone(o.SensitiveProperties)
	if err := CheckOwner(o.Owner); err != nil {
		return nil, errf("%v", err)
	}
	prefix := ownerClaimPrefix(o.Owner)
	if o.Siblings != nil {
		o.Siblings.add(o.Location, o.Dir, matchPattern(o.Pattern))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{
		o:         o,
		match:     matchPattern(o.Pattern),
		sink:      sink,
		log:       log.With("receive_location", o.Location),
		prefix:    prefix,
		leftovers: map[string]leftover{},
		problems:  map[string]problem{},
		skipped:   map[string]skippedEntry{},
		strays:    map[string]stray{},
		open:      openNoFollow,
		now:       time.Now,
	}, nil
}

// Run polls every PollInterval (measured from the end of one pass to the
// start of the next, so slow passes never pile up), starting at once, until
// ctx is done; then it returns nil. When ctx is done during a pass, the file
// being published is finished - its Publish gets a context that is not
// cancelled, so a stopping server completes the work in flight (spec §8)
// rather than rolling it back - and no further file is started. The Sink
// must bound its own time (a hung Publish holds Run up). Every failure is
// logged and polling goes on, so Run returns no other error.
func (f *Poller) Run(ctx context.Context) error {
	f.log.Info("file receive location started", "dir", f.o.Dir, "pattern", f.o.Pattern, "owner", f.o.Owner)
	work := context.WithoutCancel(ctx)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.log.Info("file receive location stopped")
			return nil
		case <-t.C:
		}
		_, _ = f.pass(work, ctx.Done()) // failures are logged; the next pass retries
		t.Reset(f.o.PollInterval)
	}
}

// Pending is the number of matching files the last pass left because they
// were not settled yet (see Poller). The runner's --once mode polls again,
// after a pause of about SettleTime, while it is not 0. Files that failed
// to publish do not count: a broken message box must not keep --once
// running forever.
func (f *Poller) Pending() int { return int(f.pending.Load()) }

// SettleTime is the effective settle time (the option or its default).
func (f *Poller) SettleTime() time.Duration { return f.o.SettleTime }

// Poll makes one pass (see Poller) and returns the number of files
// acknowledged: published (or found already stored, dup) and removed.
// Passes are serialised: concurrent calls wait for each other.
//
// Every failure is logged as it happens; the error, when not nil, joins
// them for callers that want to report a pass (--once): the directory could
// not be read, a file could not be claimed or published. It is
// informational: files after a failed one are still processed, and the next
// pass retries. An input refused as not what was listed (a link or FIFO
// swapped in) is logged but not part of the error: it is the writer's
// doing, not a failure of the pass. When ctx is done the pass stops before the next file; the
// publish in progress sees the cancelled context (reading the file's body
// then ends with ctx's error), and if it fails its file is given back.
// ctx's error is then part of the result.
func (f *Poller) Poll(ctx context.Context) (published int, err error) {
	return f.pass(ctx, ctx.Done())
}

// pass is Poll with separate signals: ctx is given to the Sink, stop ends
// the pass before the next file.
func (f *Poller) pass(ctx context.Context, stop <-chan struct{}) (published int, err error) {
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.passes.Add(1)

	dirInfo, _ := os.Stat(f.o.Dir) // what is listed, unless replaced in between
	entries, err := os.ReadDir(f.o.Dir)
	if err != nil {
		f.dirFailed(err)
		f.pending.Store(0)
		return 0, fmt.Errorf("receive location %q: reading directory: %w", f.o.Location, err)
	}
	f.dirOK()
	otherDir := dirInfo == nil || f.dirInfo == nil || !os.SameFile(dirInfo, f.dirInfo)
	f.dirInfo = dirInfo
	first := f.prev == nil

	var errs []error
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		present[e.Name()] = true
	}
	if lost := f.lost.Swap(false); !f.recovered || lost || otherDir {
		f.collectOwnClaims(entries, f.recovered)
		f.recovered = true
	}
	skippedNow := map[string]bool{} // entries skip warned about in this pass
	if f.o.TakeoverAfter > 0 {
		f.takeOver(entries, present, skippedNow)
	}

	// Leftover claims first: they have waited longest.
	for _, claim := range slices.Sorted(maps.Keys(f.leftovers)) {
		if stopped() {
			break
		}
		lo := f.leftovers[claim]
		if !present[claim] {
			// Removed by someone else (an operator giving it back); a
			// later listing shows it under whatever name it has now.
			delete(f.leftovers, claim)
			continue
		}
		if f.finishGiveBack(claim, lo.name) {
			delete(f.leftovers, claim)
			continue
		}
		if now, changed := f.rewritten(claim, lo); changed {
			// Still being written: read once it stops changing, as a
			// new file is; until then every read would be refused as
			// changed against what an earlier pass saw.
			f.leftovers[claim] = now
			f.report(slog.LevelWarn, claim, lo.name, "changing",
				"a claimed file is still being written; it stays claimed and is received once it stops changing", "claim", claim)
			continue
		}
		acked, committed, done, err := f.publish(ctx, claim, lo)
		done() // a leftover is not given back: nothing to hold it for
		switch {
		case acked:
			delete(f.leftovers, claim)
			f.resolved(claim, "received")
			f.publishOK()
			published++
		case errors.Is(err, errClaimGone):
			delete(f.leftovers, claim)
			f.goneWithDir()
		case errors.Is(err, errHeld):
			f.reportHeld(claim, lo.name)
		case errors.Is(err, errRefused):
			// Not the file that was claimed: what the claim held is gone,
			// and this must not be published under its key. Left alone
			// for an operator, not retried.
			delete(f.leftovers, claim)
			f.log.Error("refused a claimed file; it stays under its claim name, not received and not retried",
				"file", lo.name, "claim", claim, "reason", refusedReason(err))
		case err != nil:
			switch {
			case committed:
			case isInputError(err):
				f.report(slog.LevelError, claim, lo.name, "read: "+causeText(err),
					"cannot read a claimed file; it stays claimed and is retried every pass",
					"claim", claim, "error", err)
			default:
				f.publishFailed("publishing a claimed file failed; it stays claimed and is retried next pass",
					"file", lo.name, "claim", claim, "error", err)
			}
			errs = append(errs, err)
		}
	}

	// New files.
	now := f.now()
	type candidate struct {
		name string
		st   fileState
		info fs.FileInfo
	}
	var ready []candidate
	cur := map[string]fileState{}
	var pending int64
	for _, e := range entries {
		name := e.Name()
		if !f.candidate(name) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			// Gone since the listing (claimed by another server) or
			// unreadable; the next pass looks again.
			continue
		}
		if reason := notTaken(info); reason != "" {
			f.skip(name, info, reason)
			skippedNow[name] = true
			continue
		}
		st := fileState{size: info.Size(), mtime: info.ModTime().UnixNano()}
		cur[name] = st
		if !f.settled(now, name, st, first) {
			pending++
			continue
		}
		ready = append(ready, candidate{name, st, info})
	}
	// Oldest first, as far as modification times tell.
	slices.SortFunc(ready, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.st.mtime, b.st.mtime), strings.Compare(a.name, b.name))
	})
	// Several files are published at once: each one's durability costs
	// fsyncs (claim, commit, removal), and a message box that commits
	// concurrent writes together, like a file system's journal, turns that
	// waiting into throughput. A BatchSink takes them in batches, whose
	// files share one claim sync and one commit; otherwise each file is
	// published on its own.
	bs, batched := f.sink.(transport.BatchSink)
	size, slots, maxBytes := 1, cmp.Or(f.o.Concurrency, defaultConcurrency), int64(0)
	if batched {
		size, slots = cmp.Or(f.o.Concurrency, defaultBatchFiles), 2
		if f.o.Concurrency == 0 {
			maxBytes = defaultBatchBytes
		}
	}
	var (
		wg   sync.WaitGroup
		rmu  sync.Mutex
		slot = make(chan struct{}, slots)
	)
	for start, end := 0, 0; start < len(ready); start = end {
		if stopped() {
			break
		}
		slot <- struct{}{}
		if stopped() { // the stop may have come while waiting for a slot
			<-slot
			break
		}
		end = start + 1
		for bytes := ready[start].st.size; end < min(start+size, len(ready)); end++ {
			if bytes += ready[end].st.size; maxBytes > 0 && bytes > maxBytes {
				break
			}
		}
		group := ready[start:end]
		wg.Add(1)
		go func() {
			defer func() { <-slot; wg.Done() }()
			files := make([]listed, len(group))
			for i, c := range group {
				files[i] = listed{c.name, c.info}
			}
			var acked []bool
			var gerrs []error
			if batched {
				acked, gerrs = f.receiveBatch(ctx, bs, files)
			} else {
				a, err := f.receive(ctx, files[0].name, files[0].info)
				acked, gerrs = []bool{a}, []error{err}
			}
			rmu.Lock()
			defer rmu.Unlock()
			for i, c := range group {
				if acked[i] {
					published++
					delete(cur, c.name)
				}
				// A refused input (a link or FIFO swapped in) is the
				// writer's doing, logged, and given back: not a failure
				// of the pass.
				if gerrs[i] != nil && !errors.Is(gerrs[i], errRefused) {
					errs = append(errs, gerrs[i])
				}
			}
		}()
	}
	wg.Wait()
	f.prev = cur
	f.pending.Store(pending)
	for entry := range f.problems {
		if !present[entry] {
			f.resolved(entry, "gone")
		}
	}
	for name := range f.skipped {
		if !skippedNow[name] {
			delete(f.skipped, name) // gone, or taken now: warn again if it comes back
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	if len(errs) > 0 {
		return published, fmt.Errorf("receive location %q: %w", f.o.Location, errors.Join(errs...))
	}
	return published, nil
}

// skippedEntry is a matching entry the listing did not take, as warned
// about.
type skippedEntry struct {
	info   fs.FileInfo // its Lstat: its identity (device and inode)
	reason string
}

// notTaken says why the listing does not take a matching entry (its Lstat
// info): not a regular file (a symbolic link, a FIFO, a device, a
// directory), or a file with more than one name; "" when it is taken.
// These are never opened (opening a FIFO or device can block or have side
// effects; a link or a second name may lead to a file this location must
// not read), and stay where they are.
func notTaken(info fs.FileInfo) string {
	m := info.Mode()
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link: only regular files are read, never what a link points to"
	case m.IsDir():
		return "a directory: subdirectories are not read"
	case !m.IsRegular():
		return "not a regular file but a " + fsop.TypeName(m)
	}
	if err := hardLinkRefusal(info); err != nil {
		return refusedReason(err)
	}
	return ""
}

// skip warns that a matching entry is not taken, once per name, file and
// reason: an operator learns why a file never moves, without a line on
// every pass.
func (f *Poller) skip(name string, info fs.FileInfo, reason string) {
	if prev, ok := f.skipped[name]; ok && prev.reason == reason && os.SameFile(prev.info, info) {
		return
	}
	pinIdentity(info)
	f.skipped[name] = skippedEntry{info: info, reason: reason}
	f.log.Warn("not taking a matching entry of the receive directory; it is left in place, unread", "file", name, "reason", reason)
}

// candidate reports whether a base name is one this location takes.
func (f *Poller) candidate(name string) bool { return takes(f.match, name) }

// takes reports whether a location with pattern takes a file of that
// base name: it matches, and it is neither hidden nor, by its .tmp
// extension, still being written (globsOverlap knows these rules too).
// On Windows the pattern given is the location's folded (matchPattern).
func takes(pattern, name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	if len(name) >= 4 && strings.EqualFold(name[len(name)-4:], ".tmp") {
		return false
	}
	ok, _ := filepath.Match(pattern, name) // pattern checked by NewPoller
	return ok
}

// patternsFoldCase: on Windows a pattern ignores letter case, as Windows'
// own wildcards and BizTalk's file masks do ("*.xml" takes ORDER.XML); a
// partner's file left unread for its letter case would wait there unseen.
// Elsewhere it does not, as the shell's globs do not.
const patternsFoldCase = runtime.GOOS == "windows"

// matchPattern is the pattern a location matches names with: pattern
// itself, or on Windows pattern folded (foldPattern), once at load.
func matchPattern(pattern string) string {
	if patternsFoldCase {
		return foldPattern(pattern)
	}
	return pattern
}

// settled applies the still-being-written rule (see Poller).
func (f *Poller) settled(now time.Time, name string, st fileState, first bool) bool {
	age := now.Sub(time.Unix(0, st.mtime))
	if age < 0 {
		age = -age
	}
	if age < f.o.SettleTime {
		return false
	}
	if first {
		return true
	}
	prev, ok := f.prev[name]
	return ok && prev == st
}

// rewritten returns the leftover lo of claim with the file as it is now,
// and whether its size or modification time changed since lo.seen was
// taken (a producer still writing it): the same file, which its publish
// must then find as it is now. A claim gone or replaced is not looked at
// here: its publish finds out.
func (f *Poller) rewritten(claim string, lo leftover) (leftover, bool) {
	path := filepath.Join(f.o.Dir, claim)
	now, err := os.Lstat(path)
	if err != nil || !now.Mode().IsRegular() || !sameFile(now, lo.seen) ||
		now.Size() == lo.seen.Size() && now.ModTime().Equal(lo.seen.ModTime()) {
		return lo, false
	}
	if now, err = identify(path, now); err != nil {
		return lo, false
	}
	lo.seen = now
	return lo, true
}

// collectOwnClaims makes leftovers of the claims this owner left behind when
// it was killed, for this location's pattern, or, again, those this
// process lost with its directory (see Poller). A claim that is not a
// regular file is not this owner's doing: it is refused and left alone.
func (f *Poller) collectOwnClaims(entries []os.DirEntry, again bool) {
	var orphans, orphanNames []string // claims, and their files' names
	for _, e := range entries {
		name, ok := parseClaim(f.prefix, e.Name())
		if !ok {
			continue
		}
		if !f.candidate(name) {
			if !again && f.orphaned(e, name) {
				orphans, orphanNames = append(orphans, e.Name()), append(orphanNames, name)
			}
			continue
		}
		if _, ok := f.leftovers[e.Name()]; ok {
			continue // still known
		}
		// The listing's Lstat is the identity opening the claim must find.
		info, err := e.Info()
		if err != nil {
			continue // gone since the listing
		}
		if !info.Mode().IsRegular() {
			f.log.Error("refused a claimed file; it stays under its claim name, not received and not retried",
				"file", name, "claim", e.Name(), "reason", refusedReason(notRegular(info.Mode())))
			continue
		}
		if f.finishGiveBack(e.Name(), name) {
			continue
		}
		if id, err := identify(filepath.Join(f.o.Dir, e.Name()), info); err == nil {
			info = id
		}
		if again {
			// A process of this owner's name that holds it is storing
			// it: it is not one this process lost.
			held, release := f.holdClaim(e.Name(), info)
			if held {
				continue
			}
			release()
			f.log.Warn("recovering a claimed file that was out of reach (its directory moved away or replaced meanwhile); it is received under its claim's key",
				"file", name, "claim", e.Name())
		} else {
			f.log.Info("recovering a file claimed before a restart", "file", name, "claim", e.Name())
		}
		f.leftovers[e.Name()] = leftover{name: name, seen: info}
	}
	if len(orphans) > 0 {
		f.log.Warn("claimed files that no receive location of this process recovers: this server claimed them before a restart, and no pattern of a location "+
			"polling this directory takes their names now (a pattern changed, or a location was removed); put the pattern back until they are received, "+
			"or rename each claim back to its file name, to have it received anew (a second time if it was stored before the restart)",
			"dir", f.o.Dir, "claims", orphans, "files", orphanNames)
	}
}

// orphaned reports whether e, a claim of this owner's of the file name
// that this location does not take, is one that no location of this
// process recovers, and is yet to be reported: no sibling polling this
// directory takes it, and no process of this owner's name is storing it.
func (f *Poller) orphaned(e os.DirEntry, name string) bool {
	if f.o.Siblings != nil {
		if _, ok := f.o.Siblings.takenBy(f.o.Location, f.o.Dir, name); ok {
			return false
		}
	}
	info, err := e.Info()
	if err != nil || !info.Mode().IsRegular() || f.finishGiveBack(e.Name(), name) {
		return false
	}
	held, release := f.holdClaim(e.Name(), info)
	if held {
		return false
	}
	release()
	return f.o.Siblings == nil || f.o.Siblings.firstReport(e.Name())
}

// finishGiveBack completes the give-back of the file name, claimed as
// claim, that a crash interrupted (or a failure to remove either name
// after the link, see renameNoReplace). renameNoReplace gives a
// file back by linking the claim to its name, then removing the claim: a
// kill between the two leaves the file under both names, and each would
// then be refused as a hard link (hardLinked) on every pass, for ever.
// When name is that very file and no process holds the claim's lock (one
// giving it back now holds it until it is done), the claim name is
// removed, as the give-back would have: a file is given back only when
// the box has not stored it, so the listing takes it again under its
// name. It reports whether it did.
func (f *Poller) finishGiveBack(claim, name string) bool {
	path := filepath.Join(f.o.Dir, claim)
	info, err := os.Lstat(path)
	if err != nil || !info.Mode().IsRegular() || hardLinkRefusal(info) == nil {
		return false
	}
	back := filepath.Join(f.o.Dir, name)
	if now, err := os.Lstat(back); err != nil || !sameFile(now, info) {
		return false
	}
	file, err := f.open(path)
	if err != nil {
		return false
	}
	defer file.Close()
	if st, err := file.Stat(); err != nil || !sameFile(st, info) {
		return false
	}
	if err := lockClaim(file, path, info); err != nil {
		return false // held: its give-back is under way
	}
	// Again under the lock: name may have been removed or replaced since.
	if now, err := os.Lstat(back); err != nil || !sameFile(now, info) {
		return false
	}
	if err := fsop.Remove(path); err != nil {
		f.report(slog.LevelWarn, claim, name, "finish give-back",
			"cannot finish giving back a file that a restart interrupted (it has its name and its claim's)", "claim", claim, "error", causeText(err))
		return false
	}
	if err := f.dirs.Sync(f.o.Dir); err != nil {
		f.syncFailed("giving back a file may not survive a power failure", err, "file", name)
	}
	f.log.Warn("finished giving back a file whose give-back a restart interrupted; it is taken again under its name", "file", name, "claim", claim)
	return true
}

// takeOver renames other owners' claims older than TakeoverAfter to this
// owner, keeping their key, and makes them leftovers to publish. Of several
// servers taking over one claim, the rename of exactly one succeeds.
func (f *Poller) takeOver(entries []os.DirEntry, present, skippedNow map[string]bool) {
	mine := escapeOwner(f.o.Owner)
	for _, e := range entries {
		owner, key, name, ok := parseAnyClaim(e.Name())
		if !ok || owner == mine || !e.Type().IsRegular() {
			continue
		}
		if !f.candidate(name) {
			f.stray(e, name)
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		age := f.now().Sub(fsop.ChangeTime(info))
		if age < f.o.TakeoverAfter {
			continue
		}
		if f.finishGiveBack(e.Name(), name) {
			continue
		}
		if err := hardLinkRefusal(info); err != nil {
			// Its owner's box may have linked it (msgbox.FileBody) before
			// dying: that owner recovers it. Or it is a link to a file
			// this location must not read (hardLinked).
			f.skip(e.Name(), info, refusedReason(err))
			skippedNow[e.Name()] = true
			continue
		}
		// A rename keeps the identity: opening the new claim must find
		// the file listed here.
		if info, err = identify(filepath.Join(f.o.Dir, e.Name()), info); err != nil {
			continue // gone or changed since the listing: the next pass looks again
		}
		claim := f.prefix + key
		if len(claim) > maxNameLen {
			// This owner's name is longer than the dead one's: the claim
			// cannot be renamed to it, on any pass.
			f.report(slog.LevelWarn, e.Name(), name, "takeover too long",
				"cannot take over a file another server claimed and did not finish: its claim name with this server's would be too long; "+
					"rename the claim back to the file name, or the file shorter, to have it received", "claim", e.Name())
			continue
		}
		if f.beforeClaim != nil {
			f.beforeClaim(filepath.Join(f.o.Dir, e.Name()))
		}
		// Its owner may be alive and slow (a large file): it then holds
		// the claim's lock, and keeps the claim.
		held, release := f.holdClaim(e.Name(), info)
		if held {
			f.log.Debug("not taking over a claim its owner still holds", "file", name, "claim", e.Name())
			continue
		}
		err = os.Rename(filepath.Join(f.o.Dir, e.Name()), filepath.Join(f.o.Dir, claim))
		release()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				// Not another server taking it first, nor its publishing
				// (the claim gone): a failure that recurs on every pass.
				f.report(slog.LevelWarn, e.Name(), name, "takeover failed",
					"cannot take over a file another server claimed and did not finish", "claim", e.Name(), "error", causeText(err))
			}
			continue
		}
		f.resolved(e.Name(), "taken over")
		if err := f.dirs.Sync(f.o.Dir); err != nil {
			f.syncFailed("taking over a claim may not survive a power failure", err, "file", name)
		}
		f.leftovers[claim] = leftover{name: name, seen: info}
		present[claim] = true
		f.log.Warn("took over a file another server claimed and did not finish", "file", name, "claim", e.Name(), "age", age.Round(time.Second).String())
	}
	for claim := range f.strays {
		if !present[claim] {
			delete(f.strays, claim)
		}
	}
}

// stray is another owner's claim of a name this location does not take.
type stray struct {
	due  time.Time // when it is old enough to be reported
	done bool      // reported, or a sibling's: nothing more to do
}

// stray reports, once, e, another owner's claim of the file name that
// this location does not take, when it is twice as old as takeovers
// wait for and no location of this process polling Dir takes the name
// either: its owner died, and the pattern changed while it was down, so
// no one receives it. A claim a sibling takes is the sibling's to take
// over. Twice: a process that runs another host's locations (run --host)
// polling Dir may take it, and has had the time to by then. Each claim
// costs one Lstat until it is due, not one every pass.
func (f *Poller) stray(e os.DirEntry, name string) {
	after := 2 * f.o.TakeoverAfter
	s, known := f.strays[e.Name()]
	if s.done || known && f.now().Before(s.due) {
		return
	}
	if !known && f.o.Siblings != nil {
		if _, ok := f.o.Siblings.takenBy(f.o.Location, f.o.Dir, name); ok {
			f.strays[e.Name()] = stray{done: true}
			return
		}
	}
	info, err := e.Info()
	if err != nil || !info.Mode().IsRegular() {
		return
	}
	changed := fsop.ChangeTime(info)
	age := f.now().Sub(changed)
	if age < after {
		f.strays[e.Name()] = stray{due: changed.Add(after)}
		return
	}
	if f.finishGiveBack(e.Name(), name) {
		return
	}
	// Its owner may be alive and slow: it then holds the claim's lock.
	held, release := f.holdClaim(e.Name(), info)
	if held {
		f.strays[e.Name()] = stray{due: s.due} // looked at again next pass
		return
	}
	release()
	f.strays[e.Name()] = stray{done: true}
	if f.o.Siblings != nil && !f.o.Siblings.firstReport(e.Name()) {
		return // another location of this process reported it
	}
	f.log.Warn("a claimed file that no receive location of this process takes over: another server claimed it and did not finish, and no pattern of a location "+
		"polling this directory takes its name (a pattern changed while that server was down); put a pattern that takes it back until it is taken over "+
		"(or start that server again), or rename the claim back to its file name, to have it received anew (a second time if that server stored it)",
		"dir", f.o.Dir, "claim", e.Name(), "file", name, "age", age.Round(time.Second).String())
}

// holdClaim locks the claim named claim, listed as info, for the rename
// that takes it over; held reports that another process holds it.
// release ends the lock (the publish locks the claim again). A claim that
// cannot be opened is not held: the rename then meets what is wrong.
func (f *Poller) holdClaim(claim string, info fs.FileInfo) (held bool, release func()) {
	file, err := f.open(filepath.Join(f.o.Dir, claim))
	if err != nil {
		return false, func() {}
	}
	if st, err := file.Stat(); err != nil || !sameFile(info, st) {
		file.Close()
		return false, func() {}
	}
	if errors.Is(lockClaim(file, filepath.Join(f.o.Dir, claim), info), errHeld) {
		file.Close()
		return true, nil
	}
	return false, func() { file.Close() }
}

// receive claims the file name, listed as seen, and publishes it. acked
// reports that it was published and removed.
func (f *Poller) receive(ctx context.Context, name string, seen fs.FileInfo) (acked bool, err error) {
	claim, seen, err := f.claimFile(name, seen)
	if claim == "" {
		return false, err
	}
	// Make the claim durable before the message can be: were it lost in a
	// power failure after the commit, the file would reappear under its
	// own name and be claimed, and published, again under a new key.
	if err := f.dirs.Sync(f.o.Dir); err != nil {
		f.syncFailed("claim may not survive a power failure", err, "file", name)
	}
	acked, committed, done, err := f.publish(ctx, claim, leftover{name: name, seen: seen, fresh: true})
	defer done() // after settle: the claim's lock lasts while it is given back
	return f.settle(name, claim, seen, acked, committed, err)
}

// listed is a settled file a pass takes: its name and what the listing saw.
type listed struct {
	name string
	info fs.FileInfo
}

// receiveBatch receives files as receive does each, as one batch: it claims
// them all, makes the claims durable with one directory sync, stores them
// with one PublishBatch (one commit), then removes those stored. acked and
// errs say, per file, what receive would have returned.
func (f *Poller) receiveBatch(ctx context.Context, bs transport.BatchSink, files []listed) (acked []bool, errs []error) {
	acked, errs = make([]bool, len(files)), make([]error, len(files))
	claims := make([]string, len(files))
	claimed := false
	for i, l := range files {
		if ctx.Err() != nil {
			// Stopping: the box would refuse the rest; they stay as
			// they are, for the next run.
			break
		}
		claims[i], files[i].info, errs[i] = f.claimFile(l.name, l.info)
		claimed = claimed || claims[i] != ""
	}
	if !claimed {
		return acked, errs
	}
	// Before the commit, as in receive: see there.
	if err := f.dirs.Sync(f.o.Dir); err != nil {
		f.syncFailed("claims may not survive a power failure", err, "files", len(files))
	}
	inputs := make([]*input, len(files))
	var receipts []msgbox.Receipt
	var at []int // the file of each receipt
	for i, l := range files {
		if claims[i] == "" {
			continue
		}
		in, err := f.openClaim(ctx, claims[i], leftover{name: l.name, seen: l.info, fresh: true})
		if err != nil {
			acked[i], errs[i] = f.settle(l.name, claims[i], l.info, false, false, err)
			continue
		}
		inputs[i] = in
		receipts = append(receipts, msgbox.Receipt{In: in.in, Body: in.body})
		at = append(at, i)
	}
	if len(receipts) == 0 {
		return acked, errs
	}
	results := bs.PublishBatch(ctx, receipts)
	for k, i := range at {
		var r msgbox.ReceiveResult
		if k < len(results) {
			r = results[k]
		} else {
			r.Err = errors.New("the sink returned no result for it")
		}
		a, committed, err := f.acknowledge(inputs[i], r.Message, r.Dup, r.Err)
		acked[i], errs[i] = f.settle(files[i].name, claims[i], files[i].info, a, committed, err)
		inputs[i].close() // after settle: the claim's lock lasts while it is given back
	}
	return acked, errs
}

// claimFile renames the file name, listed as seen, to a new claim of this
// owner and returns the claim's name, and the file info opening the claim
// must match (see identify); "" when it is not claimed (another server
// claimed it first, it changed since it was listed, its name is too long,
// or the rename failed: err).
func (f *Poller) claimFile(name string, seen fs.FileInfo) (string, fs.FileInfo, error) {
	claim := newClaimName(f.prefix, name, f.now())
	if len(claim) > maxNameLen {
		f.report(slog.LevelWarn, name, name, "too long",
			"file name too long to claim; rename it shorter to have it received")
		return "", nil, nil
	}
	src := filepath.Join(f.o.Dir, name)
	dst := filepath.Join(f.o.Dir, claim)
	seen, err := identify(src, seen)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotAsListed) {
		// Claimed by another server, or changed since the listing: the
		// next pass looks again.
		return "", nil, nil
	}
	if err != nil {
		f.report(slog.LevelWarn, name, name, "claim: "+causeText(err), "cannot claim file", "error", err)
		return "", nil, fmt.Errorf("claiming %s: %w", name, err)
	}
	if f.beforeClaim != nil {
		f.beforeClaim(src)
	}
	// fsop.Rename: dst is a fresh random name, so os.Rename's stat of it
	// would only cost a system call per message.
	if err := fsop.Rename(src, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, nil // another server claimed it first
		}
		// E.g. still open by its writer on Windows, or no permission.
		f.report(slog.LevelWarn, name, name, "claim: "+causeText(err), "cannot claim file", "error", err)
		return "", nil, fmt.Errorf("claiming %s: %w", name, err)
	}
	return claim, seen, nil
}

// settle ends the receipt of the file name, claimed as claim, once its
// publish ended (see publish for acked, committed and err): a file the box
// has not stored is given back under its name, or kept as a leftover.
func (f *Poller) settle(name, claim string, seen fs.FileInfo, acked, committed bool, err error) (bool, error) {
	if acked {
		f.resolved(name, "received")
		f.publishOK()
	}
	if acked || committed {
		return acked, err
	}
	if errors.Is(err, errHeld) {
		// Another process took the claim over between its rename and
		// its lock: given back, it would be stored twice. Kept under
		// its key, it is retried (the box finds it a duplicate if the
		// other stored it in this box).
		f.addLeftover(claim, stored(leftover{name: name, seen: seen}))
		f.reportHeld(claim, name)
		return false, nil
	}
	src := filepath.Join(f.o.Dir, name)
	dst := filepath.Join(f.o.Dir, claim)
	// The box has not stored it: give the file back, unless that would
	// replace a new file dropped under the same name meanwhile. A refused
	// input is given back too: it is whatever was put there (a link, a
	// FIFO), left as it was found; the listing skips what is not a regular
	// file, and a regular file that replaced the listed one is taken once
	// settled, as any new file.
	if f.beforeGiveBack != nil {
		f.beforeGiveBack()
	}
	if rerr := renameNoReplace(dst, src); rerr != nil {
		if errors.Is(err, errRefused) {
			// Not retried: opening it again would be refused again.
			f.log.Error("refused an input file and could not give it back; it stays under its claim name, not received",
				"file", name, "claim", claim, "reason", refusedReason(err), "give_back_error", rerr)
			return false, err
		}
		if errors.Is(rerr, fs.ErrNotExist) {
			// Moved or removed by someone else meanwhile (an operator,
			// a server that took it over): not this location's to
			// retry, unless it went with its directory and comes back.
			f.goneWithDir()
			f.log.Error("publishing a file failed, and its claim is gone: not retried here",
				"file", name, "claim", claim, "error", err)
			return false, err
		}
		f.addLeftover(claim, leftover{name: name, seen: seen})
		f.log.Error("publishing a file failed and it could not be given back; it stays claimed and is retried next pass",
			"file", name, "claim", claim, "error", err, "give_back_error", rerr)
		return false, err
	}
	if err := f.dirs.Sync(f.o.Dir); err != nil {
		f.syncFailed("giving back a file may not survive a power failure", err, "file", name)
	}
	switch {
	case errors.Is(err, errRefused) && errors.Is(err, errReplaced):
		f.log.Warn("refused an input file replaced since it was listed; it is back under its name and taken once settled",
			"file", name, "reason", refusedReason(err))
	case errors.Is(err, errRefused):
		f.log.Error("refused an input file; it is back under its name, skipped, and not received",
			"file", name, "reason", refusedReason(err))
	case errors.Is(err, context.Canceled):
		// The stop cut the store short: not a fault of the box.
		f.log.Warn("stopping: storing a file cancelled; it is back under its name, received at the next run", "file", name)
	case isInputError(err):
		f.report(slog.LevelError, name, name, "read: "+causeText(err),
			"cannot read an input file; it is back under its name and tried again every pass", "error", err)
	default:
		f.publishFailed("publishing a file failed; it is back under its name and retried next pass", "file", name, "error", err)
	}
	return false, err
}

// publishFailed logs a failed publish, msg with args: at once if
// publishing worked until now, then at most once every problemRepeat for
// the location, saying how many failures went unlogged.
func (f *Poller) publishFailed(msg string, args ...any) {
	f.side.Lock()
	defer f.side.Unlock()
	now := f.now()
	p := &f.failing
	switch {
	case p.first.IsZero():
		p.first = now
		args = append(args, "repeats_every", problemRepeat.String())
	case now.Sub(p.logged) < problemRepeat:
		p.quiet++
		return
	default:
		args = append(args, "since", p.first.Format(time.RFC3339), "failures_not_logged", p.quiet)
	}
	p.logged, p.quiet = now, 0
	f.log.Error(msg, args...)
}

// syncFailed logs msg, with args, err and how many such failures went
// unlogged since the last line, for a directory sync that failed after a
// claim, a takeover or a give-back: at most once every problemRepeat for
// the location and msg. A sync that works in between ends nothing: under a
// shortage of descriptors some syncs work (one shared with a claim's
// sync), and the others would start a new line each.
func (f *Poller) syncFailed(msg string, err error, args ...any) {
	f.side.Lock()
	defer f.side.Unlock()
	now := f.now()
	p := f.unsynced[msg]
	if p == nil {
		if f.unsynced == nil {
			f.unsynced = map[string]*publishFailures{}
		}
		p = &publishFailures{}
		f.unsynced[msg] = p
	}
	if !p.logged.IsZero() && now.Sub(p.logged) < problemRepeat {
		p.quiet++
		return
	}
	args = append(args, "error", err, "repeats_every", problemRepeat.String())
	if !p.logged.IsZero() {
		args = append(args, "failures_not_logged", p.quiet)
	}
	p.logged, p.quiet = now, 0
	f.log.Warn(msg, args...)
}

// publishOK ends a run of publish failures, if there was one, in the log.
func (f *Poller) publishOK() {
	f.side.Lock()
	defer f.side.Unlock()
	p := &f.failing
	if p.first.IsZero() {
		return
	}
	f.log.Info("publishing files works again", "since", p.first.Format(time.RFC3339), "failures_not_logged", p.quiet)
	*p = publishFailures{}
}

// publish streams the claimed file to the sink and removes it once the sink
// returned nil. acked: published and removed. committed: the sink stored it
// (acked, or the removal failed - it is then a leftover, retried under the
// same key, which the box will report as dup), or may have (an error
// wrapping msgbox.ErrCommitUncertain: a leftover too). The claim must be the
// regular file lo.seen (see openInput): anything else is refused
// (errRefused) unread.
//
// The claim stays open, and so locked (lockClaim), until done is called:
// the caller calls it once it has given the claim back or kept it.
func (f *Poller) publish(ctx context.Context, claim string, lo leftover) (acked, committed bool, done func(), err error) {
	in, err := f.openClaim(ctx, claim, lo)
	if err != nil {
		return false, false, func() {}, err
	}
	msg, dup, err := f.sink.Publish(ctx, in.in, in.body)
	acked, committed, err = f.acknowledge(in, msg, dup, err)
	return acked, committed, func() { in.close() }, err
}

// reportHeld logs, once per problemRepeat, that the claim of the file
// name is locked by another process, and is retried every pass.
func (f *Poller) reportHeld(claim, name string) {
	f.report(slog.LevelWarn, claim, name, "held",
		"a claimed file is locked by another process (a process of this server's name storing it, or its producer still holding a lock on it); it stays claimed and is retried every pass",
		"claim", claim)
}

// input is a claimed file opened for its publish.
type input struct {
	claim  string
	lo     leftover
	in     msgbox.Incoming
	body   *inputReader
	closed bool
}

// close closes the claimed file, once; the error of the first close.
func (in *input) close() error {
	if in.closed {
		return nil
	}
	in.closed = true
	return in.body.file.Close()
}

// openClaim opens the claimed file, which must be the regular file lo.seen
// (see openInput), for its publish.
func (f *Poller) openClaim(ctx context.Context, claim string, lo leftover) (*input, error) {
	name := lo.name
	file, info, err := openInput(f.open, filepath.Join(f.o.Dir, claim), lo.seen, lo.fresh)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("opening claimed file %s: %w: %w", name, errClaimGone, err)
	case errors.Is(err, errRefused), errors.Is(err, errHeld):
		return nil, fmt.Errorf("claimed file %s: %w", name, err)
	case err != nil:
		return nil, &inputError{fmt.Errorf("opening claimed file %s: %w", name, err)}
	}
	in := msgbox.Incoming{
		ReceiveLocation: f.o.Location,
		FileName:        name,
		ContentType:     f.o.ContentType,
		Properties:      maps.Clone(f.o.Properties), // the sink may keep or change it
		SourceKey:       f.o.Location + "/" + claimKey(claim),
	}
	in.SensitiveProperties = slices.Clone(f.o.SensitiveProperties)
	// The file itself is the body: it streams, and a box that stores bodies
	// in files can copy it in the kernel (inputReader.WriteTo).
	body := &inputReader{ctx: ctx, file: file, seen: lo.seen}
	if !lo.fresh {
		// A claim of a crash may have two names legitimately (a box keeps
		// the file it stores by linking it, msgbox.FileBody): it is then
		// stored already, a duplicate the box finds without reading.
		// Anything else with several names is not read (see hardLinked):
		// it stays claimed, retried every pass, until it has one name
		// (an interrupted store's link is swept by the box when it
		// opens). An input error, not a refusal: a refusal would drop the
		// claim from the leftovers for good. info is the opened
		// descriptor's, as openInput checked it.
		if err := hardLinkRefusal(info); err != nil {
			body.unreadable = &inputError{fmt.Errorf("%s; it is read once it has one name", refusedReason(err))}
		}
	}
	return &input{claim: claim, lo: lo, in: in, body: body}, nil
}

// acknowledge closes the published input and, if the sink stored it (err
// nil), removes it (see publish).
func (f *Poller) acknowledge(in *input, msg msgbox.Message, dup bool, err error) (acked, committed bool, _ error) {
	name, claim := in.lo.name, in.claim
	path := filepath.Join(f.o.Dir, claim)
	closeInput := func() {
		if cerr := in.close(); cerr != nil && err == nil {
			// Read-only: closing cannot lose data; note it and go on.
			f.log.Warn("closing a published file", "file", name, "error", cerr)
		}
	}
	// Where an open file can be removed, the claim stays open, and so
	// locked, until it is removed, or, when it failed, until the caller
	// has given it back (input.close).
	if !removeOpen {
		closeInput()
	}
	if err != nil {
		err = fmt.Errorf("publishing %s: %w", name, err)
		if errors.Is(err, msgbox.ErrCommitUncertain) {
			// It may be stored: given back, it would be claimed again
			// under a new key and stored twice. Kept under this claim,
			// its key tells the box it has it (a duplicate) if it does.
			f.addLeftover(claim, stored(in.lo))
			f.publishFailed("publishing a file may or may not have stored it; it stays claimed and is retried next pass under the same key",
				"file", name, "claim", claim, "error", err)
			return false, true, err
		}
		if in.body.err != nil {
			err = &inputError{err} // the file could not be read
		}
		return false, false, err
	}
	rmErr := fsop.Remove(path)
	if errors.Is(rmErr, fs.ErrNotExist) {
		// Stored all the same; a claim gone with its directory is
		// removed, a duplicate, if the directory comes back.
		rmErr = nil
		f.goneWithDir()
	}
	if removeOpen {
		closeInput() // the claim's lock (lockClaim) lasted until its file was gone
	}
	if err := rmErr; err != nil {
		f.addLeftover(claim, stored(in.lo))
		f.log.Error("message stored but its file could not be removed; retrying next pass",
			"file", name, "message_id", msg.ID, "claim", claim, "error", err)
		return false, true, fmt.Errorf("removing published file %s: %w", name, err)
	}
	// The removal is not synced: a removed claim that reappears after a
	// power failure is recovered and reported dup by the box, and the
	// next claim's directory sync makes it durable anyway.
	if dup {
		f.log.Info("file already stored before a restart; removed", "file", name, "message_id", msg.ID)
	} else {
		// Debug: the sink logs the message (the runner: "message
		// received", with the file name); one line per message is enough
		// at the default level.
		f.log.Debug("file received", "file", name, "message_id", msg.ID, "size", msg.Size)
	}
	return true, true, nil
}

// goneWithDir notes, for the next pass, that a claim of this process found
// gone went with its directory: the path no longer names the directory
// this pass listed (see Poller).
func (f *Poller) goneWithDir() {
	now, err := os.Stat(f.o.Dir)
	if err != nil || f.dirInfo == nil || !os.SameFile(now, f.dirInfo) {
		f.lost.Store(true)
	}
}

// dirFailed logs a directory error when it differs from the last one. The
// message does not promise another poll: run --once polls no more.
func (f *Poller) dirFailed(err error) {
	if msg := err.Error(); msg != f.dirErr {
		f.dirErr = msg
		f.log.Error("cannot read receive directory", "dir", f.o.Dir, "error", err)
	}
}

// dirOK logs the end of a directory error.
func (f *Poller) dirOK() {
	if f.dirErr != "" {
		f.dirErr = ""
		f.log.Info("receive directory readable again", "dir", f.o.Dir)
	}
}

// stored is lo as a leftover whose message the box may have stored: no
// longer fresh, since the box may keep the file by a link to it
// (msgbox.FileBody), which must not make the claim refused.
func stored(lo leftover) leftover {
	lo.fresh = false
	return lo
}

// addLeftover records a claim to publish again on a later pass.
func (f *Poller) addLeftover(claim string, lo leftover) {
	f.side.Lock()
	defer f.side.Unlock()
	f.leftovers[claim] = lo
}

// report logs a problem with the directory entry entry (a file, or the
// claim of the file name) at level, with the attribute file=name, unless
// the same problem (key) was logged for it less than problemRepeat ago: a
// file that fails on every pass is reported once, then reminded, not
// logged on every pass.
func (f *Poller) report(level slog.Level, entry, name, key, msg string, args ...any) {
	f.side.Lock()
	defer f.side.Unlock()
	now := f.now()
	p, ok := f.problems[entry]
	if ok && p.key == key {
		if now.Sub(p.logged) < problemRepeat {
			return
		}
		args = append(args, "since", p.first.Format(time.RFC3339))
	} else {
		p = problem{name: name, key: key, first: now}
		args = append(args, "repeats_every", problemRepeat.String())
	}
	p.logged = now
	f.problems[entry] = p
	f.log.Log(context.Background(), level, msg, append([]any{"file", name}, args...)...)
}

// resolved logs the end of a problem reported for entry, if there was one:
// how is what ended it ("received", "gone").
func (f *Poller) resolved(entry, how string) {
	f.side.Lock()
	defer f.side.Unlock()
	p, ok := f.problems[entry]
	if !ok {
		return
	}
	delete(f.problems, entry)
	f.log.Info("problem with a file is over", "file", p.name, "outcome", how, "since", p.first.Format(time.RFC3339))
}

// causeText is what an error from the file system says without the paths
// (a claim's path has a random part): the operation and the system's error.
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Op + ": " + le.Err.Error()
	}
	return err.Error()
}

// PollOptions configures a file receive location.
type PollOptions struct {
	// Location is the receive location's name, stamped on each message.
	Location     string
	Dir          string
	Pattern      string        // glob on the base name; "*" by default
	PollInterval time.Duration // 1s by default (spec §3)
	ContentType  string        // DefaultContentType when empty
	Properties   map[string]string
	// SensitiveProperties names the Properties whose values are
	// sensitive; each message carries the names to the box.
	SensitiveProperties []string
	// Owner is a stable name of this process's instance (e.g. the server
	// name). Files are claimed by renaming them to a hidden name that
	// carries the owner, so that several servers polling one shared
	// directory never publish a file twice, and a restarted owner finds
	// the files it had claimed when it was killed.
	Owner string
	// TakeoverAfter is how old another owner's claim must be before this
	// owner takes it over (a server that died and does not come back
	// leaves its claims behind). 0 means never. The claim keeps its
	// SourceKey, so a message the dead server had committed is not
	// published twice. A claim of a name that no location of this process
	// polling Dir takes is reported once instead (see stray). (Added for
	// scale-out.)
	TakeoverAfter time.Duration
	// Concurrency is how many files one pass publishes at once; 0 means
	// defaultConcurrency. (Added for throughput.) With a BatchSink it is
	// how many files a batch takes at most (one claim sync and one commit
	// for them all), and a pass runs two batches at once, so that one's
	// syncs overlap the other's work; 0 then means up to defaultBatchFiles
	// files and defaultBatchBytes.
	Concurrency int
	// SettleTime is how far a file's modification time must be from now
	// before the file is taken, so that one still being written is left
	// alone (see Poller). 0 means min(PollInterval, 500ms). (Added: tests
	// and the runner's --once mode need it shorter than the default.)
	SettleTime time.Duration
	// Siblings, when not nil, are the file receive locations of this
	// process, this one added by NewPoller: a claim of this owner's that
	// Pattern does not take is then left to the sibling polling Dir whose
	// pattern does, and when none does, reported at start as recovered by
	// none (see Poller). Without it, each Poller reports those it meets.
	Siblings *Siblings
}
