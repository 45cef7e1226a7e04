package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bizpipe/bizpipe/internal/clidoc"
	"github.com/bizpipe/bizpipe/internal/config/diag"
	"github.com/bizpipe/bizpipe/internal/config/lang"
	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/runner"
	"github.com/bizpipe/bizpipe/internal/safetext"
	"github.com/bizpipe/bizpipe/internal/validate/report"
)

type messagesFlags struct {
	dataDir   string
	status    string
	format    string
	limit     int
	olderThan time.Duration
	// allSuspended and port select the messages of a bulk resume or
	// terminate (see bulk.go).
	allSuspended bool
	port         string
	// dryRun: a bulk resume or terminate, or purge, says what it would do
	// and does nothing.
	dryRun bool
	// location, party and since (with status, limit and port) select what
	// messages list lists.
	location, party, since string
	// asReceived: messages body writes the bytes as received, not the
	// payload as routed.
	asReceived bool
	// mdnPort: messages mdn writes the MDN of the delivery to this send
	// port.
	mdnPort string
	// vars are --var and --var-file: the values of the variables the
	// message_box block uses.
	vars varFlags
}

func newMessagesCmd(e *env) *cobra.Command {
	var f messagesFlags
	cmd := &cobra.Command{
		Use:   "messages",
		Short: "Inspect and operate the message box: list, show, body, mdn, resume, terminate, resubmit, purge",
		Long: `Messages reads the message box: the one the configuration in PATH declares
(message_box block), or the embedded one under --data-dir. Without PATH, a
current directory with no configuration files is no error: the embedded box
under --data-dir is read, and the names --port, --location and --party give
are not checked against a configuration (resubmit --port needs one).

A configuration that does not load (a syntax error, an undeclared reference,
a bad value) is reported on stderr as validate reports it, and the command
exits 1 without opening a box. So does a message_box block whose path or url
uses a variable or env() without a value: give it with --var, --var-file or
BIZPIPE_VAR_NAME, as for run. The certificate, store and live rules are not
checked, and no other variable needs a value (no store password): reading and
operating the box uses no certificate.

A message ID is read as typed: in upper case, or with I, L or O for the
digits one and zero (Crockford's base32), it names the same message.

A postgres message_box that cannot be reached fails the command at once,
exit 1, with an error naming the box: a connection attempt waits at most 5 s
(the url's connect_timeout, when it sets one), and is not retried, where run
keeps reconnecting for 30 s.`,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			// As validate's and certs' --format: not case-sensitive.
			f.format = formatName(f.format)
			return noEmptyFlags(c)
		},
	}
	clidoc.SetExitCodes(cmd,
		clidoc.ExitCode{Code: exitOK, Meaning: "done"},
		clidoc.ExitCode{Code: exitFindings, Meaning: "the operation failed: no message box, an unknown message id, an operation that does not apply to the message's status, or a configuration with errors"},
		clidoc.ExitCode{Code: exitUsage, Meaning: "bad usage"})
	cmd.PersistentFlags().StringVar(&f.dataDir, "data-dir", defaultDataDir, "`DIR` of the embedded message box")
	cmd.PersistentFlags().StringVar(&f.format, "format", "text", "output `FORMAT`: text or json")
	mustComplete(cmd, "data-dir", completeDirs)
	mustComplete(cmd, "format", completeValues([]string{"text", "json"}))
	f.vars.registerPersistent(cmd)

	list := &cobra.Command{
		Use:   "list [flags] [PATH...]",
		Short: "List messages, newest first",
		Long: `List prints the messages of the box, newest first: all of them, or those
that --status, --location, --port, --party and --since select (all that are
given). A --location, --port or --party that the configuration does not
declare, and that selects nothing, is bad usage (a typo), as for bulk resume.
The list is printed once the box has given its last message, so a box that
fails part way (a damaged row, a lost connection) prints nothing and exits 1,
in either format: never a partial table or a cut-off JSON document.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Bad usage before the box is opened: a typo is not to be
			// reported as a missing or unreachable box.
			filter, err := listFilter(f, time.Now())
			if err != nil {
				return err
			}
			return withConfigBox(e, f, args, boxRead, func(ctx context.Context, cfg *model.Config, box msgbox.Box) error {
				return listMessages(ctx, e, box, cfg, f, filter)
			})
		},
	}
	list.Flags().StringVar(&f.status, "status", "", "only messages in `STATUS`: "+orList(msgbox.ListStatuses()))
	mustComplete(list, "status", completeValues(msgbox.ListStatuses()))
	list.Flags().IntVar(&f.limit, "limit", 0, "at most `N` messages (0: all)")
	list.Flags().StringVar(&f.location, "location", "", "only messages received by the receive location `NAME`")
	list.Flags().StringVar(&f.port, "port", "", "only messages routed to the send port `NAME` (a delivery to it, in any state)")
	list.Flags().StringVar(&f.party, "party", "", "only messages whose signer resolved to the party `NAME`")
	list.Flags().StringVar(&f.since, "since", "", "only messages received at or after `WHEN`: a time ago (2h, 1d) or an RFC 3339 time (2026-12-01T08:00:00Z)")
	for _, name := range []string{"location", "port", "party", "since"} {
		mustComplete(list, name, cobra.NoFileCompletions)
	}

	show := &cobra.Command{
		Use:   "show [flags] ID [PATH...]",
		Short: "Show a message with its deliveries, attempts and history",
		Args:  needID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, paths := idArgs(args)
			return withBox(e, f, paths, boxRead, func(ctx context.Context, box msgbox.Box) error {
				d, err := box.Get(ctx, id)
				if err != nil {
					return err
				}
				markAwaiting(d)
				return showMessage(e.stdout, d, f.format)
			})
		},
	}
	resume := &cobra.Command{
		Use:   "resume [flags] {ID | --all-suspended} [PATH...]",
		Short: "Retry a suspended message's suspended deliveries (or route a routing failure again)",
		Long: `Resume makes a suspended message's suspended deliveries due again, with their
attempt counts reset, or routes a routing failure again. With --all-suspended
it resumes every suspended message (with --port, those with a suspended
delivery to that send port): what an operator does once a partner is back
after an outage. --dry-run lists what it would resume and skip, and resumes
nothing.

A message that was resubmitted (messages resubmit) is not resumed while a
copy of it, or a copy of that copy, was or may still be sent where its
resumed delivery would go: delivered to that send port, or with a delivery
there that is not terminated, or not routed yet (the filters may route it
there; a routing failure resumed is routed by the filters, so any copy not
terminated counts). A copy since purged counts too: the box no longer
knows where it was delivered, nor the copies made of it. The partner would
get the message twice. Resume fails then, exit 1, naming the copy and the
port (--all-suspended skips the message, saying so): terminate the message
if the copy replaces it, or terminate the copy first; to send it twice on
purpose, resubmit it again with --port. The box decides this in the transaction that resumes: a
resubmit of the message at the same time either waits and then fails, or
goes first and makes the resume fail, never both.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(e, f, args, bulkOp{verb: "resume", done: "resumed", op: msgbox.Box.Resume,
				check: previewResume})
		},
	}
	terminate := &cobra.Command{
		Use:   "terminate [flags] {ID | --all-suspended} [PATH...]",
		Short: "End a message: it will never be delivered",
		Long: `Terminate ends a message for good: its deliveries not yet made never will be.
A delivery awaiting an asynchronous AS2 MDN is ended too: the MDN, should it
come, then settles nothing. A delivery in progress is not: wait for it.
One whose lease expired (its process stopped, or was paused past --lease)
is no longer in progress and is ended: should that process run again, it
finds the lease gone when it checks it, right before it places the file or
sends the request, and delivers nothing it had not placed or begun sending
before the pause. Its attempt, or the one that sent a message whose MDN was
awaited, may have delivered: messages show counts and lists it, failed with
"lease of srv1/w3 expired before the attempt finished", or "terminated
while its asynchronous MDN was awaited" ("no asynchronous MDN arrived
within mdn_timeout" once that passed).
With --all-suspended it terminates every suspended message (with --port,
those with a suspended delivery to that send port); --dry-run lists them and
terminates nothing (one with a delivery in progress when it runs, or one
resumed meanwhile, is skipped, saying so).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// With --all-suspended, a message resumed since it was
			// listed is skipped, not ended.
			return operate(e, f, args, bulkOp{verb: "terminate", done: "terminated", op: msgbox.Box.Terminate,
				bulkOp: msgbox.Box.TerminateSuspended, check: previewTerminate})
		},
	}
	for _, c := range []*cobra.Command{resume, terminate} {
		c.Flags().BoolVar(&f.allSuspended, "all-suspended", false, "every suspended message instead of one ID")
		c.Flags().StringVar(&f.port, "port", "", "with --all-suspended: only messages with a suspended delivery to the send port `NAME` (one the configuration does not declare, and that selects none, is bad usage)")
		c.Flags().BoolVar(&f.dryRun, "dry-run", false, "with --all-suspended: say what would be done, and do nothing")
	}
	purge := &cobra.Command{
		Use:   "purge [flags] --older-than DURATION [PATH...]",
		Short: "Delete delivered and terminated messages untouched for DURATION, with their bodies and history",
		Long: `Purge deletes the messages that are delivered or terminated and whose history
has had no entry for --older-than (e.g. 30d or 720h), with their bodies, deliveries,
attempts and history. Nothing else is ever deleted: suspended, retrying and
pending messages stay, however old, and so does a message received over AS2
whose asynchronous MDN is still to be sent. Run purge regularly (a timer or cron job),
or bizpipe run --retention, to bound the message box's size. --dry-run counts
what it would delete and deletes nothing.

A purged message's source is forgotten. After a crash, bizpipe run recognises
an input file it had claimed but not yet removed by its message in the box;
so do not purge with an --older-than shorter than a stop of run that left
such files (run --retention never purges at start, for this reason). So is
an AS2 message's Message-ID: a partner that sends a purged message again
has it received, and delivered, again, so keep messages longer than any
partner resends.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("older-than") {
				return usageHint(cmd, errors.New("--older-than is required: purge deletes the delivered and terminated messages untouched for that long (e.g. --older-than 30d)"))
			}
			// The rule of run --retention: a purged message's source
			// key is forgotten (see runner.MinRetention).
			if err := runner.CheckRetention(f.olderThan); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--older-than %w", err)}
			}
			use := boxOperate
			if f.dryRun {
				use = boxRead
			}
			return withBox(e, f, args, use, func(ctx context.Context, box msgbox.Box) error {
				purge, done, tail := box.Purge, "purged", ""
				if f.dryRun {
					purge, done, tail = box.Purgeable, "would purge", "; nothing deleted (--dry-run)"
				}
				n, err := purge(ctx, time.Now().Add(-f.olderThan))
				if err != nil {
					return purgeFailed(err, n, f.dryRun)
				}
				switch {
				case f.format == "json" && f.dryRun:
					return writeJSON(e.stdout, jsonPurgeable{WouldPurge: n})
				case f.format == "json":
					return writeJSON(e.stdout, jsonPurged{Purged: n})
				}
				fmt.Fprintf(e.stdout, "%s %d message(s): delivered or terminated, untouched for %v%s\n", done, n, f.olderThan, tail)
				return nil
			})
		},
	}
	purge.Flags().BoolVar(&f.dryRun, "dry-run", false, "count what would be purged, and delete nothing")
	durationVar(purge.Flags(), &f.olderThan, "older-than", 0, "purge messages untouched for at least this `DURATION` (required, at least 1m; e.g. 30d)")
	body := &cobra.Command{
		Use:   "body [flags] ID [PATH...]",
		Short: "Write a message's payload, as routed, to stdout",
		Long: `Body writes the payload of a message exactly as it was routed (before any
send pipeline signed or encrypted it) to stdout, for an operator to inspect a
suspended message or hand it to a partner: bizpipe messages body ID > order.xml.
For a message a receive pipeline decoded, that is the decoded payload;
--as-received writes the bytes as they arrived instead. A message that failed
decoding was never routed: both write the bytes as they arrived.
The box checks the body against the digest it stored on receipt; a body that
does not match is an error, not output. --format does not apply.`,
		Args: needID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, paths := idArgs(args)
			return withBox(e, f, paths, boxRead, func(ctx context.Context, box msgbox.Box) error {
				return writeBody(ctx, e.stdout, box, id, f.asReceived)
			})
		},
	}
	body.Flags().BoolVar(&f.asReceived, "as-received", false, "write the bytes as they arrived, before a receive pipeline decoded them")
	mdn := &cobra.Command{
		Use:   "mdn [flags] ID [PATH...]",
		Short: "Write the MDN an AS2 partner returned for a message, as received, to stdout",
		Long: `Mdn writes the MDN (Message Disposition Notification) that the partner of an
AS2 send port returned for a message, exactly as it was received: the whole
MIME entity, header fields included, for an operator to keep as proof of
receipt or check with other tools: bizpipe messages mdn ID > receipt.mdn.
messages show summarises it. When more than one delivery of the message has an
MDN, --port names the send port whose MDN to write; without it, mdn fails
naming the ports. A message without an MDN (not delivered yet, or not over
AS2) is an error, not empty output. --format does not apply.`,
		Args: needID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, paths := idArgs(args)
			return withConfigBox(e, f, paths, boxRead, func(ctx context.Context, cfg *model.Config, box msgbox.Box) error {
				return writeMDN(ctx, e.stdout, box, cfg, id, f.mdnPort)
			})
		},
	}
	mdn.Flags().StringVar(&f.mdnPort, "port", "", "the MDN of the delivery to the send port `NAME`")
	resubmit := &cobra.Command{
		Use:   "resubmit [flags] ID [PATH...]",
		Short: "Store a copy of a message as a new message, to be delivered again",
		Long: `Resubmit stores a copy of a message as a new message: its payload as routed,
with its receive location, file name, content type, properties and party. With
--port NAME (a send port of the configuration given) the copy is routed to
that send port only; without it, bizpipe run routes the copy as it routes
what it receives, by the send ports' filters as they are now. Both messages'
histories name the other. A message delivered, suspended or terminated can
be resubmitted, except one its receive pipeline refused (it was never
authenticated) and one with a delivery still under way (with --port, to
that port): the copy would make that delivery twice. A decoded message's
copy keeps the bytes as they arrived too. Two resubmits of one message at
the same time make one copy: the other fails, naming it. The box checks the
message's state again in the transaction that stores the copy: a message
resumed meanwhile (by another operator) fails the resubmit, naming the
message and its state, and nothing is copied.

What the partner gets is a new message: a new AS2 Message-ID, a file written
again (a send port with copy_mode create_new reports a conflict when a
different file of that name is there). A suspended delivery is retried with
messages resume instead.`,
		Args: needID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, paths := idArgs(args)
			check := func(cfg *model.Config) error { return checkResubmitPort(cfg, f.port) }
			return withCheckedConfigBox(e, f, paths, boxOperate, check, func(ctx context.Context, _ *model.Config, box msgbox.Box) error {
				return resubmitMessage(ctx, e, box, id, f)
			})
		},
	}
	resubmit.Flags().StringVar(&f.port, "port", "", "route the copy to the send port `NAME` only, not by the filters")
	mustComplete(resubmit, "port", cobra.NoFileCompletions)
	show.ValidArgsFunction = completeMessageIDs(&f, "", nil)
	body.ValidArgsFunction = completeMessageIDs(&f, "", nil)
	mdn.ValidArgsFunction = completeMessageIDs(&f, "", nil)
	// Resume applies to suspended messages only, resubmit to those
	// delivered, suspended or terminated, neither to one its receive
	// pipeline refused; terminate to those not yet delivered or terminated.
	resume.ValidArgsFunction = completeMessageIDs(&f, msgbox.StatusSuspended, notRefused)
	resubmit.ValidArgsFunction = completeMessageIDs(&f, "", resubmittable)
	terminate.ValidArgsFunction = completeMessageIDs(&f, "", notFinal)
	mustComplete(mdn, "port", cobra.NoFileCompletions)
	for _, c := range []*cobra.Command{resume, terminate} {
		mustComplete(c, "port", cobra.NoFileCompletions)
	}
	cmd.AddCommand(list, show, body, mdn, resume, terminate, resubmit, purge)
	return cmd
}

