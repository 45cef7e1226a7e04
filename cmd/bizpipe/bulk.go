package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// operate runs a messages subcommand that acts on messages (resume,
// terminate): on the ID in args[0], or with --all-suspended on every
// suspended message (--port narrows that to the messages with a suspended
// delivery to one send port). done is the past participle the output uses.
func operate(e *env, f messagesFlags, args []string, done string, op func(msgbox.Box, context.Context, string) error) error {
	if !f.allSuspended {
		if f.port != "" {
			return &exitError{code: exitUsage, err: errors.New("--port selects messages for --all-suspended; give one or the other with an ID")}
		}
		if len(args) == 0 {
			return &exitError{code: exitUsage, err: errors.New("give a message ID, or --all-suspended")}
		}
		return withBox(e, f, args[1:], func(ctx context.Context, box msgbox.Box) error {
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
		if _, err := os.Lstat(a); err != nil && msgbox.ValidID(a) {
			return &exitError{code: exitUsage, err: fmt.Errorf("--all-suspended takes no message ID (got %s): it selects every suspended message; give the ID without --all-suspended to act on that message only", a)}
		}
	}
	return withConfigBox(e, f, args, func(ctx context.Context, cfg *model.Config, box msgbox.Box) error {
		ids, err := suspendedIDs(ctx, box, f.port)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			// Nothing to do may be a typo in --port: "terminated 0"
			// would hide it. Only then, so that the suspended messages
			// of a port since removed from the configuration can still
			// be resumed or terminated.
			if err := checkPortDeclared(cfg, f.port); err != nil {
				return err
			}
		}
		var acted []string
		skipped := []skippedMessage{}
		var failed []error
		for _, id := range ids {
			err := op(box, ctx, id)
			switch {
			case err == nil:
				acted = append(acted, id)
			case errors.Is(err, msgbox.ErrInvalidState) || errors.Is(err, msgbox.ErrNotFound):
				// Changed since the listing (resumed, terminated or
				// purged by someone else), or the operation does not
				// apply now (a delivery of it is in progress): not a
				// failure of this command, but said, with the reason.
				skipped = append(skipped, skippedMessage{ID: id, Reason: err.Error()})
			default:
				failed = append(failed, fmt.Errorf("%s: %w", id, err))
			}
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
	if cfg == nil || port == "" {
		return nil
	}
	var names []string
	for _, p := range cfg.SendPorts {
		if p.Name == port {
			return nil
		}
		names = append(names, safe(p.Name))
	}
	if len(names) == 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--port %s: the configuration declares no send port", safe(port))}
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("--port %s: no such send port in the configuration; it declares %s", safe(port), orList(names))}
}

// suspendedIDs lists the suspended messages, oldest first, or with port
// those with a suspended delivery to that send port (a routing failure has
// no delivery, so it never matches a port).
func suspendedIDs(ctx context.Context, box msgbox.Box, port string) ([]string, error) {
	msgs, err := box.List(ctx, msgbox.Filter{Status: msgbox.StatusSuspended})
	if err != nil {
		return nil, err
	}
	var ids []string
	for i := len(msgs) - 1; i >= 0; i-- { // List is newest first
		id := msgs[i].ID
		if port == "" {
			ids = append(ids, id)
			continue
		}
		d, err := box.Get(ctx, id)
		if errors.Is(err, msgbox.ErrNotFound) {
			continue // purged meanwhile
		}
		if err != nil {
			return nil, err
		}
		for _, dl := range d.Deliveries {
			if dl.Port == port && dl.State == msgbox.DeliverySuspended {
				ids = append(ids, id)
				break
			}
		}
	}
	return ids, nil
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
