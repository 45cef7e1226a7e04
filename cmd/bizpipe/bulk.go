package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// bulkOp is what a messages subcommand that acts on messages does.
type bulkOp struct {
	verb string // as in "would resume"
	done string // its past participle, as in "resumed"
	op   func(msgbox.Box, context.Context, string) error
	// bulkOp, when not nil, is op for --all-suspended: it refuses
	// (ErrInvalidState) a message that is no longer suspended when it
	// runs, which is then skipped. Without it, op must refuse those.
	bulkOp func(msgbox.Box, context.Context, string) error
	// check, when not nil, is the op's rule on a message as listed, which
	// --dry-run applies: an error that is ErrInvalidState (or ErrNotFound:
	// purged since) is the reason it would be skipped; another fails the
	// preview.
	check func(context.Context, msgbox.Box, msgbox.Message) error
}

// operate runs a messages subcommand that acts on messages (resume,
// terminate): on the ID in args[0], or with --all-suspended on every
// suspended message (--port narrows that to the messages with a suspended
// delivery to one send port); with --dry-run it says what it would do.
func operate(e *env, f messagesFlags, args []string, o bulkOp) error {
	done, op := o.done, o.op
	if !f.allSuspended {
		if f.port != "" {
			return &exitError{code: exitUsage, err: errors.New("--port selects messages for --all-suspended; give one or the other with an ID")}
		}
		if f.dryRun {
			return &exitError{code: exitUsage, err: errors.New("--dry-run previews --all-suspended; for one message, bizpipe messages show ID shows its state")}
		}
		if len(args) == 0 {
			return &exitError{code: exitUsage, err: errors.New("give a message ID, or --all-suspended")}
		}
		args[0] = msgbox.TypedID(args[0])
		return withBox(e, f, args[1:], boxOperate, func(ctx context.Context, box msgbox.Box) error {
			if err := op(box, ctx, args[0]); err != nil {
				return err
			}
			if f.format == "json" {
				return writeJSON(e.stdout, map[string][]string{done: {args[0]}})
			}
			fmt.Fprintf(e.stdout, "%s %s\n", done, args[0])
			return nil
		})
	}
	// With --all-suspended every argument is a configuration path. An ID
	// given as well would otherwise fail as a path that does not exist,
	// which hides the mistake: say what it is. (A file or directory that
	// happens to have an ID's shape is still a path.)
	for _, a := range args {
		if _, err := os.Lstat(a); err != nil && msgbox.ValidID(msgbox.TypedID(a)) {
			return &exitError{code: exitUsage, err: fmt.Errorf("--all-suspended takes no message ID (got %s): it selects every suspended message; give the ID without --all-suspended to act on that message only", a)}
		}
	}
	use := boxOperate
	if f.dryRun {
		use = boxRead // lists and checks, changes nothing
	}
	return withConfigBox(e, f, args, use, func(ctx context.Context, cfg *model.Config, box msgbox.Box) error {
		if o.bulkOp != nil {
			op = o.bulkOp
		}
		// Each message is acted on as the box lists it, a page at a time
		// (msgbox.ListPage), oldest first: only the ids acted on are
		// held, for the output. The listing goes by the order the box
		// received the messages, so one that changes meanwhile is
		// neither missed nor met twice, and it ends at the last message
		// received when it started.
		var acted []string
		skipped := []skippedMessage{}
		var failed []error
		listed := 0
		err := suspended(ctx, box, f.port, func(m msgbox.Message) error {
			listed++
			id := m.ID
			if f.dryRun {
				if o.check != nil {
					err := o.check(ctx, box, m)
					switch {
					case errors.Is(err, msgbox.ErrInvalidState) || errors.Is(err, msgbox.ErrNotFound):
						skipped = append(skipped, skippedMessage{ID: id, Reason: skipReason(err)})
						return nil
					case err != nil:
						return err // the box failed: no preview to trust
					}
				}
				acted = append(acted, id)
				return nil
			}
			if listed == 1 && e.bulkListed != nil {
				e.bulkListed()
			}
			err := op(box, ctx, id)
			switch {
			case err == nil:
				acted = append(acted, id)
			case errors.Is(err, msgbox.ErrInvalidState) || errors.Is(err, msgbox.ErrNotFound):
				// Changed since the listing (resumed, terminated or
				// purged by someone else), or the operation does not
				// apply now (a delivery of it is in progress): not a
				// failure of this command, but said, with the reason.
				skipped = append(skipped, skippedMessage{ID: id, Reason: skipReason(err)})
			default:
				failed = append(failed, fmt.Errorf("%s: %w", id, err))
			}
			return nil
		})
		switch {
		case err != nil && (f.dryRun || len(acted)+len(skipped)+len(failed) == 0):
			return err // nothing done
		case err != nil:
			// What was done before the listing failed is said too.
			failed = append(failed, err)
		case listed == 0:
			// Nothing to do may be a typo in --port: "terminated 0"
			// would hide it. Only then, so that the suspended messages
			// of a port since removed from the configuration can still
			// be resumed or terminated.
			if err := checkPortDeclared(cfg, f.port); err != nil {
				return err
			}
		}
		if f.dryRun {
			return preview(e, f, o, acted, skipped)
		}
		if f.format == "json" {
			if err := writeJSON(e.stdout, map[string]any{done: nonNil(acted), "skipped": skipped}); err != nil {
				return err
			}
		} else {
			for _, id := range acted {
				fmt.Fprintf(e.stdout, "%s %s\n", done, safe(id))
			}
			for _, s := range skipped {
				fmt.Fprintf(e.stdout, "skipped %s: %s\n", safe(s.ID), safe(s.Reason))
			}
			fmt.Fprintf(e.stdout, "%s %d suspended message(s)", done, len(acted))
			if len(skipped) > 0 {
				fmt.Fprintf(e.stdout, "; skipped %d", len(skipped))
			}
			fmt.Fprintln(e.stdout)
		}
		return errors.Join(failed...)
	})
}