// needID is the Args of a messages subcommand that takes a message ID and
// then configuration paths (idArgs): without an ID, a usage error that says
// so (cobra's says "requires at least 1 arg(s)").
func needID(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageHint(c, fmt.Errorf("give the ID of the message (bizpipe messages list lists them): %s", c.UseLine()))
	}
	return nil
}

// idArgs splits the arguments of a messages subcommand that takes a
// message ID and then configuration paths. The ID is read as typed
// (msgbox.TypedID): upper case, I, L and O are taken too. args must not be
// empty (needID, or a check of its own).
func idArgs(args []string) (id string, paths []string) {
	return msgbox.TypedID(args[0]), args[1:]
}

// withBox opens the message box for a messages subcommand, for use. A
// configuration is optional: without *.hcl files the embedded box under
// --data-dir is used.
func withBox(e *env, f messagesFlags, paths []string, use boxUse, fn func(context.Context, msgbox.Box) error) error {
	return withConfigBox(e, f, paths, use, func(ctx context.Context, _ *model.Config, box msgbox.Box) error {
		return fn(ctx, box)
	})
}

// withConfigBox is withBox for a subcommand that also checks its flags
// against the configuration, which is nil when there is none.
//
// A configuration that does not load (a syntax error, an undeclared
// reference, a bad value: the language's own errors) is an error here as
// in every command: its message_box block, or the lack of one, cannot be
// trusted, and reading some other box (the default under --data-dir)
// without a word would show the wrong messages. The findings of the
// validation rules (certificate stores and reachability, live checks) are
// not: reading and operating the box needs no certificate, so a
// configuration with an expired certificate still lets an operator see and
// resume its messages. Variables need no values either (a store password
// is only used by those rules), but for those the message_box block uses:
// the box they name is the one to open, and without them nothing is opened.
func withConfigBox(e *env, f messagesFlags, paths []string, use boxUse, fn func(context.Context, *model.Config, msgbox.Box) error) error {
	return withCheckedConfigBox(e, f, paths, use, nil, fn)
}

