// Package file is the file transport component: transport "file" in a
// receive location (poll a directory) and in a send port (write files,
// exactly once).
package file

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/bizpipe/bizpipe/internal/component"
	"github.com/bizpipe/bizpipe/internal/config/value"
	"github.com/bizpipe/bizpipe/internal/message"
	"github.com/bizpipe/bizpipe/internal/transport"
)

// ReceiveSpec declares transport "file" of a receive location.
var ReceiveSpec = &component.Spec{
	Kind:    component.ReceiveTransport,
	Name:    "file",
	Summary: "Polls a directory and receives the files that match a pattern.",
	Doc: `Each poll lists the directory (not recursively) and takes the regular
files whose name matches pattern, except dot-files and *.tmp files, which
producers write to and then rename into place. A file still being written
(its size or modification time changed since the previous poll, or modified
in the last moments) is left for a later poll. A file is claimed by renaming
it to a hidden name, so that of several servers polling one shared directory
exactly one takes it; it is deleted only once the message is stored in the
message box. Until then the claim is locked (flock, where the platform and
file system have it): a claim another process holds while it stores it is
not taken over, nor stored by a process of the same server name, which
retries it every pass until it is gone or free.

Only the regular file that was listed is read: it is opened without following
a symbolic link or waiting on a FIFO, and must be the same file (device and
inode) as listed. Anything else swapped in is refused unread, logged and left
where it is. A matching entry that is a symbolic link, a FIFO, a device, a
directory, or a file with more than one name (a hard link, which may be
another name of a file the writer could not read) is never read nor moved:
a warning says why, once per name and file, not at every poll. Nor is a
claim with more than one name that a restart finds or another server left
behind, unless the message box has its message already: on Linux the
embedded box keeps a large input (over 1 MiB) by linking it, when this
user owns it and no process has it open for writing, rather than copying
it. A restart's claim whose store was interrupted is read again once the
box, opening, has removed its link. Producers should rename files into
place, not link them, and close them first.`,
	Example: `transport "file" {
  path          = "in/orders"
  pattern       = "*.xml"
  poll_interval = "1s"
}`,
	Attributes: []component.Attribute{
		{Name: "path", Type: component.Path, Required: true,
			Doc: "The directory to poll, relative to the file that declares it."},
		{Name: "pattern", Type: component.String, Default: "*",
			Doc: "A glob (`*`, `?`, `[...]`) that base names must match. On Windows it ignores letter case, as Windows' own wildcards and BizTalk's file masks do (`*.xml` takes `ORDER.XML`); elsewhere it does not, as shell globs do not."},
		{Name: "poll_interval", Type: component.Duration, Default: time.Second,
			Doc: "The pause between the end of one poll and the start of the next."},
	},
	Decode: decodeReceive,
}

// ReceiveConfig is the typed configuration of a receiving file transport.
type ReceiveConfig struct {
	Path         value.Value[string]
	Pattern      value.Value[string]
	PollInterval value.Value[time.Duration]
}

