package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bizpipe/bizpipe/internal/config/diag"

	"github.com/bizpipe/bizpipe/internal/config/model"
	"github.com/bizpipe/bizpipe/internal/msgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/pgbox"
	"github.com/bizpipe/bizpipe/internal/msgbox/sqlitebox"
	"github.com/bizpipe/bizpipe/internal/validate/live"
)

// defaultDataDir is where the embedded message box lives without --data-dir.
const defaultDataDir = ".bizpipe"

// boxUse is what a command opens the message box for.
type boxUse int

const (
	// boxRun is bizpipe run: it creates the embedded box where none has
	// been, and holds the box's lock while it runs.
	boxRun boxUse = iota
	// boxOperate is bizpipe messages: it opens a box that exists, beside
	// a running engine, and never creates one.
	boxOperate
	// boxRead is a bizpipe messages command that changes nothing (list,
	// show, body, mdn, a --dry-run, route --message): boxOperate, but a
	// box of the current schema is opened without a write: an embedded
	// one without waiting for the write lock, which a writer in another
	// process may hold for long, a postgres one on a hot standby or as a
	// role that may only read. An older one is still migrated
	// (docs/operations.md, Upgrading bizpipe).
	boxRead
)

// openBox opens the configured message box, or the embedded SQLite box in
// dataDir when the configuration has no message_box block (cfg may be nil).
// log (nil: none) hears of the embedded box's background problems, and
// abandoned (nil: none) of the attempts the box records as failed on its
// own (msgbox.AbandonedFunc).
func openBox(ctx context.Context, cfg *model.Config, dataDir string, use boxUse, log *slog.Logger, abandoned msgbox.AbandonedFunc) (msgbox.Box, error) {
	path := filepath.Join(dataDir, "messagebox.db")
	if cfg != nil && cfg.MessageBox != nil {
		// A backend without a usable value has been reported by the
		// configuration's load (lang.Options.NeedMessageBox); falling
		// back to the default box would open another one than it names.
		mb := cfg.MessageBox
		switch {
		case mb.PostgresURL != nil:
			if !mb.PostgresURL.Usable() {
				return nil, fmt.Errorf("the postgres message_box at %s has no url that is known: not opening a message box", mb.DeclRange)
			}
			opts := pgboxOptions(use)
			opts.Abandoned = abandoned
			box, err := pgbox.Open(ctx, mb.PostgresURL.V, opts)
			if errors.Is(err, pgbox.ErrNoBox) {
				return nil, fmt.Errorf("%w; bizpipe run creates one there (is the configuration's message_box url the one run uses?)", err)
			}
			if err != nil {
				return nil, err
			}
			return box, nil
		case mb.SQLitePath != nil && mb.SQLitePath.Usable():
			path = mb.SQLitePath.V
		default:
			return nil, fmt.Errorf("the message_box at %s has no sqlite path or postgres url that is known: not opening a message box", mb.DeclRange)
		}
	}
	opts := sqlitebox.Options{Lock: true, Log: log, Abandoned: abandoned}
	if use != boxRun {
		// No lock: an operator works on the box while run runs, SQLite's
		// own locking orders their writes.
		opts = sqlitebox.Options{NoCreate: true, Reading: use == boxRead}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating the message box directory: %w", err)
	}
	box, err := sqlitebox.Open(path, opts)
	if errors.Is(err, sqlitebox.ErrNoBox) {
		return nil, fmt.Errorf("%w; bizpipe run creates one there (is --data-dir, or the configuration's message_box path, the one run uses?)", err)
	}
	if err != nil {
		return nil, err
	}
	return box, nil
}

// operateConnectTimeout bounds an operator command's connection attempt
// to a postgres box whose URL sets no connect_timeout.
const operateConnectTimeout = 5 * time.Second

// pgboxOptions are the options a command opens a postgres box with.
func pgboxOptions(use boxUse) pgbox.Options {
	if use == boxRun {
		// run rides out a database restart or failover: it retries for
		// pgbox.DefaultReconnectTimeout.
		return pgbox.Options{}
	}
	// bizpipe messages never creates a box: a database without one is
	// reported, not given an empty box to list. An operator at a terminal
	// is told at once that the box cannot be reached, as validate --live
	// tells, instead of after run's reconnect timeout; he runs the command
	// again.
	return pgbox.Options{NoCreate: true, Reading: use == boxRead, ReconnectTimeout: -1, ConnectTimeout: operateConnectTimeout}
}

// checkMessageBox is the live check of a shared message box (BP6005), for
// the hosts on server (host alone, when set): it connects without
// changing anything and compares schema versions. A configuration without
// a postgres box has nothing to check; one whose URL has no value
// (validate --live: the secret may be given to run alone) is warned of
// (BP1009), not passed in silence.
func checkMessageBox(ctx context.Context, cfg *model.Config, server, host string) hcl.Diagnostics {
	if cfg == nil || cfg.MessageBox == nil || cfg.MessageBox.PostgresURL == nil {
		return nil
	}
	u := cfg.MessageBox.PostgresURL
	if u.Set && !u.Known {
		whom := "the hosts that run there"
		if host != "" {
			whom = fmt.Sprintf("host %q", host)
		}
		return hcl.Diagnostics{live.Unknown(u.Range, "Value unknown: message box check skipped",
			"url of the message box's postgres block", "no connection to the box is made", server,
			"BP6005 (whether it can be reached, and holds a schema this bizpipe can use) is skipped for "+whom)}
	}
	if !u.Usable() {
		return nil
	}
	fail := func(format string, args ...any) hcl.Diagnostics {
		return hcl.Diagnostics{diag.Errorf(diag.CodeLiveMessageBox, u.Range, "Message box not usable", format, args...)}
	}
	box, err := pgbox.Open(ctx, u.V, pgbox.Options{NoMigrate: true, ReconnectTimeout: -1})
	if err != nil {
		return fail("The postgres message box cannot be reached: %v.", err)
	}
	defer box.Close()
	have, want, err := box.CheckSchema(ctx)
	switch {
	case err != nil && have == 0 && errors.Is(err, pgbox.ErrSchemaMismatch):
		// A database no bizpipe has used yet: the first run creates the
		// schema, so a deployment's validate --live must not block it.
		return nil
	case err != nil && have < want && errors.Is(err, pgbox.ErrSchemaMismatch):
		// An older schema is what an upgrade meets: run migrates it when
		// it starts, so an ExecStartPre validate --live must not stop the
		// run that would. What can go wrong is the other servers: an older
		// bizpipe refuses the migrated schema.
		return hcl.Diagnostics{diag.Warningf(diag.CodeLiveMessageBox, u.Range, "Message box schema to be migrated",
			"The postgres message box's schema is version %d; this bizpipe uses version %d, and run migrates it when it starts. "+
				"Upgrade every server that uses this box: an older bizpipe refuses the newer schema.", have, want)}
	case err != nil:
		return fail("The postgres message box's schema is version %d, and this bizpipe uses version %d: %v.", have, want, err)
	}
	return nil
}