// withCheckedConfigBox is withConfigBox with check, when not nil, run on
// the configuration (nil: none) before the box is opened: a flag that is
// bad usage given the configuration is reported as such, not as a box that
// is missing or cannot be reached.
func withCheckedConfigBox(e *env, f messagesFlags, paths []string, use boxUse, check func(*model.Config) error,
	fn func(context.Context, *model.Config, msgbox.Box) error) error {
	if f.format != "text" && f.format != "json" {
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown format %q: use text or json", f.format)}
	}
	cfg, err := messagesConfig(e, paths, f.vars)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return err
		}
	}
	box, err := openBox(context.Background(), cfg, f.dataDir, use, nil, nil)
	if err != nil {
		return &exitError{code: exitFindings, err: err}
	}
	defer box.Close()
	if err := fn(context.Background(), cfg, box); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: exitFindings, err: err}
	}
	return nil
}

// messagesConfig loads the configuration in paths for a messages
// subcommand: nil when paths is empty and the current directory has no
// configuration files (the embedded box under --data-dir then). A
// configuration with errors is reported on stderr, as validate's text
// format shows them (the syntax errors alone when there are any, as
// validate does), and is exit 1. So is a message_box block whose backend
// depends on a variable or env() without a value (lang.Options.NeedMessageBox):
// the default box is not the one it names.
func messagesConfig(e *env, paths []string, vf varFlags) (*model.Config, error) {
	if len(paths) == 0 {
		if _, err := lang.FindFiles(nil); err != nil {
			if vf.given() {
				return nil, &exitError{code: exitUsage, err: fmt.Errorf("--var and --var-file give the variables of a configuration, and there is none here: %w", cleanError(err))}
			}
			return nil, nil
		}
	}
	cfg, diags, err := loadConfigWith(e, paths, vf, lang.Options{Mode: lang.ModeValidate, NeedMessageBox: true})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	if !diags.HasErrors() {
		return cfg, nil
	}
	if diag.HasSyntaxErrors(diags) {
		// The rest would be phantoms of the blocks that did not parse.
		diags = diag.SyntaxErrors(diags)
	}
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	if werr := e.report(e.stderr, report.FormatText, errs, cfg); werr != nil {
		return nil, &exitError{code: exitUsage, err: werr}
	}
	return nil, &exitError{code: exitFindings, err: errors.New("the configuration has errors (above): not opening its message box")}
}