func decodeReceive(b *component.Body) component.Config {
	c := &ReceiveConfig{Path: b.String("path"), Pattern: b.String("pattern"), PollInterval: b.Duration("poll_interval")}
	if c.Pattern.Known && !c.Pattern.Default {
		if strings.ContainsAny(c.Pattern.V, `/\`) {
			// As the poller refuses it when run starts it: a pattern
			// is matched against the names in path, never below.
			b.Errorf(c.Pattern.Range, "Invalid file pattern",
				"The pattern of %s has a path separator; it matches file names directly in path, so put any directory in path instead.", b.What)
		} else if _, err := filepath.Match(c.Pattern.V, ""); err != nil {
			b.Errorf(c.Pattern.Range, "Invalid file pattern", "The pattern of %s is not a valid glob pattern: %s.", b.What, err)
		}
	}
	return c
}

// Needs: a file transport uses no key.
func (c *ReceiveConfig) Needs() component.Needs { return component.Needs{} }

// CheckOwner: the claims the poller makes carry the owner's name
// (CheckOwner), which must fit in a file name.
func (c *ReceiveConfig) CheckOwner(owner string) error { return CheckOwner(owner) }

var _ component.OwnerConfig = (*ReceiveConfig)(nil)

// InputPlace: the directory polled, as resolved (relative to the
// declaring file).
func (c *ReceiveConfig) InputPlace() (key, shown string, ok bool) {
	if !c.Path.Usable() || c.Path.V == "" {
		return "", "", false
	}
	shown = fmt.Sprintf("directory %q", c.Path.V)
	if c.Path.Sensitive {
		shown = "directory (sensitive value)"
	}
	return filepath.Clean(c.Path.V), shown, true
}

// SharesInput: a file name both patterns match.
func (c *ReceiveConfig) SharesInput(other component.Config) (why string, shared bool) {
	o, ok := other.(*ReceiveConfig)
	if !ok || !c.Pattern.Usable() || !o.Pattern.Usable() {
		return "", false
	}
	name, shared := globsOverlap(matchPattern(c.Pattern.V), matchPattern(o.Pattern.V))
	if c.Pattern.Sensitive || o.Pattern.Sensitive {
		return "a file name matches both patterns", shared
	}
	return fmt.Sprintf("a file named %q matches both pattern %q and pattern %q", name, c.Pattern.V, o.Pattern.V), shared
}

// InputDir: the directory polled.
func (c *ReceiveConfig) InputDir() (string, bool) {
	return c.Path.V, c.Path.Usable() && c.Path.V != ""
}

var _ component.InputConfig = (*ReceiveConfig)(nil)

// Live: the directory polled, listed and read, and written to, since a
// file is claimed by renaming it and removed once stored.
func (c *ReceiveConfig) Live() component.Live {
	return component.Live{Dirs: []component.LiveDir{{Attribute: "path", Path: c.Path, Access: component.Read | component.Write}}}
}

var _ component.LiveConfig = (*ReceiveConfig)(nil)

// NewReceiver builds the polling receiver.
func (c *ReceiveConfig) NewReceiver(env *component.ReceiveEnv) (component.Receiver, error) {
	f, err := NewPoller(PollOptions{
		Location:            env.Location,
		Dir:                 c.Path.V,
		Pattern:             c.Pattern.V,
		PollInterval:        c.PollInterval.V,
		ContentType:         env.ContentType,
		Properties:          env.Properties,
		SensitiveProperties: env.SensitiveProperties,
		Owner:               env.Owner,
		SettleTime:          env.SettleTime,
		// A claim twice as old as a lease belongs to a server that died;
		// its key survives the takeover, so this is safe even if that
		// server was only slow.
		TakeoverAfter: 2 * env.Lease,
		Siblings:      receiveSiblings(env),
	}, env.Sink, env.Log)
	if err != nil {
		return nil, err
	}
	return &receiver{f: f}, nil
}

// siblingsKey is the ReceiveEnv.Shared key of the run's file receive
// locations (Siblings).
const siblingsKey = "file.receive_locations"

// receiveSiblings is the run's Siblings; nil without Shared.
func receiveSiblings(env *component.ReceiveEnv) *Siblings {
	if env.Shared == nil {
		return nil
	}
	return env.Shared(siblingsKey, func() any { return &Siblings{} }).(*Siblings)
}

// receiver runs the poller in the background until Stop.
type receiver struct {
	f    *Poller
	stop context.CancelFunc
	done chan struct{}
}

var _ component.Poller = (*receiver)(nil)

func (r *receiver) Start(ctx context.Context) error {
	ctx, r.stop = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		_ = r.f.Run(ctx) // failures are logged; Run returns at stop
	}()
	return nil
}

func (r *receiver) Stop(context.Context) {
	if r.stop != nil {
		r.stop()
		<-r.done
	}
}

func (r *receiver) Poll(ctx context.Context) (int, error) { return r.f.Poll(ctx) }
func (r *receiver) Pending() int                          { return r.f.Pending() }
func (r *receiver) SettleTime() time.Duration             { return r.f.SettleTime() }

// SendSpec declares transport "file" of a send port.
var SendSpec = &component.Spec{
	Kind:    component.SendTransport,
	Name:    "file",
	Summary: "Writes each message to a file in a directory, exactly once.",
	Doc: `Writes the whole entity the pipeline produced (MIME headers, a blank line,
the body; a pass-through port writes the message as routed: as received, or
decoded when a receive pipeline decoded it) to a temporary file, syncs it,
and links it into place under file_name, so that a reader never sees a
partial file and a crash at any instant leaves the file in place exactly
once: after a restart, an identical file already in place counts as
delivered. The small deliveries a worker takes together share their syncs:
on ext4, XFS, Btrfs, F2FS and tmpfs one syncfs(2) per step serves all of
them, and those of other file ports on that file system (it also writes
back what other programs left to write there); elsewhere, and for a file
over 1 MiB (as written, after the pipeline) or one alone, each file is
fsynced.

file_name is a template over the message; it must be a plain file name
(no path separators, no control characters; on Windows also none that
Windows would change or redirect: a trailing period or space, a device name
such as NUL.xml, ":" or <>"|?*): one that is not suspends the delivery.
validate refuses (BP1004) a file_name that is none for any message: a
constant one, or one whose literal text has a path separator
("out/${message.id}.xml": directories belong in path).`,
	Example: `transport "file" {
  path      = "out/fabrikam"
  file_name = "${message.id}.eml"
  copy_mode = "create_new"
}`,
	Attributes: []component.Attribute{
		{Name: "path", Type: component.Path, Required: true,
			Doc: "The output directory, relative to the file that declares it."},
		{Name: "file_name", Type: component.Template, Default: "${message.id}",
			Doc: "The name of the file, a template over the message."},
		{Name: "copy_mode", Type: component.Enum, Default: "create_new", Values: []string{"create_new", "overwrite"},
			Doc: "`create_new` fails a delivery when a different file of that name exists; `overwrite` replaces it atomically " +
				"(a delivery that a crash interrupted is redone after the restart and replaces it again, even when another message's delivery replaced it meanwhile)."},
	},
	Decode: decodeSend,
}

// SendConfig is the typed configuration of a sending file transport.
type SendConfig struct {
	Path     value.Value[string]
	FileName value.Value[message.Template]
	CopyMode value.Value[string]
}

func decodeSend(b *component.Body) component.Config {
	c := &SendConfig{Path: b.String("path"), FileName: b.Template("file_name"), CopyMode: b.String("copy_mode")}
	checkFileNameTemplate(b, c.FileName)
	return c
}

// checkFileNameTemplate refuses (BP1004) a file_name every delivery would
// refuse, suspending every message, as the http transport refuses such a
// url: a constant one that is no plain file name, or one whose literal
// text already makes every value none ("out/${message.id}.xml",
// "${var.dir}/${message.id}"). Any other is judged when it is evaluated.
func checkFileNameTemplate(b *component.Body, fileName value.Value[message.Template]) {
	if !fileName.Usable() {
		return
	}
	if k, ok := fileName.V.(message.Constant); ok {
		if n, ok := k.ConstantText(); ok {
			if err := checkDeliveredName(n.Value, n.Sensitive); err != nil {
				b.Errorf(fileName.Range, "Invalid value for file_name", "The file_name of %s cannot be used: %s.", b.What,
					strings.TrimPrefix(err.Error(), transport.ErrInvalidFileName.Error()+" "))
			}
			return
		}
	}
	if p, ok := fileName.V.(message.Prefixed); ok {
		if reason := prefixProblem(p.LiteralPrefix()); reason != "" {
			b.Errorf(fileName.Range, "Invalid value for file_name",
				"The file_name of %s cannot be used: every name it gives starts with %q, and so %s.", b.What,
				transport.Shorten(p.LiteralPrefix(), shownNameLen), reason)
			return
		}
	}
	if l, ok := fileName.V.(message.Literal); ok {
		for _, part := range l.LiteralParts() {
			if reason := partProblem(part); reason != "" {
				b.Errorf(fileName.Range, "Invalid value for file_name",
					"The file_name of %s cannot be used: every name it gives holds %q, which %s.", b.What,
					transport.Shorten(part, shownNameLen), reason)
				return
			}
		}
	}
}

// partProblem says why no name that holds part is usable as a delivered
// file's name (see nameProblem), or "".
func partProblem(part string) string {
	if strings.ContainsAny(part, `/\`) {
		return "contains a path separator (directories belong in path)"
	}
	if hasControl(part) {
		return "contains a control character"
	}
	return ""
}

// prefixProblem says why no name that starts with prefix is usable as a
// delivered file's name (see nameProblem), or "".
func prefixProblem(prefix string) string {
	switch {
	case len(prefix) > maxFileNameLen:
		return fmt.Sprintf("is longer than %d bytes", maxFileNameLen)
	case strings.HasPrefix(strings.ToLower(prefix), reservedPrefix):
		return fmt.Sprintf("starts with %q, reserved for the transport's own files", reservedPrefix)
	}
	return partProblem(prefix)
}

// Needs: a file transport uses no key.
func (c *SendConfig) Needs() component.Needs { return component.Needs{} }

// Live: the output directory, where files are created and linked into
// place (and an existing one read, to tell a delivery already made).
func (c *SendConfig) Live() component.Live {
	return component.Live{Dirs: []component.LiveDir{{Attribute: "path", Path: c.Path, Access: component.Read | component.Write}}}
}

var _ component.LiveConfig = (*SendConfig)(nil)

// NewSender builds the sender.
func (c *SendConfig) NewSender(env *component.SendEnv) (component.Sender, error) {
	o := WriterOptions{
		Dir:       c.Path.V,
		Overwrite: c.CopyMode.V == "overwrite",
		Namespace: env.Namespace,
	}
	if env.Shared != nil {
		// Ports writing beside each other share their rounds of syncs.
		o.Syncs = env.Shared(syncsKey, func() any { return &Syncs{} }).(*Syncs)
	}
	f, err := NewWriter(o)
	if err != nil {
		return nil, err
	}
	return &sender{f: f, cfg: c, port: env.Port}, nil
}

// syncsKey is the SendEnv.Shared key of the run's Syncs.
const syncsKey = "file.syncs"

// sender adapts Writer to component.Sender.
type sender struct {
	f    *Writer
	cfg  *SendConfig
	port string
}

var (
	_ component.Stager     = (*sender)(nil)
	_ component.SyncSharer = (*sender)(nil)
)

// SharesSyncs implements component.SyncSharer: every attempt is a
// sharedSync.
func (s *sender) SharesSyncs() {}

// target evaluates file_name for d. A failure repeats at every attempt.
func (s *sender) target(d *component.Delivery) (transport.Delivery, error) {
	sd := transport.Delivery{ID: d.ID, Port: d.Port, First: d.First, Fence: d.Fence}
	if d.Message == nil {
		return sd, nil
	}
	sd.MessageID = d.Message.ID
	name, err := s.cfg.FileName.V.Eval(d.Message)
	if err != nil {
		return sd, component.Permanent(fmt.Errorf("file_name of send port %q: %w", d.Port, err))
	}
	sd.FileName, sd.FileNameSensitive = name.Value, name.Sensitive
	return sd, nil
}

func (s *sender) Begin(ctx context.Context, d *component.Delivery, h component.Header) (component.Attempt, error) {
	sd, err := s.target(d)
	if err != nil {
		return nil, err
	}
	w, err := s.f.Begin(ctx, sd)
	if err != nil {
		return nil, transport.PermanentError(err)
	}
	if h.MIME {
		if _, err := w.Write(headerBytes(h)); err != nil {
			w.Abort()
			return nil, err
		}
	}
	return sharedSync{transport.Attempt(w), w}, nil
}

// sharedSync is the file transport's attempt as the runner drives it:
// its commit shares syncs with concurrent ones (see syncPoints).
type sharedSync struct {
	component.Attempt
	w *WriteAttempt
}

// Written implements component.SharedSync: see WriteAttempt.Flush for
// when a commit shares its syncs.
func (s sharedSync) Written() (bool, error) { return s.w.Flush() }

// Alone implements component.SharedSync.
func (s sharedSync) Alone() { s.w.Alone() }

// Batch implements component.BatchCommit: the attempts of Writers that
// share their syncs (WriterOptions.Syncs) commit together.
func (s sharedSync) Batch() component.BatchCommitter { return batchCommitter{s.w.f.syncs} }

var _ component.BatchCommit = sharedSync{}

// batchCommitter commits together attempts of Writers sharing syncs; equal
// for equal Syncs.
type batchCommitter struct{ syncs *Syncs }

// CommitBatch implements component.BatchCommitter (see commitAll). An
// attempt that is not this transport's fails alone, as a misuse.
func (c batchCommitter) CommitBatch(ctx context.Context, atts []component.Attempt) ([]component.Result, []error) {
	ws := make([]*WriteAttempt, 0, len(atts))
	at := make([]int, 0, len(atts)) // ws[j] is atts[at[j]]
	errs := make([]error, len(atts))
	for i, a := range atts {
		s, ok := a.(sharedSync)
		if !ok || s.w.f.syncs != c.syncs {
			errs[i] = fmt.Errorf("send: file transport: attempt %d of %d is not one this batch commits", i+1, len(atts))
			continue
		}
		ws, at = append(ws, s.w), append(at, i)
	}
	for j, err := range commitAll(ctx, ws) {
		errs[at[j]] = transport.PermanentError(err)
	}
	return make([]component.Result, len(atts)), errs
}

func (s *sender) Redo(ctx context.Context, d *component.Delivery) (bool, error) {
	sd, err := s.target(d)
	if err != nil {
		return false, err
	}
	done, err := s.f.Redo(ctx, sd)
	return done, transport.PermanentError(err)
}

func (s *sender) Cleanup(d *component.Delivery) error {
	return s.f.Cleanup(transport.Delivery{ID: d.ID, Port: d.Port})
}

func (s *sender) Staged() ([]int64, error) { return s.f.Staged() }

func (s *sender) SweepStale(olderThan time.Duration) (int, error) { return s.f.SweepStale(olderThan) }

// headerBytes is an entity's header fields and the blank line.
func headerBytes(h component.Header) []byte {
	var b []byte
	for _, f := range h.Fields {
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

var _ component.TargetDescriber = (*SendConfig)(nil)

// DescribeTarget is the path d would be delivered to (bizpipe route), its
// file name checked as a delivery checks it.
func (c *SendConfig) DescribeTarget(d *component.Delivery) (string, error) {
	name, err := c.FileName.V.Eval(d.Message)
	if err != nil {
		return "", fmt.Errorf("file_name: %w", err)
	}
	if err := checkDeliveredName(name.Value, name.Sensitive); err != nil {
		return "", err
	}
	dir, file := c.Path.V, name.Value
	if c.Path.Sensitive {
		dir = message.Redacted
	}
	if name.Sensitive {
		file = message.Redacted
	}
	return "file " + filepath.Join(dir, file), nil
}
