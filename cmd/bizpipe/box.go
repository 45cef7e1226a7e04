package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bizpipe/bizpipe/engine/model"
	"github.com/bizpipe/bizpipe/engine/msgbox"
	"github.com/bizpipe/bizpipe/engine/msgbox/sqlitebox"
)

// defaultDataDir is where the embedded message box lives without --data-dir.
const defaultDataDir = ".bizpipe"

// openBox opens the configured message box, or the embedded SQLite box in
// dataDir when the configuration has no message_box block (cfg may be nil).
func openBox(cfg *model.Config, dataDir string) (msgbox.Box, error) {
	path := filepath.Join(dataDir, "messagebox.db")
	if cfg != nil && cfg.MessageBox != nil {
		mb := cfg.MessageBox
		switch {
		case mb.PostgresURL != nil:
			return nil, errors.New("the postgres message box is not available in this version; use sqlite")
		case mb.SQLitePath != nil && mb.SQLitePath.Usable():
			path = mb.SQLitePath.V
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating the message box directory: %w", err)
	}
	box, err := sqlitebox.Open(path, sqlitebox.Options{})
	if err != nil {
		return nil, err
	}
	return box, nil
}