// writeBody writes message id's body (asReceived: its bytes as received)
// to w once the box has checked it against the checksum stored with it,
// which it does at the body's end: a corrupt body is an error, and none of
// it is written. A body of up to bodyInMemory bytes waits in memory; a
// larger one is read through to be checked, and read again to be written
// (checked again: a body corrupted in between is an error after what was
// written).
func writeBody(ctx context.Context, w io.Writer, box msgbox.Box, id string, asReceived bool) error {
	open := box.Body
	if asReceived {
		open = box.AsReceived
	}
	rc, err := open(ctx, id)
	if err != nil {
		return err
	}
	data, err := msgbox.ReadUpTo(rc, bodyInMemory)
	large := err == nil && len(data) > bodyInMemory
	if large {
		data = nil
		_, err = io.Copy(io.Discard, rc)
	}
	rc.Close()
	if err != nil {
		return fmt.Errorf("message %s: body: %w", id, err)
	}
	if !large {
		_, err = w.Write(data)
	} else if rc, err = open(ctx, id); err == nil {
		defer rc.Close()
		_, err = io.Copy(w, rc)
	}
	if err != nil {
		return fmt.Errorf("message %s: body: %w", id, err)
	}
	return nil
}

// bodyInMemory is the largest body writeBody holds in memory while the box
// checks it.
const bodyInMemory = 4 << 20

// writeMDN writes the receipt (MDN) of message id's delivery to port, or
// of its only delivery with one when port is "", as it was received. A port
// the message has no delivery to is a usage error when cfg (nil: none)
// does not declare it either: a typo, not a question about the message.
func writeMDN(ctx context.Context, w io.Writer, box msgbox.Box, cfg *model.Config, id, port string) error {
	d, err := box.Get(ctx, id)
	if err != nil {
		return err
	}
	var with []msgbox.Delivery // the deliveries that have a receipt
	found := false             // a delivery to port exists
	for _, dl := range d.Deliveries {
		if port != "" && dl.Port != port {
			continue
		}
		found = true
		if dl.Receipt != nil {
			with = append(with, dl)
		}
	}
	switch {
	case port != "" && !found:
		if err := checkPortDeclared(cfg, port); err != nil {
			return err
		}
		return fmt.Errorf("message %s has no delivery to send port %s", safe(id), safe(port))
	case len(with) == 0 && port != "":
		return fmt.Errorf("message %s: no MDN from send port %s: its delivery has received none", safe(id), safe(port))
	case len(with) == 0:
		return fmt.Errorf("message %s: no MDN: none of its deliveries has received one", safe(id))
	case len(with) > 1:
		ports := make([]string, len(with))
		for i, dl := range with {
			ports[i] = safe(dl.Port)
		}
		return fmt.Errorf("message %s has MDNs from send ports %s: choose one with --port", safe(id), strings.Join(ports, ", "))
	}
	if _, err := w.Write(with[0].Receipt.Data); err != nil {
		return fmt.Errorf("message %s: writing the MDN: %w", safe(id), err)
	}
	return nil
}

// previewResume is resume's check of message m as listed, for --dry-run:
// its status, and its copies (msgbox.PreviewResume).
func previewResume(ctx context.Context, box msgbox.Box, m msgbox.Message) error {
	if err := msgbox.CheckResume(m.ID, m.Status, m.Decoding, m.Reason); err != nil {
		return err // without reading more
	}
	d, err := box.Get(ctx, m.ID)
	if err != nil {
		return err // purged meanwhile: skipped, saying so
	}
	return msgbox.PreviewResume(ctx, box, d)
}

// previewTerminate is terminate's check of message m as listed, for
// --dry-run: a delivery of it in progress under a live lease (not one
// awaiting an asynchronous MDN) makes the box refuse it now
// (msgbox.LeaseLive), so the preview says it would be skipped rather than
// terminated. The lease is read by this machine's clock, the box's own
// check by the database's: a preview.
func previewTerminate(ctx context.Context, box msgbox.Box, m msgbox.Message) error {
	d, err := box.Get(ctx, m.ID)
	if err != nil {
		return err // purged meanwhile: skipped, saying so
	}
	now := time.Now()
	for _, dl := range d.Deliveries {
		if dl.State == msgbox.DeliveryInProgress && !dl.AwaitsMDN() && dl.LeaseUntil.After(now) {
			return msgbox.LeaseLive(m.ID, dl.Port, dl.LeaseOwner, dl.LeaseUntil)
		}
	}
	return nil
}

// checkResubmitPort is resubmit's check of --port (port, "" when not
// given) against the configuration cfg, nil when there is none.
func checkResubmitPort(cfg *model.Config, port string) error {
	if port == "" {
		return nil
	}
	// A copy routed to a port no server runs would wait for ever,
	// unreported: the port is checked, so a configuration is needed.
	if cfg == nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("--port %s: give the configuration (PATH), whose send ports it is checked against", safe(port))}
	}
	return checkPortDeclared(cfg, port)
}