// checkPortDeclared makes a --port that names no send port of the
// configuration a usage error that names those it declares. Without a
// configuration (cfg nil: the embedded box alone) there is nothing to
// check against, and "" selects every port.
func checkPortDeclared(cfg *model.Config, port string) error {
	if cfg == nil {
		return nil
	}
	return checkDeclared("--port", "send port", port, sendPortNames(cfg))
}

// preview is operate's --dry-run: what it would do, to the messages in
// would (o.check found nothing against them), and the messages it would
// skip, and nothing done. A message can still be skipped when it runs:
// one resumed or terminated meanwhile, or one whose delivery a worker
// claimed meanwhile.
func preview(e *env, f messagesFlags, o bulkOp, would []string, skipped []skippedMessage) error {
	if f.format == "json" {
		return writeJSON(e.stdout, map[string]any{"would_" + o.verb: nonNil(would), "skipped": skipped})
	}
	for _, id := range would {
		fmt.Fprintf(e.stdout, "would %s %s\n", o.verb, safe(id))
	}
	for _, s := range skipped {
		fmt.Fprintf(e.stdout, "would skip %s: %s\n", safe(s.ID), safe(s.Reason))
	}
	fmt.Fprintf(e.stdout, "would %s %d suspended message(s)", o.verb, len(would))
	if len(skipped) > 0 {
		fmt.Fprintf(e.stdout, "; would skip %d", len(skipped))
	}
	fmt.Fprintln(e.stdout, "; nothing changed (--dry-run)")
	return nil
}

// suspended calls fn with each suspended message, oldest first, as the
// box lists them, or with port each with a suspended delivery to that send
// port (a routing failure has no delivery, so it never matches a port).
// An error from fn stops it and is returned.
func suspended(ctx context.Context, box msgbox.Box, port string, fn func(msgbox.Message) error) error {
	// The box narrows to the messages routed to port; whether that
	// delivery is the suspended one is read per message.
	return box.List(ctx, msgbox.Filter{Status: msgbox.StatusSuspended, Port: port, OldestFirst: true}, func(m msgbox.Message) error {
		if port == "" {
			return fn(m)
		}
		d, err := box.Get(ctx, m.ID)
		if errors.Is(err, msgbox.ErrNotFound) {
			return nil // purged meanwhile
		}
		if err != nil {
			return err
		}
		for _, dl := range d.Deliveries {
			if dl.Port == port && dl.State == msgbox.DeliverySuspended {
				return fn(m)
			}
		}
		return nil
	})
}

// skippedMessage is a message a bulk operation listed but left alone.
type skippedMessage struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// skipReason is why a bulk operation skipped a message: the box's reason,
// without the box and operation the box's error starts with (the entry
// names the message), so that it reads as --dry-run's does.
func skipReason(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if !strings.HasPrefix(e.Error(), "message box ") {
			return e.Error()
		}
	}
	return err.Error()
}