// resubmitMessage stores a copy of message id as a new message (see the
// resubmit command), routed to f.port when given (checkResubmitPort has
// checked it), each named in the other's history.
func resubmitMessage(ctx context.Context, e *env, box msgbox.Box, id string, f messagesFlags) error {
	w := e.stdout
	d, err := box.Get(ctx, id)
	if err != nil {
		return err
	}
	m := d.Message
	// Checked here so as not to read the body for nothing, and again by
	// the box in the transaction that stores the copy (ResubmitOf): a
	// resume of the message meanwhile fails the copy, instead of both
	// sending it.
	if err := msgbox.CheckResubmit(id, m.Status, m.Decoding, d.Deliveries, f.port); err != nil {
		return err
	}
	// The copy's key makes the check above and the copy one step: a second
	// resubmit that read the same history (run at the same time, by
	// another operator or a script retried) makes the same key, which the
	// box stores once, instead of a second copy: a second order sent. The
	// box notes the copy in the original's history in the transaction
	// that stores it (ResubmitOf), so the next resubmit makes a new key.
	n := 1
	for _, ev := range d.History {
		if ev.Port == "" && ev.Status == msgbox.ResubmittedStatus {
			n++
		}
	}
	if e.resubmitChecked != nil {
		e.resubmitChecked()
	}
	body, err := box.Body(ctx, id)
	if err != nil {
		return err
	}
	defer body.Close()
	var asReceived io.Reader // nil: the body is the message as received
	if m.Decoding == msgbox.Decoded {
		// The copy keeps the bytes as they arrived too, for messages
		// body --as-received.
		ar, err := box.AsReceived(ctx, id)
		if err != nil {
			return err
		}
		defer ar.Close()
		asReceived = ar
	}
	var route msgbox.Router // nil: stored unrouted, for bizpipe run to route
	if f.port != "" {
		route = func(msgbox.Message) ([]string, string) { return []string{f.port}, "" }
	}
	copied, dup, err := box.ReceiveRouted(ctx, msgbox.Incoming{ReceiveLocation: m.ReceiveLocation, FileName: m.FileName,
		ContentType: m.ContentType, Properties: m.Properties, SensitiveProperties: m.SensitiveProperties,
		Party: m.Party, Decoding: m.Decoding, AsReceived: asReceived, Origin: msgbox.ResubmittedFromDetail(id),
		SourceKey: msgbox.ResubmitKey(id, n), ResubmitOf: id, ResubmitPort: f.port}, body, route)
	if errors.Is(err, msgbox.ErrInvalidState) {
		// Changed since the check above: the box's reason, which names
		// the message and its state now.
		return fmt.Errorf("nothing copied: message %s changed while being resubmitted: %s", safe(id), skipReason(err))
	}
	if err != nil {
		return fmt.Errorf("resubmitting message %s: %w", safe(id), err)
	}
	if dup {
		return fmt.Errorf("message %s was resubmitted as %s by another resubmit of it at the same time; nothing copied again (resubmit it once more if a second copy is what you want)",
			safe(id), safe(copied.ID))
	}
	if f.format == "json" {
		if err := writeJSON(w, jsonResubmitted{ID: copied.ID, From: id, Port: f.port}); err != nil {
			return err
		}
	} else if f.port != "" {
		fmt.Fprintf(w, "resubmitted %s as %s, routed to send port %s\n", safe(id), safe(copied.ID), safe(f.port))
	} else {
		fmt.Fprintf(w, "resubmitted %s as %s; bizpipe run routes it by the send ports' filters\n", safe(id), safe(copied.ID))
	}
	return nil
}

// parseSince reads list's --since: an RFC 3339 time, or a duration
// (parseDuration's syntax) before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	// RFC 3339 allows a lower-case "t" and "z"; Go's layout does not.
	if t, err := time.Parse(time.RFC3339, strings.ToUpper(s)); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	switch {
	case errors.Is(err, errDurationSyntax):
		return time.Time{}, errors.New("use a time ago (2h, 1d, 1d12h) or an RFC 3339 time (2026-12-01T08:00:00Z)")
	case err != nil:
		return time.Time{}, err // negative, or too long
	}
	return now.Add(-d), nil
}

// noEmptyFlags makes a flag of c given an empty value bad usage: in a
// script, --port "$PORT" with PORT unset would otherwise mean "every port",
// and a bulk operation would act on every message.
func noEmptyFlags(c *cobra.Command) error {
	var err error
	c.Flags().Visit(func(fl *pflag.Flag) {
		if err == nil && fl.Value.Type() == "string" && fl.Value.String() == "" {
			err = usageHint(c, fmt.Errorf("--%s is empty: give a value, or leave the flag out", fl.Name))
		}
	})
	return err
}

// checkNamesDeclared makes list's --location, --port or --party naming
// nothing the configuration declares a usage error naming what it does
// declare (checkPortDeclared). Without a configuration nothing is checked.
func checkNamesDeclared(cfg *model.Config, f messagesFlags) error {
	if err := checkPortDeclared(cfg, f.port); err != nil {
		return err
	}
	if cfg == nil {
		return nil
	}
	if err := checkDeclared("--location", "receive location", f.location, locationNames(cfg)); err != nil {
		return err
	}
	return checkDeclared("--party", "party", f.party, partyNames(cfg))
}

// checkDeclared is a usage error when name is not "" and not among
// declared, the names of the configuration's blocks of kind.
func checkDeclared(flag, kind, name string, declared []string) error {
	if name == "" || slices.Contains(declared, name) {
		return nil
	}
	if len(declared) == 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s %s: the configuration declares no %s", flag, safe(name), kind)}
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("%s %s: no such %s in the configuration; it declares %s", flag, safe(name), kind, orList(safeAll(declared)))}
}

// orList names values for a help text or an error: "a, b or c".
func orList[T ~string](values []T) string {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// listFilter is what list's flags select, --since counted back from now;
// a flag with a bad value is a usage error.
func listFilter(f messagesFlags, now time.Time) (msgbox.Filter, error) {
	st := msgbox.Status(f.status)
	if st != "" && !msgbox.ValidListStatus(st) {
		return msgbox.Filter{}, &exitError{code: exitUsage, err: fmt.Errorf("unknown --status %q: use %s", f.status, orList(msgbox.ListStatuses()))}
	}
	if f.limit < 0 {
		return msgbox.Filter{}, &exitError{code: exitUsage, err: fmt.Errorf("--limit %d: give a number of messages, or 0 for all", f.limit)}
	}
	filter := msgbox.Filter{Status: st, Limit: f.limit, Location: f.location, Port: f.port, Party: f.party}
	if f.since != "" {
		since, err := parseSince(f.since, now)
		if err != nil {
			return msgbox.Filter{}, &exitError{code: exitUsage, err: fmt.Errorf("--since %s: %w", safe(f.since), err)}
		}
		filter.Since = since
	}
	return filter, nil
}

// listMessages prints to e.stdout the messages filter selects as the box
// reads them, so that a box of millions of messages is listed in bounded
// memory.
func listMessages(ctx context.Context, e *env, box msgbox.Box, cfg *model.Config, f messagesFlags, filter msgbox.Filter) error {
	var l messageLister
	inMemory := e.spoolInMemory
	if inMemory == 0 {
		inMemory = defaultSpoolInMemory
	}
	if f.format == "json" {
		l = &jsonLister{w: e.stdout, spool: spool{inMemory: inMemory}}
	} else {
		l = &textLister{w: e.stdout, spool: spool{inMemory: inMemory}}
	}
	defer l.close()
	n := 0
	if err := box.List(ctx, filter, func(m msgbox.Message) error {
		n++
		return l.add(m)
	}); err != nil {
		return err
	}
	if n == 0 {
		// Nothing listed may be a typo in a name: say so (as for bulk
		// resume's --port), but only then, so that the messages of a
		// location or port since removed can still be listed.
		if err := checkNamesDeclared(cfg, f); err != nil {
			return err
		}
	}
	return l.finish()
}

// A messageLister prints messages list's output, a message at a time:
// add for each message, then finish; close frees what it holds, whether
// or not finish was called.
type messageLister interface {
	add(m msgbox.Message) error
	finish() error
	close()
}

// jsonLister writes the jsonMessageList document writeJSON would write.
// The messages wait in a spool, as the text list's rows do, and the
// document is written once the box has listed the last: a listing that
// fails part way (a damaged row, a lost connection) prints nothing, not
// the first part of a document cut wherever a buffer was flushed.
type jsonLister struct {
	w     io.Writer
	spool spool
	n     int
}

func (l *jsonLister) add(m msgbox.Message) error {
	b, err := json.MarshalIndent(toJSONMessage(m), "    ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n    "
	if l.n == 0 {
		sep = "{\n  \"messages\": [\n    "
	}
	l.n++
	if err := l.spool.write([]byte(sep)); err != nil {
		return err
	}
	return l.spool.write(b)
}

func (l *jsonLister) finish() error {
	bw := bufio.NewWriterSize(l.w, 64<<10)
	if l.n == 0 {
		bw.WriteString("{\n  \"messages\": []\n}\n")
		return bw.Flush()
	}
	if err := l.spool.copyTo(bw); err != nil {
		return err
	}
	bw.WriteString("\n  ]\n}\n")
	return bw.Flush()
}

func (l *jsonLister) close() { l.spool.close() }

// textLister writes the aligned columns a tabwriter would. Every width,
// and whether the PARTY column appears at all (when a listed message has
// a party: a box without decoding locations lists as it always did), is
// known only after the last message: the rows wait in a spool, which
// moves from memory to a temporary file when they are many, rather than
// all in memory.
type textLister struct {
	w       io.Writer
	spool   spool
	widths  [7]int // ID STATUS RECEIVED LOCATION FILE PARTY SIZE; REASON is not aligned
	parties bool
}

// textListHeader are the text list's column titles, PARTY's index
// textPartyColumn.
var textListHeader = [8]string{"ID", "STATUS", "RECEIVED", "LOCATION", "FILE", "PARTY", "SIZE", "REASON"}

const textPartyColumn = 5

func (l *textLister) add(m msgbox.Message) error {
	// Every string from the box is escaped (see safe): a tab or newline
	// in a file name would forge cells and rows, and cannot split the
	// spool's.
	row := [8]string{safe(m.ID), safe(string(m.Status)), m.ReceivedAt.UTC().Format(time.RFC3339),
		safe(m.ReceiveLocation), safe(m.FileName), safe(m.Party), strconv.FormatInt(m.Size, 10), safe(oneLine(m.Reason))}
	l.parties = l.parties || m.Party != ""
	for i := range l.widths {
		// Display columns, not runes: a Japanese name takes two a character.
		l.widths[i] = max(l.widths[i], safetext.Width(row[i]))
	}
	return l.spool.writeLine(strings.Join(row[:], "\t"))
}

func (l *textLister) finish() error {
	for i, h := range textListHeader[:len(l.widths)] {
		l.widths[i] = max(l.widths[i], safetext.Width(h))
	}
	bw := bufio.NewWriterSize(l.w, 64<<10)
	line := func(cells []string) {
		for i, c := range cells {
			if i == textPartyColumn && !l.parties {
				continue
			}
			bw.WriteString(c)
			if i < len(l.widths) {
				// tabwriter's padding: 2 spaces past the widest cell.
				bw.WriteString(pad(c, l.widths[i]+2)[len(c):])
			}
		}
		bw.WriteByte('\n')
	}
	line(textListHeader[:])
	if err := l.spool.lines(func(s string) { line(strings.Split(s, "\t")) }); err != nil {
		return err
	}
	return bw.Flush()
}

func (l *textLister) close() { l.spool.close() }

// defaultSpoolInMemory is the bytes a spool keeps in memory before it
// moves them to a temporary file, unless env.spoolInMemory says otherwise.
const defaultSpoolInMemory = 4 << 20

// A spool holds lines to read back once, in memory while they are few,
// in a temporary file (removed at once) past inMemory bytes.
type spool struct {
	inMemory int
	mem      bytes.Buffer
	file     *os.File
	bw       *bufio.Writer
}

func (s *spool) writeLine(line string) error {
	return s.write([]byte(line + "\n"))
}

// write adds p to what the spool holds.
func (s *spool) write(p []byte) error {
	if s.file == nil && s.mem.Len()+len(p) > s.inMemory {
		f, err := os.CreateTemp("", "bizpipe-list-*")
		if err != nil {
			return fmt.Errorf("spooling the list: %w", err)
		}
		// Removed now: the open file lives on, and nothing is left behind
		// whatever ends the command.
		os.Remove(f.Name())
		s.file, s.bw = f, bufio.NewWriterSize(f, 64<<10)
		if _, err := s.mem.WriteTo(s.bw); err != nil {
			return fmt.Errorf("spooling the list: %w", err)
		}
	}
	if s.file == nil {
		s.mem.Write(p)
		return nil
	}
	if _, err := s.bw.Write(p); err != nil {
		return fmt.Errorf("spooling the list: %w", err)
	}
	return nil
}

// copyTo writes everything written to the spool to w, as written.
func (s *spool) copyTo(w io.Writer) error {
	if s.file == nil {
		_, err := s.mem.WriteTo(w)
		return err
	}
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("spooling the list: %w", err)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spooling the list: %w", err)
	}
	if _, err := io.Copy(w, s.file); err != nil {
		return fmt.Errorf("reading the spooled list: %w", err)
	}
	return nil
}

// lines calls fn with each line written, in order, without its newline.
func (s *spool) lines(fn func(string)) error {
	var r *bufio.Reader
	if s.file == nil {
		r = bufio.NewReader(&s.mem)
	} else {
		if err := s.bw.Flush(); err != nil {
			return fmt.Errorf("spooling the list: %w", err)
		}
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("spooling the list: %w", err)
		}
		r = bufio.NewReaderSize(s.file, 64<<10)
	}
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the spooled list: %w", err)
		}
		fn(line[:len(line)-1])
	}
}

func (s *spool) close() {
	if s.file != nil {
		s.file.Close()
	}
}

// The JSON documents of messages list and show. The doc tags describe the
// fields in the reference (docs/cli.md).

// jsonMessageList is what messages list --format json prints.
type jsonMessageList struct {
	Messages []jsonMessage `json:"messages" doc:"The messages, newest first."`
}

type jsonMessage struct {
	ID              string            `json:"id" doc:"The message id."`
	Status          string            `json:"status" doc:"received, routed, awaiting_mdn (routed, and every delivery not yet delivered waits for an asynchronous AS2 MDN), delivered, retrying, suspended or terminated."`
	ReceiveLocation string            `json:"receive_location" doc:"The receive location that received it."`
	FileName        string            `json:"file_name" doc:"The original file name; \"\" when it did not come from a file."`
	ContentType     string            `json:"content_type" doc:"Its content type."`
	Size            int64             `json:"size" doc:"The body's size in bytes."`
	ReceivedAt      string            `json:"received_at" doc:"When it was received, RFC 3339 in UTC."`
	Properties      map[string]string `json:"properties" doc:"Its context properties; a sensitive value shows as (sensitive value)."`
	Reason          string            `json:"reason,omitempty" doc:"Why it is suspended, or why it ended."`
	Party           string            `json:"party" doc:"The party whose signature a receive pipeline verified; \"\" when none did."`
}

func toJSONMessage(m msgbox.Message) jsonMessage {
	props := m.ShownProperties() // sensitive values hidden
	if props == nil {
		props = map[string]string{}
	}
	return jsonMessage{ID: m.ID, Status: string(m.Status), ReceiveLocation: m.ReceiveLocation, FileName: m.FileName,
		ContentType: m.ContentType, Size: m.Size, ReceivedAt: m.ReceivedAt.UTC().Format(time.RFC3339Nano),
		Properties: props, Reason: m.Reason, Party: m.Party}
}

// jsonMessageDetail is what messages show --format json prints.
type jsonMessageDetail struct {
	Message    jsonMessage    `json:"message" doc:"The message, as messages list shows it."`
	Deliveries []jsonDelivery `json:"deliveries" doc:"Its deliveries, one per send port it was routed to."`
	Attempts   []jsonAttempt  `json:"attempts" doc:"Every delivery attempt, oldest first."`
	History    []jsonEvent    `json:"history" doc:"What happened to it, oldest first."`
}

type jsonDelivery struct {
	ID            int64        `json:"id" doc:"The delivery's id."`
	Port          string       `json:"send_port" doc:"The send port."`
	State         string       `json:"state" doc:"pending, in_progress, awaiting_mdn (sent, and waiting for its asynchronous AS2 MDN), retrying, delivered, suspended or terminated."`
	Attempts      int          `json:"attempts" doc:"Attempts made since it was last resumed, the one whose asynchronous AS2 MDN is awaited included."`
	NextAttemptAt string       `json:"next_attempt_at,omitempty" doc:"When a pending or retrying delivery is next due, RFC 3339 in UTC."`
	LastError     string       `json:"last_error,omitempty" doc:"Why the last attempt failed."`
	Receipt       *jsonReceipt `json:"receipt,omitempty" doc:"The partner's proof of receipt (an AS2 MDN), when the delivery received one; messages mdn writes it out."`
}

type jsonReceipt struct {
	ContentType string `json:"content_type" doc:"Its content type: multipart/signed for a signed MDN, multipart/report for an unsigned one."`
	Summary     string `json:"summary" doc:"Its disposition, the Received-Content-MIC that matched, and whether it was signed."`
	Size        int    `json:"size" doc:"Its size in bytes, header fields included."`
}

type jsonAttempt struct {
	DeliveryID int64  `json:"delivery_id" doc:"The delivery it was an attempt of."`
	Port       string `json:"send_port" doc:"The send port."`
	Number     int    `json:"number" doc:"Its number, from 1."`
	Owner      string `json:"owner" doc:"The worker that made it: server/worker (srv1/w3), or server@host/worker for a run --host process (srv1@orders/w3); server/receive for an attempt a receive location claimed for the workers; as2:awaiting-mdn for one that sent the message and then waited for its asynchronous AS2 MDN (mdn = \"async\"), ended by that MDN, by mdn_timeout or by messages terminate."`
	StartedAt  string `json:"started_at" doc:"When it started, RFC 3339 in UTC."`
	FinishedAt string `json:"finished_at" doc:"When it ended, RFC 3339 in UTC."`
	Outcome    string `json:"outcome" doc:"The delivery's state after it: delivered, retrying or suspended; retrying for one messages terminate cut off, its delivery then terminated."`
	Error      string `json:"error,omitempty" doc:"Why it failed."`
}

type jsonEvent struct {
	At     string `json:"at" doc:"When, RFC 3339 in UTC."`
	Port   string `json:"send_port,omitempty" doc:"The send port, for an event of one delivery."`
	Status string `json:"status" doc:"The status of the message or delivery after the event; resubmitted on a message an operator resubmitted (messages resubmit), naming its copy."`
	Detail string `json:"detail,omitempty" doc:"What happened."`
}

// toJSONDetail converts a message's details for messages show.
func toJSONDetail(d *msgbox.Detail) jsonMessageDetail {
	out := jsonMessageDetail{Message: toJSONMessage(d.Message), Deliveries: []jsonDelivery{}, Attempts: []jsonAttempt{}, History: []jsonEvent{}}
	for _, dl := range d.Deliveries {
		jd := jsonDelivery{ID: dl.ID, Port: dl.Port, State: string(dl.State), Attempts: dl.Attempts, LastError: dl.LastError}
		if !dl.NextAttemptAt.IsZero() && (dl.State == msgbox.DeliveryRetrying || dl.State == msgbox.DeliveryPending) {
			jd.NextAttemptAt = dl.NextAttemptAt.UTC().Format(time.RFC3339Nano)
		}
		if r := dl.Receipt; r != nil {
			jd.Receipt = &jsonReceipt{ContentType: r.ContentType, Summary: r.Summary, Size: len(r.Data)}
		}
		out.Deliveries = append(out.Deliveries, jd)
	}
	for _, a := range d.Attempts {
		out.Attempts = append(out.Attempts, jsonAttempt{DeliveryID: a.DeliveryID, Port: a.Port, Number: a.Number, Owner: a.Owner,
			StartedAt: a.StartedAt.UTC().Format(time.RFC3339Nano), FinishedAt: a.FinishedAt.UTC().Format(time.RFC3339Nano),
			Outcome: string(a.Outcome), Error: a.Error})
	}
	for _, ev := range d.History {
		out.History = append(out.History, jsonEvent{At: ev.At.UTC().Format(time.RFC3339Nano), Port: ev.Port, Status: ev.Status, Detail: ev.Detail})
	}
	return out
}

func showMessage(w io.Writer, d *msgbox.Detail, format string) error {
	if format == "json" {
		return writeJSON(w, toJSONDetail(d))
	}
	// Every string from the box is escaped (see safe).
	m := d.Message
	fmt.Fprintf(w, "message %s\n", safe(m.ID))
	fmt.Fprintf(w, "  status            %s\n", safe(string(m.Status)))
	if m.Reason != "" {
		fmt.Fprintf(w, "  reason            %s\n", safe(oneLine(m.Reason)))
	}
	fmt.Fprintf(w, "  received at       %s\n", m.ReceivedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  receive location  %s\n", safe(m.ReceiveLocation))
	fmt.Fprintf(w, "  file name         %s\n", safe(m.FileName))
	fmt.Fprintf(w, "  content type      %s\n", safe(m.ContentType))
	fmt.Fprintf(w, "  size              %d\n", m.Size)
	if m.Party != "" {
		fmt.Fprintf(w, "  party             %s\n", safe(m.Party))
	}
	props := m.ShownProperties() // sensitive values hidden
	for _, k := range sortedKeys(props) {
		fmt.Fprintf(w, "  property          %s = %s\n", safe(k), safe(props[k]))
	}
	fmt.Fprintln(w, "deliveries")
	for _, dl := range d.Deliveries {
		fmt.Fprintf(w, "  %s %s attempts %d", pad(safe(dl.Port), 20), pad(safe(string(dl.State)), 12), dl.Attempts)
		if dl.State == msgbox.DeliveryRetrying {
			fmt.Fprintf(w, ", next at %s", dl.NextAttemptAt.UTC().Format(time.RFC3339))
		}
		if dl.LastError != "" {
			fmt.Fprintf(w, "\n    last error: %s", safe(oneLine(dl.LastError)))
		}
		if dl.Receipt != nil {
			fmt.Fprintf(w, "\n    MDN: %s (%d bytes)", safe(oneLine(dl.Receipt.Summary)), len(dl.Receipt.Data))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "history")
	for _, ev := range d.History {
		port := ""
		if ev.Port != "" {
			port = " [" + safe(ev.Port) + "]"
		}
		fmt.Fprintf(w, "  %s %s%s", ev.At.UTC().Format(time.RFC3339), safe(ev.Status), port)
		if ev.Detail != "" {
			fmt.Fprintf(w, ": %s", safe(oneLine(ev.Detail)))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// safe is how every string from outside (the message box, certificate
// stores) is printed in text output: as it is when printable, else quoted
// with its control characters escaped, so that it cannot drive the
// terminal or forge a line. JSON output needs none of it.
func safe(s string) string { return safetext.Field(s) }

// pad is s, printable (safe), followed by the spaces that make it width
// columns wide on a terminal (safetext.Width: a Japanese name takes two a
// character), as fmt's %-*s would for ASCII.
func pad(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-safetext.Width(s)))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// markAwaiting shows the deliveries of d that await an asynchronous AS2
// MDN (msgbox.Delivery.AwaitsMDN) as awaiting_mdn, the attempt that sent
// them counted (AttemptsMade); the box has derived the message's status
// already.
func markAwaiting(d *msgbox.Detail) {
	for i := range d.Deliveries {
		if dl := &d.Deliveries[i]; dl.AwaitsMDN() {
			dl.Attempts = dl.AttemptsMade()
			dl.State = msgbox.DeliveryState(msgbox.StatusAwaitingMDN)
		}
	}
}

// purgeFailed is the error of a purge that failed, having deleted n
// messages before (a purge deletes in batches): the operator learns that
// some are gone, not only that it failed.
func purgeFailed(err error, n int, dryRun bool) error {
	if n == 0 || dryRun {
		return err
	}
	return fmt.Errorf("%w (%d message(s) purged before the failure; run purge again for the rest)", err, n)
}

// jsonPurged is what messages purge --format json prints.
type jsonPurged struct {
	Purged int `json:"purged" doc:"How many messages were deleted, with their bodies, deliveries and history."`
}

// jsonResubmitted is what messages resubmit --format json prints.
type jsonResubmitted struct {
	ID   string `json:"id" doc:"The new message: the copy."`
	From string `json:"resubmitted_from" doc:"The message copied."`
	Port string `json:"port" doc:"The send port the copy was routed to; \"\" when bizpipe run routes it by the filters."`
}

// jsonPurgeable is what messages purge --dry-run --format json prints.
type jsonPurgeable struct {
	WouldPurge int `json:"would_purge" doc:"How many messages purge would delete now; --dry-run deletes none."`
}
